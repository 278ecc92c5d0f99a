"""The tracking options around the search step, on a fake engine whose answers are known: the two-logit
score of NanoTrack's heads, the template update and the motion prior (SearchParams)."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.config.presets import get_preset
from tracker.trackers.anchor_free import AnchorFreeTracker
from tracker.trackers.siamrpn import blend


class RecordingEngine:
    """A score map with one peak at the map's centre cell (the target stays put in the crop) and a fixed
    box; records each template crop and each search crop, and returns each template as a new number."""

    model = None
    name = "fake"

    def __init__(self, S=16, two_logits=False, peak_logit=5.0, half_size=20.0):
        self.S, self.two, self.peak, self.half = S, two_logits, peak_logit, half_size
        self.templates: list[np.ndarray] = []
        self.searches: list[tuple[np.ndarray, object]] = []

    def template(self, crop):
        self.templates.append(crop)
        return [np.full((1, 2), float(len(self.templates)))]

    def search(self, crops, kernel):
        self.searches.append((crops, kernel))
        S, c = self.S, self.S // 2
        target = np.full((S, S), -5.0, np.float32)
        target[c, c] = self.peak
        cls = np.stack([np.zeros_like(target), target]) if self.two else target[None]
        loc = np.full((4, S, S), self.half, np.float32)
        return cls[None], loc[None]


def _tracker(engine, **values):
    return AnchorFreeTracker(get_preset("nanotrack_v3").replace_track(**values), engine)


def test_two_logits_score_is_the_softmax_share_of_the_target():
    one, two = RecordingEngine(two_logits=False), RecordingEngine(two_logits=True)
    frame = np.zeros((480, 640, 3), np.uint8)
    results = []
    for engine in (one, two):
        t = _tracker(engine)
        t.init(frame, (300, 200, 40, 40))
        results.append(t.update(frame))
    # (0, 5) through a softmax is the sigmoid of 5: both heads give the same score and box
    assert results[0].score == pytest.approx(1 / (1 + np.exp(-5.0)))
    assert results[1].score == pytest.approx(results[0].score)
    assert results[1].box == pytest.approx(results[0].box)


def test_blend_mixes_nested_kernels():
    first, new = [np.ones(3), (np.zeros(2),)], [np.full(3, 3.0), (np.full(2, 2.0),)]
    mixed = blend(first, new, 0.25)
    np.testing.assert_allclose(mixed[0], 1.5)
    np.testing.assert_allclose(mixed[1][0], 0.5)
    assert isinstance(mixed[1], tuple)


def test_template_update_is_off_by_default():
    engine = RecordingEngine(two_logits=True)
    t = _tracker(engine)
    frame = np.zeros((480, 640, 3), np.uint8)
    t.init(frame, (300, 200, 40, 40))
    for _ in range(30):
        t.update(frame)
    assert len(engine.templates) == 1


def test_template_update_blends_a_confident_frames_template_into_the_first():
    engine = RecordingEngine(two_logits=True)
    t = _tracker(engine, template_update=0.25, template_interval=10, template_confidence=0.9)
    frame = np.zeros((480, 640, 3), np.uint8)
    t.init(frame, (300, 200, 40, 40))
    for _ in range(10):
        t.update(frame)
    assert len(engine.templates) == 2  # the tenth update made a new one
    # anchored to the first frame's kernel (1): 0.75 * 1 + 0.25 * 2
    np.testing.assert_allclose(t.kernel[0], 1.25)
    for _ in range(10):
        t.update(frame)
    np.testing.assert_allclose(t.kernel[0], 0.75 * 1 + 0.25 * 3)  # not 0.75 * 1.25 + ...
    assert engine.searches[-1][1] is t.kernel or np.allclose(engine.searches[-1][1][0], 1.25)


def test_no_template_update_from_an_unsure_frame():
    engine = RecordingEngine(two_logits=True, peak_logit=1.0)  # score 0.73 < 0.9
    t = _tracker(engine, template_update=0.25, template_interval=5, template_confidence=0.9)
    frame = np.zeros((480, 640, 3), np.uint8)
    t.init(frame, (300, 200, 40, 40))
    for _ in range(20):
        t.update(frame)
    assert len(engine.templates) == 1


def test_motion_prior_centres_the_crop_ahead_of_the_target():
    """A target that moved by d last frame is searched d * motion_prior further on; the box found is placed
    relative to that crop's centre."""

    class Moving(RecordingEngine):
        def search(self, crops, kernel):  # the best point 2 cells right of the crop's centre
            cls, loc = super().search(crops, kernel)
            cls = np.roll(cls, 2, axis=-1)
            return cls, loc

    frame = np.zeros((600, 800, 3), np.uint8)
    boxes = {}
    # a 40 x 40 target is 40 * 127 / 80 = 63.5 crop px wide: with that box the size, and so the scale, stay
    for prior in (0.0, 1.0):
        engine = Moving(two_logits=True, half_size=63.5 / 2)
        t = _tracker(engine, motion_prior=prior, window_influence=0.0, penalty_k=0.0)
        t.init(frame, (300, 200, 40, 40))
        first = t.update(frame)
        second = t.update(frame)
        boxes[prior] = (first.box, second.box)
    step = boxes[0.0][0][0] + 20 - 319.5  # the first move (from the init centre x + (w - 1) / 2), with or without
    assert boxes[1.0][0][0] == pytest.approx(boxes[0.0][0][0])
    # without the prior the second move repeats the first; with it the crop was already one move ahead
    assert boxes[0.0][1][0] - boxes[0.0][0][0] == pytest.approx(step, rel=1e-6)
    assert boxes[1.0][1][0] - boxes[1.0][0][0] == pytest.approx(2 * step, rel=1e-6)
