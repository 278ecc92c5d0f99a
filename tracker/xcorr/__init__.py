"""The cross-correlation core: two operations, three interchangeable backends.

Operations (no padding, stride 1, correlation i.e. no kernel flip, exactly like ``F.conv2d``):

``xcorr_plain(x, kernel)``
    per-sample correlation (SiamFC, UP-channel RPN). ``x``: (B, C, H, W); ``kernel``: (Bk, K, C, h, w)
    with Bk == B or Bk == 1 (one template broadcast over a batch of search crops). Returns
    (B, K, H-h+1, W-w+1): output plane (b, k) is the sum over channels of x[b] correlated with kernel[b, k].
``xcorr_depthwise(x, kernel)``
    depthwise correlation (SiamRPN++). ``x``: (B, C, H, W); ``kernel``: (Bk, C, h, w), Bk == B or 1.
    Returns (B, C, H-h+1, W-w+1).
``xcorr_pixelwise(x, kernel)``
    pixel-wise correlation (anchor-free heads): every template cell is a 1x1 kernel over the search map.
    ``x``: (B, C, H, W); ``kernel``: (Bk, C, h, w), Bk == B or 1. Returns (B, h*w, H, W): output plane
    i*w + j is the channel dot product of kernel cell (i, j) with every search cell (the map keeps its size).

Backends (chosen by name; nothing else in the project needs to know which one runs):

``"torch"``  grouped ``F.conv2d`` (CPU and CUDA tensors; differentiable; the default).
``"numba"``  ``@njit(parallel=True)`` loops on zero-copy numpy views of CPU tensors (inference only).
``"cuda"``   a ``numba.cuda`` kernel on the CUDA tensors' memory through ``__cuda_array_interface__``
             (no host copy), launched on torch's current stream (inference only). With
             ``NUMBA_ENABLE_CUDASIM=1`` it runs in numba's CUDA simulator on CPU tensors instead.

Inputs must be float32 or float64 (both tensors the same dtype and device); the output has that dtype.
numba is imported only when a numba backend is first used.
"""

from __future__ import annotations

import importlib
import os

import torch

from ..errors import UserError

BACKENDS = ("torch", "numba", "cuda")

__all__ = ["BACKENDS", "check_backend", "xcorr_plain", "xcorr_depthwise", "xcorr_pixelwise", "cuda_simulator_enabled"]

_DTYPES = (torch.float32, torch.float64)
_HALF_DTYPES = (torch.float16, torch.bfloat16)
_checked: set = set()  # (backend, device type, simulator) combinations that passed check_backend


def cuda_simulator_enabled() -> bool:
    """True when numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1``, read when numba is imported)."""
    try:
        from numba.core import config
    except ImportError:
        return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
    return bool(config.ENABLE_CUDASIM)


def _import_numba(backend: str):
    try:
        return importlib.import_module("numba")
    except ImportError as exc:
        raise UserError(
            f"xcorr backend '{backend}' needs the 'numba' package, which cannot be imported "
            f"({exc}); install it (pip install numba) or use --xcorr torch"
        ) from None


def _device_type(device) -> str:
    if isinstance(device, torch.device):
        return device.type
    if device is None:
        return "cpu"
    try:
        return torch.device(device).type
    except (RuntimeError, TypeError):
        raise UserError(f"invalid device {device!r}; use 'cpu', 'cuda' or 'cuda:N'") from None


