"""Benchmark metrics, pure numpy: IoU, centre errors, OTB success/precision, polygon overlap, VOT accuracy,
robustness and EAO, GOT-10k AO/SR.

Conventions (as the community toolkits use them):
- boxes are (x, y, w, h) with continuous extent [x, x+w) x [y, y+h);
- a ground-truth box that is not finite or has w <= 0 or h <= 0 marks a frame left out of the scores;
- OTB success counts IoU > t for t = 0, 0.05, .., 1; AUC is the mean of that curve; precision counts
  centre error <= t px for t = 0..50 (P@20 is the figure quoted); normalised precision divides the centre
  offset by the ground-truth size (thresholds 0..0.5, the figure quoted at 0.2, as pysot's OTB report does);
- VOT: failure when the overlap with the ground-truth polygon (both clipped to the image) is 0; result
  codes 1 = (re)initialised, 2 = failure, 0 = skipped; accuracy ignores 10 frames from each
  (re)initialisation; robustness = failures per 100 frames; EAO as pysot's `EAOBenchmark` computes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..geometry import iou_xywh, polygon_area
from ..geometry import polygon_to_box as polygon_to_box  # re-exported: the VOT region rule lives in geometry
from ..sequence import fps_from_times as fps_from_times  # re-exported: the project's one fps rule

# k/20 exactly (linspace's 0.6000000000000001 would make an IoU of exactly 0.6 fail the 0.6 threshold)
OTB_IOU_THRESHOLDS = np.arange(21) / 20.0
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0
GOT_IOU_THRESHOLDS = np.arange(101) / 100.0

# Sequence-length interval [low, high] over which the expected-overlap curve is averaged (VOT challenges).
EAO_INTERVALS = {2016: (108, 371), 2017: (100, 356), 2018: (100, 356), 2019: (46, 291)}

VOT_INIT, VOT_FAILURE, VOT_SKIP = 1, 2, 0


# --------------------------------------------------------------------------------------- boxes


def as_boxes(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.shape[-1] != 4:
        raise ValueError(f"boxes must have 4 columns x,y,w,h, got shape {a.shape}")
    return a


def valid_boxes(gt) -> np.ndarray:
    """Frames whose ground truth can be scored: finite values, positive width and height."""
    gt = as_boxes(gt)
    return np.isfinite(gt).all(axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)


def clip_boxes(boxes, bound) -> np.ndarray:
    """Bound (x, y, w, h) boxes by the image the way the GOT-10k toolkit does: x is clipped to [0, W], then w
    to [0, W - x] (likewise y, h). The width is not shortened by the part left of (or above) the image, so
    [-50, 0, 100, 100] becomes [0, 0, 100, 100], not [0, 0, 50, 100]; only the right/bottom edge cuts."""
    b = as_boxes(boxes).copy()
    W, H = bound
    x = np.clip(b[:, 0], 0, W)
    y = np.clip(b[:, 1], 0, H)
    w = np.clip(b[:, 2], 0, W - x)
    h = np.clip(b[:, 3], 0, H - y)
    return np.stack([x, y, w, h], axis=1)


def iou(pred, gt, bound=None) -> np.ndarray:
    """Per-row IoU of two (N, 4) box arrays. Rows whose ground truth is invalid give NaN; a prediction that
    is not finite scores 0. With `bound=(W, H)` both boxes are first bounded by the image as GOT-10k does
    (`clip_boxes`)."""
    pred, gt = as_boxes(pred), as_boxes(gt)
    if len(pred) != len(gt):
        raise ValueError(f"{len(pred)} predictions for {len(gt)} ground-truth boxes")
    ok_gt = valid_boxes(gt)
    ok_pred = np.isfinite(pred).all(axis=1)
    pred = np.where(ok_pred[:, None], pred, 0.0)
    if bound is not None:
        pred, gt_c = clip_boxes(pred, bound), clip_boxes(np.where(ok_gt[:, None], gt, 0.0), bound)
    else:
        gt_c = np.where(ok_gt[:, None], gt, 0.0)
    out = iou_xywh(pred, gt_c)
    out[~ok_pred] = 0.0
    out[~ok_gt] = np.nan
    return out


def centres(boxes) -> np.ndarray:
    b = as_boxes(boxes)
    return b[:, :2] + b[:, 2:] / 2.0


def centre_error(pred, gt) -> np.ndarray:
    """Euclidean distance between box centres in pixels; NaN where the ground truth is invalid, inf where the
    prediction is not finite (it then fails every threshold)."""
    pred, gt = as_boxes(pred), as_boxes(gt)
    d = np.linalg.norm(centres(pred) - centres(gt), axis=1)
    d[~np.isfinite(pred).all(axis=1)] = np.inf
    d[~valid_boxes(gt)] = np.nan
    return d


def normalised_centre_error(pred, gt) -> np.ndarray:
    """Centre offset divided by the ground-truth width/height per axis, then its length."""
    pred, gt = as_boxes(pred), as_boxes(gt)
    ok = valid_boxes(gt)
    size = np.where(ok[:, None], gt[:, 2:], 1.0)
    d = np.linalg.norm((centres(pred) - centres(gt)) / size, axis=1)
    d[~np.isfinite(pred).all(axis=1)] = np.inf
    d[~ok] = np.nan
    return d


# --------------------------------------------------------------------------------------- OTB


def success_curve(ious, thresholds=OTB_IOU_THRESHOLDS) -> np.ndarray:
    """Fraction of scored frames with IoU > t, for each threshold t (NaN frames are left out)."""
    v = np.asarray(ious, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return np.full(len(thresholds), np.nan)
    return (v[:, None] > np.asarray(thresholds)[None, :]).mean(axis=0)


def precision_curve(errors, thresholds=PRECISION_THRESHOLDS) -> np.ndarray:
    """Fraction of scored frames with error <= t, for each threshold t (NaN frames are left out)."""
    v = np.asarray(errors, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return np.full(len(thresholds), np.nan)
    return (v[:, None] <= np.asarray(thresholds)[None, :]).mean(axis=0)


def auc(curve) -> float:
    """OTB's 'AUC': the mean of the success curve over its equally spaced thresholds."""
    return float(np.mean(curve))


