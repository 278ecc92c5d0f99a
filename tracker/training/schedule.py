"""Learning-rate schedule, parameter groups and backbone freezing.

The schedule is a pure function of the global step: a geometric warm-up from `warmup_lr` to `lr` over
`warmup_epochs`, then a log (geometric) decay from `lr` to `end_lr` over the remaining epochs — pysot's
warm-up + log schedule, and with no warm-up siamfc-pytorch's exponential decay. Its state is the step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn as nn


@dataclass
class LRSchedule:
    lr: float
    end_lr: float
    epochs: int
    steps_per_epoch: int
    warmup_epochs: float = 0.0
    warmup_lr: float | None = None
    step: int = 0

    def lr_at(self, step: int) -> float:
        e = step / max(1, self.steps_per_epoch)  # fractional epoch
        if self.warmup_epochs > 0 and e < self.warmup_epochs:
            start = self.warmup_lr if self.warmup_lr is not None else self.lr
            return start * (self.lr / start) ** (e / self.warmup_epochs)
        span = max(self.epochs - self.warmup_epochs, 1e-9)
        t = min(max((e - self.warmup_epochs) / span, 0.0), 1.0)
        return math.exp(math.log(self.lr) + t * (math.log(self.end_lr) - math.log(self.lr)))

    def apply(self, optimizer, step: int | None = None) -> float:
        """Set every group's lr to lr_at(step) · its `lr_mult`; returns the base lr."""
        if step is not None:
            self.step = step
        lr = self.lr_at(self.step)
        for g in optimizer.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        return lr

    def state_dict(self) -> dict:
        return {"step": int(self.step)}

    def load_state_dict(self, d: dict) -> None:
        self.step = int(d["step"])


def backbone_of(model: nn.Module) -> nn.Module | None:
    model = getattr(model, "module", model)
    return getattr(model, "backbone", None)


def param_groups(model: nn.Module, backbone_lr_mult: float, weight_decay: float) -> list[dict]:
    """Two groups from the start (so the optimiser's layout never changes): the backbone at
    `backbone_lr_mult` and everything else at 1."""
    bb = backbone_of(model)
    bb_ids = {id(p) for p in bb.parameters()} if bb is not None else set()
    head = [p for p in model.parameters() if id(p) not in bb_ids]
    back = [p for p in model.parameters() if id(p) in bb_ids]
    groups = [{"params": head, "lr_mult": 1.0, "weight_decay": weight_decay, "name": "head"}]
    if back:
        groups.append({"params": back, "lr_mult": backbone_lr_mult, "weight_decay": weight_decay, "name": "backbone"})
    return groups


def set_backbone_trainable(model: nn.Module, trainable: bool, layers: list[str] | None = None) -> int:
    """Freeze the backbone, or unfreeze it (only the named sub-module prefixes when `layers` is given).
    Returns the number of trainable backbone tensors."""
    bb = backbone_of(model)
    if bb is None:
        return 0
    n = 0
    for name, p in bb.named_parameters():
        on = trainable and (not layers or any(name == ly or name.startswith(ly + ".") for ly in layers))
        p.requires_grad_(on)
        n += int(on)
    return n


def set_frozen_bn_eval(model: nn.Module) -> None:
    """After model.train(): batch-norm layers whose parameters are all frozen run in eval mode (their
    running statistics stay those of the pretrained backbone)."""
    bb = backbone_of(model)
    if bb is None:
        return
    any_trainable = any(p.requires_grad for p in bb.parameters())
    for m in bb.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            ps = list(m.parameters(recurse=False))
            frozen = not any(p.requires_grad for p in ps) if ps else not any_trainable
            if frozen:
                m.eval()
