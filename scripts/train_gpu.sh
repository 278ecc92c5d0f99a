#!/bin/bash
# One GPU session (about 8 minutes of an H200 and its 16 cores): train the three shipped models side by
# side, run the CUDA tests and measure CUDA tracking speed. Run from the repository root, with the data at
# ../shared (or SHARED_PACK=DIR holding shared/ to link there: scripts/make_gpu_pack.py makes one that fits
# the 64 MiB a device run may carry). Results go to $OUT (default out_gpu/).
#
#   T_TRAIN   seconds of training to size the runs for (default 300); the number of steps of each run is
#             set from the measured data rate of one core, so every run completes its whole schedule.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-out_gpu}; mkdir -p "$OUT"
T_TRAIN=${T_TRAIN:-300}
# the Lite0 runs start from this file (the shipped one was trained from the CPU stage-1 file, see weights/README.md)
LITE0_INIT=${LITE0_INIT:-weights/siamrpn_effnet_lite0.pth}
DEVICE=${DEVICE:-cuda}; MIN_STEPS=${MIN_STEPS:-20}
LOG="$OUT/session.log"
exec > >(tee -a "$LOG") 2>&1

if [ -n "${SHARED_PACK:-}" ] && [ ! -e ../shared ]; then
    ln -s "$(cd "$SHARED_PACK" && pwd)/shared" ../shared || { echo "cannot link ../shared"; exit 1; }
fi
SIAMTRACK_SHARED=$(cd ../shared && pwd); export SIAMTRACK_SHARED
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, cv2, numba, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cv2', cv2.__version__, 'numba', numba.__version__, 'numpy', numpy.__version__)"
nproc

# data rate of one core (pairs/s), to size the runs
RATE=$(python3 - <<'EOF'
import time, argparse
from tracker.cli import train as cli
from tracker.training.recipe import config_from_args
from tracker.training.model import ModelGeometry, build_pair_dataset, build_preset_model
import torch
p = argparse.ArgumentParser(); cli.add_arguments(p)
cfg, _ = config_from_args(p.parse_args(['--recipe', 'scripts/recipes/siamrpn_effnet_lite0.yaml', '--device', 'cpu',
                                        '--no-pretrained', '--val', 'car1,BMX3', '--out', '/tmp/probe']))
preset, model = build_preset_model(cfg)
ds, _ = build_pair_dataset(cfg, model, ModelGeometry(preset), torch.device('cpu'))
for i in range(10): ds[(0, i)]
t = time.time(); n = 300
for i in range(n): ds[(0, 100 + i)]
print(f"{n / (time.time() - t):.0f}")
EOF
)
echo "data rate: $RATE pairs/s on one core"

steps() {  # workers batch -> steps per epoch (10 epochs), 70% of the ideal rate
    python3 -c "print(max($MIN_STEPS, int($T_TRAIN * $1 * $RATE * 0.7 / $2 / 10)))"
}
train() {  # name recipe workers batch extra...
    local name=$1 recipe=$2 workers=$3 batch=$4; shift 4
    local spe; spe=$(steps "$workers" "$batch")
    echo "run $name: 10 epochs x $spe steps x $batch pairs, $workers workers"
    OMP_NUM_THREADS=1 timeout "${TRAIN_LIMIT:-450}" python3 -c "import sys; from tracker.cli import main; sys.exit(main())" train \
        --recipe "$recipe" --device "$DEVICE" --data-workers "$workers" --batch-size "$batch" --epochs 10 \
        --steps-per-epoch "$spe" --val car1,BMX3 --val-every 0 --log-every 50 --keep 0 --quiet --no-amp \
        --out-dir "runs/gpu_$name" --export "$OUT/$name.pth" "$@" > "runs/train_$name.log" 2>&1
    echo "run $name finished: exit $?"
}

