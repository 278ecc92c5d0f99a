#!/usr/bin/env python
"""Calibrate a preset's `lost_threshold` on sequences with ground truth.

Every Siamese tracker exposes `lost_signal` after each update: SiamFC's response peak relative to the
first frame's, SiamRPN's logit margin relative to its first updates'. The flag is `lost_signal <
lost_threshold`. This script runs the tracker over each sequence and records the signal on:

- tracked frames (IoU > 0.3): every flag there is a false alarm;
- vanish runs: every 15th frame that is tracked, a copy of the tracker is run for 10 frames in which
  the target (and 15% around it) is wiped out, alternately by a patch of the background beside it and by a
  box blur. These are the frames the flag exists for; the first such frame is where the reference
  trackers' scores stay high;
- out-of-view frames (NaN ground truth, person9 has 12) and "distractor" frames (IoU = 0: the tracker sits on
  something else). No confidence signal of a Siamese tracker sees the second kind reliably; it is reported,
  not optimised.

It prints, for a grid of thresholds, the share of each kind that would be flagged, and the highest
threshold whose false-alarm rate stays within --max-false-alarms. Use different sequences with
--threshold to check a calibrated value.

    python scripts/calibrate_lost.py --model siamrpn_effnet_lite0 --sequences person9,car1,BMX3,person11
    python scripts/calibrate_lost.py --model siamrpn_effnet_lite0 --threshold 0.4 \\
        --sequences ball1,boat1,car16_1,person12_1,truck4_2,wakeboard7,Human3
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker import build_tracker
from tracker.bench.datasets import load_dataset
from tracker.bench.metrics import iou
from tracker.runtime import configure_process

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "sequences"
RUN_EVERY, RUN_LENGTH, MARGIN = 15, 10, 0.15


def wipe(frame: np.ndarray, box, how: str) -> np.ndarray | None:
    """The frame with the box (and MARGIN around it) replaced by the background beside it ("patch") or
    blurred by a box filter as large as the target ("blur"); None when that is impossible."""
    H, W = frame.shape[:2]
    x, y, w, h = box
    x0, y0 = int(max(0, x - MARGIN * w)), int(max(0, y - MARGIN * h))
    x1, y1 = int(min(W, x + w * (1 + MARGIN))), int(min(H, y + h * (1 + MARGIN)))
    if x1 <= x0 or y1 <= y0:
        return None
    out = frame.copy()
    if how == "blur":
        k = int(max(w, h)) | 1
        out[y0:y1, x0:x1] = cv2.blur(frame[y0:y1, x0:x1], (k, k))
        return out
    bw, bh = x1 - x0, y1 - y0
    for dx, dy in ((1.6 * bw, 0), (-1.6 * bw, 0), (0, 1.6 * bh), (0, -1.6 * bh)):
        sx, sy = int(x0 + dx), int(y0 + dy)
        if 0 <= sx and sx + bw <= W and 0 <= sy and sy + bh <= H:
            out[y0:y1, x0:x1] = frame[sy : sy + bh, sx : sx + bw]
            return out
    return None


def record(model: str, weights: str | None, seq) -> dict[str, list[float]]:
    """Signals by kind of frame for one sequence (see the module docstring)."""
    tracker = build_tracker(model, weights=weights)
    gt = np.asarray(seq.gt, dtype=float)
    frames = [cv2.imread(str(p)) for p in seq.frames]
    out = {"tracked": [], "vanish": [], "out_of_view": [], "distractor": []}
    tracker.init(frames[0], gt[0])
    if not hasattr(tracker, "lost_signal"):
        raise SystemExit(f"error: {model} has no lost_signal (only the Siamese trackers do)")
    on_target = True
    for i in range(1, len(frames)):
        if i % RUN_EVERY == 0 and on_target:
            how = "patch" if (i // RUN_EVERY) % 2 else "blur"
            probe = copy.copy(tracker)  # shares the model; the state arrays and lists are copied
            probe.__dict__.update(
                {k: copy.deepcopy(v) for k, v in tracker.__dict__.items() if isinstance(v, (np.ndarray, list))}
            )
            for j in range(i, min(i + RUN_LENGTH, len(frames))):
                wiped = None if np.isnan(gt[j]).any() else wipe(frames[j], gt[j], how)
                if wiped is None:
                    break
                probe.update(wiped)
                out["vanish"].append(probe.lost_signal)
        r = tracker.update(frames[i])
        on_target = False
        if np.isnan(gt[i]).any():
            out["out_of_view"].append(tracker.lost_signal)
            continue
        o = float(iou(np.array([r.box]), gt[i : i + 1])[0])
        if o == 0:
            out["distractor"].append(tracker.lost_signal)
        elif o > 0.3:
            out["tracked"].append(tracker.lost_signal)
            on_target = True
    return out


def rates(signals: dict[str, np.ndarray], t: float) -> dict[str, float]:
    return {k: float(np.mean(v < t)) if len(v) else float("nan") for k, v in signals.items()}


def summary(signals: dict[str, np.ndarray], t: float) -> str:
    r = rates(signals, t)
    return (
        f"flags {r['tracked']:.1%} of tracked frames, {r['vanish']:.0%} of vanish frames, "
        f"{r['out_of_view']:.0%} out of view, {r['distractor']:.0%} on a distractor"
    )


def main(argv=None) -> int:
    configure_process()  # as the siamtrack commands run: freed memory kept, TF32 off
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--weights")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--sequences", help="comma-separated names (default: all)")
    ap.add_argument(
        "--max-false-alarms",
        type=float,
        default=0.02,
        help="largest share of tracked frames the suggested threshold may flag (default 0.02)",
    )
    ap.add_argument("--threshold", type=float, help="report this threshold too (to check one calibrated elsewhere)")
    args = ap.parse_args(argv)
    _, seqs = load_dataset(args.data, "auto", args.sequences.split(",") if args.sequences else None)
    pooled: dict[str, list[float]] = {}
    for seq in seqs:
        sig = record(args.model, args.weights, seq)
        for k, v in sig.items():
            pooled.setdefault(k, []).extend(v)
        print(f"{seq.name:12s} " + "  ".join(f"{k} {len(v):4d}" for k, v in sig.items()), flush=True)
    signals = {k: np.asarray(v, dtype=float) for k, v in pooled.items()}
    for k, v in signals.items():
        if len(v):
            print(
                f"lost_signal when {k:12s} n={len(v):5d}  median {np.median(v):.3f}  "
                f"5th pct {np.percentile(v, 5):.3f}  95th pct {np.percentile(v, 95):.3f}"
            )
    tracked = signals["tracked"]
    lo, hi = np.percentile(np.concatenate(list(v for v in signals.values() if len(v))), [1, 99])
    given = {args.threshold} if args.threshold is not None else set()
    grid = sorted(set(np.round(np.linspace(lo, hi, 25), 3)) | given)
    print("\n| threshold | tracked (false alarms) | vanish | out of view | distractor |\n|---|---|---|---|---|")
    for t in grid:
        r = rates(signals, t)
        print(f"| {t:.3f} | {r['tracked']:.1%} | {r['vanish']:.0%} | {r['out_of_view']:.0%} | {r['distractor']:.0%} |")
    ok = [t for t in grid if len(tracked) and np.mean(tracked < t) <= args.max_false_alarms]
    if ok:
        t = max(ok)
        print(f"\nsuggested lost_threshold {t:.3f}: {summary(signals, t)}")
    if args.threshold is not None:
        print(f"threshold {args.threshold:.3f}: {summary(signals, args.threshold)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
