"""numba backend: parallel CPU loops on zero-copy numpy views of contiguous CPU tensors.

Loop design (measured against alternatives with scripts/bench_xcorr.py-sized shapes):
- Work items are (sample, block of up to 4 output planes, block of output rows), run with ``prange``.
  Blocking 4 kernels together lets one load of a search value feed 4 accumulators (UP-channel has
  K = 10 / 20 kernels sharing each search map); row blocks give the threads enough items when
  B * K is small (SiamFC: 3 scales x 1 kernel).
- Inside an item the kernel taps are the outer loops and the output rows/columns the inner ones, so the
  innermost loop is a contiguous, vectorisable multiply-add over one output row (a scatter form of the
  correlation); the accumulators (a few KB) stay in L1.
- im2col + BLAS matmul was measured too and lost clearly for these shapes (building the 9216 x 289
  column matrix of the SiamFC case costs more than the direct loops, and the K = 1 product is a
  matrix-vector product), so it is not used.
Accumulation is in the input dtype (float32 or float64), no fastmath.
"""
from __future__ import annotations

import numpy as np
import numba
import torch
from numba import njit, prange

_KB = 4  # output planes sharing one pass over the search map


@njit(parallel=True, fastmath=False, cache=True)
def _plain_kernel(x, k, out, nrb):  # pragma: no cover - compiled
    B, C, H, W = x.shape
    Bk, K, _, h, w = k.shape
    Ho = out.shape[2]
    Wo = out.shape[3]
    nkb = (K + 3) // 4
    rows = (Ho + nrb - 1) // nrb
    for item in prange(B * nkb * nrb):
        b = item // (nkb * nrb)
        rest = item % (nkb * nrb)
        k0 = (rest // nrb) * 4
        y0 = (rest % nrb) * rows
        ny = min(Ho, y0 + rows) - y0
        if ny <= 0:
            continue
        bk = b if Bk > 1 else 0
        nk = min(4, K - k0)
        acc = np.zeros((4, rows, Wo), dtype=out.dtype)
        for c in range(C):
            for i in range(h):
                for j in range(w):
                    if nk == 4:
                        v0 = k[bk, k0, c, i, j]
                        v1 = k[bk, k0 + 1, c, i, j]
                        v2 = k[bk, k0 + 2, c, i, j]
                        v3 = k[bk, k0 + 3, c, i, j]
                        for y in range(ny):
                            for xx in range(Wo):
                                s = x[b, c, y0 + y + i, xx + j]
                                acc[0, y, xx] += v0 * s
                                acc[1, y, xx] += v1 * s
                                acc[2, y, xx] += v2 * s
                                acc[3, y, xx] += v3 * s
                    else:
                        for q in range(nk):
                            v = k[bk, k0 + q, c, i, j]
                            for y in range(ny):
                                for xx in range(Wo):
                                    acc[q, y, xx] += v * x[b, c, y0 + y + i, xx + j]
        for q in range(nk):
            for y in range(ny):
                for xx in range(Wo):
                    out[b, k0 + q, y0 + y, xx] = acc[q, y, xx]


@njit(parallel=True, fastmath=False, cache=True)
def _depthwise_kernel(x, k, out):  # pragma: no cover - compiled
    B, C, H, W = x.shape
    Bk = k.shape[0]
    h = k.shape[2]
    w = k.shape[3]
    Ho = out.shape[2]
    Wo = out.shape[3]
    for item in prange(B * C):
        b = item // C
        c = item % C
        bk = b if Bk > 1 else 0
        acc = np.zeros((Ho, Wo), dtype=out.dtype)
        for i in range(h):
            for j in range(w):
                v = k[bk, c, i, j]
                for y in range(Ho):
                    for xx in range(Wo):
                        acc[y, xx] += v * x[b, c, y + i, xx + j]
        for y in range(Ho):
            for xx in range(Wo):
                out[b, c, y, xx] = acc[y, xx]


def _host_view(t: torch.Tensor) -> np.ndarray:
    if t.device.type != "cpu":
        from ..errors import UserError
        raise UserError(f"xcorr backend 'numba' runs on the CPU only, but got a tensor on {t.device}; "
                        "use --xcorr cuda or --xcorr torch on a GPU, or --device cpu")
    return t.detach().contiguous().numpy()  # zero-copy for contiguous tensors


def _row_blocks(items: int, rows: int) -> int:
    """Split output rows so that there are at least ~2 work items per thread."""
    want = 2 * numba.get_num_threads()
    if items >= want:
        return 1
    return max(1, min(rows, -(-want // items)))


def plain(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    xa = _host_view(x)
    ka = _host_view(kernel)
    B, _, H, W = xa.shape
    _, K, _, h, w = ka.shape
    Ho, Wo = H - h + 1, W - w + 1
    out = torch.empty((B, K, Ho, Wo), dtype=x.dtype)
    nrb = _row_blocks(B * (-(-K // _KB)), Ho)
    _plain_kernel(xa, ka, out.numpy(), nrb)
    return out


def depthwise(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    xa = _host_view(x)
    ka = _host_view(kernel)
    B, C, H, W = xa.shape
    h, w = ka.shape[-2:]
    out = torch.empty((B, C, H - h + 1, W - w + 1), dtype=x.dtype)
    _depthwise_kernel(xa, ka, out.numpy())
    return out
