#!/usr/bin/env python
"""Calibrate a preset's `lost` threshold on sequences with ground truth.

Runs the tracker over each sequence and labels every frame: "gone" when the target is out of view (NaN
ground truth) or the box no longer touches it (IoU = 0), "tracked" when IoU > 0.3. Prints the score
distribution of both and the threshold that best separates them (balanced accuracy), which is what the
preset's `lost_threshold` should be set to.

    python scripts/calibrate_lost.py --model siamrpn_effnet_lite0 --sequences person9,car1,...
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker import build_tracker  # noqa: E402
from tracker.bench.datasets import load_dataset  # noqa: E402
from tracker.bench.metrics import iou  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "sequences"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--weights")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--sequences", help="comma-separated names (default: all)")
    ap.add_argument("--threshold", type=float, help="also report how a fixed threshold does on these sequences "
                    "(to check a threshold calibrated on others)")
    args = ap.parse_args()
    _, seqs = load_dataset(args.data, "auto", args.sequences.split(",") if args.sequences else None)
    gone, tracked = [], []
    for seq in seqs:
        tracker = build_tracker(args.model, weights=args.weights)
        gt = np.asarray(seq.gt, dtype=float)
        import cv2
        frames = [cv2.imread(str(p)) for p in seq.frames]
        tracker.init(frames[0], gt[0])
        g0, t0 = len(gone), len(tracked)
        for i in range(1, len(frames)):
            r = tracker.update(frames[i])
            if np.isnan(gt[i]).any():
                gone.append(r.score)
                continue
            o = float(iou(np.array([r.box]), gt[i:i + 1])[0])
            if o == 0:
                gone.append(r.score)
            elif o > 0.3:
                tracked.append(r.score)
        print(f"{seq.name:12s} gone {len(gone) - g0:4d}  tracked {len(tracked) - t0:4d}", flush=True)
    gone, tracked = np.array(gone), np.array(tracked)
    print(f"\nscores when gone:    n={len(gone)} median {np.median(gone) if len(gone) else float('nan'):.3f}")
    print(f"scores when tracked: n={len(tracked)} median {np.median(tracked):.3f}  5th pct {np.percentile(tracked, 5):.3f}")
    best = (0.0, None)
    for t in np.unique(np.concatenate([gone, tracked])):
        tpr = float(np.mean(gone < t)) if len(gone) else 0.0
        tnr = float(np.mean(tracked >= t))
        bal = (tpr + tnr) / 2
        if bal > best[0]:
            best = (bal, t, tpr, tnr)
    if best[1] is not None:
        _, t, tpr, tnr = best
        print(f"best threshold {t:.3f}: {tpr:.0%} of gone frames flagged lost, {1 - tnr:.0%} of tracked frames flagged")
    if args.threshold is not None:
        t = args.threshold
        flagged = f"{np.mean(gone < t):.0%}" if len(gone) else "-"
        print(f"threshold {t:.3f}: {flagged} of gone frames flagged lost, {np.mean(tracked < t):.1%} of tracked "
              "frames flagged")


if __name__ == "__main__":
    main()
