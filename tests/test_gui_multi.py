"""The window as an annotation tool for several targets, driven like a user would (offscreen Qt, pytest-qt).

Three boxes drawn on a real sequence each start a target of one MultiTracker; the user steps forward, deletes
one, steps back and corrects another on an earlier frame, steps on again and exports. Targets that were not
touched keep exactly the boxes they had; the exported MOT and CVAT files parse back to the stored boxes.

Every wait is on a condition (qtbot.waitUntil); the timeout is only how long to wait before calling a hang
a failure.
"""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PyQt6.QtCore import QSettings, Qt

from tracker.gui.models import ModelChoice
from tracker.gui.window import MainWindow
from tracker.io.annotations import read_cvat_video

WAIT = 180_000  # ms
SEQUENCE = "person11"
# on its first frame (640x360): the person (its ground truth) and two patches of textured ground
BOXES = [(275.5, 116.5, 20.5, 41.0), (60.0, 200.0, 60.0, 50.0), (420.0, 240.0, 70.0, 60.0)]


@pytest.fixture
def sequence(shared_dir):
    return shared_dir / "data" / "sequences" / SEQUENCE / "img"


@pytest.fixture
def win(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, persist=False)
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    qtbot.waitExposed(w)
    w.pipeline.playback.pace = False
    w.select_model(ModelChoice("opencv:kcf"))  # deterministic, no weights
    yield w
    w.close()


def open_sequence(qtbot, win, path):
    assert win.open_path(str(path))
    qtbot.waitUntil(lambda: win.shown is not None and win.shown.index == 0, timeout=WAIT)


def go_to(qtbot, win, index):
    """Step with the arrow keys (one frame each, waiting for it) until frame `index` is on screen."""
    while win.shown.index != index:
        key = Qt.Key.Key_Right if index > win.shown.index else Qt.Key.Key_Left
        want = win.shown.index + (1 if key == Qt.Key.Key_Right else -1)
        qtbot.keyClick(win.video, key)
        qtbot.waitUntil(lambda w=want: win.shown.index == w and not win._frozen, timeout=WAIT)


def click_box(qtbot, win, box):
    x, y, w, h = box
    centre = win.video.image_to_widget(x + w / 2, y + h / 2).toPoint()
    qtbot.mouseClick(win.video, Qt.MouseButton.LeftButton, pos=centre)


