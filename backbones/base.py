"""Shared pieces of every backbone: the description the model assembly reads, and size arithmetic."""

from __future__ import annotations

import math

import torch.nn as nn


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window along one axis (floor mode)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def same_out(size: int, stride: int) -> int:
    """Output length of a TensorFlow 'SAME'-padded convolution: ceil(size / stride)."""
    return int(math.ceil(size / stride))


class Backbone(nn.Module):
    """Base class: a feature extractor that returns a list of maps.

    Subclasses set ``out_channels`` and ``strides`` (one entry per returned map, in the order of
    ``used_layers``) and implement ``_map_sizes(input_size) -> list[int]``.

    ``input_convention`` says what the first layer expects: ``x = (pixel * scale - mean) / std`` per channel,
    pixels being 0..255 values in ``channel_order``.
    """

    checkpoint_prefix = "backbone."
    input_convention: dict = {}
    out_channels: list
    strides: list

    def feature_size(self, input_size: int) -> list:
        """Spatial size (height = width) of each returned map for a square ``input_size`` input."""
        input_size = int(input_size)
        if input_size < 1:
            raise ValueError(f"input size must be positive, got {input_size}")
        sizes = self._map_sizes(input_size)
        if any(s < 1 for s in sizes):
            raise ValueError(f"{type(self).__name__}: input {input_size} is too small (map sizes {sizes})")
        return sizes

    def _map_sizes(self, input_size: int) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict:
        """A plain-data summary (for listings and model cards)."""
        return {
            "class": type(self).__name__,
            "out_channels": list(self.out_channels),
            "strides": list(self.strides),
            "input_convention": dict(self.input_convention),
            "checkpoint_prefix": self.checkpoint_prefix,
        }


def check_used_layers(used_layers, allowed, name: str) -> list:
    """Validate a ``used_layers`` list: non-empty, strictly increasing, each in ``allowed``."""
    try:
        layers = [int(i) for i in used_layers]
    except (TypeError, ValueError):
        raise TypeError(f"{name}: used_layers must be a list of integers, got {used_layers!r}") from None
    if not layers:
        raise ValueError(f"{name}: used_layers must not be empty")
    bad = [i for i in layers if i not in allowed]
    if bad:
        raise ValueError(f"{name}: used_layers {bad} not available; choose from {sorted(allowed)}")
    if any(b <= a for a, b in zip(layers, layers[1:])):
        raise ValueError(f"{name}: used_layers must be strictly increasing, got {layers}")
    return layers
