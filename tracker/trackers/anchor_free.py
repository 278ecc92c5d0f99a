"""Tracking with the anchor-free head: SiamRPN's search step (tracker.trackers.siamrpn) with points instead of anchors.

Each score-map cell is a point of the search crop (`tracker.geometry.score_grid`, relative to the crop
centre); the head gives its score logit and the distances (l, t, r, b) from it to the
box's edges. A candidate box is then x1 = px - l, x2 = px + r (likewise y), and everything after that — the
scale/ratio penalty, the cosine window, the size update, the long-term mode and the lost flag — is SiamRPN's.
"""

from __future__ import annotations

import numpy as np

from ..geometry import hanning_window, score_grid
from .siamrpn import SiamRPNTracker


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
        # softmax's target share, a sigmoid of the difference); loc (4, S, S) = l, t, r, b in crop pixels
        S = cls.shape[-1]
        logits = cls.reshape(cls.shape[0], -1).astype(np.float64)
        logit = logits[-1] - logits[0] if len(logits) == 2 else logits[0]
        if not np.isfinite(logit).all():  # (checked first: nan_to_num costs several passes, per frame)
            logit = np.nan_to_num(logit, nan=-30.0, posinf=30.0, neginf=-30.0)
        score = 1.0 / (1.0 + np.exp(-logit))
        ltrb = loc.reshape(4, -1).astype(np.float64)
        if not np.isfinite(ltrb).all():
            ltrb = np.nan_to_num(ltrb, nan=1.0, posinf=1e4, neginf=1.0)
        np.clip(ltrb, 0.0, 1e4, out=ltrb)
        (px, py), window = self._grid(S)
        left, top, right, bottom = ltrb
        pred = np.stack(
            [
                px + (right - left) / 2,
                py + (bottom - top) / 2,
                np.maximum(left + right, 1.0),
                np.maximum(top + bottom, 1.0),
            ]
        )
        return score, pred, logit, window
