"""The CPU thread policy (tracker.runtime): the cores free at start-up, split among worker processes,
unless --threads says otherwise; never fewer than one thread."""

import os
import sys

import pytest

from tracker import runtime


@pytest.mark.parametrize(
    "free, workers, requested, expected",
    [
        (2, 1, None, 2),  # one process: every free core
        (2, 2, None, 1),  # two workers share two free cores
        (5, 2, None, 2),  # the remainder is left idle rather than oversubscribed
        (1, 3, None, 1),  # more workers than free cores: still one thread each
        (2, 0, None, 2),  # a nonsensical worker count counts as one
        (2, 2, 3, 3),  # --threads N: N per worker, whatever is free
        (1, 1, 4, 4),
        (2, 2, 0, 1),  # 0 / negative: not a request, the default policy applies
        (6, 3, -1, 2),
    ],
)
def test_threads_per_worker_arithmetic(monkeypatch, free, workers, requested, expected):
    monkeypatch.setattr(runtime, "free_cores", lambda: free)
    assert runtime.threads_per_worker(workers, requested) == expected


def test_free_cores_subtracts_the_busy_cores_and_stays_within_the_usable_cores(monkeypatch):
    monkeypatch.setattr(runtime, "usable_cores", lambda: 4)
    monkeypatch.setattr(runtime, "busy_cores", lambda: 1.4)
    assert runtime.free_cores() == 3  # 4 - 1.4, rounded
    monkeypatch.setattr(runtime, "busy_cores", lambda: 9.0)
    assert runtime.free_cores() == 1  # all busy: still one
    monkeypatch.setattr(runtime, "busy_cores", lambda: 0.0)
    assert runtime.free_cores() == 4


def test_busy_cores_is_the_non_idle_share_now_not_the_lagging_load_average(monkeypatch):
    samples = iter([(1000, 4000), (1150, 4200)])  # (idle, total) ticks: 150 of 200 idle since the first
    monkeypatch.setattr(runtime, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(runtime.time, "sleep", lambda s: None)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 0.0, 0.0))
    assert runtime.busy_cores() == pytest.approx(0.5)  # a quarter of two cores busy, whatever the load


def test_busy_cores_falls_back_to_the_load_average_without_proc_stat(monkeypatch):
    def missing():
        raise FileNotFoundError("/proc/stat")

    monkeypatch.setattr(runtime, "_cpu_times", missing)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.25, 0.0, 0.0))
    assert runtime.busy_cores() == 1.25


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux /proc")
def test_cpu_times_reads_this_machines_counters():
    idle0, total0 = runtime._cpu_times()
    sum(i * i for i in range(200_000))  # some CPU time passes
    idle1, total1 = runtime._cpu_times()
    assert 0 <= idle0 <= total0 and total1 >= total0 and idle1 >= idle0


def test_configure_threads_sets_torch_to_the_policy(monkeypatch):
    import torch

    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    monkeypatch.setattr(runtime, "free_cores", lambda: 2)
    assert runtime.configure_threads() == 2
    assert runtime.configure_threads(3) == 3
    assert seen == [2, 3]


def test_configure_worker_threads_sizes_every_pool(monkeypatch):
    import cv2
    import torch

    torch_seen, cv_seen = [], []
    monkeypatch.setattr(torch, "set_num_threads", torch_seen.append)
    monkeypatch.setattr(cv2, "setNumThreads", cv_seen.append)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    runtime.configure_worker_threads(3, uses_torch=False)
    assert torch_seen == [] and cv_seen == [3]
    assert os.environ["OMP_NUM_THREADS"] == "3" and os.environ["NUMBA_NUM_THREADS"] == "3"
    runtime.configure_worker_threads(2, uses_torch=True)
    assert torch_seen == [2] and cv_seen == [3, 2]


