"""Necks, heads, the Siamese model assembly, checkpoint reading, and a preset's network loaded to run."""

from .checkpoint import CheckpointError, load_into, read_checkpoint, save_checkpoint
from .load import load_model, resolve_device
from .siamese import InputAdapter, SiameseModel, build_model


def preprocess(crops, preset, device="cpu"):
    """BGR uint8 crops (N, H, W, 3) → float tensor (N, 3, H, W) in the preset's input convention."""
    import torch

    return InputAdapter(preset.input, torch.device(device))(crops)


__all__ = [
    "CheckpointError",
    "InputAdapter",
    "SiameseModel",
    "build_model",
    "load_into",
    "load_model",
    "preprocess",
    "read_checkpoint",
    "resolve_device",
    "save_checkpoint",
]
