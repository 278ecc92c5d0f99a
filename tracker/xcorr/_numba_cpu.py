"""numba backend: parallel CPU loops on zero-copy numpy views of contiguous CPU tensors.

Loop design (chosen by measurement, single thread, SiamFC / UP-channel shapes; see the report numbers in
scripts/bench_xcorr.py's output):
- Work items are (sample, block of up to 4 output planes, block of output rows), run with ``prange``.
  Blocking 4 kernels lets one load of a search value feed 4 accumulators (UP-channel has K = 10 / 20
  kernels sharing each search map); row blocks give the threads enough items when B * K is small
  (SiamFC: 3 scales x 1 kernel).
- The accumulators cover the output rows as one flat span at the *search* width W (the W - Wo extra
  columns per row are computed and dropped), so each kernel tap is one long contiguous multiply-add
  over a 1-D slice of the search plane, which LLVM vectorises. Looping row by row over Wo = 17..25
  columns instead left most of the work in scalar loop remainders and was several times slower
  (docs/speed.md, "Implementation choices").
- im2col + BLAS matmul was measured too and lost clearly for these shapes (building the 9216 x 289
  column matrix of the SiamFC case costs more than the direct loops, and the K = 1 product is a
  matrix-vector product), so it is not used.
Accumulation is in the input dtype (float32 or float64), no fastmath.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from numba import njit, prange

_KB = 4  # output planes sharing one pass over the search map (hard-wired in _plain_kernel)


@njit(parallel=True, fastmath=False, cache=True)
def _plain_kernel(x, k, out, nrb):  # pragma: no cover - compiled
    B, C, H, W = x.shape
    Bk, K, _, h, w = k.shape
    Ho = out.shape[2]
    Wo = out.shape[3]
    nkb = (K + 3) // 4
    rows = (Ho + nrb - 1) // nrb
    xf = x.reshape(B, C, H * W)
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
        # accumulators over the flat span of output rows y0..y0+ny-1 at the search width W
        # (columns >= Wo are computed and dropped): one long contiguous loop per tap
        L = (ny - 1) * W + Wo
        a0 = np.zeros(L, dtype=out.dtype)
        a1 = np.zeros(L, dtype=out.dtype)
        a2 = np.zeros(L, dtype=out.dtype)
        a3 = np.zeros(L, dtype=out.dtype)
        for c in range(C):
            xc = xf[b, c]
            for i in range(h):
                for j in range(w):
                    o = (y0 + i) * W + j
                    xs = xc[o : o + L]
                    if nk == 4:
                        v0 = k[bk, k0, c, i, j]
                        v1 = k[bk, k0 + 1, c, i, j]
                        v2 = k[bk, k0 + 2, c, i, j]
                        v3 = k[bk, k0 + 3, c, i, j]
                        for n in range(L):
                            s = xs[n]
                            a0[n] += v0 * s
                            a1[n] += v1 * s
                            a2[n] += v2 * s
                            a3[n] += v3 * s
                    else:
                        v0 = k[bk, k0, c, i, j]
                        for n in range(L):
                            a0[n] += v0 * xs[n]
                        if nk > 1:
                            v1 = k[bk, k0 + 1, c, i, j]
                            for n in range(L):
                                a1[n] += v1 * xs[n]
                        if nk > 2:
                            v2 = k[bk, k0 + 2, c, i, j]
                            for n in range(L):
                                a2[n] += v2 * xs[n]
        for y in range(ny):
            for xx in range(Wo):
                n = y * W + xx
                out[b, k0, y0 + y, xx] = a0[n]
                if nk > 1:
                    out[b, k0 + 1, y0 + y, xx] = a1[n]
                if nk > 2:
                    out[b, k0 + 2, y0 + y, xx] = a2[n]
                if nk > 3:
                    out[b, k0 + 3, y0 + y, xx] = a3[n]


@njit(parallel=True, fastmath=False, cache=True)
def _depthwise_kernel(x, k, out):  # pragma: no cover - compiled
    B, C, H, W = x.shape
    Bk = k.shape[0]
    h = k.shape[2]
    w = k.shape[3]
    Ho = out.shape[2]
    Wo = out.shape[3]
    L = (Ho - 1) * W + Wo
    xf = x.reshape(B, C, H * W)
    for item in prange(B * C):
        b = item // C
        c = item % C
        bk = b if Bk > 1 else 0
        xc = xf[b, c]
        acc = np.zeros(L, dtype=out.dtype)
        for i in range(h):
            for j in range(w):
                v = k[bk, c, i, j]
                o = i * W + j
                xs = xc[o : o + L]
                for n in range(L):
                    acc[n] += v * xs[n]
        for y in range(Ho):
            for xx in range(Wo):
                out[b, c, y, xx] = acc[y * W + xx]


@njit(parallel=True, fastmath=False, cache=True)
def _pixelwise_kernel(x, k, out):  # pragma: no cover - compiled
    # out[b, n, p] = sum_c k[bk, c, n] * x[b, c, p] over flat template cells n and search cells p:
    # one work item per (sample, template cell), each a run of contiguous multiply-adds over the map
    B, C, P = x.shape
    Bk = k.shape[0]
    N = k.shape[2]
    for item in prange(B * N):
        b = item // N
        n = item % N
        bk = b if Bk > 1 else 0
        acc = np.zeros(P, dtype=out.dtype)
        for c in range(C):
            v = k[bk, c, n]
            xc = x[b, c]
            for q in range(P):
                acc[q] += v * xc[q]
        for q in range(P):
            out[b, n, q] = acc[q]


def _host_view(t: torch.Tensor) -> np.ndarray:
    if t.device.type != "cpu":
        from ..errors import UserError

        raise UserError(
            f"xcorr backend 'numba' runs on the CPU only, but got a tensor on {t.device}; "
            "use --xcorr cuda or --xcorr torch on a GPU, or --device cpu"
        )
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


def pixelwise(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    xa = _host_view(x)
    ka = _host_view(kernel)
    B, C, H, W = xa.shape
    Bk, _, h, w = ka.shape
    out = torch.empty((B, h * w, H, W), dtype=x.dtype)
    _pixelwise_kernel(xa.reshape(B, C, H * W), ka.reshape(Bk, C, h * w), out.numpy().reshape(B, h * w, H * W))
    return out
