"""PyTorch is optional. `pip install siamtrack` (numpy, OpenCV, PyYAML, ONNX Runtime) tracks the shipped
default model through its shipped ONNX export (tracker.engines.shipped) and any folder written by
`siamtrack export`; whatever runs a network in PyTorch (other presets, checkpoint files, --engine torch,
--device cuda, --xcorr numba/cuda, training, export) needs the `torch` extra and says so in one line."""

from __future__ import annotations

import importlib.util

from .errors import UserError

INSTALL = 'pip install "siamtrack[torch]"'


class TorchMissing(UserError):
    pass


def torch_installed() -> bool:
    """Whether torch can be imported (without importing it: seconds)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def torch_missing(what: str, extra: str = "torch", note: str | None = None) -> TorchMissing:
    """The one-line error for `what` (e.g. "siamtrack train", "--engine torch") in an install without torch;
    `note` (why, or what works without it) follows."""
    install = INSTALL if extra == "torch" else INSTALL.replace("[torch]", f"[{extra}]")
    return TorchMissing(f"{what} needs PyTorch, which is not installed ({install})" + (f"; {note}" if note else ""))


def require_torch(what: str, extra: str = "torch") -> None:
    """Raise the one-line TorchMissing for `what` unless torch is installed."""
    if not torch_installed():
        raise torch_missing(what, extra)


def is_torch_import_error(exc: BaseException) -> bool:
    """An ImportError for torch (or one of its modules) where torch is not installed, e.g. from code that
    imports it at the top: the CLI's last guard, so that such a path still ends in one line."""
    return (
        isinstance(exc, ImportError)
        and (getattr(exc, "name", None) or "").split(".")[0] == "torch"
        and not torch_installed()
    )
