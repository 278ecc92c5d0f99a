"""The frame-loop API: `tracker.track(source, box)` and what every runner (track, batch, bench, validation)
builds on: one result per frame, skipped frames filled in, one fps rule."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from tracker import UserError, build_tracker
from tracker.io.sources import SourceError
from tracker.sequence import FrameResult, TrackRun, fps_from_times
from tracker.trackers.base import NotInitializedError, Tracker, TrackerError, TrackResult


class Drift(Tracker):
    """Moves the box one pixel right per update; the score is the frame's first pixel / 255; lost below 0.5."""

    name = "drift"

    def _init(self, frame, box):
        self.box = box

    def _update(self, frame):
        x, y, w, h = self.box
        self.box = (x + 1.0, y, w, h)
        score = float(frame[0, 0, 0]) / 255.0
        return TrackResult(self.box, score, score < 0.5)


def frames(n, h=48, w=64):
    return [np.full((h, w, 3), 255 - 20 * i, np.uint8) for i in range(n)]


def test_iterable_of_frames_gives_one_result_per_frame_with_index_time_and_the_fps_rule():
    run = Drift().track(frames(8), (10, 10, 20, 20))
    results = list(run)
    assert [r.index for r in results] == list(range(8))
    assert results[0].initial and results[0].box == (10.0, 10.0, 20.0, 20.0) and results[0].score == 1.0
    assert [r.box[0] for r in results] == [10.0 + i for i in range(8)]
    assert all(isinstance(r, FrameResult) and isinstance(r, TrackResult) for r in results)
    assert all(r.frame is not None and r.seconds > 0 for r in results)
    assert [r.lost for r in results] == [False] * 7 + [True]  # frame 7 is 115/255 < 0.5
    assert run.frames == 8 and run.lost == 1 and run.skipped == [] and run.total == 8
    assert len(run.update_times) == 7
    assert run.fps == pytest.approx(1.0 / np.median(run.update_times))
    assert run.last is results[-1]


def test_fps_rule_is_one_over_the_median_update_time():
    assert fps_from_times([0.01, 0.02, 0.5, 0.0, float("nan")]) == pytest.approx(50.0)
    assert np.isnan(fps_from_times([]))
    from tracker.bench.metrics import fps_from_times as bench_rule

    assert bench_rule is fps_from_times


def test_image_folder_with_an_undecodable_frame_repeats_the_previous_box(tmp_path):
    for i, f in enumerate(frames(6)):
        name = tmp_path / f"f_{i + 1}.png"  # unpadded: natural order f_1 .. f_6
        cv2.imwrite(str(name), f)
    (tmp_path / "f_3.png").write_bytes(b"not a png")
    run = Drift().track(tmp_path, (5, 5, 10, 10))
    results = list(run)
    assert [r.index for r in results] == list(range(6))
    skipped = results[2]
    assert skipped.skipped and skipped.frame is None and skipped.seconds == 0.0
    assert skipped.box == results[1].box and skipped.score == results[1].score
    assert [r.box[0] for r in results] == [5, 6, 6, 7, 8, 9]  # the tracker never saw frame 2
    assert run.skipped == [2] and run.source.skipped == [2] and len(run.update_times) == 4


def test_max_frames_counts_every_result_and_stops_before_the_next_update(tmp_path):
    for i, f in enumerate(frames(6)):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), f)
    (tmp_path / "02.png").write_bytes(b"")
    results = list(Drift().track(tmp_path, (5, 5, 10, 10), max_frames=3))
    assert [(r.index, r.skipped) for r in results] == [(0, False), (1, False), (2, True)]
    results = list(Drift().track(tmp_path, (5, 5, 10, 10), start=3, max_frames=2))
    assert [r.index for r in results] == [3, 4] and results[0].initial


def test_video_file_start_and_closing(tmp_path):
    path = tmp_path / "clip.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for f in frames(10):
        out.write(f)
    out.release()
    run = build_tracker("opencv:kcf").track(str(path), (20, 10, 20, 20), start=4)
    assert run.total == 6
    results = list(run)
    assert [r.index for r in results] == list(range(4, 10)) and results[0].initial
    assert not run.source.cap.isOpened()  # the run opened the video, so it closed it
    with Drift().track(path, (20, 10, 20, 20)) as run:
        for _ in run:
            break
    assert not run.source.cap.isOpened()


def test_a_camera_index_opens_a_camera(monkeypatch):
    import tracker.sequence as S

    opened = []

    def fake_open(spec, start=0):
        opened.append((spec, start))
        return S._IterableSource(frames(2))

    monkeypatch.setattr(S, "open_source", fake_open)
    assert len(list(Drift().track(0, (1, 1, 5, 5)))) == 2 and opened == [(0, 0)]


