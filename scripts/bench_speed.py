#!/usr/bin/env python
"""Tracking speed per preset and xcorr backend: median ms per update() on real frames.

Weights do not change the cost, so presets without shipped weights run with random weights saved to a
temporary checkpoint. Usage:
    python scripts/bench_speed.py [--presets a,b] [--xcorr torch,numba] [--frames 60] [--device cpu] [--peak]

--peak also measures what these cores can do: the best rate of one large float32 convolution (AlexNet's
5x5 conv2, 2.4 GMAC, oneDNN through the same frozen TorchScript path), and counts the multiply-adds of
every convolution one update() runs; the last columns are then the preset's GMAC per frame, the fps that
rate would give, and the share of it reached.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker import build_tracker  # noqa: E402
from tracker.models import build_model, save_checkpoint  # noqa: E402
from tracker.presets import get_preset, list_presets  # noqa: E402

SEQ = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "sequences" / "car1"


def frames_and_box(n):
    files = sorted((SEQ / "img").iterdir())[: n + 1]
    box = [float(v) for v in (SEQ / "groundtruth_rect.txt").read_text().split()[0].split(",")]
    return [cv2.imread(str(f)) for f in files], box


def conv_peak_gmacs(runs: int = 40) -> float:
    """Best GMAC/s of one large float32 convolution (AlexNet conv2: 5x5, 96->256 channels, 67x67 input)."""
    conv = torch.nn.Conv2d(96, 256, 5).eval()
    x = torch.randn(1, 96, 67, 67)
    with torch.no_grad():
        g = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(conv, x)))
        for _ in range(3):
            g(x)
        best = min(_timed(g, x) for _ in range(runs))
    return 63 * 63 * 256 * 96 * 25 / 1e9 / best


def _timed(fn, x) -> float:
    t0 = time.perf_counter()
    fn(x)
    return time.perf_counter() - t0


def count_update_gmacs(tracker, frame) -> float:
    """Multiply-adds of every convolution in one update(): nn.Conv2d modules and the xcorr's functional
    convolutions both go through torch.nn.functional.conv2d, which is counted."""
    import torch.nn.functional as F
    total = [0]
    model = tracker.model
    fast = model.__dict__.pop("_fast", None)          # eager modules: a TorchScript graph bypasses F.conv2d
    real_conv2d = F.conv2d

    def counting_conv2d(x, w, *a, **k):
        out = real_conv2d(x, w, *a, **k)
        total[0] += out.numel() * w.shape[1] * w.shape[2] * w.shape[3]
        return out
    F.conv2d = counting_conv2d
    try:
        tracker.update(frame)
    finally:
        F.conv2d = real_conv2d
        if fast is not None:
            model.__dict__["_fast"] = fast
    return total[0] / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default=",".join(p.name for p in list_presets()))
    ap.add_argument("--xcorr", default="torch,numba")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, help="torch threads (default: the cores free at start-up)")
    ap.add_argument("--peak", action="store_true", help="also measure the cores' float32 convolution rate and "
                    "report each preset's GMAC per frame against it")
    args = ap.parse_args()
    from tracker.runtime import configure_threads
    configure_threads(args.threads)
    frames, box = frames_and_box(args.frames)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}, "
          f"{len(frames) - 1} frames of {SEQ.name}")
    peak = conv_peak_gmacs() if args.peak and args.device == "cpu" else None
    if peak:
        print(f"float32 convolution peak of these cores: {peak:.0f} GMAC/s ({2 * peak:.0f} GFLOP/s)")
        print("| preset | xcorr | median ms/frame | fps | GMAC/frame | fps at the peak | share of the peak |")
        print("|---|---|---|---|---|---|---|")
    else:
        print("| preset | xcorr | median ms/frame | fps |")
        print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets.split(","):
            preset = get_preset(name)
            weights = None
            if not preset.weights_available:
                torch.manual_seed(0)
                weights = Path(tmp) / f"{name}.pth"
                save_checkpoint(weights, build_model(preset), {"preset": name})
            for backend in args.xcorr.split(","):
                tracker = build_tracker(name, weights=weights, device=args.device, xcorr=backend)
                tracker.init(frames[0], box)
                times = []
                for f in frames[1:]:
                    t0 = time.perf_counter()
                    tracker.update(f)
                    if args.device.startswith("cuda"):
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - t0)
                ms = statistics.median(times[3:] if len(times) > 6 else times) * 1000
                row = f"| {name} | {backend} | {ms:.1f} | {1000 / ms:.1f} |"
                if peak:
                    gmac = count_update_gmacs(tracker, frames[-1])
                    bound = peak / gmac
                    row += f" {gmac:.2f} | {bound:.1f} | {100 * (1000 / ms) / bound:.0f}% |"
                print(row, flush=True)


if __name__ == "__main__":
    main()