def drag(qtbot, win, box):
    x, y, w, h = box
    a = win.video.image_to_widget(x, y).toPoint()
    b = win.video.image_to_widget(x + w, y + h).toPoint()
    qtbot.mousePress(win.video, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(win.video, pos=b)
    qtbot.mouseRelease(win.video, Qt.MouseButton.LeftButton, pos=b)


def test_three_targets_step_delete_correct_and_export(qtbot, win, sequence, tmp_path):
    open_sequence(qtbot, win, sequence)
    drag(qtbot, win, BOXES[0])  # the mouse, as a user draws
    for box in BOXES[1:]:
        win.init_tracking(box)
    qtbot.waitUntil(lambda: win.tracking and len(win.shown.results) == 3, timeout=WAIT)
    assert list(win.shown.results) == [1, 2, 3]
    session = win.pipeline.session
    assert win.shown.results[1].box == pytest.approx(BOXES[0], abs=1.0)  # drawn to within a screen pixel
    assert [win.shown.results[i].box for i in (2, 3)] == [BOXES[1], BOXES[2]]

    go_to(qtbot, win, 6)
    assert set(win.shown.results) == {1, 2, 3}
    stored = session.annotations()
    assert all(sorted(stored[i]) == list(range(7)) for i in (1, 2, 3))
    assert win.state_label.text().startswith("TRACKING 3")

    # select target 3 by clicking its box, delete it: it stops on frame 6, its boxes before stay
    click_box(qtbot, win, stored[3][6].box)
    assert win.selected == 3 and win.video.selected == 3
    qtbot.keyClick(win.video, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: set(win.shown.results) == {1, 2}, timeout=WAIT)
    assert win.selected is None and session.tracked_ids == [1, 2]

    # back to frame 3: the stored boxes are shown, nothing is tracked again
    go_to(qtbot, win, 3)
    assert win.shown.results == {i: stored[i][3] for i in (1, 2, 3)}
    # select target 2 with N (cycling from none: 1, then 2), redraw it: a correction from frame 3 on
    qtbot.keyClick(win.video, Qt.Key.Key_N)
    qtbot.keyClick(win.video, Qt.Key.Key_N)
    assert win.selected == 2
    corrected = (80.0, 210.0, 50.0, 40.0)
    win.init_tracking(corrected)
    qtbot.waitUntil(lambda: sorted(session.results_of(2)) == [0, 1, 2, 3], timeout=WAIT)
    assert session.results_of(2)[3].box == corrected

    go_to(qtbot, win, 8)  # frames 4-6 shown from store for 1, tracked again for 2; 7-8 tracked for both
    after = session.annotations()
    assert {f: r for f, r in after[1].items() if f <= 6} == stored[1]  # exactly, the same results
    assert sorted(after[1]) == list(range(9))
    assert after[3] == {f: r for f, r in stored[3].items() if f < 6}  # deleted on 6: boxes 0-5 kept, exactly
    assert {f: after[2][f] for f in range(3)} == {f: stored[2][f] for f in range(3)}
    assert after[2][3].box == corrected and sorted(after[2]) == list(range(9))
    assert after[2][4] != stored[2][4]  # tracked again from the corrected box

    # export: MOT, per target, CVAT; each parses back to the stored boxes
    paths = win.export_annotations(tmp_path / "ann")
    assert [p.name for p in paths] == ["gt.txt", "gt_1.txt", "gt_2.txt", "gt_3.txt", "annotations.xml"]
    expected = {(i, f): r.box for i, per in after.items() for f, r in per.items()}
    rows = [ln.split(",") for ln in (tmp_path / "ann" / "gt.txt").read_text().splitlines()]
    mot = {(int(r[1]), int(r[0]) - 1): tuple(map(float, r[2:6])) for r in rows}
    assert set(mot) == set(expected)
    assert all(np.allclose(mot[k], expected[k], atol=1e-4) for k in expected)
    cvat = read_cvat_video(tmp_path / "ann" / "annotations.xml")
    assert {(i, f) for i, per in cvat.items() for f in per} == set(expected)
    assert all(np.allclose(cvat[i][f], expected[i, f], atol=1e-4) for i, f in expected)
    root = ET.parse(tmp_path / "ann" / "annotations.xml").getroot()
    assert [t.get("id") for t in root.iter("track")] == ["0", "1", "2"]
    assert root.findtext("meta/task/original_size/width") == "640"
    per_target = (tmp_path / "ann" / "gt_3.txt").read_text().splitlines()
    assert len(per_target) == 9 and per_target[6:] == ["NaN,NaN,NaN,NaN"] * 3

    # a screenshot of the window shows the picture with its boxes
    shot = win.grab()
    path = tmp_path / "multi.png"
    assert shot.save(str(path)) and path.stat().st_size > 0
    image = shot.toImage()
    assert image.width() > 0 and image.height() > 0
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 50  # a real picture, not a blank window


def test_a_bad_box_is_refused_with_one_status_line(qtbot, win, sequence):
    open_sequence(qtbot, win, sequence)
    win.init_tracking((10.0, 10.0, 0.0, 30.0))
    assert win.statusBar().currentMessage().startswith("box refused:")
    assert "zero or negative size" in win.statusBar().currentMessage()
    win.init_tracking((700.0, 10.0, 30.0, 30.0))
    assert "outside the 640x360 frame" in win.statusBar().currentMessage()
    win.init_tracking(BOXES[1])
    qtbot.waitUntil(lambda: win.tracking and list(win.shown.results) == [1], timeout=WAIT)  # only the good box
    assert win.errors == []


def test_delete_with_nothing_selected_says_so(qtbot, win, sequence):
    open_sequence(qtbot, win, sequence)
    win.init_tracking(BOXES[1])
    qtbot.waitUntil(lambda: win.tracking, timeout=WAIT)
    qtbot.keyClick(win.video, Qt.Key.Key_Delete)
    assert "select a target first" in win.statusBar().currentMessage()
    assert win.pipeline.session.tracked_ids == [1]
    qtbot.keyClick(win.video, Qt.Key.Key_Escape)  # nothing to cancel: still fine
    assert win.errors == []


@pytest.mark.slow
def test_a_correction_on_an_earlier_frame_retracks_only_its_target_in_the_batched_model(sequence):
    """With a Siamese model (one batched search per frame), the session tracks a target corrected on an
    earlier frame on its own while the others show their stored boxes: its boxes are those of tracking it
    alone from the correction, the others' stay exactly as they were."""
    import cv2

    from tracker.build import build_tracker
    from tracker.gui.session import TrackSession

    frames = [cv2.imread(str(p)) for p in sorted(sequence.glob("*.jpg"))[:8]]
    model = build_tracker("nanotrack_v3", engine="torch")
    session = TrackSession()
    session.use(model)
    for box in BOXES:
        session.add(frames[0], box, 0)
    for i in range(1, 8):
        session.step(frames[i], i)
    stored = session.annotations()
    corrected = (80.0, 210.0, 50.0, 40.0)
    session.correct(2, frames[3], corrected, 3)
    for i in range(1, 8):  # back to the start and forward again: only target 2 is tracked, from frame 4
        session.step(frames[i], i)
    after = session.annotations()
    assert after[1] == stored[1] and after[3] == stored[3]
    alone = model.spawn()
    alone.init(frames[3], corrected)
    expected = [alone.update(frames[i]).box for i in range(4, 8)]
    assert np.allclose([after[2][i].box for i in range(4, 8)], expected, atol=0.01)
    assert {f: after[2][f] for f in range(3)} == {f: stored[2][f] for f in range(3)}