def check_backend(name, device="cpu") -> None:
    """Raise UserError with a clear message if backend ``name`` cannot run on ``device``.

    ``device`` is a torch.device or a string such as "cpu", "cuda", "cuda:1"."""
    if name not in BACKENDS:
        raise UserError(f"unknown xcorr backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    dtype = _device_type(device)
    if name == "torch":
        if dtype == "cuda" and not torch.cuda.is_available():
            raise UserError("device 'cuda' requested but torch sees no CUDA device; use --device cpu")
        return
    _import_numba(name)
    if name == "numba":
        if dtype != "cpu":
            raise UserError(
                f"xcorr backend 'numba' runs on the CPU only, but the model is on {device}; "
                "use --xcorr cuda or --xcorr torch on a GPU, or --device cpu"
            )
        return
    # name == "cuda"
    if cuda_simulator_enabled():
        if dtype != "cpu":
            raise UserError(
                "NUMBA_ENABLE_CUDASIM=1 is set: the simulated 'cuda' xcorr backend works on CPU "
                "tensors only; use --device cpu, or unset NUMBA_ENABLE_CUDASIM to use the GPU"
            )
        return
    if dtype != "cuda":
        raise UserError(
            f"xcorr backend 'cuda' needs the model on a CUDA device, but it is on {device}; "
            "use --device cuda, or --xcorr torch / --xcorr numba on the CPU"
        )
    if not torch.cuda.is_available():
        raise UserError(
            "xcorr backend 'cuda' requested but torch sees no CUDA device; "
            "use --xcorr torch or --xcorr numba with --device cpu"
        )
    try:
        from numba import cuda

        ok = cuda.is_available()
    except Exception as exc:  # noqa: BLE001 - numba.cuda can fail in many driver/toolkit-specific ways
        raise UserError(f"xcorr backend 'cuda': numba.cuda cannot be used ({exc}); use --xcorr torch") from None
    if not ok:
        raise UserError(
            "xcorr backend 'cuda': numba.cuda finds no usable CUDA driver/device "
            "(numba.cuda.is_available() is False); use --xcorr torch"
        )
    try:
        from numba.cuda.cudadrv import nvvm

        have_nvvm = nvvm.is_available()
    except Exception:  # noqa: BLE001 # pragma: no cover - numba-cuda variants without this module compile differently
        have_nvvm = True
    if not have_nvvm:
        raise UserError(
            "xcorr backend 'cuda': numba cannot find libNVVM (part of the CUDA toolkit) to compile "
            "its kernel; install the CUDA toolkit and set CUDA_HOME (or pip install numba-cuda), "
            "or use --xcorr torch"
        )


def _ensure_backend(name, device: torch.device) -> None:
    key = (name, device.type, name == "cuda" and cuda_simulator_enabled())
    if key in _checked:
        return
    check_backend(name, device)
    _checked.add(key)


def _check_common(op, x, kernel, kernel_ndim, backend="torch"):
    if not isinstance(x, torch.Tensor) or not isinstance(kernel, torch.Tensor):
        raise TypeError(f"{op}: x and kernel must be torch tensors, got {type(x).__name__} and {type(kernel).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{op}: x must be (B, C, H, W), got shape {tuple(x.shape)}")
    if kernel.dim() != kernel_ndim:
        want = "(Bk, K, C, h, w)" if kernel_ndim == 5 else "(Bk, C, h, w)"
        raise ValueError(f"{op}: kernel must be {want}, got shape {tuple(kernel.shape)}")
    # half precision (mixed-precision training under autocast) only through torch's own convolutions
    allowed = _DTYPES + _HALF_DTYPES if backend == "torch" else _DTYPES
    if x.dtype not in allowed or kernel.dtype != x.dtype:
        names = "float16, bfloat16, float32 or float64" if backend == "torch" else "float32 or float64"
        raise ValueError(
            f"{op}: x and kernel must have one dtype, {names} (backend {backend!r}), got {x.dtype} and {kernel.dtype}"
        )
    if x.device != kernel.device:
        raise ValueError(f"{op}: x is on {x.device} but kernel is on {kernel.device}")
    B, C, H, W = x.shape
    Bk = kernel.shape[0]
    h, w = kernel.shape[-2:]
    kc = kernel.shape[2] if kernel_ndim == 5 else kernel.shape[1]
    if kc != C:
        raise ValueError(f"{op}: kernel has {kc} channels but x has {C}")
    if Bk not in (B, 1):
        raise ValueError(f"{op}: kernel batch {Bk} must equal the search batch {B} or be 1")
    if h > H or w > W or h < 1 or w < 1:
        raise ValueError(f"{op}: kernel {h}x{w} does not fit in the search map {H}x{W}")


def _check_inference(backend, x, kernel):
    if torch.is_grad_enabled() and (x.requires_grad or kernel.requires_grad):
        raise UserError(
            f"xcorr backend {backend!r} is inference-only (no gradients): call it under "
            "torch.no_grad(), or use --xcorr torch for training"
        )


def _dispatch(op: str, x: torch.Tensor, kernel: torch.Tensor, backend: str, kernel_ndim: int) -> torch.Tensor:
    """Check the inputs once, then run `op` ("plain", "depthwise" or "pixelwise") on the chosen backend."""
    if backend not in BACKENDS:
        check_backend(backend)  # raises the unknown-backend message
    _check_common(f"xcorr_{op}", x, kernel, kernel_ndim, backend)
    _ensure_backend(backend, x.device)
    if backend == "torch":
        module = "_torch"
    else:
        _check_inference(backend, x, kernel)
        module = "_numba_cpu" if backend == "numba" else "_numba_cuda"
    return getattr(importlib.import_module(f"{__name__}.{module}"), op)(x, kernel)


def xcorr_plain(x: torch.Tensor, kernel: torch.Tensor, backend: str = "torch") -> torch.Tensor:
    """Per-sample correlation: (B, C, H, W) x (Bk, K, C, h, w) -> (B, K, H-h+1, W-w+1)."""
    return _dispatch("plain", x, kernel, backend, 5)


def xcorr_depthwise(x: torch.Tensor, kernel: torch.Tensor, backend: str = "torch") -> torch.Tensor:
    """Depthwise correlation: (B, C, H, W) x (Bk, C, h, w) -> (B, C, H-h+1, W-w+1)."""
    return _dispatch("depthwise", x, kernel, backend, 4)


def xcorr_pixelwise(x: torch.Tensor, kernel: torch.Tensor, backend: str = "torch") -> torch.Tensor:
    """Pixel-wise correlation: (B, C, H, W) x (Bk, C, h, w) -> (B, h*w, H, W)."""
    return _dispatch("pixelwise", x, kernel, backend, 4)
