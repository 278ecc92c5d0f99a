"""Per-epoch validation: one-pass evaluation (OTB protocol) of a checkpoint on the held-out tracks.

The tracker starts from the first frame with a visible target (ground-truth box) and runs over the
following frames; success AUC and precision@20 come from `tracker.bench.metrics` (frames whose ground
truth is missing are left out), averaged over the sequences.
"""

from __future__ import annotations

import numpy as np

from .data import Track, read_image


def run_ope(make_tracker, tracks: list[Track], max_frames: int = 0) -> dict:
    """`make_tracker()` → a fresh tracker (init / update). Returns mean AUC, mean P@20, frames, fps (the
    project's one rule, tracker.sequence.fps_from_times) and the per-sequence scores."""
    from ..bench.metrics import otb_scores
    from ..sequence import TrackRun, fps_from_times

    per, times, frames = {}, [], 0
    for t in tracks:
        idx = t.valid_indices
        if len(idx) == 0:
            continue
        first = int(idx[0])
        stop = len(t) if not max_frames else min(len(t), first + max_frames)
        images = (read_image(t.frames[i]) for i in range(first, stop))
        run = TrackRun(make_tracker(), images, tuple(float(v) for v in t.boxes[first]))
        pred = np.array([r.box for r in run], dtype=np.float64)
        times.extend(run.update_times)
        s = otb_scores(pred, t.boxes[first:stop])
        per[t.name] = {"auc": s.auc, "precision": s.precision20, "frames": s.frames}
        frames += len(pred)
    aucs = [v["auc"] for v in per.values()]
    precs = [v["precision"] for v in per.values()]
    return {
        "auc": float(np.mean(aucs)) if aucs else float("nan"),
        "precision": float(np.mean(precs)) if precs else float("nan"),
        "frames": frames,
        "fps": fps_from_times(times),
        "sequences": per,
    }


def validate_checkpoint(preset, weights, tracks: list[Track], device, max_frames: int = 0) -> dict:
    from ..build import build_siamese_tracker

    def make():
        return build_siamese_tracker(preset, weights=str(weights), device=str(device))

    return run_ope(make, tracks, max_frames)
