"""The torch engine: the model in PyTorch (on the CPU through tracker.models.fast's transformed copies)."""

from __future__ import annotations

import numpy as np
import torch

from . import Engine


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
