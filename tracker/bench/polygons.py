"""The overlap of two regions, rectangles or polygons (VOT's rotated boxes), each optionally clipped to the
image: Sutherland-Hodgman clipping against a convex polygon, point sampling where neither is convex."""

from __future__ import annotations

import numpy as np

from ..geometry import polygon_area


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