@dataclass
class OTBScores:
    success: np.ndarray  # over OTB_IOU_THRESHOLDS
    precision: np.ndarray  # over PRECISION_THRESHOLDS
    norm_precision: np.ndarray  # over NORM_PRECISION_THRESHOLDS
    frames: int  # frames scored

    @property
    def auc(self) -> float:
        return auc(self.success)

    @property
    def precision20(self) -> float:
        return float(self.precision[20])

    @property
    def norm_precision20(self) -> float:
        return float(self.norm_precision[20])


def size_errors(pred, gt) -> np.ndarray:
    """Per frame |log2(sqrt(predicted area / true area))|: 0 for the right size, 1 for a box twice (or half)
    as wide and high. NaN where the ground truth is missing or either box is empty."""
    pred, gt = as_boxes(pred), as_boxes(gt)
    pa = pred[:, 2] * pred[:, 3]
    ga = gt[:, 2] * gt[:, 3]
    ok = np.isfinite(pa) & np.isfinite(ga) & (pa > 0) & (ga > 0)
    out = np.full(len(gt), np.nan)
    out[ok] = np.abs(0.5 * np.log2(pa[ok] / ga[ok]))
    return out


def box_size_error(pred, gt) -> float:
    """Median over frames of `size_errors` (the box-size error of one sequence); NaN when none is scored."""
    e = size_errors(pred, gt)
    e = e[np.isfinite(e)]
    return float(np.median(e)) if e.size else float("nan")


def lost_flag_counts(lost, pred, gt, tracked_iou: float = 0.5) -> dict:
    """How a tracker's lost flags (one 0/1 per frame, frame 0 = initialisation, not counted) agree with the
    ground truth: `tracked` frames (IoU >= tracked_iou) and how many of them were flagged (false alarms);
    `absent` frames (no ground-truth box: target out of view or fully hidden) and how many were flagged."""
    lost = np.asarray(lost, dtype=bool)[1:]
    pred, gt = as_boxes(pred)[1:], as_boxes(gt)[1:]
    n = min(len(lost), len(gt))
    lost, pred, gt = lost[:n], pred[:n], gt[:n]
    absent = ~(np.isfinite(gt).all(axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0))
    with np.errstate(invalid="ignore"):
        tracked = ~absent & (np.nan_to_num(iou(pred, gt), nan=0.0) >= tracked_iou)
    return {
        "tracked": int(tracked.sum()),
        "tracked_flagged": int((tracked & lost).sum()),
        "absent": int(absent.sum()),
        "absent_flagged": int((absent & lost).sum()),
    }


def jitter_box(box, run: int, key: str, px: float = 2.0) -> tuple[float, float, float, float]:
    """The initial box of jittered run `run` (1, 2, ...) of sequence `key`: each of x, y, w, h moved by a
    uniform offset in [-px, px], the same for the same (run, key) on every machine (w, h kept >= 1)."""
    import zlib

    rng = np.random.default_rng([int(run), zlib.crc32(key.encode("utf-8"))])
    d = rng.uniform(-px, px, 4)
    x, y, w, h = (float(v) for v in box)
    return x + d[0], y + d[1], max(1.0, w + d[2]), max(1.0, h + d[3])


def otb_scores(pred, gt) -> OTBScores:
    """One-pass scores of one sequence (pred and gt aligned frame by frame)."""
    pred, gt = as_boxes(pred), as_boxes(gt)
    ious = iou(pred, gt)
    return OTBScores(
        success_curve(ious),
        precision_curve(centre_error(pred, gt)),
        precision_curve(normalised_centre_error(pred, gt), NORM_PRECISION_THRESHOLDS),
        int(np.count_nonzero(~np.isnan(ious))),
    )


