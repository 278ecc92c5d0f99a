"""CPU thread policy for inference.

torch defaults to one thread per core. On a machine whose cores are already busy (another tracker, a
training run, a benchmark), its OpenMP threads spin-wait on each other: measured here on 2 cores at load
4-5, siamrpn_effnet_lite0 took 150 ms/frame with 2 threads and 41 ms with 1. So unless told otherwise we
use only the cores that are free at start-up (at least one).
"""
from __future__ import annotations

import os


def free_cores() -> int:
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return cores
    return max(1, min(cores, int(cores - load + 0.5)))


def configure_threads(requested: int | None = None) -> int:
    """Set torch's intra-op threads to `requested`, or to the free cores; returns the number used."""
    import torch
    n = requested if requested and requested > 0 else free_cores()
    torch.set_num_threads(n)
    return n
