"""Geometry: crops around the target, anchors, windows and box conversions. Pure numpy/cv2 functions.

Two crop conventions exist in the wild and both are reproduced exactly, since a checkpoint's behaviour
depends on the pixels it sees:
- `subwindow` — pysot's: a square of `round(size)` pixels whose first pixel is floor(c - (size+1)/2 + 0.5),
  padded with the (uint8-truncated) mean colour, then cv2.resize to the network size.
- `crop_resize` — siamfc-pytorch's: corners rounded from c - (size-1)/2, padded with cv2.copyMakeBorder
  using the mean colour, then cv2.resize (bilinear).
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def context_size(w: float, h: float, context_amount: float = 0.5) -> float:
    """Side of the square template region: sqrt((w+p)(h+p)), p = context_amount * (w + h)."""
    p = context_amount * (w + h)
    return math.sqrt((w + p) * (h + p))


def xywh_to_center(box) -> tuple[np.ndarray, np.ndarray]:
    """0-based (x, y, w, h) → centre (cx, cy) with the pixel-centre convention cx = x + (w-1)/2, and size."""
    x, y, w, h = box
    return np.array([x + (w - 1) / 2, y + (h - 1) / 2]), np.array([w, h], dtype=np.float64)


def padded_region(img: np.ndarray, y0: int, y1: int, x0: int, x1: int, fill) -> np.ndarray:
    """img[y0:y1, x0:x1] where the rectangle may extend past the frame: the outside is `fill`.
    Only the rectangle is copied, never the whole frame."""
    H, W = img.shape[:2]
    top, left = max(0, -y0), max(0, -x0)
    bottom, right = max(0, y1 - H), max(0, x1 - W)
    if not (top or left or bottom or right):
        return img[y0:y1, x0:x1]
    iy0, iy1, ix0, ix1 = max(0, y0), min(H, y1), max(0, x0), min(W, x1)
    if iy0 >= iy1 or ix0 >= ix1:  # wholly outside the frame
        out = np.empty((y1 - y0, x1 - x0, img.shape[2]), img.dtype)
        out[...] = fill
        return out
    return cv2.copyMakeBorder(img[iy0:iy1, ix0:ix1], top, bottom, left, right, cv2.BORDER_CONSTANT, value=fill)


def subwindow(img: np.ndarray, center, out_size: int, size: float, pad_color) -> np.ndarray:
    """pysot-style square crop of side `size` (rounded by the caller or here) centred on `center`
    (x, y), padded with `pad_color`, resized to out_size x out_size. Returns HxWx3 uint8."""
    sz = size
    c = (sz + 1) / 2
    xmin = math.floor(center[0] - c + 0.5)
    ymin = math.floor(center[1] - c + 0.5)
    xmax = xmin + sz - 1
    ymax = ymin + sz - 1
    # pysot writes the float mean into a uint8 array: the value is truncated, not rounded.
    fill = tuple(np.asarray(pad_color, dtype=np.float64).astype(np.uint8).tolist())
    patch = padded_region(img, int(ymin), int(ymax) + 1, int(xmin), int(xmax) + 1, fill)
    if patch.shape[0] != out_size or patch.shape[1] != out_size:
        patch = cv2.resize(patch, (out_size, out_size))
    return patch


def crop_resize(img: np.ndarray, center_yx, size: float, out_size: int, pad_color) -> np.ndarray:
    """siamfc-pytorch-style crop: centre given as (y, x), square of round(size) pixels, constant border
    of `pad_color`, bilinear resize to out_size. Returns HxWx3 uint8."""
    size = float(np.round(size))
    start = np.round(np.asarray(center_yx) - (size - 1) / 2)  # float32 in, float32 arithmetic, as the reference
    corners = np.round(np.concatenate([start, start + size])).astype(int)
    patch = padded_region(img, corners[0], corners[2], corners[1], corners[3], tuple(float(v) for v in pad_color))
    return cv2.resize(patch, (out_size, out_size), interpolation=cv2.INTER_LINEAR)


def anchor_shapes(stride: int, ratios, scales) -> np.ndarray:
    """(k, 2) anchor widths and heights: for each ratio r, ws = int(sqrt(stride^2 / r)), hs = int(ws * r),
    times each scale (pysot's Anchors)."""
    area = stride * stride
    out = []
    for r in ratios:
        ws = int(math.sqrt(area / r))
        hs = int(ws * r)
        for s in scales:
            out.append((ws * s, hs * s))
    return np.array(out, dtype=np.float32)


def score_grid(score_size: int, stride: float) -> np.ndarray:
    """(S,) offsets from the crop centre, in crop pixels, of the score-map columns (= rows): the grid every
    head's outputs sit on (anchors, anchor-free points, training targets). Its origin is -(S//2)*stride."""
    return (np.arange(score_size) - score_size // 2) * stride


def anchor_boxes(stride: int, ratios, scales, score_size: int) -> np.ndarray:
    """(k*S*S, 4) anchors as (cx, cy, w, h) relative to the crop centre, flattened k-major, then y, then x
    (the order of the head's output channels). The grid origin is -(S//2)*stride."""
    shapes = anchor_shapes(stride, ratios, scales)
    k = len(shapes)
    grid = score_grid(score_size, stride).astype(np.float32)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    anchors = np.empty((k, score_size, score_size, 4), np.float32)
    anchors[..., 0] = xx
    anchors[..., 1] = yy
    anchors[..., 2] = shapes[:, 0, None, None]
    anchors[..., 3] = shapes[:, 1, None, None]
    return anchors.reshape(-1, 4)


def hanning_window(size: int) -> np.ndarray:
    """Outer product of two Hanning windows (not normalised)."""
    h = np.hanning(size)
    return np.outer(h, h)


def decode_deltas(deltas: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """deltas (4, N) as dx, dy, dw, dh → boxes (4, N) cx, cy, w, h: cx = dx*wa + xa, w = exp(dw)*wa."""
    out = np.empty_like(deltas)
    out[0] = deltas[0] * anchors[:, 2] + anchors[:, 0]
    out[1] = deltas[1] * anchors[:, 3] + anchors[:, 1]
    out[2] = np.exp(deltas[2]) * anchors[:, 2]
    out[3] = np.exp(deltas[3]) * anchors[:, 3]
    return out


def polygon_area(poly) -> float:
    """Area of a simple polygon given as x1, y1, x2, y2, ... (shoelace formula); 0 below three corners."""
    p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def polygon_to_box(region) -> tuple[float, float, float, float]:
    """Axis-aligned 0-based (x, y, w, h) for a VOT region, by pysot's (and got10k's) rule: the centre is the
    mean of the corners; the corners' extent is scaled by s = sqrt(polygon area / extent area) and one pixel
    added, w = s * (x2 - x1) + 1; then x = cx - (w - 1) / 2 (the pixel-centre convention of
    `xywh_to_center`). For four corners the polygon area is VOT's product of two adjacent sides. A 4-value
    rectangle is returned as is; a region with a missing (non-finite) value gives four NaNs. The one rule
    for training labels and benchmark scores."""
    r = np.asarray(region, dtype=np.float64).ravel()
    if r.size == 4:
        return float(r[0]), float(r[1]), float(r[2]), float(r[3])
    if not np.isfinite(r).all():
        return (math.nan,) * 4
    p = r.reshape(-1, 2)
    cx, cy = p[:, 0].mean(), p[:, 1].mean()
    x1, y1 = p[:, 0].min(), p[:, 1].min()
    x2, y2 = p[:, 0].max(), p[:, 1].max()
    if len(p) == 4:
        a1 = np.linalg.norm(p[0] - p[1]) * np.linalg.norm(p[1] - p[2])
    else:
        a1 = polygon_area(p)
    a2 = (x2 - x1) * (y2 - y1)
    s = math.sqrt(a1 / a2) if a2 > 0 else 1.0
    w, h = s * (x2 - x1) + 1.0, s * (y2 - y1) + 1.0
    return float(cx - (w - 1) / 2.0), float(cy - (h - 1) / 2.0), float(w), float(h)


def _overlap(ax1, ay1, ax2, ay2, area_a, bx1, by1, bx2, by2, area_b) -> np.ndarray:
    """The one IoU rule: intersection over union from corners and areas; no overlap counts 0, an empty union
    gives 0, and the result lies in [0, 1]."""
    inter = np.maximum(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0) * np.maximum(
        np.minimum(ay2, by2) - np.maximum(ay1, by1), 0
    )
    union = area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return np.clip(out, 0.0, 1.0)


def _columns(boxes):
    """x1, y1, x2, y2 (or x, y, w, h) of (N, 4) boxes as columns, or of one box as its values."""
    if not isinstance(boxes, np.ndarray) and np.ndim(boxes) > 1:
        boxes = np.asarray(boxes, dtype=np.float64)
    if isinstance(boxes, np.ndarray) and boxes.ndim > 1:
        return boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    return boxes[0], boxes[1], boxes[2], boxes[3]


def iou_corners(a, b) -> np.ndarray:
    """IoU of corner boxes (x1, y1, x2, y2): `a` (N, 4) against `b`, one box or (N, 4) row by row. A box
    with x2 < x1 (or y2 < y1) has no area. The core of every IoU here (training targets, benchmark scores)."""
    ax1, ay1, ax2, ay2 = _columns(a)
    bx1, by1, bx2, by2 = _columns(b)
    return _overlap(
        ax1,
        ay1,
        ax2,
        ay2,
        np.maximum(ax2 - ax1, 0) * np.maximum(ay2 - ay1, 0),
        bx1,
        by1,
        bx2,
        by2,
        np.maximum(bx2 - bx1, 0) * np.maximum(by2 - by1, 0),
    )


def iou_xywh(a, b) -> np.ndarray:
    """IoU of (x, y, w, h) boxes, `a` (N, 4) against `b`, one box or (N, 4) row by row (iou_corners' rule; a
    negative width or height counts as 0). Areas are taken from w * h directly, not from the corners."""
    ax, ay, aw, ah = _columns(a)
    bx, by, bw, bh = _columns(b)
    aw, ah, bw, bh = np.maximum(aw, 0), np.maximum(ah, 0), np.maximum(bw, 0), np.maximum(bh, 0)
    return _overlap(ax, ay, ax + aw, ay + ah, aw * ah, bx, by, bx + bw, by + bh, bw * bh)
