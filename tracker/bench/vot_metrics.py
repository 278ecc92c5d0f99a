"""The VOT protocol's metrics, pure numpy, as the community toolkits compute them.

A supervised run's trajectory holds, per frame, a region or a code: 1 = (re)initialised, 2 = failure, 0 =
skipped. A failure is an overlap of 0 with the ground-truth polygon (both clipped to the image; the overlap is
tracker.bench.polygons'). Accuracy ignores 10 frames from each (re)initialisation; robustness = failures per
100 frames; EAO as pysot's `EAOBenchmark` computes it, over the sequence-length interval of the VOT year.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .polygons import polygon_overlap

# Sequence-length interval [low, high] over which the expected-overlap curve is averaged (VOT challenges).
EAO_INTERVALS = {2016: (108, 371), 2017: (100, 356), 2018: (100, 356), 2019: (46, 291)}

VOT_INIT, VOT_FAILURE, VOT_SKIP = 1, 2, 0


def is_code(entry) -> bool:
    return np.ndim(entry) == 0 or len(entry) == 1


def code_of(entry) -> int:
    return int(np.asarray(entry).ravel()[0])


def vot_failures(trajectory) -> list[int]:
    return [i for i, e in enumerate(trajectory) if is_code(e) and code_of(e) == VOT_FAILURE]


def vot_overlaps(trajectory, gt_regions, bound=None, burnin=0) -> np.ndarray:
    """Per-frame overlap of a supervised trajectory with the ground truth. Code frames are NaN; with
    `burnin`, the `burnin` frames starting at each (re)initialisation are NaN too."""
    n = min(len(trajectory), len(gt_regions))
    out = np.full(n, np.nan)
    hidden = np.zeros(n, dtype=bool)
    if burnin > 0:
        for i in range(n):
            if is_code(trajectory[i]) and code_of(trajectory[i]) == VOT_INIT:
                hidden[i : i + burnin] = True
    for i in range(n):
        e = trajectory[i]
        if hidden[i] or is_code(e):
            continue
        g = np.asarray(gt_regions[i], dtype=np.float64)
        if not np.isfinite(g).all():
            continue
        out[i] = polygon_overlap(e, g, bound)
    return out


@dataclass
class VOTSequenceResult:
    """What the VOT metrics need of one sequence and one tracker run."""

    trajectory: list  # per frame: a code (int) or a region (4 or 8 floats)
    gt_regions: Sequence  # per frame: 4 or 8 floats
    size: tuple[int, int]  # (W, H)
    tags: dict | None = None  # tag name -> per-frame 0/1 array


def vot_accuracy_robustness(runs: Sequence[VOTSequenceResult], burnin=10):
    """(accuracy, robustness, failures): accuracy = mean overlap over all scored frames of all sequences
    (burn-in excluded), robustness = failures per 100 frames, failures = total count."""
    overlaps, failures, frames = [], 0, 0
    for r in runs:
        ov = vot_overlaps(r.trajectory, r.gt_regions, bound=r.size, burnin=burnin)
        overlaps.append(ov)
        failures += len(vot_failures(r.trajectory))
        frames += len(ov)
    allov = np.concatenate(overlaps) if overlaps else np.array([])
    acc = float(np.nanmean(allov)) if np.any(~np.isnan(allov)) else float("nan")
    rob = 100.0 * failures / frames if frames else float("nan")
    return acc, rob, failures


def expected_overlap_curve(fragments: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Expected average overlap for every sequence length. Row k of `fragments` is one tracking fragment
    (NaN past its end when the sequence ended without a failure, zeros after a failure); column 0 is the
    (re)initialisation frame and does not count. Entry L-1 is the weighted mean, over the fragments at least
    L frames long, of their mean overlap over frames 1..L-1."""
    n_frag, max_len = fragments.shape
    curve = np.zeros(max_len, dtype=np.float64)
    if max_len == 0:
        return curve
    curve[0] = 1.0
    filled = np.nan_to_num(fragments, nan=0.0)
    cum = np.cumsum(filled[:, 1:], axis=1)  # cum[:, i-1] = sum of columns 1..i
    for i in range(1, max_len):
        alive = ~np.isnan(fragments[:, i])
        if not alive.any():
            continue
        mean_ov = cum[alive, i - 1] / i
        wsum = weights[alive].sum()
        curve[i] = (mean_ov * weights[alive]).sum() / wsum if wsum > 0 else np.nan
    return curve


def eao_fragments(runs: Sequence[VOTSequenceResult], skipping=5, tag="all"):
    """Cut every trajectory into fragments at its failures, as pysot's EAO benchmark does: a fragment runs
    from a (re)initialisation to the next re-initialisation point (failure + `skipping`) and is zero-padded
    to the longest sequence (the tracker scores 0 after failing); the last fragment of each sequence is
    left open (NaN-padded). Each fragment is weighted by the fraction of its frames carrying `tag`."""
    all_ov = [vot_overlaps(r.trajectory, r.gt_regions, bound=(r.size[0] - 1, r.size[1] - 1)) for r in runs]
    all_fail = [vot_failures(r.trajectory) for r in runs]
    max_len = max((len(o) for o in all_ov), default=0)
    rows, weights = [], []

    def tag_values(r, n):
        if tag == "all":
            return np.ones(n)
        t = np.zeros(n)
        src = (r.tags or {}).get(tag)
        if src is not None:
            src = np.asarray(src, dtype=np.float64)[:n]
            t[: len(src)] = src
        return t

    for r, ov, fails in zip(runs, all_ov, all_fail):
        n = len(ov)
        tv = tag_values(r, n)
        if fails:
            points = [0] + [f + skipping for f in fails if f + skipping <= n]
            for k, start in enumerate(points):
                row = np.full(max_len, np.nan)
                if k < len(points) - 1:
                    stop = points[k + 1]
                    seg = np.nan_to_num(ov[start : stop + 1], nan=0.0)
                    row[:] = 0.0
                    row[: len(seg)] = seg
                    w = tv[start : stop + 1].sum() / (stop - start + 1)
                else:
                    seg = np.nan_to_num(ov[start:], nan=0.0)
                    row[: len(seg)] = seg
                    w = tv[start:n].sum() / (n - start + 1e-16)
                rows.append(row)
                weights.append(w)
        else:
            row = np.full(max_len, np.nan)
            row[:n] = ov
            rows.append(row)
            weights.append(tv.sum() / n if n else 0.0)
    return np.array(rows).reshape(-1, max_len), np.array(weights, dtype=np.float64)


def eao(runs: Sequence[VOTSequenceResult], interval=(100, 356), skipping=5, tag="all"):
    """Expected average overlap: the expected-overlap curve averaged over sequence lengths low..high
    (1-based, inclusive; lengths beyond the longest sequence are not counted). Returns (eao, curve)."""
    fragments, weights = eao_fragments(runs, skipping=skipping, tag=tag)
    curve = expected_overlap_curve(fragments, weights)
    low, high = interval
    sel = curve[low - 1 : high]
    sel = sel[~np.isnan(sel)]
    return (float(sel.mean()) if sel.size else float("nan")), curve
