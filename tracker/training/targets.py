"""Training targets on the score map.

Score-map cell (i, j) of an S x S map looks at crop point (out-1)/2 + (j - S//2)·stride,
(out-1)/2 + (i - S//2)·stride — the same grid as `tracker.geometry.anchor_boxes`, whose anchors are
relative to the crop centre.

- SiamFC: cells within `radius` pixels of the target centre are positive, the rest negative; weights
  balance the two halves (0.5 / n_pos, 0.5 / n_neg). A negative pair has only negatives.
- RPN (pysot's rule): IoU(anchor, target) > 0.6 positive, < 0.3 negative; at most 16 positives and
  (64 - 16) negatives kept at random, the rest ignored (-1). Regression targets
  (dx, dy, dw, dh) = ((tx-xa)/wa, (ty-ya)/ha, log(tw/wa), log(th/ha)), weighted 1/n_pos on positives.
  A negative pair: up to 16 negatives drawn from the 7x7 cells around the distractor's position.
- Anchor-free (SiamBAN's ellipses): a point inside the ellipse of semi-axes (w/4, h/4) about the target
  centre is positive, outside the one of (w/2, h/2) negative, between them ignored (-1); when no point
  falls inside the small ellipse (a target smaller than the stride) the point nearest the centre is the
  positive. A positive's classification target is its centre-ness sqrt(min(l,r)/max(l,r) ·
  min(t,b)/max(t,b)) (at least 0.25), its regression target the distances (l, t, r, b) from the point to
  the box's edges (negative where the point lies outside a tiny box). A negative pair: all negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import iou_corners, score_grid


def grid_positions(score_size: int, stride: float, crop_size: int) -> np.ndarray:
    """(S,) crop coordinates of the score-map columns (= rows)."""
    return (crop_size - 1) / 2 + score_grid(score_size, stride)


def siamfc_labels(box_corners, score_size: int, stride: float, crop_size: int, radius: float, negative: bool = False):
    """Labels (S, S) float32 {0, 1} and balanced weights (S, S) float32 summing to 1."""
    pos = grid_positions(score_size, stride, crop_size)
    x1, y1, x2, y2 = box_corners
    tx, ty = (x1 + x2) / 2, (y1 + y2) / 2
    d2 = (pos[None, :] - tx) ** 2 + (pos[:, None] - ty) ** 2
    labels = (d2 <= radius * radius).astype(np.float32)
    if negative:
        labels[:] = 0
    n_pos = labels.sum()
    n_neg = labels.size - n_pos
    weights = np.zeros_like(labels)
    if n_pos > 0:
        weights[labels == 1] = 0.5 / n_pos
        weights[labels == 0] = 0.5 / n_neg
    else:
        weights[:] = 1.0 / n_neg
    return labels, weights


@dataclass
class RPNRule:
    pos_iou: float = 0.6
    neg_iou: float = 0.3
    max_pos: int = 16
    total: int = 64
    neg_pair_num: int = 16


class RPNTargets:
    """Anchor targets for one search crop. `anchors` (k*S*S, 4) as (cx, cy, w, h) relative to the crop
    centre, k-major then y then x (`tracker.geometry.anchor_boxes`)."""

    def __init__(
        self,
        anchors: np.ndarray,
        anchor_num: int,
        score_size: int,
        stride: float,
        crop_size: int,
        rule: RPNRule | None = None,
    ):
        self.k, self.s, self.stride, self.crop_size = anchor_num, score_size, stride, crop_size
        self.rule = rule or RPNRule()
        a = np.asarray(anchors, dtype=np.float64).copy()
        if a.shape != (anchor_num * score_size * score_size, 4):
            raise ValueError(f"anchors {a.shape} do not match k={anchor_num}, S={score_size}")
        a[:, :2] += (crop_size - 1) / 2
        self.center = a  # absolute crop coordinates
        self.corners = np.stack(
            [a[:, 0] - a[:, 2] / 2, a[:, 1] - a[:, 3] / 2, a[:, 0] + a[:, 2] / 2, a[:, 1] + a[:, 3] / 2], axis=1
        )

    def __call__(self, box_corners, negative: bool, rng: np.random.Generator):
        k, s, r = self.k, self.s, self.rule
        n = k * s * s
        label = -np.ones(n, dtype=np.int64)
        delta = np.zeros((4, n), dtype=np.float32)
        weight = np.zeros(n, dtype=np.float32)
        x1, y1, x2, y2 = (float(v) for v in box_corners)
        tcx, tcy, tw, th = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
        if negative:
            c = s // 2
            cx = c + int(np.round((tcx - (self.crop_size - 1) / 2) / self.stride))  # nearest cell
            cy = c + int(np.round((tcy - (self.crop_size - 1) / 2) / self.stride))
            grid = np.zeros((k, s, s), dtype=bool)
            grid[:, max(0, cy - 3) : min(s, cy + 4), max(0, cx - 3) : min(s, cx + 4)] = True
            cand = np.flatnonzero(grid.reshape(-1))
            if len(cand) == 0:  # distractor far outside the map: any cells
                cand = np.arange(n)
            label[_pick(cand, r.neg_pair_num, rng)] = 0
            return label.reshape(k, s, s), delta.reshape(4, k, s, s), weight.reshape(k, s, s)
        a = self.center
        delta[0] = (tcx - a[:, 0]) / a[:, 2]
        delta[1] = (tcy - a[:, 1]) / a[:, 3]
        delta[2] = np.log(tw / a[:, 2])
        delta[3] = np.log(th / a[:, 3])
        iou = iou_corners(self.corners, (x1, y1, x2, y2))
        pos = _pick(np.flatnonzero(iou > r.pos_iou), r.max_pos, rng)
        neg = _pick(np.flatnonzero(iou < r.neg_iou), r.total - r.max_pos, rng)
        label[pos] = 1
        label[neg] = 0
        if len(pos):
            weight[pos] = 1.0 / len(pos)
        return label.reshape(k, s, s), delta.reshape(4, k, s, s), weight.reshape(k, s, s)


def _pick(idx: np.ndarray, keep: int, rng: np.random.Generator) -> np.ndarray:
    if len(idx) <= keep:
        return idx
    return np.sort(rng.choice(idx, size=keep, replace=False))


def anchor_free_targets(box_corners, score_size: int, stride: float, crop_size: int, negative: bool = False):
    """(label (S, S) float32 in {-1, 0, 1}, cls_target (S, S) float32, ltrb (4, S, S) float32)."""
    pos = grid_positions(score_size, stride, crop_size)
    px, py = np.meshgrid(pos, pos)  # (S, S): px varies along columns
    S = score_size
    label = np.zeros((S, S), np.float32)
    cls_target = np.zeros((S, S), np.float32)
    ltrb = np.zeros((4, S, S), np.float32)
    if negative:
        return label, cls_target, ltrb
    x1, y1, x2, y2 = (float(v) for v in box_corners)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w, h = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
    r2 = ((px - cx) / (w / 2)) ** 2 + ((py - cy) / (h / 2)) ** 2
    label[r2 <= 1.0] = -1
    inner = r2 <= 0.25  # semi-axes w/4, h/4
    if not inner.any():
        inner = np.zeros_like(inner)
        inner[np.unravel_index(np.argmin((px - cx) ** 2 + (py - cy) ** 2), inner.shape)] = True
    label[inner] = 1
    ltrb[:] = np.stack([px - x1, py - y1, x2 - px, y2 - py]).astype(np.float32)
    left, top, right, bottom = (np.clip(v, 1e-3, None) for v in ltrb)
    ctr = np.sqrt(np.minimum(left, right) / np.maximum(left, right) * np.minimum(top, bottom) / np.maximum(top, bottom))
    cls_target[inner] = np.maximum(ctr[inner], 0.25)
    return label, cls_target, ltrb
