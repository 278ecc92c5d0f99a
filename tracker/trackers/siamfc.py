"""SiamFC tracking: siamfc-pytorch's TrackerSiamFC, step for step, in 0-based boxes.

The state is the centre (y, x) and size (h, w) in float32, as the reference keeps them. Each frame:
crop the scales around the centre, correlate with the template, upsample the responses 16x (bicubic),
penalise the non-centre scales, take the scale with the highest peak, normalise its response and mix it
with a Hanning window, move the centre by the peak's displacement, damp the size change.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..config.presets import Preset, SiamFCParams
from ..geometry import crop_resize
from ..result import TrackResult
from .base import BatchedTracker


class SiamFCTracker(BatchedTracker):
    def __init__(self, preset: Preset, engine):
        self.preset = preset
        if not isinstance(preset.track, SiamFCParams):
            raise TypeError(f"{preset.name}: a SiamFC tracker takes SiamFCParams, not {type(preset.track).__name__}")
        self.p = preset.track
        self.engine = engine  # runs the network's two branches (tracker.engines)
        self.model = engine.model  # the torch module, where the engine has one
        self.name = preset.name
        p = self.p
        n = p.scale_num
        self.scale_factors = p.scale_step ** np.linspace(-(n // 2), n // 2, n)
        self.upscale_sz: int | None = None  # the upsampled response's size and its cosine window, from the
        self.window: np.ndarray | None = None  # first response (set by _responses)

    def _init(self, frame, box):
        p = self.p
        x, y, w, h = box
        state = np.array([y + (h - 1) / 2, x + (w - 1) / 2, h, w], dtype=np.float32)
        self.center, self.target_sz = state[:2], state[2:]
        context = p.context_amount * np.sum(self.target_sz)
        self.z_sz = np.sqrt(np.prod(self.target_sz + context))
        self.x_sz = self.z_sz * p.instance_size / p.exemplar_size
        self.x_sz_init = self.x_sz
        self.avg_color = np.mean(frame, axis=(0, 1))
        z = crop_resize(frame, self.center, self.z_sz, p.exemplar_size, self.avg_color)
        self.kernel = self.engine.template(z)
        self.ref_peak = None
        self.lost_signal = 1.0

    def _crops(self, frame) -> np.ndarray:
        """The search crops (scale_num, instance, instance, 3), one per scale, around the centre."""
        p = self.p
        return np.stack(
            [
                crop_resize(frame, self.center, self.x_sz * f, p.instance_size, self.avg_color)
                for f in self.scale_factors
            ]
        )

    def _responses(self, cls: np.ndarray) -> np.ndarray:
        """The scales' responses (the search outputs `cls`, (scale_num, 1, S, S)) upsampled."""
        p = self.p
        responses = cls[:, 0]
        if self.upscale_sz is None:
            self.upscale_sz = p.response_up * responses.shape[-1]
            win = np.outer(np.hanning(self.upscale_sz), np.hanning(self.upscale_sz))
            self.window = win / win.sum()
        return np.stack(
            [cv2.resize(r, (self.upscale_sz, self.upscale_sz), interpolation=cv2.INTER_CUBIC) for r in responses]
        )

    def _finish(self, frame, cls, loc):
        p = self.p
        responses = self._responses(cls)
        n = p.scale_num
        responses[: n // 2] *= p.scale_penalty
        responses[n // 2 + 1 :] *= p.scale_penalty
        peaks = np.amax(responses, axis=(1, 2))
        scale_id = int(np.argmax(peaks))
        peak = float(peaks[scale_id])

        assert self.window is not None and self.upscale_sz is not None  # set by _responses
        response = responses[scale_id]
        response -= response.min()
        response /= response.sum() + 1e-16
        response = (1 - p.window_influence) * response + p.window_influence * self.window
        loc = np.unravel_index(response.argmax(), response.shape)

        disp_in_response = np.array(loc) - (self.upscale_sz - 1) / 2
        disp_in_instance = disp_in_response * p.total_stride / p.response_up
        disp_in_image = disp_in_instance * self.x_sz * self.scale_factors[scale_id] / p.instance_size
        self.center += disp_in_image
        scale = (1 - p.scale_lr) * 1.0 + p.scale_lr * self.scale_factors[scale_id]
        self.target_sz *= scale
        self.z_sz *= scale
        self.x_sz *= scale
        if p.clamp_search:
            lo, hi = 0.2 * self.x_sz_init, 5.0 * self.x_sz_init
            clamped = min(max(self.x_sz, lo), hi)
            if clamped != self.x_sz:
                ratio = clamped / self.x_sz
                self.x_sz = clamped
                self.z_sz = self.z_sz * ratio

        # Lost: the response peak relative to the first frame's peak (raw responses have no fixed scale).
        if self.ref_peak is None:
            self.ref_peak = max(peak, 1e-12)
        score = self.lost_signal = peak / self.ref_peak
        cy, cx = float(self.center[0]), float(self.center[1])
        h, w = float(self.target_sz[0]), float(self.target_sz[1])
        box = (cx - (w - 1) / 2, cy - (h - 1) / 2, w, h)
        return TrackResult(box, score, score < p.lost_threshold)
