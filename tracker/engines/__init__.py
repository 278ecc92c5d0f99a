"""Inference engines: what runs a Siamese model's two branches.

A Siamese tracker needs two things from its network, and an engine provides exactly these:
`template(crop)` — the template branch on one exemplar crop, run once per target, returning an opaque
kernel; and `search(crops, kernel)` — the search branch and the head on N search crops against that
kernel, returning the head's raw outputs as float32 numpy arrays (cls, loc; loc is None for SiamFC).
Crops are BGR uint8 arrays (H, W, 3) or (N, H, W, 3); each engine applies the model's input convention.
Everything else a tracker does per frame (cropping, decoding, penalties, window, smoothing) lives in the
trackers (tracker.trackers.siamrpn, tracker.trackers.siamfc), once, whichever engine runs the network.

Engines: `torch` (the model in PyTorch, with the CPU fast path), `onnxruntime` and `openvino` (the
exported ONNX graphs of tracker.export), and `auto`, which picks one per machine and model (see
tracker.engines.choice). This package imports neither torch nor an engine's runtime until one is used.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from ..errors import UserError

ENGINES = ("auto", "torch", "onnxruntime", "openvino")
ONNX_ENGINES = ("onnxruntime", "openvino")
# the package each engine imports, and how to get it
_PACKAGES = {
    "torch": ("torch", "pip install torch"),
    "onnxruntime": ("onnxruntime", "pip install onnxruntime"),
    "openvino": ("openvino", "pip install 'siamtrack[openvino]'"),
}


class Engine:
    """The interface the Siamese trackers use; see the module docstring."""

    name = "engine"
    model: Any = None  # the torch module, where there is one (the torch engine)

    def template(self, crop: np.ndarray):
        raise NotImplementedError

    def search(self, crops: np.ndarray, kernel) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    # Several targets at once (tracker.trackers.multi): their kernels stacked into one batch, and one search
    # call for all their crops. One target is the same call with a stack of one (the kernel itself).

    @staticmethod
    def _concatenate(leaves: list):
        return np.concatenate(leaves, axis=0)

    def stack(self, kernels: list):
        """The kernels of several targets (each as `template` gave it, batch 1) as one kernel of batch
        len(kernels): every array or tensor concatenated along its first axis, nesting kept. One kernel is
        returned as it is."""
        if len(kernels) == 1:
            return kernels[0]
        first = kernels[0]
        if isinstance(first, (list, tuple)):
            return type(first)(self.stack([k[i] for k in kernels]) for i in range(len(first)))
        return self._concatenate(list(kernels))

    def search_targets(self, crops: np.ndarray, kernel, targets: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The search branch on the crops of `targets` targets, `len(crops) // targets` consecutive crops each
        (SiamFC: its scales), against `kernel`, the stack of their kernels (`stack`): outputs in the crops'
        order. One target is exactly `search(crops, kernel)`; for several, this fallback runs one search per
        target (engines that can batch override it: one network call for all)."""
        if targets == 1:
            return self.search(crops, kernel)
        per = len(crops) // targets
        outs = [self.search(crops[i * per : (i + 1) * per], take_kernel(kernel, i)) for i in range(targets)]
        cls = np.concatenate([o[0] for o in outs])
        locs = [o[1] for o in outs]
        return cls, (None if locs[0] is None else np.concatenate([loc for loc in locs if loc is not None]))


def take_kernel(kernel, i: int):
    """Target `i`'s kernel (batch 1) out of a stack (`Engine.stack`), nesting kept."""
    if isinstance(kernel, (list, tuple)):
        return type(kernel)(take_kernel(k, i) for k in kernel)
    return kernel[i : i + 1]


def repeat_kernel(kernel, times: int, repeat):
    """Each target's kernel in a stack repeated `times` times in a row (one per crop of that target), by
    `repeat(leaf, times)`, nesting kept."""
    if isinstance(kernel, (list, tuple)):
        return type(kernel)(repeat_kernel(k, times, repeat) for k in kernel)
    return repeat(kernel, times)


def engine_text(tracker) -> str:
    """What runs a Siamese tracker's network: the engine, and its precision where it is not float32 (e.g.
    "onnxruntime int8", "openvino bfloat16", "torch"); '' for a tracker without one (OpenCV's)."""
    name = getattr(tracker, "engine_name", "") or ""
    precision = getattr(getattr(tracker, "engine", None), "precision", "float32")
    if name and precision != "float32":
        name += f" {precision}"
    return name


def installed(engine: str) -> bool:
    """Whether the package an engine needs can be imported (without importing it)."""
    return importlib.util.find_spec(_PACKAGES[engine][0]) is not None


_default = "auto"


def default_engine() -> str:
    """The engine `build_tracker` uses when none is named: auto, unless `set_default_engine` said otherwise."""
    return _default


def set_default_engine(engine: str | None) -> None:
    """The engine `build_tracker` uses when none is named (`siamtrack gui --engine`); None: auto."""
    global _default
    _default = check_engine(engine or "auto")


def check_engine(engine: str | None) -> str:
    """A valid engine name (None: the process default, normally auto); a named engine whose package is
    missing is refused."""
    name = (engine or _default).lower()
    if name not in ENGINES:
        raise UserError(f"unknown engine {engine!r} ({', '.join(ENGINES)})")
    if name == "torch" and not installed(name):
        from .._torch import torch_missing

        raise torch_missing("--engine torch")
    if name != "auto" and not installed(name):
        package, how = _PACKAGES[name]
        raise UserError(f"engine '{name}' needs the '{package}' package, which is not installed ({how})")
    return name
