"""Crops → network input, in NumPy/OpenCV only (no torch): the project's one implementation of a model's
input convention on the CPU, used by the torch engine's CPU path and by the ONNX engines."""

from __future__ import annotations

import cv2
import numpy as np


class NumpyInput:
    """BGR uint8 crops (N, H, W, 3) or (H, W, 3) → float32 (N, 3, H, W): channel order, then
    (pixel * scale - mean) / std, per the preset's InputConvention. Each crop is split into its channel planes
    (cv2.split), and each plane is converted into its place in the output (the channel order is which plane goes
    where), then scaled one plane at a time (NumPy's broadcasting over a last axis of 3, and a strided
    transpose-and-cast, are slow; measured: docs/speed.md, "Implementation choices"). `into` writes into an
    array the caller keeps (an engine's preallocated input); calling the object returns a new one."""

    def __init__(self, conv):
        self.flip = conv.channel_order.upper() == "RGB"
        self.scale = conv.scale
        self.mean = None if conv.mean is None else np.asarray(conv.mean, dtype=np.float32)
        self.std = None if conv.std is None else np.asarray(conv.std, dtype=np.float32)
        self._planes: list[np.ndarray] = []

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        if crops.ndim == 3:
            crops = crops[None]
        n, h, w = crops.shape[:3]
        return self.into(crops, np.empty((n, 3, h, w), np.float32))

    def into(self, crops: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Writes crops (N, H, W, 3) or (H, W, 3) into `out`, float32 (N, 3, H, W); returns `out`."""
        if crops.ndim == 3:
            crops = crops[None]
        h, w = crops.shape[1:3]
        if len(self._planes) != 3 or self._planes[0].shape != (h, w):
            self._planes = [np.empty((h, w), np.uint8) for _ in range(3)]
        order = (2, 1, 0) if self.flip else (0, 1, 2)  # BGR crops: RGB's first channel is plane 2
        scale = np.float32(self.scale)
        for i, crop in enumerate(crops):
            planes = cv2.split(np.ascontiguousarray(crop), self._planes)
            for c, p in enumerate(order):
                # each plane finished while it is in cache: (float32(pixel) * scale - mean) / std, in float32
                plane = out[i, c]
                if self.scale != 1.0:
                    np.multiply(planes[p], scale, out=plane, dtype=np.float32)
                else:
                    np.copyto(plane, planes[p], casting="unsafe")
                if self.mean is not None:  # InputConvention allows a mean or a std alone
                    plane -= self.mean[c]
                if self.std is not None:
                    plane /= self.std[c]
        return out
