"""OpenCV baselines behind the common Tracker interface."""

import cv2
import numpy as np
import pytest

from tracker import TrackerError, TrackResult, build_tracker
from tracker.trackers.opencv import OpenCVTracker, build_opencv_tracker, resolve_model_files


def _frames(shared_dir, name="car1", n=12):
    seq = shared_dir / "data" / "sequences" / name
    files = sorted((seq / "img").glob("*.jpg"))[:n]
    lines = (seq / "groundtruth_rect.txt").read_text().splitlines()[:n]
    gt = [tuple(float(v) for v in line.split(",")) for line in lines]
    return [cv2.imread(str(f)) for f in files], gt


def _iou(a, b):
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.mark.parametrize("name", ["opencv:csrt", "opencv:kcf", "opencv:mil"])
def test_classic_trackers_follow_the_car_for_a_few_frames(shared_dir, name):
    frames, gt = _frames(shared_dir, n=8)
    t = build_tracker(name)
    t.init(frames[0], gt[0])
    results = [t.update(f) for f in frames[1:]]
    assert all(isinstance(r, TrackResult) for r in results)
    # car1 moves slowly at its start: every classic tracker keeps a clear overlap for 7 frames
    assert min(_iou(r.box, g) for r, g in zip(results, gt[1:])) > 0.3
    assert all(not r.lost and r.score == 1.0 for r in results)


def test_nano_from_the_model_folder_tracks_and_reports_its_score(shared_dir):
    t = build_tracker("opencv:nano", model_dir=shared_dir / "peers")
    assert t.files["backbone"].endswith("nanotrack_v2_backbone.onnx")
    assert t.files["neckhead"].endswith("nanotrack_v2_head.onnx")
    frames, gt = _frames(shared_dir, n=10)
    t.init(frames[0], gt[0])
    results = [t.update(f) for f in frames[1:]]
    assert min(_iou(r.box, g) for r, g in zip(results, gt[1:])) > 0.5
    # NanoTrack's own confidence, not the constant 1.0 of `ok`
    assert all(0.0 < r.score < 1.0 for r in results)


def test_nano_with_explicit_files(shared_dir):
    peers = shared_dir / "peers"
    t = build_opencv_tracker(
        "opencv:nano", backbone=peers / "nanotrack_v2_backbone.onnx", neckhead=peers / "nanotrack_v2_head.onnx"
    )
    assert isinstance(t, OpenCVTracker)


def test_missing_model_files_are_named(tmp_path):
    with pytest.raises(TrackerError, match=r"opencv:nano needs .*backbone.*neckhead.*model_dir=FOLDER"):
        build_tracker("opencv:nano")
    with pytest.raises(TrackerError, match=r"model \(e.g. dasiamrpn_model.onnx in .*\); kernel_cls1.*kernel_r1"):
        build_tracker("opencv:dasiamrpn", model_dir=tmp_path)
    with pytest.raises(TrackerError, match=r"net \(e.g. vitTracker.onnx"):
        build_tracker("opencv:vit", model_dir=tmp_path)
    with pytest.raises(TrackerError, match=r"backbone file .*nope.onnx does not exist"):
        build_tracker("opencv:nano", backbone=tmp_path / "nope.onnx")


def test_model_dir_lookup_by_usual_names(tmp_path):
    for n in ("dasiamrpn_model.onnx", "dasiamrpn_kernel_cls1.onnx", "dasiamrpn_kernel_r1.onnx"):
        (tmp_path / n).write_bytes(b"")
    files = resolve_model_files("dasiamrpn", model_dir=tmp_path)
    assert {k: v.split("/")[-1] for k, v in files.items()} == {
        "model": "dasiamrpn_model.onnx",
        "kernel_cls1": "dasiamrpn_kernel_cls1.onnx",
        "kernel_r1": "dasiamrpn_kernel_r1.onnx",
    }


def test_unreadable_model_file_is_a_user_error(tmp_path, shared_dir):
    bad = tmp_path / "backbone.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(TrackerError, match="could not load its model files"):
        build_tracker("opencv:nano", backbone=bad, neckhead=shared_dir / "peers" / "nanotrack_v2_head.onnx")


def test_unknown_names_and_options():
    with pytest.raises(TrackerError, match="unknown OpenCV tracker 'opencv:mosse'"):
        build_tracker("opencv:mosse")
    with pytest.raises(TrackerError, match="does not take the option 'backbone'"):
        build_tracker("opencv:kcf", backbone="x.onnx")


class _FakeCV:
    """Stands in for an OpenCV tracker object: scripted (ok, box) answers."""

    def __init__(self, answers):
        self.answers = list(answers)

    def init(self, frame, rect):
        self.rect = rect

    def update(self, frame):
        return self.answers.pop(0)


def test_not_ok_maps_to_lost_with_the_last_good_box():
    fake = _FakeCV([(True, (12, 10, 20, 20)), (False, (0, 0, 0, 0)), (True, (14, 10, 20, 20))])
    t = OpenCVTracker("kcf", lambda: fake)
    frame = np.zeros((60, 80, 3), np.uint8)
    t.init(frame, (10.4, 10.0, 20.0, 20.0))
    assert fake.rect == (10, 10, 20, 20)  # OpenCV gets an integer rectangle
    assert t.update(frame) == TrackResult((12.0, 10.0, 20.0, 20.0), 1.0, False)
    assert t.update(frame) == TrackResult((12.0, 10.0, 20.0, 20.0), 0.0, True)
    assert t.update(frame) == TrackResult((14.0, 10.0, 20.0, 20.0), 1.0, False)


def test_initial_box_is_clipped_to_the_frame_and_update_before_init_is_refused():
    fake = _FakeCV([])
    t = OpenCVTracker("kcf", lambda: fake)
    frame = np.zeros((60, 80, 3), np.uint8)
    with pytest.raises(TrackerError, match="before init"):
        t.update(frame)
    t.init(frame, (-5, 50, 20, 20))
    assert fake.rect == (0, 50, 15, 10)


def test_initial_box_values_are_each_rounded():
    # each value rounded on its own (not the corners): w = round(20.5) = 20, not round(31.0) - round(10.5)
    fake = _FakeCV([])
    t = OpenCVTracker("kcf", lambda: fake)
    t.init(np.zeros((60, 80, 3), np.uint8), (10.5, 3.5, 20.5, 7.4))
    assert fake.rect == (10, 4, 20, 7)
