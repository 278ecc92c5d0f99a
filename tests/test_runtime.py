"""The CPU thread policy (tracker.runtime): the cores free at start-up, split among worker processes,
unless --threads says otherwise; never fewer than one thread."""
import os

import pytest

from tracker import runtime


@pytest.mark.parametrize("free, workers, requested, expected", [
    (2, 1, None, 2),     # one process: every free core
    (2, 2, None, 1),     # two workers share two free cores
    (5, 2, None, 2),     # the remainder is left idle rather than oversubscribed
    (1, 3, None, 1),     # more workers than free cores: still one thread each
    (2, 0, None, 2),     # a nonsensical worker count counts as one
    (2, 2, 3, 3),        # --threads N: N per worker, whatever is free
    (1, 1, 4, 4),
    (2, 2, 0, 1),        # 0 / negative: not a request, the default policy applies
    (6, 3, -1, 2),
])
def test_threads_per_worker_arithmetic(monkeypatch, free, workers, requested, expected):
    monkeypatch.setattr(runtime, "free_cores", lambda: free)
    assert runtime.threads_per_worker(workers, requested) == expected


def test_free_cores_subtracts_the_load_and_stays_within_the_usable_cores(monkeypatch):
    monkeypatch.setattr(runtime, "usable_cores", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.4, 0.0, 0.0))
    assert runtime.free_cores() == 3          # 4 - 1.4, rounded
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert runtime.free_cores() == 1          # all busy: still one
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert runtime.free_cores() == 4


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
