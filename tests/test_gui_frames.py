"""The GUI's frame hand-over, rate meters and tracking session, without a window.

The window must never queue frames behind a slow tracker: a camera frame the tracker has not taken yet is
replaced by the next one (latest frame wins) and counted as dropped, while a file played losslessly hands
over every frame. The boxes the GUI exports use the `siamtrack track` format: the initial box, then one
line per tracked frame.
"""

import threading
import time

import numpy as np
import pytest

from tracker.gui.capture import CaptureThread, Playback
from tracker.gui.frames import LatestSlot, RateMeter
from tracker.gui.session import TrackSession
from tracker.io.sinks import format_box
from tracker.trackers.base import Tracker, TrackResult

WAIT_S = 120.0  # how long a condition is waited for before the test fails (never how long things take)


def test_unconsumed_frames_are_replaced_and_counted_as_dropped():
    slot = LatestSlot()
    for i in range(5):
        assert slot.put(i)
    assert slot.dropped == 4  # 0..3 were replaced before anyone took them
    assert slot.get(timeout=0.1) == ("frame", 4)
    assert slot.get(timeout=0.01) == (None, None)


def test_end_marker_is_never_dropped_and_comes_after_the_last_frame():
    slot = LatestSlot()
    slot.put("a")
    slot.finish(("end", None))
    slot.put("b")  # replaces "a"; the marker stays
    assert slot.get(timeout=0.1) == ("frame", "b")
    assert slot.get(timeout=0.1) == ("final", ("end", None))


def test_blocking_put_hands_over_every_frame_in_order():
    slot = LatestSlot()
    got = []

    def consume():
        while True:
            kind, item = slot.get(timeout=WAIT_S)
            if kind == "final" or kind is None:
                return
            got.append(item)
            time.sleep(0.002)  # slower than the producer

    t = threading.Thread(target=consume)
    t.start()
    for i in range(30):
        assert slot.put(i, block=True, timeout=WAIT_S)
    slot.finish(("end", None))
    t.join(WAIT_S)
    assert got == list(range(30))
    assert slot.dropped == 0


class FakeCamera:
    """Delivers frames at its own pace (like a camera) whatever the consumer does."""

    is_camera = True
    spec = "fake-camera"
    fps = None

    def __init__(self, n, period=0.002):
        self.n, self.period = n, period
        self.skipped = []
        self.produced = 0  # frames started (frame produced - 1 is being handed over)

    def __iter__(self):
        for i in range(self.n):
            time.sleep(self.period)
            self.produced = i + 1
            yield i, np.zeros((8, 8, 3), np.uint8)

    def close(self):
        pass


def test_camera_capture_with_a_slow_consumer_drops_old_frames_and_keeps_the_newest():
    slot, playback = LatestSlot(), Playback()
    playback.set_paused(False)
    camera = FakeCamera(60)
    cap = CaptureThread(camera, slot, playback)
    cap.start()
    received = []
    final = None
    while final is None:
        kind, item = slot.get(timeout=WAIT_S)
        assert kind is not None, "capture stalled"
        if kind == "final":
            final = item
        else:
            received.append(item[0])
            # the "tracker" is slower than the camera: it takes the next frame only once the camera has
            # moved 5 frames on (whatever the machine's load), so at least two frames are replaced meanwhile
            deadline = time.monotonic() + WAIT_S
            while camera.produced < min(item[0] + 5, camera.n) and time.monotonic() < deadline:
                time.sleep(0.001)
    cap.join(WAIT_S)
    assert final[0] == "error" and "stopped delivering" in final[1]  # a camera's stream never just ends
    assert slot.dropped > 20  # most frames were dropped rather than queued
    assert len(received) + slot.dropped == 60  # every frame was either tracked or counted as dropped
    assert received == sorted(received) and received[-1] == 59  # always the newest, in order


def test_playback_limit_pauses_after_the_requested_frame_and_steps_one_at_a_time():
    pb = Playback()
    pb.limit = 2
    pb.set_paused(False)
    assert pb.may_read()
    pb.delivered(2)
    assert pb.paused and not pb.may_read()
    pb.request_step(1)
    assert pb.may_read() and not pb.may_read()


def test_rate_meter_counts_events_per_second_in_its_window():
    now = [0.0]
    meter = RateMeter(window_s=1.0, clock=lambda: now[0])
    for _ in range(11):
        meter.tick()
        now[0] += 0.05  # 20 events per second
    now[0] -= 0.05
    assert meter.rate == pytest.approx(20.0)
    now[0] += 5.0  # nothing for a while: the rate falls to 0
    assert meter.rate == 0.0


class Drift(Tracker):
    """Moves the box by (+2, +1) per frame: a known trajectory for the session's bookkeeping."""

    def _init(self, frame, box):
        self.box = list(box)

    def _update(self, frame):
        self.box[0] += 2
        self.box[1] += 1
        return TrackResult(tuple(self.box), 0.9, False)


