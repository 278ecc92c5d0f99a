"""Benchmark metrics of boxes, pure numpy: IoU, centre errors, size errors, OTB success/precision, GOT-10k
AO/SR, lost-flag agreement. (VOT's are tracker.bench.vot_metrics; the overlap of polygons tracker.bench.polygons.)

Conventions (as the community toolkits use them):
- boxes are (x, y, w, h) with continuous extent [x, x+w) x [y, y+h);
- a ground-truth box that is not finite or has w <= 0 or h <= 0 marks a frame left out of the scores;
- OTB success counts IoU > t for t = 0, 0.05, .., 1; AUC is the mean of that curve; precision counts
  centre error <= t px for t = 0..50 (P@20 is the figure quoted); normalised precision divides the centre
  offset by the ground-truth size (thresholds 0..0.5, the figure quoted at 0.2, as pysot's OTB report does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import iou_xywh
from ..geometry import polygon_to_box as polygon_to_box  # re-exported: the VOT region rule lives in geometry
from ..sequence import fps_from_times as fps_from_times  # re-exported: the project's one fps rule

# k/20 exactly (linspace's 0.6000000000000001 would make an IoU of exactly 0.6 fail the 0.6 threshold)
OTB_IOU_THRESHOLDS = np.arange(21) / 20.0
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0
GOT_IOU_THRESHOLDS = np.arange(101) / 100.0


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
