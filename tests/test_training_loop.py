"""The training loop on a tiny model: exact resume (mid-epoch and at an epoch boundary), backbone freezing,
the learning-rate schedule, the checkpoint format (weights_only, readable by the model loader), the metrics
log, command-line errors, and a 2-process DistributedDataParallel run under torchrun (gloo, CPU)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tracker.cli import main as cli_main
from tracker.training.checkpoint import export_weights
from tracker.training.config import TrainConfig
from tracker.training.metrics_log import read_metrics
from tracker.training.pairs import PairConfig
from tracker.training.schedule import LRSchedule
from tracker.training.source_spec import SourceSpec
from tracker.training.tiny import EXEMPLAR, SEARCH, TinySiamese, tiny_preset
from tracker.training.trainer import train

REPO = Path(__file__).resolve().parent.parent


def make_sequences(root: Path, n_seq=3, n_frames=5, size=80):
    rng = np.random.default_rng(0)
    for s in range(n_seq):
        d = root / f"seq{s}" / "img"
        d.mkdir(parents=True, exist_ok=True)
        lines = []
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        for f in range(n_frames):
            img = rng.integers(70, 130, (size, size, 3), dtype=np.uint8)
            x, y, w, h = 20 + 4 * f + 3 * s, 25 + 2 * f, 14 + 2 * s, 12
            img[y : y + h, x : x + w] = colour
            cv2.imwrite(str(d / f"{f:04d}.png"), img)
            lines.append(f"{x},{y},{w},{h}")
        (root / f"seq{s}" / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_sequences(tmp_path_factory.mktemp("seqs"))


def config(data, out, family="siamrpn", **kw):
    base = dict(
        preset=f"tiny_{family}",
        sources=[SourceSpec("sequences", str(data))],
        out=str(out),
        epochs=2,
        steps_per_epoch=3,
        batch_size=3,
        workers=0,
        lr=0.01,
        end_lr=0.001,
        pairs=PairConfig(exemplar_size=EXEMPLAR, search_size=SEARCH, neg=0.2),
        radius=6.0,
        val_every=0,
        log_every=1,
        progress=False,
    )
    base.update(kw)
    return TrainConfig(**base)


def run(cfg, family="siamrpn", resume=None, seed=0):
    torch.manual_seed(seed)  # a different init: resume must overwrite it completely
    return train(cfg, resume=resume, model=TinySiamese(family), preset=tiny_preset(family), log=lambda *a: None)


@pytest.mark.parametrize("family", ["siamrpn", "siamfc"])
def test_resume_reproduces_the_uninterrupted_losses(data, tmp_path, family):
    full = run(config(data, tmp_path / "full", family), family)
    losses = [h["loss"] for h in full["history"]]
    assert len(losses) == 6 and all(np.isfinite(losses))
    # stop mid-epoch after step 4, resume from that checkpoint (different initial weights, same seed)
    part = run(config(data, tmp_path / "part", family, max_steps=4), family)
    assert [h["loss"] for h in part["history"]] == losses[:4]
    mid = tmp_path / "part" / "checkpoint_e002_s000001.pth"
    assert Path(part["checkpoint"]) == mid
    rest = run(config(data, tmp_path / "part", family), family, resume=str(mid), seed=123)
    assert [h["step"] for h in rest["history"]] == [5, 6]
    assert [h["loss"] for h in rest["history"]] == losses[4:]
    rows = [r for r in read_metrics(tmp_path / "part" / "metrics.csv") if r["kind"] == "train"]
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]  # one run, no duplicates
    sa = torch.load(tmp_path / "full" / "checkpoint_e002.pth", weights_only=True)["state_dict"]
    sb = torch.load(tmp_path / "part" / "checkpoint_e002.pth", weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not list((tmp_path / "part").glob("checkpoint_e*_s*.pth"))  # superseded, removed
    if family == "siamfc":
        return
    # from the epoch-1 checkpoint of the full run
    again = run(
        config(data, tmp_path / "full", family), family, resume=str(tmp_path / "full" / "checkpoint_e001.pth"), seed=7
    )
    assert [h["loss"] for h in again["history"]] == losses[3:]


def test_checkpoint_format_is_plain_and_loads_weights_only(data, tmp_path, monkeypatch):
    from tracker import runtime

    kept = []
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: kept.append(1) or True)
    res = run(config(data, tmp_path / "o", epochs=1))
    assert kept == []  # the library's train() leaves the process alone (the CLI calls configure_process)
    ckpt = torch.load(res["checkpoint"], weights_only=True)
    assert set(ckpt) == {"state_dict", "meta", "training"}
    meta = ckpt["meta"]
    assert meta["preset"] == "tiny_siamrpn" and meta["version"] == 1
    assert meta["input_convention"] == {"channel_order": "BGR", "scale": 1 / 255, "description": "BGR 0..1"}
    assert meta["recipe"]["steps_per_epoch"] == 3 and meta["recipe"]["sources"][0]["kind"] == "sequences"

    def plain(o):
        if isinstance(o, dict):
            return all(isinstance(k, str) and plain(v) for k, v in o.items())
        if isinstance(o, list):
            return all(plain(v) for v in o)
        return isinstance(o, (str, int, float, bool))

    assert plain(meta)
    assert all(isinstance(v, torch.Tensor) for v in ckpt["state_dict"].values())
    out = export_weights(res["checkpoint"], tmp_path / "w.pth", half=True)
    w = torch.load(out, weights_only=True)
    assert set(w) == {"state_dict", "meta"} and w["state_dict"]["backbone.0.weight"].dtype == torch.float16
    from tracker.models.checkpoint import read_checkpoint

    state, m = read_checkpoint(out)
    assert m["preset"] == "tiny_siamrpn" and "cls.weight" in state


def test_frozen_backbone_then_unfrozen_at_lower_lr(data, tmp_path):
    torch.manual_seed(0)
    model = TinySiamese("siamrpn")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = config(data, tmp_path / "f", epochs=2, freeze_epochs=1, backbone_lr_mult=0.1, max_steps=3)
    train(cfg, model=model, preset=tiny_preset(), log=lambda *a: None)
    after = model.state_dict()
    backbone = [k for k in before if k.startswith("backbone.")]
    # frozen epoch: weights and BatchNorm statistics untouched; the head learned
    assert all(torch.equal(before[k], after[k]) for k in backbone)
    assert not torch.equal(before["cls.weight"], after["cls.weight"])
    ckpt = torch.load(tmp_path / "f" / "checkpoint_e001.pth", weights_only=True)
    groups = {g["name"]: g for g in ckpt["training"]["optimizer"]["param_groups"]}
    assert groups["backbone"]["lr_mult"] == 0.1
    res = train(
        config(data, tmp_path / "f", epochs=2, freeze_epochs=1, backbone_lr_mult=0.1),
        model=model,
        preset=tiny_preset(),
        resume=str(tmp_path / "f" / "checkpoint_e001.pth"),
        log=lambda *a: None,
    )
    assert res["steps"] == 6
    assert not torch.equal(before["backbone.0.weight"], model.state_dict()["backbone.0.weight"])
    assert not torch.equal(before["backbone.1.running_mean"], model.state_dict()["backbone.1.running_mean"])


def test_schedule_warms_up_then_decays_logarithmically():
    s = LRSchedule(lr=0.005, end_lr=0.0005, epochs=20, steps_per_epoch=10, warmup_epochs=5, warmup_lr=0.001)
    assert np.isclose(s.lr_at(0), 0.001)
    assert np.isclose(s.lr_at(50), 0.005)
    assert np.isclose(s.lr_at(200), 0.0005)
    assert np.isclose(s.lr_at(125), np.sqrt(0.005 * 0.0005))  # geometric midpoint of the decay
    lrs = [s.lr_at(i) for i in range(201)]
    assert all(a <= b for a, b in zip(lrs[:50], lrs[1:51])) and all(a >= b for a, b in zip(lrs[50:], lrs[51:]))


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    assert cli_main(["train", "siamfc_alexnet", "--data", "nonsense"]) == 2
    assert "expected KIND=PATH" in capsys.readouterr().err
    assert cli_main(["train", "siamfc_alexnet", "--data", f"sequences={tmp_path}/none"]) == 2
    assert "not a folder" in capsys.readouterr().err
    bad = tmp_path / "r.yaml"
    bad.write_text("epochs: 2\nlearning_speed: 3\n")
    assert cli_main(["train", "siamfc_alexnet", "--recipe", str(bad)]) == 2
    assert "unknown recipe option 'learning_speed'" in capsys.readouterr().err


DDP_SCRIPT = """
import sys, json, torch, torch.distributed as dist
from tracker.training.config import TrainConfig
from tracker.training.trainer import train
from tracker.training.source_spec import SourceSpec
from tracker.training.pairs import PairConfig
from tracker.training.tiny import TinySiamese, tiny_preset, EXEMPLAR, SEARCH
data, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
model = TinySiamese("siamrpn")
cfg = TrainConfig(preset="tiny_siamrpn", sources=[SourceSpec("sequences", data)], out=out, epochs=2,
                  steps_per_epoch=1, batch_size=2, workers=0, freeze_epochs=1, val_every=0, progress=False,
                  pairs=PairConfig(exemplar_size=EXEMPLAR, search_size=SEARCH))