mkdir -p runs
RUNS=${RUNS:-"lite0 alexdw fc"}
PIDS=""
for run in $RUNS; do
    case $run in
    lite0)  # warm start from the shipped weights; stages 4-5 unfrozen at 0.1x lr after 3 epochs
        train lite0 scripts/recipes/siamrpn_effnet_lite0.yaml 6 64 --no-pretrained \
            --init-weights "$LITE0_INIT" --freeze-epochs 3 \
            --train-layers _blocks.5,_blocks.6,_blocks.7,_blocks.8,_blocks.9,_blocks.10 & ;;
    lite0f)  # warm start, backbone frozen throughout
        train lite0f scripts/recipes/siamrpn_effnet_lite0.yaml 7 64 --no-pretrained \
            --init-weights "$LITE0_INIT" --freeze-epochs 10 & ;;
    lite0s5)  # warm start, only stage 5 unfrozen at 0.05x lr after 5 epochs
        train lite0s5 scripts/recipes/siamrpn_effnet_lite0.yaml 7 64 --no-pretrained \
            --init-weights "$LITE0_INIT" --freeze-epochs 5 --backbone-lr-mult 0.05 \
            --train-layers _blocks.8,_blocks.9,_blocks.10 & ;;
    fastp)  # the default model (lite0_fast) from its shipped file: pasted targets, ~10x the CPU stage's pairs
        train fastp scripts/recipes/siamrpn_effnet_lite0_fast.yaml 7 64 --no-pretrained \
            --init-weights weights/siamrpn_effnet_lite0_fast.pth --freeze-epochs 5 --backbone-lr-mult 0.05 \
            --train-layers _blocks.8,_blocks.9,_blocks.10 --paste 0.3 & ;;
    alexdw) train alexdw scripts/recipes/siamrpn_alex_dwxcorr.yaml 5 64 --half & ;;
    fc)     train fc scripts/recipes/siamfc_alexnet.yaml 3 32 & ;;
    *) echo "unknown run $run"; continue ;;
    esac
    PIDS="$PIDS $!"
done

if [ -z "${SKIP_TESTS:-}" ]; then
# CUDA tests while the runs start (the real-GPU xcorr test and CUDA parity)
# (and float16 AMP training with the GradScaler: tests/test_training_*.py's gpu tests)
python3 -m pytest -q -p no:cacheprovider tests/test_xcorr.py tests/test_parity.py tests/test_training_amp.py \
    tests/test_training_loop.py -k "${TESTS_K:-gpu or dwxcorr}" --tb=line 2>&1 | grep -v Warning | tail -25
fi
wait $PIDS   # (a bare wait would also wait for the tee above)
for name in $RUNS; do   # a run stopped by TRAIN_LIMIT: export its last epoch checkpoint
    if [ ! -f "$OUT/$name.pth" ] && [ -f "runs/gpu_$name/last.pth" ]; then
        echo "$name: exporting the last checkpoint of an unfinished run"
        python3 -c "from tracker.training.checkpoint import export_weights as e; e('runs/gpu_$name/last.pth', '$OUT/$name.pth', half=('$name' == 'alexdw'))"
    fi
done

for name in $RUNS; do   # every second epoch's weights (float16), to see how validation moves with training
    for c in runs/gpu_$name/checkpoint_e00[2468].pth; do
        [ -f "$c" ] && python3 -c "from tracker.training.checkpoint import export_weights as e; e('$c', 'runs/gpu_$name/w_$(basename $c .pth | sed s/checkpoint_//).pth', half=True)"
    done
done
# CUDA tracking speed (after training, on an idle GPU)
[ -z "${SKIP_BENCH:-}" ] && [ "$DEVICE" = cuda ] && timeout 90 python3 scripts/bench_speed.py --device cuda --xcorr torch --frames 40 2>&1 | grep -v Warning
for name in $RUNS; do   # one archive per run (the files that come back are limited in size)
    tar czf "$OUT/runs_$name.tgz" runs/gpu_$name/metrics.csv runs/gpu_$name/recipe.yaml runs/gpu_$name/w_*.pth \
        runs/train_$name.log 2>/dev/null
done
ls -la "$OUT"
