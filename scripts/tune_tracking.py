#!/usr/bin/env python
"""Tune a Siamese model's tracking values (scale/ratio penalty, cosine window, size update rate) on sequences
with ground truth — the training sequences, never the validation split — and print one row per setting:
mean OTB one-pass AUC, P@20 and box-size error (the median |log2(sqrt(predicted / true area))| per sequence).

The model is built once; each setting runs every sequence with the same frames in memory, so the grid costs
one tracking pass per setting. Ranked by AUC; the current values are marked.

    python scripts/tune_tracking.py --model anchorfree_effnet_lite0 --weights runs/af/checkpoint_e012.pth \\
        --split scripts/splits/train7.txt --grid penalty_k=0.055,0.1,0.15 window_influence=0.35,0.455 lr=0.2,0.37
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker import build_tracker
from tracker.bench.datasets import load_dataset
from tracker.bench.metrics import box_size_error, otb_scores
from tracker.runtime import configure_process


def parse_grid(items: list[str]) -> dict[str, list[float]]:
    grid = {}
    for item in items:
        name, _, values = item.partition("=")
        if not values:
            raise SystemExit(f"--grid {item!r}: expected NAME=V1,V2,...")
        grid[name.strip()] = [float(v) for v in values.split(",") if v.strip()]
    return grid


def run(tracker, frames, box0) -> np.ndarray:
    return np.array([r.box for r in tracker.track(iter(frames), box0)])


def main() -> int:
    configure_process()  # as the siamtrack commands run: freed memory kept, TF32 off
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--weights")
    ap.add_argument(
        "--split",
        default="scripts/splits/train7.txt",
        help="a dataset folder or split file (default: the seven training sequences)",
    )
    ap.add_argument(
        "--grid", nargs="+", required=True, metavar="NAME=V1,V2", help="tracking values to try (every combination)"
    )
    ap.add_argument("--engine", default="torch")
    args = ap.parse_args()

    grid = parse_grid(args.grid)
    _, seqs = load_dataset(args.split)
    tracker = build_tracker(args.model, weights=args.weights, engine=args.engine)
    base = tracker.p
    unknown = set(grid) - {f.name for f in dataclasses.fields(base)}
    if unknown:
        raise SystemExit(f"unknown tracking value(s): {', '.join(sorted(unknown))}")
    data = [([cv2.imread(str(f)) for f in s.frames], tuple(float(v) for v in s.gt[0]), s) for s in seqs]
    names = list(grid)
    rows = []
    for combo in itertools.product(*(grid[n] for n in names)):
        tracker.p = dataclasses.replace(base, **dict(zip(names, combo)))
        aucs, p20s, sizes = [], [], []
        for frames, box0, s in data:
            pred = run(tracker, frames, box0)
            sc = otb_scores(pred, s.gt)
            aucs.append(sc.auc)
            p20s.append(sc.precision20)
            sizes.append(box_size_error(pred, s.gt))
        rows.append((float(np.mean(aucs)), float(np.mean(p20s)), float(np.nanmean(sizes)), combo, aucs))
        print(f"{dict(zip(names, combo))}: AUC {rows[-1][0]:.3f}", file=sys.stderr, flush=True)
    current = tuple(getattr(base, n) for n in names)
    print(f"{len(seqs)} sequences: {', '.join(s.name for s in seqs)}\n")
    print("| " + " | ".join(names) + " | AUC | P@20 | size err | per sequence AUC |")
    print("|" + "---|" * (len(names) + 4))
    for auc, p20, size, combo, aucs in sorted(rows, key=lambda r: -r[0]):
        mark = " (current)" if np.allclose(combo, current) else ""
        print(
            "| "
            + " | ".join(f"{v:g}" for v in combo)
            + f" | {auc:.3f}{mark} | {p20:.3f} | {size:.3f} | "
            + " ".join(f"{a:.2f}" for a in aucs)
            + " |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