res = train(cfg, model=model, preset=tiny_preset(), log=lambda *a: None)
w = torch.cat([p.detach().flatten() for p in model.parameters()])
info = {"rank": dist.get_rank(), "world": dist.get_world_size(), "losses": [h["loss"] for h in res["history"]],
        "checksum": float(w.double().sum())}
# one file per rank: two processes printing to one stdout can interleave their lines
with open(f"{out}/result_rank{info['rank']}.json", "w") as f:
    json.dump(info, f)
"""


@pytest.mark.slow
def test_distributed_two_processes_on_cpu(data, tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
        str(data),
        str(tmp_path / "out"),
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    results = [json.loads((tmp_path / "out" / f"result_rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in results] == [0, 1] and results[0]["world"] == 2
    # each rank sampled its own pairs, yet gradients were averaged: identical weights on both ranks
    assert results[0]["losses"] != results[1]["losses"]
    assert results[0]["checksum"] == results[1]["checksum"]
    ckpt = torch.load(tmp_path / "out" / "checkpoint_e002.pth", weights_only=True)
    assert len(ckpt["training"]["rng"]) == 2 and ckpt["training"]["step"] == 2


def test_model_input_conversion_matches_the_trackers():
    from tracker.config.presets import get_preset
    from tracker.models import InputAdapter, preprocess

    crops = np.random.default_rng(0).integers(0, 255, (2, 15, 15, 3), dtype=np.uint8)
    for name in ("siamfc_alexnet", "siamrpn_alex_dwxcorr", "siamrpn_effnet_lite0"):  # RGB, BGR, ImageNet mean/std
        p = get_preset(name)
        # the training loop's conversion (uint8 tensors, converted on the device) against the trackers'
        on_device = InputAdapter(p.input, torch.device("cpu")).tensor(torch.from_numpy(crops))
        assert torch.allclose(on_device, preprocess(crops, p), atol=1e-5)


def test_validation_scores_a_perfect_and_a_frozen_tracker(data):
    from tracker.trackers.base import TrackResult
    from tracker.training.data import read_sequences
    from tracker.training.validate import run_ope

    tracks = read_sequences(data)

    class Oracle:
        """Returns the ground truth of the next frame (knows the track)."""

        def __init__(self, t):
            self.t, self.i = t, 0

        def init(self, frame, box):
            self.i = 0

        def update(self, frame):
            self.i += 1
            return TrackResult(tuple(self.t.boxes[self.i]), 1.0, False)

    class Frozen(Oracle):
        def update(self, frame):
            return TrackResult((0.0, 0.0, 5.0, 5.0), 0.0, True)

    it = iter(tracks)
    perfect = run_ope(lambda: Oracle(next(it)), tracks)
    assert np.isclose(perfect["auc"], 1.0 - 1 / 21) and perfect["precision"] == 1.0  # IoU 1 > all t < 1
    assert perfect["frames"] == sum(len(t) for t in tracks)
    frozen = run_ope(lambda: Frozen(None), tracks, max_frames=3)
    assert frozen["auc"] < perfect["auc"] and frozen["frames"] == 3 * len(tracks)


@pytest.mark.parametrize("recipe", sorted((REPO / "scripts" / "recipes").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_recipes_parse_and_round_trip(recipe, tmp_path):
    from tracker.cli import build_parser
    from tracker.training.recipe import config_from_args

    args = build_parser().parse_args(
        ["train", "--recipe", str(recipe), "--out", str(tmp_path / "o"), "--batch-size", "3"]
    )
    cfg, resume = config_from_args(args)
    import yaml

    raw = yaml.safe_load(recipe.read_text())
    assert resume is None and cfg.preset == raw["preset"] and cfg.batch_size == 3  # the command line wins
    assert recipe.stem.startswith(raw["preset"])  # named after its preset
    assert cfg.val == ["car1", "BMX3", "person11", "Human3"] and len(cfg.sources) == len(raw["sources"])
    # the effective recipe written beside the run reproduces the same configuration
    again, _ = config_from_args(build_parser().parse_args(["train", "--recipe", str(tmp_path / "o" / "recipe.yaml")]))
    assert again.recipe() == cfg.recipe()


_WORKERS_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import test_training_loop as t
from pathlib import Path
data, out = Path(sys.argv[2]), Path(sys.argv[3])
losses = [[h["loss"] for h in t.run(t.config(data, out / f"w{w}", epochs=1, steps_per_epoch=2, workers=w))["history"]]
          for w in (0, 2)]
print(json.dumps(losses))
"""


