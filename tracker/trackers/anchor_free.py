"""Tracking with the anchor-free head: SiamRPN's search step (tracker.trackers.siamrpn) with points instead of anchors.

Each score-map cell is a point of the search crop (`tracker.geometry.score_grid`, relative to the crop
centre); the head gives its score logit and the distances (l, t, r, b) from it to the
box's edges. A candidate box is then x1 = px - l, x2 = px + r (likewise y), and everything after that — the
scale/ratio penalty, the cosine window, the size update, the long-term mode and the lost flag — is SiamRPN's.
"""

from __future__ import annotations

import numpy as np

from ..geometry import hanning_window, score_grid
from .siamrpn import SiamRPNTracker, all_finite


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
