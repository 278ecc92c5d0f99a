"""A preset's torch network ready to run: the device it runs on (`resolve_device`) and the network with its
weights loaded strictly (`load_model`), for the builder (tracker.build), the export cache (tracker.prepare.auto)
and the export command."""

from __future__ import annotations

import torch

from ..config.presets import Preset
from ..errors import UserError
from ..runtime import apply_to_torch


def resolve_device(device) -> torch.device:
    """`device` ("cpu", "cuda", "cuda:1"; None: the CPU) as a torch device, refused in one line where this
    machine has no such device; what the application asked of torch (tracker.runtime) applied first."""
    apply_to_torch()  # what the application asked of torch (configure_process / configure_threads), now it is in
    name = str(device or "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(
                f"--device {name}: CUDA is not available on this machine (torch {torch.__version__}, "
                f"built {'with' if torch.version.cuda else 'without'} CUDA)"
            )
    elif name != "cpu":
        raise UserError(f"unknown device {name!r} (cpu or cuda)")
    return torch.device(name)


def load_model(preset: Preset, weights=None, device="cpu"):
    """The preset's network on `device`, in eval mode, with its weights loaded strictly."""
    from .checkpoint import load_into, read_checkpoint
    from .siamese import build_model

    dev = resolve_device(device)
    if weights is None:
        if not preset.weights_available:
            raise UserError(
                f"model {preset.name} has no shipped weights in this install; "
                f"pass --weights FILE (a pysot / siamfc-pytorch / siamtrack checkpoint)"
            )
        weights, expected = preset.weights_path, preset.weights_sha256
    else:
        expected = None
    state, meta = read_checkpoint(weights, expected)
    with torch.device("meta"):
        model = build_model(preset)
    model = model.to_empty(device="cpu")
    load_into(model, state, str(weights), preset.name)
    return model.to(dev).eval(), meta
