#!/usr/bin/env python
"""Micro-benchmark of the cross-correlation core: ms per call per backend, as a markdown table.

Shapes are those the heads feed the core at tracking time (batch 1 unless stated):

  siamfc_alexnet (255, 3 scales)  plain      x 3x256x22x22, kernel 1x1x256x6x6 (broadcast)  -> 3x1x17x17
  alex_upxcorr cls (271)          plain      x 1x256x22x22, kernel 1x10x256x4x4               -> 1x10x19x19
  alex_upxcorr loc (271)          plain      x 1x256x22x22, kernel 1x20x256x4x4               -> 1x20x19x19
  alex_dwxcorr (287)              depthwise  x 1x256x24x24, kernel 1x256x4x4                  -> 1x256x21x21
  r50_l234_dwxcorr (255), 1 level depthwise  x 1x256x29x29, kernel 1x256x5x5                  -> 1x256x25x25
  r50 level, training batch 8     depthwise  x 8x256x29x29, kernel 8x256x5x5

(AlexNet: a 127 template gives 6x6, a search of size s gives (s-127)/8+6; the RPN heads' 3x3 convs take
2 off each; the R50 neck crops the template to 7x7.) Per frame, UP-channel makes one cls and one loc call,
alex_dwxcorr two depthwise calls (cls, loc), r50_l234 six (cls, loc x 3 levels).

Usage: python scripts/bench_xcorr.py [--runs 50] [--warmup 5] [--backends torch,numba,cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from tracker.errors import UserError
from tracker.xcorr import BACKENDS, check_backend, xcorr_depthwise, xcorr_plain

CASES = [
    ("siamfc_alexnet, 3 scales (255)", "plain", (3, 256, 22, 22), (1, 1, 256, 6, 6)),
    ("alex_upxcorr cls (271)", "plain", (1, 256, 22, 22), (1, 10, 256, 4, 4)),
    ("alex_upxcorr loc (271)", "plain", (1, 256, 22, 22), (1, 20, 256, 4, 4)),
    ("alex_dwxcorr (287)", "depthwise", (1, 256, 24, 24), (1, 256, 4, 4)),
    ("r50_l234_dwxcorr, one level (255)", "depthwise", (1, 256, 29, 29), (1, 256, 5, 5)),
    ("r50 level, batch 8", "depthwise", (8, 256, 29, 29), (8, 256, 5, 5)),
]


def time_call(fn, runs, warmup, sync):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50, help="timed calls per cell (median reported)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed calls first (includes numba compilation)")
    ap.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated subset of torch,numba,cuda")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for torch and numba")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
        import numba

        numba.set_num_threads(args.threads)
    have_gpu = torch.cuda.is_available()
    # columns: (label, backend, device)
    columns = []
    for b in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if b == "torch":
            columns.append(("torch cpu", "torch", "cpu"))
            if have_gpu:
                columns.append(("torch cuda", "torch", "cuda"))
        elif b == "numba":
            columns.append(("numba", "numba", "cpu"))
        elif b == "cuda":
            columns.append(("numba.cuda", "cuda", "cuda"))
        else:
            print(f"error: unknown backend {b!r}; choose from {', '.join(BACKENDS)}", file=sys.stderr)
            return 2
    available = {}
    for label, backend, device in columns:
        try:
            check_backend(backend, device)
            available[label] = None
        except UserError as exc:
            available[label] = str(exc)

    import numba

    print(
        f"torch {torch.__version__}, numba {numba.__version__}, torch threads {torch.get_num_threads()}, "
        f"numba threads {numba.get_num_threads()}, GPU: "
        f"{torch.cuda.get_device_name(0) if have_gpu else 'none'}; median of {args.runs} calls after "
        f"{args.warmup} warm-up calls, ms per call\n"
    )
    print("| shape | op | x | kernel | " + " | ".join(c[0] for c in columns) + " |")
    print("|---|---|---|---|" + "---:|" * len(columns))
    g = torch.Generator().manual_seed(0)
    for name, op, xs, ks in CASES:
        x_cpu = torch.randn(xs, generator=g)
        k_cpu = torch.randn(ks, generator=g)
        f = xcorr_plain if op == "plain" else xcorr_depthwise
        cells = []
        for label, backend, device in columns:
            if available[label] is not None:
                cells.append("n/a")
                continue
            x, k = x_cpu.to(device), k_cpu.to(device)
            sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
            with torch.no_grad():
                ms = time_call(functools.partial(f, x, k, backend=backend), args.runs, args.warmup, sync)
            cells.append(f"{ms:.3f}")
        print(f"| {name} | {op} | {'x'.join(map(str, xs))} | {'x'.join(map(str, ks))} | " + " | ".join(cells) + " |")
    missing = {label: why for label, why in available.items() if why}
    if missing:
        print()
        for label, why in missing.items():
            print(f"{label}: n/a ({why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
