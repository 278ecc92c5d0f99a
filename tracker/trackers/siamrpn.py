"""SiamRPN / SiamRPN++ tracking: pysot's SiamRPNTracker (and its long-term variant), step for step.

The state is the target centre and size in frame pixels. Each frame: crop s_x = s_z * instance/exemplar
around the centre, run the search branch against the template prepared at init, decode anchors, apply
the scale/ratio penalty and the cosine window, move to the best box, smooth the size, clip.
"""

from __future__ import annotations

import math

import numpy as np

from ..config.presets import Preset, SiamFCParams, SiamRPNParams
from ..geometry import anchor_boxes, context_size, decode_deltas, hanning_window, subwindow
from ..result import TrackResult
from .base import BatchedTracker


def all_finite(a: np.ndarray) -> bool:
    """Whether every value of `a` is finite (the check before decoding a head's outputs)."""
    return bool(np.isfinite(a).all())


def _change_inplace(r: np.ndarray) -> np.ndarray:
    """max(r, 1 / r), written into r."""
    return np.maximum(r, np.divide(1.0, r), out=r)


def padded_side(w: float, h: float) -> float:
    """sqrt((w + p)(h + p)), p = (w + h) / 2: the side of a box's square region with context."""
    pad = (w + h) * 0.5
    return math.sqrt((w + pad) * (h + pad))


def blend(first, new, weight: float):
    """(1 - weight) * first + weight * new, for kernels as the engines give them: arrays or tensors, alone or
    in nested lists and tuples (both have the same nesting and shapes)."""
    if isinstance(first, (list, tuple)):
        return type(first)(blend(a, b, weight) for a, b in zip(first, new))
    return first * (1.0 - weight) + new * weight


