"""Crops → network input, in NumPy/OpenCV only (no torch): the project's one implementation of a model's
input convention on the CPU, used by the torch engine's CPU path and by the ONNX engines."""

from __future__ import annotations

import cv2
import numpy as np


class NumpyInput:
    """BGR uint8 crops (N, H, W, 3) or (H, W, 3) → float32 (N, 3, H, W): channel order, then
    (pixel * scale - mean) / std, per the preset's InputConvention. One channel plane at a time (NumPy's
    broadcasting over a last axis of 3 is slow; measured: docs/speed.md, "Implementation choices")."""

    def __init__(self, conv):
        self.flip = conv.channel_order.upper() == "RGB"
        self.scale = conv.scale
        self.mean = None if conv.mean is None else np.asarray(conv.mean, dtype=np.float32)
        self.std = None if conv.std is None else np.asarray(conv.std, dtype=np.float32)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        if crops.ndim == 3:
            crops = crops[None]
        if self.flip:
            crops = np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2RGB) for c in crops])
        f = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
        if self.scale != 1.0:
            f *= np.float32(self.scale)
        if self.mean is not None or self.std is not None:  # InputConvention allows either alone
            for c in range(3):
                plane = f[:, c]
                if self.mean is not None:
                    plane -= self.mean[c]
                if self.std is not None:
                    plane /= self.std[c]
        return f
