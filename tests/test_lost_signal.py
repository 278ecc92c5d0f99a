"""The RPN trackers' lost rule: the logit margin relative to the target's first updates."""

from __future__ import annotations

import math

from tracker.config.presets import get_preset
from tracker.trackers.siamrpn import SiamRPNTracker


def _rule(threshold=0.4, ref_frames=5):
    t = SiamRPNTracker.__new__(SiamRPNTracker)
    t.p = get_preset("siamrpn_effnet_lite0").replace_track(lost_threshold=threshold, lost_ref_frames=ref_frames).track
    t.ref_margins = []
    return t


def test_margin_is_measured_against_the_median_of_the_first_updates():
    t = _rule()
    for m in (6.0, 8.0, 7.0, 100.0, 5.0):  # the reference is their median, 7
        t._lost_signal(m)
    assert t.ref_margins == [6.0, 8.0, 7.0, 100.0, 5.0]
    assert math.isclose(t._lost_signal(3.5), 0.5)
    assert math.isclose(t._lost_signal(-7.0), -1.0)
    assert len(t.ref_margins) == 5  # later frames do not move the reference


def test_a_weak_start_is_measured_against_a_margin_of_one():
    t = _rule()
    t._lost_signal(0.2)
    assert math.isclose(t._lost_signal(0.3), 0.3)  # reference max(median 0.25, 1) = 1


def test_a_non_finite_margin_counts_as_lost():
    t = _rule()
    t._lost_signal(5.0)
    assert t._lost_signal(float("nan")) < 0.4
    assert t._lost_signal(float("-inf")) < 0.4
