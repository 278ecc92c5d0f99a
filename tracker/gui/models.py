"""What the model, device and xcorr selectors offer, and how a selection becomes a tracker."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

OPENCV_FALLBACK = ("opencv:csrt", "opencv:kcf", "opencv:mil")


@dataclass(frozen=True)
class ModelChoice:
    """A model the user can pick: a preset name, an OpenCV baseline, or a config/checkpoint from disk."""

    name: str  # preset name, "opencv:...", or a pysot YAML path
    weights: str | None = None  # checkpoint file (for a preset or a YAML), None = the preset's own
    label: str = field(default="", compare=False)

    @property
    def is_opencv(self) -> bool:
        return self.name.startswith("opencv:")

    @property
    def display(self) -> str:
        if self.label:
            return self.label
        if self.weights:
            return f"{Path(self.name).name} + {Path(self.weights).name}"
        return Path(self.name).name if self.name.endswith((".yaml", ".yml")) else self.name


def _weights_available(preset) -> bool:
    value = getattr(preset, "weights_available", False)
    return bool(value() if callable(value) else value)


def list_all_presets() -> list:
    try:
        from ..config.presets import list_presets
    except ImportError:
        return []
    try:
        return list(list_presets())
    except Exception:  # noqa: BLE001 - a broken preset registry must not keep the window from opening
        return []


def opencv_names() -> list[str]:
    try:
        from ..trackers import opencv as opencv_trackers
    except ImportError:
        return list(OPENCV_FALLBACK)
    # only the trackers that need no model files: the DNN ones (nano, vit...) cannot be built from a name
    for attr in ("SIMPLE", "list_opencv_trackers"):
        value = getattr(opencv_trackers, attr, None)
        if value is None:
            continue
        try:
            names = value() if callable(value) else value
            names = [n if str(n).startswith("opencv:") else f"opencv:{n}" for n in names]
            if names:
                return names
        except Exception:  # noqa: BLE001 - an OpenCV build without this list: the fallback names
            pass
    return list(OPENCV_FALLBACK)


def model_choices() -> list[ModelChoice]:
    """Presets whose weights are present, the project's default model first (it is what the window
    starts with, as `siamtrack track` does), then the OpenCV baselines."""
    default: str | None
    try:
        from ..config.presets import DEFAULT_PRESET as default
    except ImportError:
        default = None
    presets = sorted(
        (p for p in list_all_presets() if _weights_available(p)), key=lambda p: p.name != default
    )  # stable: the rest keep their order
    choices = [ModelChoice(p.name, label=f"{p.name}  ({p.family}, {p.backbone})") for p in presets]
    choices += [ModelChoice(n) for n in opencv_names()]
    return choices


def choice_for_file(path: str | Path, preset_name: str | None = None) -> ModelChoice:
    """A model from disk: a pysot YAML (weights: a model.pth / checkpoint beside it, if any) or a
    checkpoint (.pth/.pt) used with `preset_name` (or with a config.yaml beside it)."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        weights = next((str(c) for c in (path.with_name("model.pth"), path.with_suffix(".pth")) if c.is_file()), None)
        return ModelChoice(str(path), weights)
    beside = path.with_name("config.yaml")
    if preset_name is None and beside.is_file():
        return ModelChoice(str(beside), str(path))
    if preset_name is None:
        raise ValueError(f"{path}: a checkpoint needs a preset (or a config.yaml beside it)")
    return ModelChoice(preset_name, str(path))


def _gpu_present() -> bool:
    """Whether asking torch about CUDA is worth its import time (seconds): a GPU driver is visible, or torch
    is loaded already. Keeps the window quick to open on CPU-only machines."""
    import glob
    import sys

    return "torch" in sys.modules or bool(glob.glob("/dev/nvidia[0-9]*"))


def available_devices() -> list[str]:
    devices = ["cpu"]
    if not _gpu_present():
        return devices
    try:
        import torch

        if torch.cuda.is_available():
            n = torch.cuda.device_count()
            devices += ["cuda"] if n == 1 else [f"cuda:{i}" for i in range(n)]
    except Exception:  # noqa: BLE001 - a broken CUDA install: the CPU is still offered
        pass
    return devices


def available_xcorr_backends() -> list[str]:
    """The backends of `tracker.xcorr` (torch, numba, cuda); cuda only where a CUDA device exists."""
    backends = ["torch", "numba"]
    if len(available_devices()) > 1:
        backends.append("cuda")
    return backends


def build(choice: ModelChoice, device: str = "cpu", xcorr: str = "torch"):
    from .. import build_tracker

    if choice.is_opencv:
        return build_tracker(choice.name)
    return build_tracker(choice.name, weights=choice.weights, device=device, xcorr=xcorr)
