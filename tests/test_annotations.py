"""Annotation files of several targets (tracker.io.annotations): MOT gt.txt, per-target x,y,w,h, CVAT for video."""

import math
import xml.etree.ElementTree as ET

import pytest

from tracker.io.annotations import cvat_video_xml, read_cvat_video, write_annotations
from tracker.trackers.base import TrackResult

# target 1 on frames 0-3, target 2 on frames 2-3 and again on 6 (a gap), target 3 lost on frame 5
TRACKS = {
    1: {f: TrackResult((10.0 + f, 20.5, 30.25, 40.0), 0.9, False) for f in range(4)},
    2: {2: TrackResult((1.0, 2.0, 3.0, 4.0), 1.0, False), 3: TrackResult((1.5, 2.0, 3.0, 4.0), 0.8, False)}
    | {6: TrackResult((7.0, 8.0, 9.0, 10.0), 0.7, False)},
    3: {5: TrackResult((100.0, 50.0, 20.0, 20.0), 0.1, True)},
}


def test_mot_and_per_target_files_hold_every_box(tmp_path):
    paths = write_annotations(tmp_path / "out", TRACKS, frame_count=10, size=(320, 240))
    assert [p.name for p in paths] == ["gt.txt", "gt_1.txt", "gt_2.txt", "gt_3.txt", "annotations.xml"]
    rows = [ln.split(",") for ln in (tmp_path / "out" / "gt.txt").read_text().splitlines()]
    assert all(len(r) == 10 and r[7:] == ["-1", "-1", "-1"] for r in rows)
    parsed = {(int(r[1]), int(r[0]) - 1): tuple(map(float, r[2:6])) for r in rows}  # MOT frames from 1
    assert parsed == {(i, f): r.box for i, per in TRACKS.items() for f, r in per.items()}
    # per target: a line per frame from the first annotated frame (0) to the last (6), NaN where it has no box
    lines = (tmp_path / "out" / "gt_2.txt").read_text().splitlines()
    assert len(lines) == 7
    assert [ln == "NaN,NaN,NaN,NaN" for ln in lines] == [True, True, False, False, True, True, False]
    assert tuple(map(float, lines[6].split(","))) == (7.0, 8.0, 9.0, 10.0)


def test_cvat_video_xml_has_a_track_per_target_and_parses_back(tmp_path):
    write_annotations(tmp_path, TRACKS, frame_count=10, size=(320, 240), name="clip.avi")
    root = ET.parse(tmp_path / "annotations.xml").getroot()
    assert root.tag == "annotations" and root.findtext("version") == "1.1"
    task = root.find("meta/task")
    assert task.findtext("mode") == "interpolation" and task.findtext("size") == "10"
    assert task.findtext("stop_frame") == "9" and task.findtext("labels/label/name") == "target"
    assert (task.findtext("original_size/width"), task.findtext("original_size/height")) == ("320", "240")
    tracks = root.findall("track")
    assert [t.get("id") for t in tracks] == ["0", "1", "2"]  # CVAT numbers tracks from 0
    boxes2 = [(b.get("frame"), b.get("outside")) for b in tracks[1].findall("box")]
    # a track leaving the picture gets an outside box on the next frame; one at the video's end does not
    assert boxes2 == [("2", "0"), ("3", "0"), ("4", "1"), ("6", "0"), ("7", "1")]
    lost = tracks[2].find("box")
    assert lost.get("occluded") == "1" and lost.get("keyframe") == "1"
    assert (lost.get("xtl"), lost.get("ytl"), lost.get("xbr"), lost.get("ybr")) == ("100", "50", "120", "70")
    back = read_cvat_video(tmp_path / "annotations.xml")
    assert set(back) == {1, 2, 3}
    for i, per in TRACKS.items():
        assert set(back[i]) == set(per)
        for f, r in per.items():
            assert back[i][f] == pytest.approx(r.box, abs=1e-9)


def test_a_track_ending_on_the_last_frame_has_no_outside_box_and_size_follows_the_boxes():
    xml = cvat_video_xml({1: {0: TrackResult((0, 0, 1, 1), 1.0, False), 1: TrackResult((0, 0, 1, 1), 1.0, False)}})
    root = ET.fromstring(xml)
    assert root.findtext("meta/task/size") == "2"
    assert [b.get("outside") for b in root.iter("box")] == ["0", "0"]


def test_nothing_to_export_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="nothing to export"):
        write_annotations(tmp_path / "none", {1: {}})
    assert not (tmp_path / "none").exists()


def test_an_export_over_old_files_replaces_them_whole(tmp_path):
    (tmp_path / "gt.txt").write_text("old\n")
    write_annotations(tmp_path, {1: {0: TrackResult((1, 2, 3, 4), 0.5, False)}})
    assert (tmp_path / "gt.txt").read_text() == "1,1,1,2,3,4,0.5000,-1,-1,-1\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert not math.isnan(read_cvat_video(tmp_path / "annotations.xml")[1][0][0])
