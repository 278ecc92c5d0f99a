"""The processes of a run: one, or many under `torchrun` (WORLD_SIZE, RANK, LOCAL_RANK; gloo on CPU, NCCL on
CUDA), each with its device; and what they do together: average values, gather random states, wait."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..errors import UserError
from .checkpoint import capture_rng


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    want = device
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: CUDA is not available (torch {torch.__version__})")
        dev = torch.device("cuda", local if world > 1 else (torch.device(want).index or 0))
        torch.cuda.set_device(dev)
    elif want == "cpu":
        dev = torch.device("cpu")
    else:
        raise UserError(f"unknown device {device!r} (auto, cpu, cuda)")
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, local, dev)


def all_mean(values: list[float], info: DistInfo) -> list[float]:
    if info.world == 1:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return (t / info.world).tolist()


def gather_rng(info: DistInfo) -> list:
    state = capture_rng()
    if info.world == 1:
        return [state]
    import torch.distributed as dist

    out = [None] * info.world
    dist.all_gather_object(out, state)
    return out


def barrier(info: DistInfo) -> None:
    if info.world > 1:
        import torch.distributed as dist

        dist.barrier()