def test_session_exports_the_initial_box_then_one_line_per_tracked_frame(tmp_path):
    frame = np.zeros((60, 80, 3), np.uint8)
    s = TrackSession(trail_length=4)
    s.use(Drift())
    assert s.add(frame, (10, 20, 15.5, 12), index=7) == 1
    for i in range(8, 13):
        s.step(frame, i)
    n = s.export(tmp_path / "boxes.txt")
    lines = (tmp_path / "boxes.txt").read_text().splitlines()
    assert n == 6 and len(lines) == 6
    assert lines[0] == format_box((10, 20, 15.5, 12)) == "10,20,15.5,12"
    assert lines[-1] == "20,25,15.5,12"  # 5 frames of (+2, +1)
    assert [tuple(map(float, ln.split(","))) for ln in lines] == s.boxes
    trail = s.trail(1, 12)
    assert len(trail) == 4 and trail[-1] == (20 + 7.75, 25 + 6.0)
    # a reset forgets the run: the next target's export starts with its own initial box
    s.reset()
    s.use(Drift())
    s.add(frame, (1, 2, 3, 4), index=20)
    assert s.boxes == [(1.0, 2.0, 3.0, 4.0)]


def test_session_steps_back_to_stored_results_and_a_correction_redoes_only_its_target():
    frame = np.zeros((60, 80, 3), np.uint8)
    s = TrackSession()
    s.use(Drift())
    a = s.add(frame, (10, 10, 8, 8), index=0)
    b = s.add(frame, (40, 30, 8, 8), index=0)
    for i in range(1, 6):
        s.step(frame, i)
    before_b = s.results_of(b)
    # stepping back shows what was stored, without tracking again
    assert s.step(frame, 2) == {a: s.results_of(a)[2], b: before_b[2]}
    assert s.results_of(b) == before_b
    # a correction of a on frame 2: its later results are dropped and tracked again, b's stay exactly
    s.correct(a, frame, (0, 0, 8, 8), 2)
    assert sorted(s.results_of(a)) == [0, 1, 2] and s.results_of(a)[2].box == (0.0, 0.0, 8.0, 8.0)
    for i in range(3, 8):
        s.step(frame, i)
    assert s.results_of(a)[5].box == (6.0, 3.0, 8.0, 8.0)  # 3 frames of (+2, +1) from the corrected box
    assert {f: r for f, r in s.results_of(b).items() if f <= 5} == before_b
    assert s.results_of(b)[7].box == (54.0, 37.0, 8.0, 8.0)  # b went on from frame 5 only
    # removing b on frame 6 keeps its boxes before it; ids are never reused
    s.remove(b, 6)
    assert sorted(s.results_of(b)) == list(range(6)) and s.tracked_ids == [a]
    assert s.add(frame, (1, 1, 5, 5), index=7) == 3


def test_session_refuses_to_export_nothing(tmp_path):
    from tracker.errors import UserError

    with pytest.raises(UserError, match="nothing to export"):
        TrackSession().export(tmp_path / "b.txt")
    assert not (tmp_path / "b.txt").exists()


def test_model_selector_offers_presets_with_weights_then_opencv_baselines(monkeypatch):
    import types

    import tracker.config.presets
    from tracker.gui import models

    fake = [
        types.SimpleNamespace(name="with_weights", family="siamrpn", backbone="alexnet", weights_available=True),
        types.SimpleNamespace(name="no_weights", family="siamfc", backbone="alexnet", weights_available=False),
    ]
    monkeypatch.setattr(tracker.config.presets, "list_presets", lambda: fake)
    names = [c.name for c in models.model_choices()]
    assert names[0] == "with_weights" and "no_weights" not in names
    assert {"opencv:csrt", "opencv:kcf", "opencv:mil"} <= set(names[1:])


def test_model_selector_starts_with_the_default_model():
    # the window opens with the first entry: the shipped default, as `siamtrack track` uses
    from tracker.config.presets import DEFAULT_PRESET, list_presets
    from tracker.gui import models

    names = [c.name for c in models.model_choices()]
    assert names[0] == DEFAULT_PRESET
    shipped = [p.name for p in list_presets() if p.weights_available]
    assert [n for n in names if n in shipped] == [DEFAULT_PRESET] + [n for n in shipped if n != DEFAULT_PRESET]


def test_model_from_disk_pairs_configs_and_checkpoints(tmp_path):
    from tracker.gui.models import choice_for_file

    d = tmp_path / "siamrpn_alex_dwxcorr"
    d.mkdir()
    (d / "config.yaml").write_text("META_ARC: x\n")
    (d / "model.pth").write_bytes(b"\0")
    # a pysot experiment folder: config.yaml + model.pth, whichever of the two is picked
    assert choice_for_file(d / "config.yaml").weights == str(d / "model.pth")
    assert choice_for_file(d / "model.pth").name == str(d / "config.yaml")
    # a lone checkpoint needs a preset
    lone = tmp_path / "lone.pth"
    lone.write_bytes(b"\0")
    with pytest.raises(ValueError, match="needs a preset"):
        choice_for_file(lone)
    c = choice_for_file(lone, "siamfc_alexnet")
    assert (c.name, c.weights, c.is_opencv) == ("siamfc_alexnet", str(lone), False)


def test_a_remembered_model_matches_its_listed_entry_whatever_its_label():
    from tracker.gui.models import ModelChoice

    assert ModelChoice("siamrpn_alex_dwxcorr", label="siamrpn_alex_dwxcorr  (siamrpn, alexnet)") == ModelChoice(
        "siamrpn_alex_dwxcorr"
    )
    assert ModelChoice("siamrpn_alex_dwxcorr", "a.pth") != ModelChoice("siamrpn_alex_dwxcorr")
