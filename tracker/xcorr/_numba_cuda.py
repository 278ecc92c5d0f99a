"""cuda backend: numba.cuda kernels working directly on torch CUDA tensors' memory.

Real mode: the tensors are wrapped with ``numba.cuda.as_cuda_array`` (``__cuda_array_interface__``, no
copy), the output is allocated by torch on the same device, and the kernel is launched on torch's
current stream (``numba.cuda.external_stream``), so it is ordered with the surrounding torch work and
needs no synchronisation.

Simulator mode (``NUMBA_ENABLE_CUDASIM=1``, for CI without a GPU): there is no device memory, so the
tensors must be CPU tensors and their zero-copy numpy views are handed to the very same kernels and
launch code (the simulator copies them in and writes them back around the launch).

Kernels:
- plain correlation: one thread per (channel chunk of 16, output element); consecutive threads take
  consecutive output columns (coalesced search reads, the kernel value broadcast across the warp). The
  chunk partial sums go to a (chunks, B, K, Ho, Wo) buffer that torch sums in a fixed order on the same
  stream: deterministic (no float atomics) and enough threads even for SiamFC's small output
  (3 x 17 x 17 values x 16 chunks). A block-per-output shared-memory reduction was tried first: no
  better in principle for these sizes and far too slow under the simulator (syncthreads).
- depthwise correlation: one thread per output element (B*C*Ho*Wo threads, h*w terms each).
- pixel-wise correlation: one thread per output element (B * h*w * H*W threads, C terms each);
  consecutive threads take consecutive search cells (coalesced reads, the template value broadcast).
Accumulation is in the input dtype.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import cuda
from numba.core import config

from ..errors import UserError

_SIM = bool(config.ENABLE_CUDASIM)
_TPB = 128  # threads per block
_CH = 16  # plain kernel: channels summed by one thread; C > _CH splits the sum over ceil(C/_CH) threads


def _make_kernels(np_dtype):
    zero = np_dtype(0)

    @cuda.jit
    def plain_kernel(x, k, out):  # pragma: no cover - device code
        # out: (S, B, K, Ho, Wo); split s sums channels [s*CH, (s+1)*CH)
        B, C, H, W = x.shape
        Bk, K, _, h, w = k.shape
        S = out.shape[0]
        Ho = out.shape[3]
        Wo = out.shape[4]
        n = B * K * Ho * Wo
        g = cuda.grid(1)
        if g >= S * n:
            return
        s = g // n
        o = g - s * n
        xx = o % Wo
        t = o // Wo
        y = t % Ho
        t = t // Ho
        kk = t % K
        b = t // K
        bk = b if Bk > 1 else 0
        c1 = min(C, (s + 1) * _CH)
        acc = zero
        for c in range(s * _CH, c1):
            for i in range(h):
                for j in range(w):
                    acc += k[bk, kk, c, i, j] * x[b, c, y + i, xx + j]
        out[s, b, kk, y, xx] = acc

    @cuda.jit
    def depthwise_kernel(x, k, out):  # pragma: no cover - device code
        B, C, H, W = x.shape
        Bk = k.shape[0]
        h = k.shape[2]
        w = k.shape[3]
        Ho = out.shape[2]
        Wo = out.shape[3]
        o = cuda.grid(1)
        if o >= B * C * Ho * Wo:
            return
        xx = o % Wo
        t = o // Wo
        y = t % Ho
        t = t // Ho
        c = t % C
        b = t // C
        bk = b if Bk > 1 else 0
        acc = zero
        for i in range(h):
            for j in range(w):
                acc += k[bk, c, i, j] * x[b, c, y + i, xx + j]
        out[b, c, y, xx] = acc

    @cuda.jit
    def pixelwise_kernel(x, k, out):  # pragma: no cover - device code
        # x: (B, C, P) search cells, k: (Bk, C, N) template cells, out: (B, N, P)
        B, C, P = x.shape
        Bk = k.shape[0]
        N = k.shape[2]
        o = cuda.grid(1)
        if o >= B * N * P:
            return
        q = o % P
        t = o // P
        n = t % N
        b = t // N
        bk = b if Bk > 1 else 0
        acc = zero
        for c in range(C):
            acc += k[bk, c, n] * x[b, c, q]
        out[b, n, q] = acc

    return plain_kernel, depthwise_kernel, pixelwise_kernel


_KERNELS: dict = {}


def _kernels(dtype: torch.dtype):
    if dtype not in _KERNELS:
        _KERNELS[dtype] = _make_kernels(np.float32 if dtype == torch.float32 else np.float64)
    return _KERNELS[dtype]


def _device_view(t: torch.Tensor):
    """Zero-copy view of a tensor that a numba.cuda kernel accepts."""
    t = t.detach().contiguous()
    if _SIM:
        if t.device.type != "cpu":
            raise UserError(
                "NUMBA_ENABLE_CUDASIM=1 is set: the simulated 'cuda' xcorr backend works on CPU "
                "tensors only; use --device cpu, or unset NUMBA_ENABLE_CUDASIM to use the GPU"
            )
        return t.numpy()
    if t.device.type != "cuda":
        raise UserError(
            f"xcorr backend 'cuda' needs CUDA tensors, got a tensor on {t.device}; "
            "use --device cuda, or --xcorr torch / --xcorr numba on the CPU"
        )
    # sync=False: the kernel runs on torch's current stream, already ordered after the producer
    return cuda.as_cuda_array(t, sync=False)


def _launch(kernel, blocks, threads, device: torch.device, *args):
    if _SIM:
        _run_kernel(kernel, (blocks, threads, 0), args)
        return
    idx = device.index if device.index is not None else torch.cuda.current_device()
    with cuda.gpus[idx]:
        stream = cuda.external_stream(torch.cuda.current_stream(device).cuda_stream)
        _run_kernel(kernel, (blocks, threads, stream), args)


def _run_kernel(kernel, config, args):
    """Launch; a kernel that fails to compile on its first launch is a set-up problem (seen on one GPU
    machine: numba-cuda 0.68 against numpy 2.5, which no longer has np.row_stack), said in one line."""
    try:
        kernel[config](*args)
    except Exception as exc:
        if getattr(kernel, "overloads", None):  # compiled before: a launch error, not the installation
            raise
        import numba

        raise UserError(
            f"xcorr backend 'cuda': numba could not compile its kernel ({type(exc).__name__}: "
            f"{exc}); numba {numba.__version__}, numpy {np.__version__} — an incompatible "
            "numba / numba-cuda / numpy set; use --xcorr torch"
        ) from exc


def plain(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    B, C, H, W = x.shape
    _, K, _, h, w = kernel.shape
    xa, ka = _device_view(x), _device_view(kernel)
    splits = -(-C // _CH)
    part = torch.empty((splits, B, K, H - h + 1, W - w + 1), dtype=x.dtype, device=x.device)
    if part.numel() == 0:
        return part[0]
    plain_k = _kernels(x.dtype)[0]
    _launch(plain_k, -(-part.numel() // _TPB), _TPB, x.device, xa, ka, _device_view(part))
    # fixed-order sum of the channel splits (deterministic, unlike atomics); same stream as the kernel
    return part[0] if splits == 1 else part.sum(0)


def depthwise(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    B, C, H, W = x.shape
    h, w = kernel.shape[-2:]
    xa, ka = _device_view(x), _device_view(kernel)
    out = torch.empty((B, C, H - h + 1, W - w + 1), dtype=x.dtype, device=x.device)
    if out.numel() == 0:
        return out
    dw_k = _kernels(x.dtype)[1]
    n = out.numel()
    _launch(dw_k, -(-n // _TPB), _TPB, x.device, xa, ka, _device_view(out))
    return out


def pixelwise(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    B, C, H, W = x.shape
    Bk, _, h, w = kernel.shape
    xa = _device_view(x.reshape(B, C, H * W))
    ka = _device_view(kernel.reshape(Bk, C, h * w))
    out = torch.empty((B, h * w, H * W), dtype=x.dtype, device=x.device)
    if out.numel() == 0:
        return out.reshape(B, h * w, H, W)
    pw_k = _kernels(x.dtype)[2]
    _launch(pw_k, -(-out.numel() // _TPB), _TPB, x.device, xa, ka, _device_view(out))
    return out.reshape(B, h * w, H, W)