class SiamRPNTracker(BatchedTracker):
    def __init__(self, preset: Preset, engine, long_term: bool = False):
        self.preset = preset
        if isinstance(preset.track, SiamFCParams):
            raise TypeError(f"{preset.name}: a SiamRPN tracker does not take SiamFCParams")
        self.p = preset.track
        self.engine = engine  # runs the network's two branches (tracker.engines)
        self.model = engine.model  # the torch module, where the engine has one
        self.long_term = long_term or self.p.long_term
        self.name = preset.name
        self._grids: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._window_terms: dict[tuple[int, float], np.ndarray] = {}  # (N, influence) -> window * influence

    def _grid(self, score_size: int):
        """Anchors and window for a score map size, computed once per size."""
        g = self._grids.get(score_size)
        if g is None:
            p = self.p
            assert isinstance(p, SiamRPNParams)  # the anchor-free tracker has its own grid
            anchors = anchor_boxes(p.anchor_stride, p.anchor_ratios, p.anchor_scales, score_size)
            k = len(anchors) // (score_size * score_size)
            window = np.tile(hanning_window(score_size).flatten(), k)
            g = self._grids[score_size] = (anchors, window)
        return g

    def _init(self, frame, box):
        x, y, w, h = box
        self.center = np.array([x + (w - 1) / 2, y + (h - 1) / 2])
        self.size = np.array([w, h], dtype=np.float64)
        self.channel_average = np.mean(frame, axis=(0, 1))
        s_z = round(context_size(w, h, self.p.context_amount))
        z = subwindow(frame, self.center, self.p.exemplar_size, s_z, self.channel_average)
        self.kernel = self.first_kernel = self.engine.template(z)
        self.frames_since_template = 0
        self.velocity = np.zeros(2)
        self.redetecting = False
        self.ref_margins: list[float] = []
        self._ref_margin = float("nan")  # their median (NaN before the first, as np.median of none)
        self.lost_signal = 1.0

    def _update_template(self, frame, score: float, lost: bool) -> None:
        """The template from the current state, blended into the first frame's (SearchParams)."""
        p = self.p
        self.frames_since_template += 1
        if self.frames_since_template < p.template_interval or lost or score < p.template_confidence:
            return
        self.frames_since_template = 0
        s_z = round(context_size(self.size[0], self.size[1], p.context_amount))
        z = subwindow(frame, self.center, p.exemplar_size, s_z, self.channel_average)
        self.kernel = blend(self.first_kernel, self.engine.template(z), p.template_update)

    def _lost_signal(self, margin: float) -> float:
        """The chosen anchor's logit margin relative to the target's first updates (see SiamRPNParams)."""
        margin = float(margin)
        if not math.isfinite(margin):  # as np.nan_to_num(nan=-30, posinf=30, neginf=-30), without its cost
            margin = 30.0 if margin > 0 else -30.0
        if len(self.ref_margins) < self.p.lost_ref_frames:
            self.ref_margins.append(margin)
            self._ref_margin = float(np.median(self.ref_margins))  # fixed once the list is full
        # a reference below 1 (a target the model barely recognised at the start) would make any ratio
        # meaningless; such a start is measured against a margin of 1 (score 0.73)
        self.lost_signal = margin / max(self._ref_margin, 1.0)
        return self.lost_signal

    def _decode(self, cls, loc):
        """The head's outputs for one crop → candidates: score (N,), boxes (4, N) as centre offset from the
        crop centre and size, in crop pixels, the logit margin of each (N,), and the cosine window (N,)."""
        # cls (2k, S, S), loc (4k, S, S), float32
        k = cls.shape[0] // 2
        S = cls.shape[-1]
        # class-major channels [2][k] → softmax over the two classes (as torch.softmax computes it, in
        # float32), flattened k, y, x
        logits = cls.reshape(2, k * S * S)
        e = np.exp(logits - logits.max(axis=0))
        score = e[1] / (e[0] + e[1])
        deltas = loc.reshape(4, k * S * S).copy()
        # a wild regression (untrained or broken weights) must not turn into inf/NaN boxes
        np.clip(deltas[2:], -8.0, 8.0, out=deltas[2:])
        if not np.isfinite(score).all():  # (checked first: nan_to_num costs several passes, per frame)
            score = np.nan_to_num(score, nan=0.0)
        if not np.isfinite(deltas).all():
            deltas = np.nan_to_num(deltas, nan=0.0, posinf=0.0, neginf=0.0)
        anchors, window = self._grid(S)
        pred = decode_deltas(deltas, anchors)
        return score, pred, logits[1] - logits[0], window

    def _crops(self, frame):
        """The search crop (1, instance, instance, 3) around the centre (moved by the motion prior)."""
        p = self.p
        s_z = context_size(self.size[0], self.size[1], p.context_amount)
        instance = p.lost_instance_size if self.redetecting else p.instance_size
        s_x = s_z * (instance / p.exemplar_size)
        crop_center = self.center + p.motion_prior * self.velocity if p.motion_prior else self.center
        self._crop = (p.exemplar_size / s_z, crop_center)  # the scale and centre _finish maps back with
        return subwindow(frame, crop_center, instance, round(s_x), self.channel_average)[None]

    def _choose(self, cls, loc, scale_z: float):
        """pysot's choice among one crop's candidates (cls, loc: the head's outputs for it): each candidate's
        score times the penalty on its change of scale and aspect ratio against the target's, blended with
        the cosine window. Returns the best candidate's box [cx, cy, w, h] in frame pixels (the centre as an
        offset from the crop centre), its score, its penalty and its logit margin."""
        p = self.p
        score, pred, margins, window = self._decode(cls, loc)
        sw, sh = self.size.tolist()
        # the padded sides and ratios in the boxes' own dtype (float32 for SiamRPN's anchors), their change
        # against the target's in float64
        wh = pred[2:]
        pad = wh[0] + wh[1]
        pad *= 0.5
        padded = wh + pad  # w + pad, h + pad
        side = padded[0]
        side *= padded[1]
        np.sqrt(side, out=side)
        s_c = _change_inplace(np.divide(side, padded_side(sw * scale_z, sh * scale_z), dtype=np.float64))
        r_c = _change_inplace(np.divide(sw / sh, wh[0] / wh[1], dtype=np.float64))
        penalty = np.multiply(r_c, s_c, out=r_c)
        np.subtract(1.0, penalty, out=penalty)  # -(r_c * s_c - 1), exactly
        penalty *= p.penalty_k
        np.exp(penalty, out=penalty)
        pscore = penalty * score
        keep, term = self._window_term(window)
        pscore *= keep
        pscore += term
        best = int(pscore.argmax())
        box = (pred[:, best] / scale_z).tolist()  # in the boxes' dtype, as pysot
        return box, float(score[best]), float(penalty[best]), float(margins[best])

    def _finish(self, frame, cls, loc):
        p = self.p
        scale_z, crop_center = self._crop
        (bx, by, bw, bh), best_score, penalty, margin = self._choose(cls[0], loc[0], scale_z)
        lr = penalty * best_score * p.lr

        H, W = frame.shape[:2]
        c0, c1 = self.center.tolist()
        sw, sh = self.size.tolist()
        if self.long_term and best_score < p.confidence_low:
            # pysot's long-term tracker keeps the state when unsure and widens the search next frame
            cx, cy, width, height = c0, c1, sw, sh
        else:
            cx, cy = bx + float(crop_center[0]), by + float(crop_center[1])
            width = sw * (1 - lr) + bw * lr
            height = sh * (1 - lr) + bh * lr
        cx = max(0.0, min(cx, W))
        cy = max(0.0, min(cy, H))
        width = max(10.0, min(width, W))
        height = max(10.0, min(height, H))
        self.velocity = np.array([cx - c0, cy - c1])
        self.center = np.array([cx, cy])
        self.size = np.array([width, height])
        if self.long_term:
            if best_score < p.confidence_low:
                self.redetecting = True
            elif best_score > p.confidence_high:
                self.redetecting = False
        signal = self._lost_signal(margin)
        lost = signal < p.lost_threshold or (self.long_term and self.redetecting)
        if p.template_update:
            self._update_template(frame, best_score, lost)
        # pysot reports the box as centre minus half the size (not (size-1)/2 as at init)
        return TrackResult((cx - width / 2, cy - height / 2, width, height), best_score, lost, signal)

    def _window_term(self, window: np.ndarray) -> tuple[float, np.ndarray]:
        """The cosine window's share of the choice now (window_influence; 0.001 while re-detecting): 1 - wi,
        and window * wi (computed once per window size and influence)."""
        wi = 0.001 if self.redetecting else self.p.window_influence
        key = (window.size, wi)
        term = self._window_terms.get(key)
        if term is None:
            term = self._window_terms[key] = window * wi
        return 1 - wi, term
