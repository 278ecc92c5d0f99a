"""The desktop application, driven like a user would (offscreen Qt, pytest-qt).

A synthetic clip with a known answer: a textured 40x40 patch moves (+4, +2) px per frame over a textured
background. The user opens the clip, drags a box around the patch with the mouse, presses Space; the
tracker (OpenCV CSRT: deterministic, no weights) must follow the patch, and what the window exports and
records must match what it tracked.

Every test waits on conditions (qtbot.waitUntil, signals, events), never on how long something takes: the
timeouts below are only how long to wait before calling a hang a failure, generous so that a machine busy
with other work (a training run on both cores) passes as an idle one does.
"""

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PyQt6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PyQt6.QtGui import QDropEvent

from tracker.gui.models import ModelChoice
from tracker.gui.window import MainWindow
from tracker.trackers.base import Tracker, TrackResult

REPO = Path(__file__).resolve().parent.parent
WAIT = 180_000  # ms: the longest any condition is waited for before the test fails
WAIT_S = WAIT / 1000
N_FRAMES = 30
PATCH = 40
START = (60.0, 50.0)
VELOCITY = (4.0, 2.0)
SIZE = (320, 240)


def truth(t):
    return START[0] + VELOCITY[0] * t, START[1] + VELOCITY[1] * t, float(PATCH), float(PATCH)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """MJPG .avi: smooth random background, high-contrast random patch at truth(t)."""
    rng = np.random.default_rng(7)
    w, h = SIZE
    bg = cv2.resize(rng.integers(40, 200, (h // 8, w // 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    patch = cv2.resize(
        rng.integers(0, 256, (PATCH // 4, PATCH // 4, 3), dtype=np.uint8),
        (PATCH, PATCH),
        interpolation=cv2.INTER_NEAREST,
    )
    path = tmp_path_factory.mktemp("clip") / "moving_patch.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (w, h))
    assert writer.isOpened()
    for t in range(N_FRAMES):
        frame = bg.copy()
        x, y, _, _ = (int(v) for v in truth(t))
        frame[y : y + PATCH, x : x + PATCH] = patch
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def make_window(qtbot, tmp_path):
    windows = []

    def make(tracker_factory=None, settings_path=None):
        settings = QSettings(str(settings_path or tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        win = MainWindow(settings=settings, tracker_factory=tracker_factory)
        qtbot.addWidget(win)
        win.resize(900, 650)
        win.show()
        qtbot.waitExposed(win)
        win.pipeline.playback.pace = False  # run the file as fast as the tracker goes
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.close()


def open_clip(qtbot, win, path):
    assert win.open_path(str(path))
    qtbot.waitUntil(lambda: win.shown is not None, timeout=WAIT)
    assert win.shown.index == 0


def drag_box(qtbot, win, box):
    """Press at the box's top-left, move, release at its bottom-right (widget coordinates)."""
    x, y, w, h = box
    a = win.video.image_to_widget(x, y).toPoint()
    b = win.video.image_to_widget(x + w, y + h).toPoint()
    mid = QPoint((a.x() + b.x()) // 2, (a.y() + b.y()) // 2)
    qtbot.mousePress(win.video, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(win.video, pos=mid)
    qtbot.mouseMove(win.video, pos=b)
    return b


def centre(box):
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def test_mouse_selected_box_follows_the_moving_patch_and_is_exported_and_recorded(qtbot, make_window, clip, tmp_path):
    win = make_window()
    win.select_model(ModelChoice("opencv:csrt"))
    open_clip(qtbot, win, clip)
    win.start_recording(tmp_path / "rec.avi")
    qtbot.waitUntil(lambda: win.recording_path is not None, timeout=WAIT)

    end = drag_box(qtbot, win, truth(0))
    assert win.video.selecting
    qtbot.mouseRelease(win.video, Qt.MouseButton.LeftButton, pos=end)
    qtbot.waitUntil(lambda: win.tracking and win.latest.tracking, timeout=WAIT)
    # widget -> image mapping: the drawn box is the patch, to within one screen pixel
    scale = win.video.image_to_widget(1, 0).x() - win.video.image_to_widget(0, 0).x()
    assert np.allclose(win.last_box, truth(0), atol=1.0 / scale + 1e-6)

    qtbot.keyClick(win.video, Qt.Key.Key_Space)  # play
    qtbot.waitUntil(lambda: win.latest.index == N_FRAMES - 1 and win.pipeline.at_end, timeout=WAIT)
    assert win.errors == []

    boxes = win.pipeline.session.boxes
    assert len(boxes) == N_FRAMES  # initial box + one per following frame
    for t, box in enumerate(boxes):
        cx, cy = centre(box)
        tx, ty = centre(truth(t))
        assert abs(cx - tx) <= 4 and abs(cy - ty) <= 4, f"frame {t}: box {box} vs truth {truth(t)}"
    assert centre(boxes[-1])[0] - centre(boxes[0])[0] > 100  # it really moved with the patch

    out = tmp_path / "boxes.txt"
    assert win.export_boxes(out) == N_FRAMES
    lines = out.read_text().splitlines()
    assert len(lines) == N_FRAMES
    assert np.allclose([tuple(map(float, ln.split(","))) for ln in lines], boxes, atol=1e-3)

    win.stop_recording()
    qtbot.waitUntil(lambda: win.recording_path is None, timeout=WAIT)
    cap = cv2.VideoCapture(str(tmp_path / "rec.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == N_FRAMES  # the init frame (with its box) + every tracked one
    ok, last = None, None
    while True:
        ok, f = cap.read()
        if not ok:
            break
        last = f
    cap.release()
    # the overlay is in the recording: the tracker's green box edge at the last position
    x, y, w, h = (int(round(v)) for v in boxes[-1])
    edge = last[y + h // 4 : y + 3 * h // 4, max(0, x - 1) : x + 2]
    assert (edge[..., 1] > 180).any() and (edge[..., 1].astype(int) - edge[..., 2] > 100).any()


def test_escape_cancels_a_selection_in_progress(qtbot, make_window, clip):
    win = make_window()
    open_clip(qtbot, win, clip)
    drag_box(qtbot, win, truth(0))
    assert win.video.selecting and win._frozen
    qtbot.keyClick(win.video, Qt.Key.Key_Escape)
    assert not win.video.selecting and not win._frozen
    qtbot.mouseRelease(win.video, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    # a selection would have set last_box at once (the release is handled on this thread, synchronously)
    assert not win.tracking and win.last_box is None


class FailingTracker(Tracker):
    """Tracks (standing still) for `ok_frames` frames, then the 'model' fails."""

    def __init__(self, ok_frames):
        self.ok_frames = ok_frames

    def _init(self, frame, box):
        self.box, self.n = tuple(box), 0

    def _update(self, frame):
        self.n += 1
        if self.n > self.ok_frames:
            raise RuntimeError("CUDA out of memory (simulated)")
        return TrackResult(self.box, 0.5, False)


def test_model_failure_is_shown_and_the_recording_so_far_stays_valid(qtbot, make_window, clip, tmp_path):
    win = make_window(tracker_factory=lambda choice, device, xcorr: FailingTracker(ok_frames=5))
    open_clip(qtbot, win, clip)
    rec = tmp_path / "rec.mp4"
    win.start_recording(rec)
    qtbot.waitUntil(lambda: win.recording_path is not None, timeout=WAIT)
    win.init_tracking(truth(0))
    qtbot.waitUntil(lambda: win.tracking, timeout=WAIT)
    win.play()
    qtbot.waitUntil(lambda: bool(win.errors), timeout=WAIT)
    assert "failed on frame 6" in win.errors[0] and "out of memory" in win.errors[0]
    assert win.banner.isVisible() and "out of memory" in win.banner_label.text()
    qtbot.waitUntil(lambda: not win.tracking, timeout=WAIT)
    # the video goes on without the tracker; the window is alive
    qtbot.waitUntil(lambda: win.pipeline.at_end, timeout=WAIT)
    # the window shows frames through a latest-frame handover polled by the UI: wait for the last one
    qtbot.waitUntil(lambda: win.latest.index == N_FRAMES - 1, timeout=WAIT)
    assert not win.latest.tracking
    win.close()  # closing finalises the recording
    cap = cv2.VideoCapture(str(rec))
    assert cap.isOpened()
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == N_FRAMES
    assert not list(tmp_path.glob(".*partial*"))


class VanishingCamera:
    """A camera that delivers frames until `unplug` is set, then disappears (its stream just stops)."""

    is_camera = True
    spec = "0"
    fps = 30.0
    size = (160, 120)
    frame_count = None

    def __init__(self, n=100000):
        self.n = n
        self.skipped = []
        self.unplug = threading.Event()

    def __iter__(self):
        for i in range(self.n):
            if self.unplug.is_set():
                return
            time.sleep(0.01)
            yield i, np.full((120, 160, 3), 40 + i % 200, np.uint8)

    def close(self):
        pass


def test_camera_that_disappears_shows_a_message_and_finalises_the_recording(qtbot, make_window, tmp_path):
    win = make_window()
    camera = VanishingCamera()
    win.set_source(camera, "camera 0", paused=False)
    qtbot.waitUntil(lambda: win.latest is not None, timeout=WAIT)
    win.start_recording(tmp_path / "cam.avi")
    qtbot.waitUntil(lambda: win.recording_path is not None, timeout=WAIT)
    first = win.latest.processed
    qtbot.waitUntil(lambda: win.latest.processed >= first + 5, timeout=WAIT)
    camera.unplug.set()
    qtbot.waitUntil(lambda: bool(win.errors), timeout=WAIT)
    assert "camera 0 stopped delivering frames" in win.errors[0] and win.banner.isVisible()
    qtbot.waitUntil(lambda: win.recording_path is None, timeout=WAIT)
    recorded = win.latest.processed - first
    cap = cv2.VideoCapture(str(tmp_path / "cam.avi"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert recorded - 1 <= n <= win.latest.processed  # every frame seen while recording is in the file


class SlowTracker(Tracker):
    def _init(self, frame, box):
        self.box = tuple(box)

    def _update(self, frame):
        time.sleep(0.03)
        return TrackResult(self.box, 0.8, False)


class LiveCamera(VanishingCamera):
    def __iter__(self):
        for i in range(self.n):
            time.sleep(1 / 200)  # 200 fps camera, tracker does ~30
            yield i, np.full((120, 160, 3), 90, np.uint8)


def test_a_tracker_slower_than_the_camera_drops_frames_and_the_window_says_so(qtbot, make_window):
    win = make_window(tracker_factory=lambda choice, device, xcorr: SlowTracker())
    win.set_source(LiveCamera(100000), "camera 0", paused=False)
    qtbot.waitUntil(lambda: win.latest is not None, timeout=WAIT)
    win.init_tracking((40, 30, 50, 40))
    qtbot.waitUntil(lambda: win.latest.tracking and win.latest.dropped > 50, timeout=WAIT)
    p = win.latest
    assert p.index + 1 > p.processed + 40  # frames skipped between the ones tracked: no queue
    win._update_stats(p)
    assert win.dropped_label.text().startswith(f"dropped {p.dropped}")
    assert p.track_fps < 40  # the slow tracker's ~30 fps is what is reported


def test_broken_file_is_reported_in_the_window(qtbot, make_window, tmp_path):
    win = make_window()
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"not a video at all" * 100)
    assert not win.open_path(str(bad))
    assert str(bad) in win.errors[-1] and win.banner.isVisible()
    assert not win.open_path(str(tmp_path / "missing.mp4"))
    assert "missing.mp4" in win.errors[-1]


def test_settings_recent_files_and_drop_persist(qtbot, make_window, clip, tmp_path):
    ini = tmp_path / "persist.ini"
    win = make_window(settings_path=ini)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(clip))])
    drop = QDropEvent(
        QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    win.dropEvent(drop)
    qtbot.waitUntil(lambda: win.shown is not None, timeout=WAIT)
    win.select_model(ModelChoice("opencv:kcf"))
    win.trail_check.setChecked(True)
    win.close()

    again = make_window(settings_path=ini)
    assert again.current_model() == ModelChoice("opencv:kcf")
    assert again.trail_check.isChecked() and again.pipeline.show_trail
    assert again.recent_files()[0] == str(clip.resolve())
    assert [a.text() for a in again.recent_menu.actions()][0] == str(clip.resolve())


def test_help_lists_the_keyboard_shortcuts(qtbot, make_window):
    win = make_window()
    keys = dict(win.shortcut_table())
    for key in ("Space", "S", "R", "Right", "Left", ".", ",", "N", "Del", "Ctrl+Shift+E", "Esc"):
        assert key in keys, f"{key} missing from the help"
    assert keys["Del"] == "Delete selected target" and keys["Ctrl+Shift+E"] == "Export annotations"
    # every key of every action is listed, from the actions themselves
    bound = {k.toString() for a in win.actions() for k in a.shortcuts()}
    assert bound <= set(keys)
    win.show_help()
    table = win._help.table
    assert table.rowCount() == len(keys)
    assert "Draw target box" in [table.item(r, 1).text() for r in range(table.rowCount())]


def run_cli(*args, timeout=WAIT_S * 3):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", "gui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )


@pytest.mark.slow
def test_smoke_mode_runs_the_window_and_saves_a_screenshot(clip, tmp_path):
    shot, boxes = tmp_path / "shot.png", tmp_path / "boxes.txt"
    x, y, w, h = truth(0)
    r = run_cli(
        "--source",
        str(clip),
        "--init",
        f"{x:g},{y:g},{w:g},{h:g}",
        "--frames",
        "12",
        "--model",
        "opencv:csrt",
        "--screenshot",
        str(shot),
        "--export",
        str(boxes),
        "--settings",
        str(tmp_path / "s.ini"),
        "--threads",
        "1",
    )
    assert r.returncode == 0, r.stderr
    assert "frame 12: tracked" in r.stdout
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[1] >= 900 and img.shape[0] >= 600  # the whole window
    green = (img[..., 1] > 200) & (img[..., 0] < 80) & (img[..., 2] < 80)
    assert green.sum() > 50  # the box overlay (and the TRACKING badge) are on screen
    lines = boxes.read_text().splitlines()
    assert len(lines) == 12 and lines[0] == f"{x:g},{y:g},{w:g},{h:g}"
    cx, cy = centre(tuple(map(float, lines[-1].split(","))))
    tx, ty = centre(truth(11))
    assert abs(cx - tx) <= 4 and abs(cy - ty) <= 4


@pytest.mark.slow
def test_smoke_mode_tracks_several_init_boxes_as_several_targets(clip, tmp_path):
    """`--init` repeated: each box a target of its own from the first frame; `--output` in the MOT layout."""
    boxes = tmp_path / "gt.txt"
    x, y, w, h = truth(0)
    still = (20.0, 20.0, 40.0, 40.0)  # a patch of the static background
    r = run_cli(
        "--source",
        str(clip),
        "--init",
        f"{x:g},{y:g},{w:g},{h:g}",
        "--init",
        "20,20,40,40",
        "--frames",
        "8",
        "--model",
        "opencv:csrt",
        "--screenshot",
        str(tmp_path / "shot.png"),
        "--output",
        str(boxes),
        "--settings",
        str(tmp_path / "s.ini"),
        "--threads",
        "1",
    )
    assert r.returncode == 0, r.stderr
    assert re.search(r"frame 8: #1 tracked [\d.]+,[\d.]+,[\d.]+,[\d.]+ #2 tracked [\d.]+,", r.stdout), r.stdout
    rows = [line.split(",") for line in boxes.read_text().splitlines()]
    by_id: dict[int, list[tuple[float, ...]]] = {}
    for row in rows:
        by_id.setdefault(int(row[1]), []).append(tuple(float(v) for v in row[2:6]))
    assert sorted(by_id) == [1, 2] and all(len(v) == 8 for v in by_id.values())
    assert by_id[1][0] == (x, y, w, h) and by_id[2][0] == still
    cx, cy = centre(by_id[1][-1])
    tx, ty = centre(truth(7))
    assert abs(cx - tx) <= 4 and abs(cy - ty) <= 4  # the moving patch followed
    sx, sy = centre(by_id[2][-1])
    assert abs(sx - 40) <= 4 and abs(sy - 40) <= 4  # the still patch stays


def test_smoke_mode_rejects_bad_input_with_one_line(tmp_path, clip):
    r = run_cli("--source", str(tmp_path / "nope.avi"), "--frames", "3", "--screenshot", str(tmp_path / "a.png"))
    assert r.returncode == 2 and "nope.avi" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("--source", str(clip), "--init", "1,2,3", "--frames", "3", "--screenshot", str(tmp_path / "a.png"))
    assert r.returncode == 2 and "X,Y,W,H" in r.stderr


def test_threads_are_set_before_the_window_builds_a_tracker(monkeypatch, clip, tmp_path):
    """--threads N, else the cores free at start-up (tracker.runtime), is what torch gets, before the app
    (and any tracker) starts."""
    import argparse

    import torch

    from tracker import runtime
    from tracker.cli import gui as cli
    from tracker.errors import UserError
    from tracker.gui import app

    events = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: events.append(("threads", n)))
    monkeypatch.setattr(runtime, "free_cores", lambda: 2)
    monkeypatch.setattr(app, "run_headless", lambda args, init: events.append(("app", init)) or 0)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    base = ["--source", str(clip), "--frames", "2", "--screenshot", str(tmp_path / "a.png"), "--init", "1,2,3,4"]
    assert cli.run(parser.parse_args(base)) == 0
    assert cli.run(parser.parse_args(base + ["--threads", "3"])) == 0
    assert events == [("threads", 2), ("app", [(1, 2, 3, 4)]), ("threads", 3), ("app", [(1, 2, 3, 4)])]
    with pytest.raises(UserError, match="--threads"):
        cli.run(parser.parse_args(base + ["--threads", "0"]))


class LosingTracker(Tracker):
    """Reports the target lost from the third frame on."""

    def _init(self, frame, box):
        self.box, self.n = tuple(box), 0

    def _update(self, frame):
        self.n += 1
        return TrackResult(self.box, 0.9 if self.n < 3 else 0.05, self.n >= 3)


def test_a_lost_target_looks_different_from_a_tracked_one(qtbot, make_window, clip):
    win = make_window(tracker_factory=lambda choice, device, xcorr: LosingTracker())
    open_clip(qtbot, win, clip)
    win.init_tracking(truth(0))
    qtbot.waitUntil(lambda: win.latest.tracking, timeout=WAIT)
    win.step_forward()
    qtbot.waitUntil(lambda: win.shown.index == 1, timeout=WAIT)
    assert not win.video.lost and win.state_label.text() == "TRACKING 0.90"
    tracked = win.video.grab().toImage()
    win.step_forward()
    win.step_forward()
    qtbot.waitUntil(lambda: win.shown.index == 3, timeout=WAIT)
    assert win.video.lost and win.state_label.text() == "LOST 0.05"
    lost = win.video.grab().toImage()
    # the frame border turns red when the target is lost
    scale, ox, oy = win.video._layout()
    edge = QPoint(int(ox + 3), int(oy + 40 * scale))
    assert lost.pixelColor(edge).red() > 200 and lost.pixelColor(edge).green() < 80
    assert tracked.pixelColor(edge) != lost.pixelColor(edge)


def test_a_correction_while_a_file_plays_tracks_on_from_the_frame_the_box_was_drawn_on(qtbot, make_window, clip):
    win = make_window()
    win.select_model(ModelChoice("opencv:kcf"))
    open_clip(qtbot, win, clip)
    win.pipeline.playback.pace = True  # play at the clip's 25 fps, like a user sees it
    win.init_tracking((5, 5, 30, 30))  # first a wrong box: tracking background
    qtbot.waitUntil(lambda: win.tracking, timeout=WAIT)
    win.play()
    qtbot.waitUntil(lambda: win.shown.index >= 6, timeout=WAIT)
    qtbot.keyClick(win.video, Qt.Key.Key_N)  # select the (only) target: the next box corrects it
    assert win.selected == 1
    # the user draws a new box on the frame on screen while the file plays
    k0 = win.shown.index
    qtbot.mousePress(win.video, Qt.MouseButton.LeftButton, pos=win.video.image_to_widget(*truth(k0)[:2]).toPoint())
    k = win.shown.index  # the display holds this frame during the drag
    assert k - k0 <= 1 and win.pipeline.paused
    end = win.video.image_to_widget(truth(k)[0] + PATCH, truth(k)[1] + PATCH).toPoint()
    qtbot.mouseMove(win.video, pos=end)
    qtbot.wait(100)  # the file is paused: the frame does not change
    assert win.shown.index == k and win.pipeline.paused
    qtbot.mouseRelease(win.video, Qt.MouseButton.LeftButton, pos=end)
    qtbot.waitUntil(lambda: win.pipeline.at_end, timeout=WAIT)  # playback resumed by itself
    assert win.pipeline.session.ids == [1]  # a correction, not a second target
    boxes = win.pipeline.session.boxes
    assert len(boxes) == N_FRAMES  # the wrong boxes before k stay; from k the corrected run, one per frame
    assert boxes[k - 1] == (5.0, 5.0, 30.0, 30.0)
    for i, box in enumerate(boxes[k:]):
        cx, cy = centre(box)
        tx, ty = centre(truth(k + i))
        assert abs(cx - tx) <= 4 and abs(cy - ty) <= 4, f"frame {k + i}: {box} vs {truth(k + i)}"


class SlowToLoad(Tracker):
    """A model that takes a while to build and to track (for the status-bar test)."""

    def __init__(self):
        time.sleep(0.6)

    def _init(self, frame, box):
        self.box = tuple(box)

    def _update(self, frame):
        time.sleep(0.15)
        return TrackResult(self.box, 0.7, False)


class GatedModel(Tracker):
    """A model whose building and first update each wait for the test's go-ahead, however long that takes:
    if the window built or ran it on the UI thread, the UI would be stuck until then."""

    def __init__(self, gates):
        self.gates = gates
        gates["loading"].set()
        assert gates["loaded"].wait(WAIT_S), "the test never let the model finish loading"

    def _init(self, frame, box):
        self.box = tuple(box)

    def _update(self, frame):
        self.gates["updating"].set()
        assert self.gates["updated"].wait(WAIT_S), "the test never let the update finish"
        return TrackResult(self.box, 0.7, False)


def test_the_window_stays_responsive_while_a_model_loads_and_tracks_slowly(qtbot, make_window, clip):
    from PyQt6.QtCore import QTimer

    gates = {k: threading.Event() for k in ("loading", "loaded", "updating", "updated")}
    # the window's start-up model is built normally; the one chosen below is the gated one
    win = make_window(
        tracker_factory=lambda choice, device, xcorr: (
            GatedModel(gates) if choice.name == "slow_preset" else FixedBox((0, 0, 10, 10))
        )
    )
    open_clip(qtbot, win, clip)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(len(ticks)))
    timer.start(10)

    def ui_keeps_running():
        n = len(ticks)
        qtbot.waitUntil(lambda: len(ticks) >= n + 5, timeout=WAIT)  # the UI thread runs its timers

    win.select_model(ModelChoice("slow_preset"))  # not an OpenCV name: built at once, off the UI thread
    qtbot.waitUntil(gates["loading"].is_set, timeout=WAIT)
    ui_keeps_running()  # ... while the model is still loading
    gates["loaded"].set()
    qtbot.waitUntil(gates["updating"].is_set, timeout=WAIT)  # the warm-up's update
    ui_keeps_running()  # ... and while it is running
    gates["updated"].set()
    win.init_tracking(truth(0))
    win.play()
    qtbot.waitUntil(lambda: win.latest is not None and win.latest.tracking and win.latest.index >= 4, timeout=WAIT)
    timer.stop()


@pytest.mark.slow
def test_terminating_the_app_keeps_the_recording_and_the_boxes(clip, tmp_path):
    """`siamtrack gui --record --export` killed with SIGTERM (or Ctrl-C) mid-run: both files are complete."""
    import signal

    rec, boxes = tmp_path / "live.avi", tmp_path / "live.txt"
    x, y, w, h = truth(0)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracker.cli",
            "gui",
            "--source",
            str(clip),
            "--model",
            "opencv:kcf",
            "--init",
            f"{x:g},{y:g},{w:g},{h:g}",
            "--record",
            str(rec),
            "--export",
            str(boxes),
            "--settings",
            str(tmp_path / "s.ini"),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    partial = tmp_path / f".live.{proc.pid}.partial.avi"  # the recording process's own temporary name
    deadline = time.monotonic() + WAIT_S * 2  # start-up (torch, Qt) on a busy machine: give up only on a hang
    while not (partial.exists() and partial.stat().st_size > 20000) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert partial.exists(), "the recording never started"
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err
    assert not partial.exists() and rec.exists()
    cap = cv2.VideoCapture(str(rec))
    n = 0
    while cap.read()[0]:
        n += 1
    lines = boxes.read_text().splitlines()
    assert lines[0] == f"{x:g},{y:g},{w:g},{h:g}"
    assert n >= 2 and len(lines) == n  # one recorded frame per box: the init frame and each tracked one


def test_arrow_keys_step_forward_and_back_through_the_clip(qtbot, make_window, clip):
    win = make_window()
    open_clip(qtbot, win, clip)
    for _ in range(3):
        qtbot.keyClick(win.video, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: win.shown.index == 3, timeout=WAIT)
    assert win.pipeline.paused
    qtbot.keyClick(win.video, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: win.shown.index == 2, timeout=WAIT)
    # it is really frame 2 of the file
    cap = cv2.VideoCapture(str(clip))
    for _ in range(3):
        ok, frame2 = cap.read()
    cap.release()
    assert ok and np.array_equal(win.shown.frame, frame2)
    qtbot.keyClick(win.video, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: win.pipeline.at_end, timeout=WAIT)
    # the end-of-file flag can be raised before the last frame's signal reaches the window: wait for it
    qtbot.waitUntil(lambda: win.latest.index == N_FRAMES - 1, timeout=WAIT)


def test_status_bar_names_the_model_briefly_and_leaves_room_for_messages(qtbot, make_window, clip):
    # the long description goes to the tooltip; a message on the left of the status bar stays readable
    win = make_window(tracker_factory=lambda choice, device, xcorr: SlowToLoad())
    open_clip(qtbot, win, clip)
    win.select_model(ModelChoice("siamrpn_effnet_lite0_fast"))
    assert win.model_label.text() == "siamrpn_effnet_lite0_fast | cpu | torch"
    assert win.model_label.toolTip().startswith("model: siamrpn_effnet_lite0_fast")
    win.statusBar().showMessage("tracking from frame 0: box 294,58,74,101")
    permanent = sum(
        w.sizeHint().width()
        for w in (win.state_label, win.frame_label, win.fps_label, win.dropped_label, win.model_label)
    )
    assert win.width() - permanent > 250  # pixels left for the message at the window's 900 px


def test_status_bar_names_the_engine_that_runs_the_model_once_it_is_built(qtbot, make_window, clip):
    ready = []
    win = make_window()  # the real models; the window selects the default model as it starts
    win.pipeline.modelReady.connect(lambda name, engine: ready.append((name, engine)))
    open_clip(qtbot, win, clip)
    win.select_model(ModelChoice("opencv:kcf"))
    qtbot.waitUntil(lambda: ("opencv:kcf", "") in ready, timeout=WAIT)
    assert win.model_label.text() == "opencv:kcf | cpu"
    ready.clear()
    win.select_model(ModelChoice("siamrpn_effnet_lite0_fast"))
    qtbot.waitUntil(lambda: len(ready) == 1, timeout=WAIT)
    assert ready[0][0].startswith("siamrpn_effnet_lite0_fast") and ready[0][1] == "onnxruntime int8", ready
    # the default runs its shipped int8 search graph on ONNX Runtime, not the torch correlation in the combo box
    qtbot.waitUntil(lambda: win.model_label.text() == "siamrpn_effnet_lite0_fast | onnxruntime int8")
    assert "engine: onnxruntime int8" in win.model_label.toolTip()
    # and the toolbar's xcorr chooser does not claim the torch correlation runs
    assert not win.xcorr_combo.isEnabled() and "onnxruntime int8 runs this model" in win.xcorr_combo.toolTip()


class EngineStub(Tracker):
    """A model that says which engine runs it (as the Siamese trackers do), standing still."""

    def __init__(self, engine):
        self.engine_name = engine

    def _init(self, frame, box):
        self.box = tuple(box)

    def _update(self, frame):
        return TrackResult(self.box, 0.9, False)


def test_the_xcorr_chooser_is_enabled_only_where_the_torch_engine_runs_the_model(qtbot, make_window, clip):
    engines = {"siamrpn_effnet_lite0_fast": "onnxruntime", "siamrpn_alex_dwxcorr": "torch", "opencv:kcf": ""}
    ready = []
    win = make_window(tracker_factory=lambda choice, device, xcorr: EngineStub(engines[choice.name]))
    win.pipeline.modelReady.connect(lambda name, engine: ready.append(engine))
    open_clip(qtbot, win, clip)
    # the window starts on the default model: another one first, so that each choice below is a change
    for name in ("siamrpn_alex_dwxcorr", "siamrpn_effnet_lite0_fast", "opencv:kcf", "siamrpn_alex_dwxcorr"):
        win.select_model(ModelChoice(name))
        qtbot.waitUntil(lambda expected=engines[name]: ready[-1:] == [expected], timeout=WAIT)
        enabled = engines[name] == "torch"
        assert win.xcorr_combo.isEnabled() == enabled and win.xcorr_label.isEnabled() == enabled, name
        onnx = engines[name] == "onnxruntime"
        assert ("onnxruntime runs this model" in win.xcorr_combo.toolTip()) == onnx, (name, win.xcorr_combo.toolTip())


class FirstUseRecorder(Tracker):
    """Records every init and update of the model it was built for, to see what happens before the user
    draws a box."""

    def __init__(self, log, model):
        self.log, self.model = log, model

    def _init(self, frame, box):
        self.box = tuple(box)
        self.log.append((self.model, "init", self.box))

    def _update(self, frame):
        self.log.append((self.model, "update", self.box))
        return TrackResult(self.box, 0.9, False)


def test_choosing_a_model_warms_it_up_before_the_user_draws_a_box(qtbot, make_window, clip):
    # a Siamese model builds its optimised graphs on its first update (about 3 s on a CPU): the window does
    # that when the model is chosen, so the box the user draws is followed from the next frame on
    log = []
    win = make_window(tracker_factory=lambda choice, device, xcorr: FirstUseRecorder(log, choice.name))
    open_clip(qtbot, win, clip)
    with qtbot.waitSignal(win.pipeline.modelReady, timeout=WAIT):
        win.select_model(ModelChoice("some_preset"))

    def mine():
        return [(kind, box) for model, kind, box in log if model == "some_preset"]

    assert [kind for kind, _ in mine()] == ["init", "update"]  # the warm-up, on a synthetic frame
    box = truth(0)
    win.init_tracking(box)
    qtbot.waitUntil(lambda: len(mine()) >= 3, timeout=WAIT)
    assert mine()[2] == ("init", tuple(float(v) for v in box))  # the user's box starts afresh


class FixedBox(Tracker):
    """Reports the same box on every frame (tracked), so the overlay's geometry is known."""

    def __init__(self, box):
        self.fixed = tuple(box)

    def _init(self, frame, box):
        pass

    def _update(self, frame):
        return TrackResult(self.fixed, 0.87, False)


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    """A 128x96 clip (the size that showed the problem): grey noise, 6 frames."""
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("small") / "small.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (128, 96))
    for _ in range(6):
        writer.write(cv2.cvtColor(rng.integers(60, 140, (96, 128), dtype=np.uint8), cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def _green_run(img, y, x0, x1):
    """Longest run of overlay-green pixels on row y between x0 and x1 (widget pixels)."""
    best = run = 0
    for x in range(x0, x1):
        c = img.pixelColor(x, y)
        run = run + 1 if (c.green() > 180 and c.red() < 90 and c.blue() < 90) else 0
        best = max(best, run)
    return best


def test_small_video_overlay_is_drawn_at_screen_resolution_with_the_label_inside(
    qtbot, make_window, small_clip, tmp_path
):
    from PyQt6.QtCore import QRectF

    box = (100.0, 0.0, 28.0, 30.0)  # touches the top and right edges of the 128x96 frame
    win = make_window(tracker_factory=lambda choice, device, xcorr: FixedBox(box))
    open_clip(qtbot, win, small_clip)
    rec = tmp_path / "small_rec.avi"
    win.start_recording(rec)
    qtbot.waitUntil(lambda: win.recording_path is not None, timeout=WAIT)
    win.init_tracking(box)
    qtbot.waitUntil(lambda: win.tracking, timeout=WAIT)
    win.step_forward()
    qtbot.waitUntil(lambda: win.shown.index == 1 and win.shown.result is not None, timeout=WAIT)
    scale, ox, oy = win.video._layout()
    assert scale > 4  # the frame is shown several times larger
    shot = win.video.grab().toImage()
    shot.save(str(tmp_path / "small_overlay.png"))
    # the box's left edge is a 2-px line on screen, not the frame's 2-px line scaled up (~2 * scale px)
    y = int(oy + 15 * scale)
    left = int(ox + 100 * scale)
    assert 1 <= _green_run(shot, y, left - 10, left + 10) <= 4
    # the score label is whole and inside the picture, though the box touches its top-right corner
    picture = QRectF(ox, oy, 128 * scale, 96 * scale)
    assert win.video.label_rect is not None and picture.contains(win.video.label_rect)
    win.stop_recording()
    qtbot.waitUntil(lambda: win.recording_path is None, timeout=WAIT)
    cap = cv2.VideoCapture(str(rec))
    ok, first = cap.read()
    cap.release()
    assert ok and first.shape[:2] == (96, 128)  # the recording stays at the source size


def test_closing_while_a_model_loads_waits_for_it_and_drops_what_was_queued(qtbot, make_window, clip):
    # a user closes the window while a model is still loading (an export can take many seconds): the window
    # goes, the load finishes, the model chosen after it is not loaded any more, and the pipeline thread has
    # ended before its source and recording are closed (Qt aborts the process if a running thread is destroyed)
    entered, release, built = threading.Event(), threading.Event(), []

    def factory(choice, device, xcorr):
        built.append(choice.name)
        if choice.name == "siamfc_alexnet":  # the slow one; the window's start-up model loads at once
            entered.set()
            release.wait(WAIT_S)
        return FirstUseRecorder([], choice.name)

    win = make_window(tracker_factory=factory)
    open_clip(qtbot, win, clip)
    win.select_model(ModelChoice("siamfc_alexnet"))
    assert entered.wait(WAIT_S)
    win.select_model(ModelChoice("siamrpn_alex_dwxcorr"))  # queued behind the load

    def release_once_closing():
        win.pipeline._quit.wait(WAIT_S)
        release.set()

    helper = threading.Thread(target=release_once_closing)
    helper.start()
    win.close()
    helper.join(WAIT_S)
    assert not win.isVisible()
    assert win.pipeline.isFinished() and not win.pipeline.isRunning()
    assert built[-1] == "siamfc_alexnet" and "siamrpn_alex_dwxcorr" not in built
