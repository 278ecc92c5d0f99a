"""CPU thread policy for inference.

torch defaults to one thread per core. On a machine whose cores are already busy (another tracker, a
training run, a benchmark), its OpenMP threads spin-wait on each other: measured here on 2 cores at load
4-5, siamrpn_effnet_lite0 took 150 ms/frame with 2 threads and 41 ms with 1. So unless told otherwise we
use only the cores that are free at start-up (at least one), and commands running several worker
processes (bench, batch) split those free cores among the workers.
"""
from __future__ import annotations

import os

# Thread-pool sizes read by OpenMP / MKL / OpenBLAS / Numba when they start in a fresh worker process.
_POOL_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under taskset or a batch scheduler)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def free_cores() -> int:
    cores = usable_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores
    return max(1, min(cores, int(cores - load + 0.5)))


def threads_per_worker(workers: int = 1, requested: int | None = None) -> int:
    """Threads for each of `workers` processes: `requested` (--threads) when given, otherwise the cores
    free now divided evenly among the workers, never fewer than one."""
    if requested is not None and requested > 0:
        return int(requested)
    return max(1, free_cores() // max(1, workers))


def configure_threads(requested: int | None = None) -> int:
    """Set torch's intra-op threads to `requested`, or to the free cores; returns the number used."""
    import torch
    n = threads_per_worker(1, requested)
    torch.set_num_threads(n)
    return n


def configure_worker_threads(threads: int, uses_torch: bool) -> None:
    """First thing in a freshly spawned worker process, before any tracker exists: size every thread pool
    (OpenMP and friends, OpenCV, and torch when the worker uses it) to `threads`."""
    for var in _POOL_VARS:
        os.environ[var] = str(threads)
    if uses_torch:
        configure_threads(threads)
    try:
        import cv2
        cv2.setNumThreads(threads)
    except Exception:  # noqa: BLE001 - OpenCV's threading is an optimisation only
        pass