FAULTS_SCRIPT = """
import resource, sys
import numpy as np
from tracker.build import build_siamese_tracker
from tracker.runtime import configure_process
configure_process()         # what every siamtrack command does before it builds a tracker
frame = np.random.default_rng(0).integers(0, 255, (360, 480, 3), dtype=np.uint8)
tracker = build_siamese_tracker("siamrpn_effnet_lite0_fast", engine="torch")
tracker.init(frame, (200, 150, 60, 50))
for _ in range(3):          # graphs built and warmed
    tracker.update(frame)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    tracker.update(frame)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def _faults_per_update(env_extra: dict) -> float:
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(env_extra, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", FAULTS_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
@pytest.mark.slow
def test_a_tracker_keeps_freed_memory_so_updates_do_not_page_fault():
    """runtime.configure_process raises glibc's mmap/trim thresholds (runtime.keep_freed_memory): steady-state
    updates then reuse the heap. With glibc's fixed 128 kB threshold (what the environment variable sets,
    and which also turns our call off) every large activation is a fresh mapping, faulted in page by page."""
    kept = _faults_per_update({})
    fresh = _faults_per_update({"MALLOC_MMAP_THRESHOLD_": "131072"})
    assert kept < 100 and fresh > 1000, (kept, fresh)


def test_keep_freed_memory_leaves_a_users_malloc_settings_alone(monkeypatch):
    monkeypatch.setattr(runtime, "_heap_kept", None)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert runtime.keep_freed_memory() is False


BUILD_ONLY_SCRIPT = """
import json, torch
from tracker import build_tracker, runtime
before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
build_tracker("siamrpn_alex_dwxcorr", engine="torch")
build_tracker("siamfc_alexnet", engine="onnxruntime")
after = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
print(json.dumps({"before": before, "after": after, "heap": runtime._heap_kept}))
runtime.configure_process()
print(json.dumps({"tf32": (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32),
                  "heap": runtime._heap_kept}))
"""


@pytest.mark.slow
def test_building_a_tracker_leaves_the_process_alone():
    """A library build changes no process-wide state (TF32, glibc's malloc); configure_process does, and
    the commands call it."""
    import json
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", BUILD_ONLY_SCRIPT],
        env=dict(env, OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    ).stdout.splitlines()
    built, configured = json.loads(out[-2]), json.loads(out[-1])
    assert built["after"] == built["before"] and built["heap"] is None
    assert configured["tf32"] == [False, False]
    assert configured["heap"] is (True if sys.platform.startswith("linux") else False)


def test_the_commands_configure_the_process(monkeypatch, capsys):
    """track configures the process before it builds a torch model; an OpenCV tracker needs none of it."""
    from tracker.cli import main
    from tracker.config.presets import WEIGHTS_DIR

    calls = []
    monkeypatch.setattr(runtime, "configure_process", lambda: calls.append(1))
    demo = str(WEIGHTS_DIR / "demo" / "demo.mp4")
    gt = str(WEIGHTS_DIR / "demo" / "groundtruth.txt")
    assert main(["track", demo, "--groundtruth", gt, "--model", "opencv:kcf", "--max-frames", "2", "--quiet"]) == 0
    assert calls == []
    assert main(["track", demo, "--groundtruth", gt, "--model", "siamfc_alexnet", "--max-frames", "2", "--quiet"]) == 0
    assert calls == [1]


LAZY_TORCH_SCRIPT = """
import json, sys
from tracker import build_tracker, runtime
runtime.configure_process()
runtime.configure_threads(1)
tracker = build_tracker("default")  # on its shipped export
lazy = "torch" not in sys.modules
import torch
torch.set_num_threads(2)
torch.backends.cudnn.allow_tf32 = True
build_tracker("siamfc_alexnet", engine="torch")  # a torch model: the requested settings now hold
print(json.dumps({"lazy": lazy, "engine": tracker.engine_name, "threads": torch.get_num_threads(),
                  "tf32": (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)}))
"""


@pytest.mark.slow
def test_the_default_model_tracks_without_importing_torch_and_torch_gets_the_settings_later():
    """configure_process / configure_threads do not import torch (about 3 s): the default model runs on its
    shipped export without it. A torch model built later still gets the thread count and TF32 off."""
    import json
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", LAZY_TORCH_SCRIPT],
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    ).stdout.splitlines()
    got = json.loads(out[-1])
    assert got["lazy"] is True and got["engine"] in ("onnxruntime", "openvino")
    assert got["threads"] == 1 and got["tf32"] == [False, False]