# --------------------------------------------------------------------------------------- polygons


def to_polygon(region) -> np.ndarray:
    """A region as a (K, 2) polygon: 4 values are an (x, y, w, h) rectangle, 2K values are corners."""
    r = np.asarray(region, dtype=np.float64).ravel()
    if r.size == 4:
        x, y, w, h = r
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    if r.size >= 6 and r.size % 2 == 0:
        return r.reshape(-1, 2)
    raise ValueError(f"a region has 4 (x,y,w,h) or an even number >= 6 of values, got {r.size}")


def _signed_area(p) -> float:
    x, y = p[:, 0], p[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0


def is_convex(poly) -> bool:
    p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    if len(p) < 3:
        return False
    e = np.roll(p, -1, axis=0) - p
    cross = e[:, 0] * np.roll(e[:, 1], -1) - e[:, 1] * np.roll(e[:, 0], -1)
    cross = cross[np.abs(cross) > 1e-12]
    return bool(cross.size == 0 or np.all(cross > 0) or np.all(cross < 0))


def _side(a, ex, ey, pt):
    """> 0 inside: `pt` left of the edge from `a` along (ex, ey) of a counter-clockwise clip polygon."""
    return ex * (pt[1] - a[1]) - ey * (pt[0] - a[0])


def clip_polygon(subject, clip) -> np.ndarray:
    """Sutherland-Hodgman: the part of `subject` (any simple polygon) inside the convex polygon `clip`."""
    out = [tuple(v) for v in np.asarray(subject, dtype=np.float64).reshape(-1, 2)]
    c = np.asarray(clip, dtype=np.float64).reshape(-1, 2)
    if _signed_area(c) < 0:
        c = c[::-1]
    for i in range(len(c)):
        if not out:
            break
        a, b = c[i], c[(i + 1) % len(c)]
        ex, ey = b[0] - a[0], b[1] - a[1]
        inp, out = out, []
        prev = inp[-1]
        s_prev = _side(a, ex, ey, prev)
        for cur in inp:
            s_cur = _side(a, ex, ey, cur)
            if s_cur >= 0:
                if s_prev < 0:
                    t = s_prev / (s_prev - s_cur)
                    out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
                out.append(cur)
            elif s_prev >= 0:
                t = s_prev / (s_prev - s_cur)
                out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
            prev, s_prev = cur, s_cur
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def _raster_intersection(p, q, samples=400) -> float:
    """Area of the intersection of two non-convex polygons by point sampling (a rare fallback)."""
    from matplotlib.path import Path as MplPath

    lo = np.minimum(p.min(axis=0), q.min(axis=0))
    hi = np.maximum(p.max(axis=0), q.max(axis=0))
    step = (hi - lo) / samples
    if np.any(step <= 0):
        return 0.0
    xs = lo[0] + (np.arange(samples) + 0.5) * step[0]
    ys = lo[1] + (np.arange(samples) + 0.5) * step[1]
    pts = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    inside = MplPath(p).contains_points(pts) & MplPath(q).contains_points(pts)
    return float(inside.sum() * step[0] * step[1])


def polygon_overlap(a, b, bound=None) -> float:
    """IoU of two regions (rectangles or polygons), each first clipped to the image [0,W] x [0,H] when
    `bound=(W, H)` is given: the overlap the VOT protocol uses to detect failures and measure accuracy."""
    p, q = to_polygon(a), to_polygon(b)
    if not (np.isfinite(p).all() and np.isfinite(q).all()):
        return float("nan") if not np.isfinite(q).all() else 0.0
    if bound is not None:
        W, H = bound
        frame = np.array([[0, 0], [W, 0], [W, H], [0, H]], dtype=np.float64)
        p, q = clip_polygon(p, frame), clip_polygon(q, frame)
    ap, aq = polygon_area(p), polygon_area(q)
    if ap <= 0 or aq <= 0:
        return 0.0
    if is_convex(q):
        inter = polygon_area(clip_polygon(p, q))
    elif is_convex(p):
        inter = polygon_area(clip_polygon(q, p))
    else:
        inter = _raster_intersection(p, q)
    union = ap + aq - inter
    return float(min(max(inter / union, 0.0), 1.0)) if union > 0 else 0.0


# --------------------------------------------------------------------------------------- VOT


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


# --------------------------------------------------------------------------------------- GOT-10k


def got10k_scores(ious) -> dict:
    """AO (mean IoU over all scored frames), SR@0.5 and SR@0.75 (fraction with IoU > t), success curve."""
    v = np.asarray(ious, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {
            "ao": float("nan"),
            "sr50": float("nan"),
            "sr75": float("nan"),
            "curve": np.full(len(GOT_IOU_THRESHOLDS), np.nan),
        }
    return {
        "ao": float(v.mean()),
        "sr50": float((v > 0.5).mean()),
        "sr75": float((v > 0.75).mean()),
        "curve": (v[:, None] > GOT_IOU_THRESHOLDS[None, :]).mean(axis=0),
    }
