"""Per-frame cost of N targets: one MultiTracker (one batched search per frame) against N separate single-target
trackers, interleaved frame by frame in one process on the same 640x480 frames (a benchmark, not a test).

    python scripts/bench_multi.py                       # the default model, N = 1, 2, 4, 8
    python scripts/bench_multi.py --model nanotrack_v3 --targets 1,4 --frames 60

The feed is the shared data's vtest.avi (people walking) scaled to 640x480, or --video FILE. The N boxes are
spread over the frame. Each frame is tracked by both sides, in alternating order; the time of a side is its
update() call(s) for that frame; the table gives the median per frame, the ratio batched / separate and the
batched rate. The first frames (the batched graphs' export on first use, the engines' warm-up) are left out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tracker import build_tracker  # noqa: E402
from tracker.config.presets import DEFAULT_PRESET  # noqa: E402
from tracker.io.sources import open_source  # noqa: E402
from tracker.trackers.multi import MultiTracker  # noqa: E402

SIZE = (640, 480)
# 8 boxes on vtest.avi scaled to 640x480 (people and background, spread over the frame)
BOXES = [
    (233, 150, 33, 75),
    (317, 167, 33, 75),
    (83, 125, 42, 83),
    (450, 200, 40, 90),
    (540, 120, 36, 80),
    (150, 280, 40, 90),
    (360, 300, 50, 100),
    (20, 330, 45, 95),
]


def frames_of(video: Path, count: int) -> list[np.ndarray]:
    out = []
    with open_source(str(video)) as source:
        for _, frame in source:
            out.append(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
            if len(out) == count:
                break
    return out


def bench(tracker, frames: list[np.ndarray], n: int, warm: int) -> tuple[float, float]:
    """Median ms per frame: (batched, separate)."""
    boxes = BOXES[:n]
    multi = MultiTracker(tracker)
    for b in boxes:
        multi.add(frames[0], b)
    separate = [tracker.spawn() for _ in boxes]
    for t, b in zip(separate, boxes):
        t.init(frames[0], b)
    batched_ms, separate_ms = [], []
    for k, frame in enumerate(frames[1:]):
        sides = [("b", multi), ("s", separate)] if k % 2 == 0 else [("s", separate), ("b", multi)]
        for side, what in sides:
            t0 = time.perf_counter()
            if side == "b":
                what.update(frame)
            else:
                for t in what:
                    t.update(frame)
            dt = (time.perf_counter() - t0) * 1000
            if k >= warm:
                (batched_ms if side == "b" else separate_ms).append(dt)
    return statistics.median(batched_ms), statistics.median(separate_ms)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_PRESET)
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--targets", default="1,2,4,8", help="comma-separated target counts (at most 8)")
    ap.add_argument("--frames", type=int, default=60, help="frames per target count (the first one initialises)")
    ap.add_argument("--warm", type=int, default=5, help="first updates left out of the medians")
    ap.add_argument("--video", type=Path, default=REPO.parent / "shared" / "data" / "videos" / "vtest.avi")
    args = ap.parse_args()
    counts = [int(v) for v in args.targets.split(",")]
    if not counts or min(counts) < 1 or max(counts) > len(BOXES):
        ap.error(f"--targets: counts from 1 to {len(BOXES)}")
    frames = frames_of(args.video, args.frames)
    if len(frames) <= args.warm + 1:
        ap.error(f"{args.video}: fewer than {args.warm + 2} frames")
    tracker = build_tracker(args.model, engine=args.engine)
    engine = getattr(tracker, "engine_name", "")
    print(f"{args.model} on {engine}, {SIZE[0]}x{SIZE[1]}, {len(frames) - 1 - args.warm} timed frames per N")
    print(f"{'N':>2}  {'batched ms':>10}  {'separate ms':>11}  {'ratio':>5}  {'batched fps':>11}")
    for n in counts:
        b, s = bench(tracker, frames, n, args.warm)
        print(f"{n:>2}  {b:10.1f}  {s:11.1f}  {b / s:5.2f}  {1000 / b:11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
