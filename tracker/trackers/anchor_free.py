"""Tracking with the anchor-free head: SiamRPN's search step (tracker.trackers.siamrpn) with points instead of anchors.

Each score-map cell is a point of the search crop (`tracker.geometry.score_grid`, relative to the crop
centre); the head gives its score logit and the distances (l, t, r, b) from it to the
box's edges. A candidate box is then x1 = px - l, x2 = px + r (likewise y), and everything after that — the
scale/ratio penalty, the cosine window, the size update, the long-term mode and the lost flag — is SiamRPN's.
"""

from __future__ import annotations

import numpy as np

from ..geometry import hanning_window, score_grid
from .siamrpn import SiamRPNTracker, all_finite, padded_side


class AnchorFreeTracker(SiamRPNTracker):
    def _grid(self, score_size: int):
        g = self._grids.get(score_size)
        if g is None:
            off = score_grid(score_size, float(self.preset.model.head.stride))
            px = np.tile(off, score_size)  # flattened y-major: column offsets repeat per row
            py = np.repeat(off, score_size)
            g = self._grids[score_size] = (np.stack([px, py]), hanning_window(score_size).flatten())
        return g

    def _decode(self, cls, loc):
        # cls (1, S, S) target logits, or (2, S, S) background and target logits (NanoTrack's heads: the
        # softmax's target share, a sigmoid of the difference); loc (4, S, S) = l, t, r, b in crop pixels.
        # float64 from the first operation on (float32 values are exact in it), one array per quantity.
        n = cls.shape[-1] * cls.shape[-1]
        if all_finite(cls) and all_finite(loc):
            if len(cls) == 2:
                logit = np.subtract(cls[1], cls[0], dtype=np.float64).reshape(n)
            else:
                logit = cls[0].astype(np.float64).reshape(n)
            # clipped in float32: the bounds are float32 values, so this equals clipping in float64
            ltrb = np.maximum(loc.reshape(4, n), 0.0)
            np.minimum(ltrb, 1e4, out=ltrb)
        else:  # a wild output (untrained or broken weights) must not turn into inf/NaN boxes
            logits = cls.reshape(len(cls), n).astype(np.float64)
            logit = logits[-1] - logits[0] if len(logits) == 2 else logits[0]
            logit = np.nan_to_num(logit, nan=-30.0, posinf=30.0, neginf=-30.0)
            ltrb = np.nan_to_num(loc.reshape(4, n).astype(np.float64), nan=1.0, posinf=1e4, neginf=1.0)
            np.clip(ltrb, 0.0, 1e4, out=ltrb)
        score = np.negative(logit)  # 1 / (1 + exp(-logit)), in place
        np.exp(score, out=score)
        score += 1.0
        np.divide(1.0, score, out=score)
        grid, window = self._grid(cls.shape[-1])
        # boxes (4, N): centre px + (r - l) / 2, py + (b - t) / 2; size l + r, t + b (at least 1)
        pred = np.empty((4, n))
        centre, size = pred[:2], pred[2:]
        np.subtract(ltrb[2:], ltrb[:2], out=centre, dtype=np.float64)
        centre *= 0.5
        centre += grid
        np.add(ltrb[:2], ltrb[2:], out=size, dtype=np.float64)
        np.maximum(size, 1.0, out=size)
        return score, pred, logit, window

    def _choose(self, cls, loc, scale_z: float):
        # SiamRPNTracker._choose on _decode's candidates, the same operations in the same order (so the same
        # numbers), in fewer NumPy calls: the centres computed for the chosen point only, and the score's and
        # the penalty's exponentials in one call
        n = cls.shape[-1] * cls.shape[-1]
        c = cls.reshape(len(cls), n)
        ltrb = loc.reshape(4, n)
        if not np.minimum.reduce(ltrb, axis=None) > -np.inf:  # NaN or -inf (+inf is clipped as _decode does)
            return super()._choose(cls, loc, scale_z)
        ex = np.empty((2, n))  # row 0: -logit, then exp(-logit); row 1: the penalty's exponent, then the penalty
        if len(c) == 2:
            np.subtract(c[0], c[1], out=ex[0], dtype=np.float64)
        else:
            np.negative(c[0], out=ex[0], dtype=np.float64)
        if not (-np.inf < np.minimum.reduce(ex[0]) and np.maximum.reduce(ex[0]) < np.inf):
            return super()._choose(cls, loc, scale_z)
        ltrb = np.maximum(ltrb, 0.0)
        np.minimum(ltrb, 1e4, out=ltrb)
        wh = np.add(ltrb[:2], ltrb[2:], dtype=np.float64)
        np.maximum(wh, 1.0, out=wh)
        sw, sh = self.size.tolist()
        pad = wh[0] + wh[1]
        pad *= 0.5
        change = wh + pad
        side = change[0]
        side *= change[1]
        np.sqrt(side, out=side)
        side /= padded_side(sw * scale_z, sh * scale_z)  # row 0: the change of scale
        np.divide(wh[0], wh[1], out=change[1])
        np.divide(sw / sh, change[1], out=change[1])  # row 1: the change of aspect ratio
        np.maximum(change, np.divide(1.0, change), out=change)
        x = ex[1]
        np.multiply(change[1], change[0], out=x)
        np.subtract(1.0, x, out=x)
        x *= self.p.penalty_k
        np.exp(ex, out=ex)
        score = ex[0]
        score += 1.0
        np.divide(1.0, score, out=score)
        pscore = ex[1] * score
        grid, window = self._grid(cls.shape[-1])
        keep, term = self._window_term(window)
        pscore *= keep
        pscore += term
        best = int(pscore.argmax())
        left, top, right, bottom = ltrb[:, best].tolist()
        gx, gy = grid[:, best].tolist()
        cx, cy = gx + (right - left) / 2, gy + (bottom - top) / 2
        w, h = max(left + right, 1.0), max(top + bottom, 1.0)
        margin = float(c[1, best]) - float(c[0, best]) if len(c) == 2 else float(c[0, best])
        box = [cx / scale_z, cy / scale_z, w / scale_z, h / scale_z]
        return box, float(score[best]), float(ex[1, best]), margin
