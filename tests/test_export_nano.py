"""`siamtrack export --format opencv-nano`: an anchor-free model as the file pair cv2.TrackerNano runs."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tracker import build_tracker
from tracker.cli import main
from tracker.config.presets import get_preset


@pytest.fixture(scope="module")
def weights():
    # the shipped (trained) file: with random weights the score map is nearly flat, and which of two near-equal
    # points wins the first update then depended on float details (seen: 22 px apart in a fresh environment)
    return get_preset("anchorfree_effnet_lite0").weights_path


def _iou(a, b) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)


def _centre_distance(a, b) -> float:
    return float(np.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2))


@pytest.mark.slow
def test_cv2_tracker_nano_runs_our_export_as_our_tracker_does(weights, shared_dir, tmp_path):
    """cv2.TrackerNano on our two files follows our tracker's track over 11 updates of BMX3: mean IoU between
    the two tracks at least 0.75 and mean centre distance at most 10% of our box's diagonal (about 13 px).

    The whole track, not one frame: OpenCV returns integer Rects, uses its own fixed tracking values and sizes
    its scale penalty from the target's position (a quirk of tracker_nano.cpp), and how far its first update
    lands from ours depends on OpenCV's version. Measured (pip's opencv-contrib-python-headless): 4.10.0,
    4.14.0 and 5.0.0 alike, mean IoU 0.960 and centre 1.1 px (first update 1.1 px apart); 5.1.0 mean IoU
    0.846 and centre 5.6 px (4.4% of the diagonal; first update 10.5 px apart). An export that feeds the
    network pixels scaled wrongly (the backbone's first convolution divided by 255) gives mean IoU 0.11 and
    centre 65 px on every one of them."""
    if not hasattr(cv2, "TrackerNano_create"):
        pytest.skip("this OpenCV has no TrackerNano (4.7+)")
    out = tmp_path / "nano"
    assert (
        main(
            [
                "export",
                "anchorfree_effnet_lite0",
                "--weights",
                str(weights),
                "--format",
                "opencv-nano",
                "--out-dir",
                str(out),
            ]
        )
        == 0
    )  # the export itself checks both files through cv2.dnn
    info = json.loads((out / "opencv_nano.json").read_text())
    assert info["format"] == "opencv-nano" and set(info["files"]) == {"backbone.onnx", "neckhead.onnx"}
    params = cv2.TrackerNano_Params()
    params.backbone, params.neckhead = str(out / "backbone.onnx"), str(out / "neckhead.onnx")
    theirs = cv2.TrackerNano_create(params)
    ours = build_tracker("anchorfree_effnet_lite0", weights=weights, engine="torch")
    seq = shared_dir / "data/sequences/BMX3"
    frames = [cv2.imread(str(p)) for p in sorted((seq / "img").iterdir())[:12]]
    box = [float(v) for v in (seq / "groundtruth_rect.txt").read_text().split()[0].split(",")]
    ours.init(frames[0], box)
    theirs.init(frames[0], tuple(int(round(v)) for v in box))
    H, W = frames[0].shape[:2]
    ious, distances = [], []
    for f in frames[1:]:
        ok, b = theirs.update(f)
        assert ok and b[2] >= 1 and b[3] >= 1 and b[0] < W and b[1] < H
        r = ours.update(f).box
        ious.append(_iou(b, r))
        distances.append(_centre_distance(b, r) / float(np.hypot(r[2], r[3])))
    assert np.mean(ious) >= 0.75 and np.mean(distances) <= 0.10, (cv2.__version__, ious, distances)


@pytest.mark.slow
def test_cv2_tracker_nano_follows_the_shipped_model_as_ours_does(shared_dir, tmp_path):
    """The shipped (trained) anchor-free file exported for OpenCV: cv2.TrackerNano on our two files follows the
    same track as our tracker over a real sequence (OpenCV's integer boxes and fixed tracking values keep them
    a little apart), and both score alike against the ground truth. Measured on BMX3, 40 frames, mean IoU
    between the two tracks: 0.935 with OpenCV 4.10.0, 4.14.0 and 5.0.0, 0.865 with 5.1.0 (against the ground
    truth 0.557 theirs, 0.563 ours)."""
    if not hasattr(cv2, "TrackerNano_create"):
        pytest.skip("this OpenCV has no TrackerNano (4.7+)")
    out = tmp_path / "nano"
    assert main(["export", "anchorfree_effnet_lite0", "--format", "opencv-nano", "--out-dir", str(out)]) == 0
    params = cv2.TrackerNano_Params()
    params.backbone, params.neckhead = str(out / "backbone.onnx"), str(out / "neckhead.onnx")
    theirs = cv2.TrackerNano_create(params)
    ours = build_tracker("anchorfree_effnet_lite0", engine="torch")
    seq = shared_dir / "data/sequences/BMX3"
    frames = [cv2.imread(str(p)) for p in sorted((seq / "img").iterdir())[:40]]
    gt = [[float(v) for v in line.split(",")] for line in (seq / "groundtruth_rect.txt").read_text().split()]

    ours.init(frames[0], gt[0])
    theirs.init(frames[0], tuple(int(round(v)) for v in gt[0]))
    between, vs_gt = [], []
    for i, f in enumerate(frames[1:], start=1):
        ok, b = theirs.update(f)
        r = ours.update(f).box
        between.append(_iou(b, r))
        vs_gt.append((_iou(b, gt[i]), _iou(r, gt[i])))
    assert np.mean(between) > 0.8, np.mean(between)
    t, o = np.mean(vs_gt, axis=0)
    assert o > 0.3 and abs(t - o) < 0.1, (t, o)


def test_opencv_nano_refuses_a_model_it_cannot_run(tmp_path, capsys):
    assert main(["export", "siamrpn_effnet_lite0_fast", "--format", "opencv-nano", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot run in cv2.TrackerNano" in err and len(err.splitlines()) == 1