@pytest.mark.slow
def test_dataloader_workers_do_not_change_what_is_learned(data, tmp_path):
    # In a fresh interpreter: DataLoader workers are forked, and a fork of a process in which other tests
    # have started ONNX Runtime / OpenVINO thread pools can crash (seen: segfault, exit 139).
    import json

    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run(
        [sys.executable, "-c", _WORKERS_SCRIPT, str(here), str(data), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    a, b = json.loads(res.stdout.strip().splitlines()[-1])
    assert len(a) == 2 and a == b


def test_last_checkpoint_is_the_newest_and_keep_prunes_old_epochs(data, tmp_path):
    run(config(data, tmp_path / "k", epochs=3, steps_per_epoch=1, keep=2))
    names = sorted(p.name for p in (tmp_path / "k").glob("*.pth"))
    assert names == ["checkpoint_e002.pth", "checkpoint_e003.pth", "last.pth"]
    last = torch.load(tmp_path / "k" / "last.pth", weights_only=True)
    assert last["training"]["step"] == 3 and last["training"]["sampler"] == {"epoch": 3, "step": 0, "seed": 0}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (scripts/train_gpu.sh runs it)")
def test_gpu_amp_training_uses_float16_and_the_grad_scaler(data, tmp_path):
    # On CUDA, training runs the forward under float16 autocast with a GradScaler (trainer.py); the CPU tests
    # cover autocast in bfloat16 only. Losses stay finite, the scaler's state is saved with the checkpoint,
    # and a resumed run takes it up again.
    from tracker.training.checkpoint import load_training_checkpoint

    cfg = config(data, tmp_path / "amp", device="cuda", amp=True)
    torch.manual_seed(0)
    model = TinySiamese("siamrpn")
    dtypes = []
    model.register_forward_hook(lambda m, inp, out: dtypes.append(out["cls"].dtype))
    res = train(cfg, model=model, preset=tiny_preset("siamrpn"), log=lambda *a: None)
    assert res["steps"] == 6
    assert dtypes and all(d == torch.float16 for d in dtypes)
    assert all(np.isfinite(h["loss"]) for h in res["history"] if "loss" in h)
    ckpt = load_training_checkpoint(res["checkpoint"])
    scaler = ckpt["training"]["scaler"]
    assert scaler and scaler["scale"] > 0
    resumed = run(config(data, tmp_path / "amp", device="cuda", amp=True, epochs=3), resume=res["checkpoint"])
    assert resumed["steps"] == 9
