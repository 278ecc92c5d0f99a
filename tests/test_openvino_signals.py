"""OpenVINO and the process's signal stack: each OpenVINO Core sets the signal stack of the thread that
compiles with it and puts back, when destroyed, the one it found. With a Core per graph, collected in any
order, the main thread's signal stack was left pointing at freed memory, and the next signal with a handler
(Ctrl-C, SIGCHLD from a worker ending) killed the process with SIGSEGV (seen in the test suite). The engines
share one Core for the life of the process (tracker.engines.onnx_engines.openvino_core)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import ctypes, faulthandler, gc, os, signal
import numpy as np
faulthandler.enable()  # as pytest does: handlers that run on the thread's signal stack
from tracker import build_tracker


class Stack(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def stack_is_mapped():
    s = Stack()
    ctypes.CDLL(None).sigaltstack(None, ctypes.byref(s))
    if not s.ss_sp:
        return True
    for line in open("/proc/self/maps"):
        lo, hi = (int(v, 16) for v in line.split()[0].split("-"))
        if lo <= s.ss_sp < hi:
            return True
    return False


frame = np.zeros((240, 320, 3), np.uint8)
ok = []
for _ in range(3):
    t = build_tracker("nanotrack_v3", engine="openvino")
    t.init(frame, (100, 80, 40, 40))
    t.update(frame)
    del t
    gc.collect()
    ok.append(stack_is_mapped())
got = []
signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
os.kill(os.getpid(), signal.SIGUSR1)
print(ok, got)
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads /proc/self/maps (Linux)")
def test_openvino_engines_leave_the_signal_stack_valid(tmp_path):
    pytest.importorskip("openvino")
    env = dict(os.environ, PYTHONPATH=str(REPO), SIAMTRACK_CACHE=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split("\n")[-2] == "[True, True, True] [1]", run.stdout
