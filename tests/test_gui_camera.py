"""The camera resolution asked for through the source (CaptureSource.request_size) rather than through
its cv2.VideoCapture."""

import cv2
import numpy as np
import pytest

from tracker.io.sources import open_source


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    for i in range(3):
        w.write(np.full((48, 64, 3), 40 * i, np.uint8))
    w.release()
    return path


class ModeCapture:
    """A cv2.VideoCapture stand-in for a camera with two modes: a request gets the nearest one."""

    MODES = [(640, 480), (1280, 720)]

    def __init__(self):
        self.mode = self.MODES[0]
        self.asked = {}

    def set(self, prop, value):
        self.asked[prop] = value
        if cv2.CAP_PROP_FRAME_WIDTH in self.asked and cv2.CAP_PROP_FRAME_HEIGHT in self.asked:
            want = (self.asked[cv2.CAP_PROP_FRAME_WIDTH], self.asked[cv2.CAP_PROP_FRAME_HEIGHT])
            self.mode = min(self.MODES, key=lambda m: abs(m[0] - want[0]) + abs(m[1] - want[1]))
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FRAME_WIDTH: self.mode[0], cv2.CAP_PROP_FRAME_HEIGHT: self.mode[1]}.get(prop, 0)

    def release(self):
        pass


def test_request_size_reports_the_mode_the_device_chose(video):
    src = open_source(str(video))
    src.cap.release()
    src.cap = ModeCapture()
    assert src.request_size(1920, 1080) == (1280, 720) and src.size == (1280, 720)
    assert src.request_size(600, 400) == (640, 480) and src.size == (640, 480)


def test_request_size_on_a_video_file_keeps_its_size(video):
    with open_source(str(video)) as src:
        assert src.size == (64, 48)
        src.request_size(1280, 720)
        assert src.size == (64, 48)
        assert [i for i, _ in src] == [0, 1, 2]


class StubTracker:
    def warm_up(self):
        pass


class FakeCamera:
    is_camera = True
    spec, fps, frame_count, skipped = "0", 30.0, None, []

    def __init__(self):
        self.size = (640, 480)
        self.requested = []

    def request_size(self, w, h):
        self.requested.append((w, h))
        self.size = (w, h)
        return self.size

    def __iter__(self):
        yield 0, np.zeros((self.size[1], self.size[0], 3), np.uint8)

    def close(self):
        pass


def test_open_camera_asks_the_source_for_the_resolution(qtbot, tmp_path, monkeypatch):
    from PyQt6.QtCore import QSettings

    from tracker.gui.window import MainWindow
    from tracker.io import sources

    cam = FakeCamera()
    monkeypatch.setattr(sources, "open_source", lambda spec, start=0: cam)
    # a stand-in tracker: no model is loaded (a process that exits while one loads can abort)
    win = MainWindow(
        settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
        persist=False,
        tracker_factory=lambda choice, device, xcorr: StubTracker(),
    )
    qtbot.addWidget(win)
    try:
        assert win.open_camera(0, "1280x720")
        assert cam.requested == [(1280, 720)] and cam.size == (1280, 720)
        qtbot.waitUntil(lambda: win.shown is not None, timeout=60_000)
        assert win.shown.frame.shape[:2] == (720, 1280)
        assert win.is_camera and win.source_label == "camera 0"
        assert win.open_camera(0, "camera default") and cam.requested == [(1280, 720)]  # no request
    finally:
        win.close()