def test_bad_inputs_are_clear_errors():
    t = Drift()
    with pytest.raises(TrackerError, match="not a single frame"):
        t.track(frames(1)[0], (1, 1, 5, 5))
    with pytest.raises(TrackerError, match="cannot track float"):
        t.track(3.5, (1, 1, 5, 5))
    with pytest.raises(SourceError, match="no frame could be read"):
        list(t.track([], (1, 1, 5, 5)))
    with pytest.raises(TrackerError, match="max_frames"):
        t.track(frames(2), (1, 1, 5, 5), max_frames=0)
    with pytest.raises(TrackerError, match="outside"):
        list(t.track(frames(2), (100, 100, 5, 5)))
    with pytest.raises(TrackerError, match="4 numbers"):
        t.track(frames(2), (1, 1, "wide", 5))
    with pytest.raises(TrackerError, match="4 values"):
        t.track(frames(2), (1, 1, 5))
    run = t.track(frames(2), (1, 1, 5, 5))
    list(run)
    with pytest.raises(TrackerError, match="iterated once"):
        list(run)


@pytest.mark.parametrize("model", ["opencv:kcf", "siamfc_alexnet", "drift"])
def test_update_before_init_is_our_error_not_attribute_error(model):
    t = Drift() if model == "drift" else build_tracker(model)
    with pytest.raises(NotInitializedError, match="before init") as info:
        t.update(frames(1)[0])
    assert isinstance(info.value, UserError) and not isinstance(info.value, AttributeError)


def test_track_result_conveniences():
    r = TrackResult((10.4, 20.6, 30.5, 40.0), 0.9, False)
    assert r.xyxy == pytest.approx((10.4, 20.6, 40.9, 60.6)) and r.ok
    ok, box = r.as_opencv()
    assert ok is True and box == (10, 21, 30, 40) and all(isinstance(v, int) for v in box)
    assert TrackResult((1, 2, 3, 4), 0.1, True).as_opencv() == (False, (1, 2, 3, 4))


@pytest.mark.slow
def test_the_runner_gives_exactly_the_boxes_of_a_hand_written_loop(shared_dir):
    """The frame loop every command uses changes nothing about what a tracker computes (parity fixture)."""
    fixture = shared_dir / "parity" / "siamfc_alexnet"
    img_dir = shared_dir / "data" / "sequences" / "car1" / "img"
    init = [float(v) for v in (fixture / "boxes.txt").read_text().split()[0].split(",")]
    n = 15
    paths = sorted(Path(img_dir).iterdir())[:n]
    t = build_tracker("siamfc_alexnet", weights=fixture / "weights.pth")
    t.init(cv2.imread(str(paths[0])), init)
    manual = [tuple(init)] + [t.update(cv2.imread(str(p))).box for p in paths[1:]]
    from_folder = [r.box for r in t.track(img_dir, init, max_frames=n)]
    from_list = [r.box for r in TrackRun(t, (cv2.imread(str(p)) for p in paths), init)]
    assert from_folder == manual and from_list == manual


def test_the_public_api_is_typed_and_ships_its_marker():
    import inspect

    import tracker

    repo = Path(__file__).resolve().parent.parent
    assert (repo / "tracker" / "py.typed").is_file()  # PEP 561 marker, package data in setup.py
    for fn in (
        tracker.build_tracker,
        Tracker.init,
        Tracker.update,
        Tracker.track,
        TrackResult.as_opencv,
        TrackRun.__init__,
        fps_from_times,
    ):
        sig = inspect.signature(fn)
        assert sig.return_annotation is not inspect.Signature.empty, fn
        untyped = [p.name for p in sig.parameters.values() if p.name != "self" and p.annotation is p.empty]
        assert untyped == [], (fn, untyped)
    assert tracker.FrameResult is FrameResult and tracker.TrackRun is TrackRun


def test_results_carry_the_lost_signal_the_lost_flag_is_decided_on(shared_dir):
    from tracker.config.presets import get_preset

    img_dir = shared_dir / "data" / "sequences" / "car1" / "img"
    fixture = shared_dir / "parity" / "siamfc_alexnet"
    init = [float(v) for v in (fixture / "boxes.txt").read_text().split()[0].split(",")]
    t = build_tracker("siamfc_alexnet", weights=fixture / "weights.pth")
    threshold = get_preset("siamfc_alexnet").track.lost_threshold
    results = list(t.track(img_dir, init, max_frames=6))
    assert results[0].lost_signal == 1.0  # relative to the first frame: 1 at the start
    for r in results[1:]:
        assert isinstance(r.lost_signal, float) and r.lost == (r.lost_signal < threshold)
    assert TrackResult((1, 2, 3, 4), 0.5, False, 0.9) == TrackResult((1, 2, 3, 4), 0.5, False)  # not in equality
    kcf = list(build_tracker("opencv:kcf").track(img_dir, init, max_frames=3))
    assert [r.lost_signal for r in kcf] == [None, None, None]
