"""The torch engine: the model in PyTorch (on the CPU through tracker.models.fast's transformed copies)."""

from __future__ import annotations

import numpy as np
import torch

from . import Engine, repeat_kernel


class TorchEngine(Engine):
    name = "torch"

    def __init__(self, model, adapter, device: torch.device):
        self.model = model
        self.adapter = adapter
        self.device = device

    def template(self, crop: np.ndarray):
        with torch.inference_mode():
            return self.model.template(self.adapter(crop))

    def search(self, crops: np.ndarray, kernel):
        with torch.inference_mode():
            out = self.model.track(self.adapter(crops), kernel)
            cls = out["cls"].float().cpu().numpy()
            loc = None if out["loc"] is None else out["loc"].float().cpu().numpy()
        return cls, loc

    @staticmethod
    def _concatenate(leaves: list):
        return torch.cat(leaves)

    def search_targets(self, crops: np.ndarray, kernel, targets: int):
        """All targets' crops in one batch against their stacked kernels: the correlation takes a kernel per
        crop (tracker.xcorr: kernel batch = search batch), so one model call serves them all."""
        per = len(crops) // targets
        if targets > 1 and per > 1:  # several crops per target (SiamFC's scales): its kernel for each
            kernel = repeat_kernel(kernel, per, lambda t, n: t.repeat_interleave(n, dim=0))
        return self.search(crops, kernel)
