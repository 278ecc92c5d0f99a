#!/usr/bin/env python
"""Tracking speed per preset and xcorr backend: median ms per update() on real frames.

Weights do not change the cost, so presets without shipped weights run with random weights saved to a
temporary checkpoint. Usage:
    python scripts/bench_speed.py [--presets a,b] [--xcorr torch,numba] [--frames 60] [--device cpu]
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default=",".join(p.name for p in list_presets()))
    ap.add_argument("--xcorr", default="torch,numba")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, help="torch threads (default: the cores free at start-up)")
    args = ap.parse_args()
    from tracker.runtime import configure_threads
    configure_threads(args.threads)
    frames, box = frames_and_box(args.frames)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}, "
          f"{len(frames) - 1} frames of {SEQ.name}")
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
                print(f"| {name} | {backend} | {ms:.1f} | {1000 / ms:.1f} |", flush=True)


if __name__ == "__main__":
    main()
