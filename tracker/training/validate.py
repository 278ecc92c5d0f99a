"""Per-epoch validation: one-pass evaluation (OTB protocol) of a checkpoint on the held-out tracks.

The tracker starts from the first frame with a visible target (ground-truth box) and runs over the
following frames; success AUC and precision@20 come from `tracker.bench.metrics` (frames whose ground
truth is missing are left out), averaged over the sequences.
"""
from __future__ import annotations

import time

import numpy as np

from .data import Track, read_image


def run_ope(make_tracker, tracks: list[Track], max_frames: int = 0) -> dict:
    """`make_tracker()` → a fresh Tracker (init / update). Returns mean AUC, mean P@20, frames, fps and
    the per-sequence scores."""
    from ..bench.metrics import otb_scores
    per, times, frames = {}, [], 0
    for t in tracks:
        idx = t.valid_indices
        if len(idx) == 0:
            continue
        first = int(idx[0])
        stop = len(t) if not max_frames else min(len(t), first + max_frames)
        tracker = make_tracker()
        pred, gt = [], []
        for i in range(first, stop):
            img = read_image(t.frames[i])
            box = t.boxes[i]
            if i == first:
                tracker.init(img, tuple(float(v) for v in box))
                pred.append(box.copy())
            else:
                t0 = time.perf_counter()
                res = tracker.update(img)
                times.append(time.perf_counter() - t0)
                pred.append(np.asarray(res.box, dtype=np.float64))
            gt.append(box)
        s = otb_scores(np.array(pred), np.array(gt))
        per[t.name] = {"auc": s.auc, "precision": s.precision20, "frames": s.frames}
        frames += len(pred)
    aucs = [v["auc"] for v in per.values()]
    precs = [v["precision"] for v in per.values()]
    return {"auc": float(np.mean(aucs)) if aucs else float("nan"),
            "precision": float(np.mean(precs)) if precs else float("nan"),
            "frames": frames, "fps": float(1.0 / np.median(times)) if times else float("nan"),
            "sequences": per}


def validate_checkpoint(preset, weights, tracks: list[Track], device, max_frames: int = 0) -> dict:
    from ..siamese import build_siamese_tracker

    def make():
        return build_siamese_tracker(preset, weights=str(weights), device=str(device))

    return run_ope(make, tracks, max_frames)
