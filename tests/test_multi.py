"""Several targets at once (tracker.trackers.multi): each target gets the boxes it gets tracked alone, on every
engine, with one batched search per frame; corrections, removals and additions touch only their target; bad
input is one line (exit 2 on the command line) and loses nothing already written."""

import cv2
import numpy as np
import pytest

from tracker import build_tracker
from tracker.cli import main
from tracker.io.boxes import BoxFileError, read_init_file
from tracker.io.sources import open_source
from tracker.trackers.base import TrackerError
from tracker.trackers.multi import MultiTracker

BOXES = [(280.0, 180.0, 40.0, 90.0), (380.0, 200.0, 40.0, 90.0), (100.0, 150.0, 50.0, 100.0)]
TOLERANCE = 0.01  # px


@pytest.fixture(scope="module")
def video(shared_dir):
    return shared_dir / "data/videos/vtest.avi"


@pytest.fixture(scope="module")
def frames(video):
    with open_source(str(video)) as source:
        out = []
        for _, frame in source:
            out.append(frame)
            if len(out) == 8:
                break
    return out


def alone(tracker, frames, box, first=0):
    """Boxes of `box` tracked alone from frames[first] on (the initial box included)."""
    tracker.init(frames[first], box)
    return [box] + [tracker.update(f).box for f in frames[first + 1 :]]


def assert_same(a, b):
    assert np.abs(np.asarray(a, float) - np.asarray(b, float)).max() <= TOLERANCE


@pytest.mark.parametrize(
    "preset,engine",
    [
        ("nanotrack_v3", "torch"),
        ("nanotrack_v3", "onnxruntime"),
        ("nanotrack_v3", "openvino"),
        ("siamrpn_effnet_lite0_fast", "onnxruntime"),
        ("siamfc_alexnet", "torch"),
        ("siamfc_alexnet", "onnxruntime"),
    ],
)
def test_batched_targets_get_the_boxes_they_get_alone(frames, preset, engine):
    n = 5
    t = build_tracker(preset, engine=engine)
    expected = [alone(t, frames[:n], b) for b in BOXES]
    multi = MultiTracker(t)
    ids = [multi.add(frames[0], b) for b in BOXES]
    assert ids == [1, 2, 3]
    got = {i: [BOXES[i - 1]] for i in ids}
    searches = []
    real_search = t.engine.search_targets
    t.engine.search_targets = lambda crops, kernel, targets: (
        searches.append(targets) or real_search(crops, kernel, targets)
    )
    for f in frames[1:n]:
        for i, r in multi.update(f).items():
            got[i].append(r.box)
    for i in ids:
        assert_same(got[i], expected[i - 1])
    assert searches == [3] * (n - 1)  # one network call per frame for all three
    if engine != "torch" and t.engine.export.precision == "int8":
        # an int8 export (the default model's shipped one) runs its own graph for each target in turn
        assert t.engine._batch_exports[3] is None
    elif engine != "torch":  # the ONNX engines ran a graph made for three targets, not one per target
        export = t.engine._batch_exports[3]
        assert export is not None
        assert [g.batch for g in export.search] == [getattr(t.preset.track, "scale_num", 1) * 3]


def test_corrections_removals_and_additions_touch_only_their_target(frames):
    t = build_tracker("nanotrack_v3", engine="torch")
    corrected, added = (390.0, 205.0, 36.0, 80.0), (500.0, 150.0, 40.0, 90.0)
    one = alone(t, frames, BOXES[0])
    two_before = alone(t, frames[:3], BOXES[1])
    two_after = alone(t, frames, corrected, first=3)
    three = alone(t, frames[:4], BOXES[2])
    four = alone(t, frames, added, first=5)

    run = MultiTracker(t).track(frames, BOXES, schedule={3: {2: corrected}, 4: {3: None}, 5: {4: added}})
    results = list(run)
    boxes = {i: [r[i].box for r in results if i in r] for i in (1, 2, 3, 4)}
    assert_same(boxes[1], one)
    assert_same(boxes[2], two_before + two_after)  # the results before the correction are kept
    assert_same(boxes[3], three)  # gone from frame 4 on
    assert_same(boxes[4], four)
    assert [list(r.targets) for r in results] == [[1, 2, 3]] * 4 + [[1, 2]] + [[1, 2, 4]] * 3
    assert results[3][2].initial and not results[3][1].initial


def test_update_of_some_ids_steps_only_those_and_leaves_the_others_as_they_were(frames):
    t = build_tracker("nanotrack_v3", engine="torch")
    one, two = alone(t, frames[:4], BOXES[0]), alone(t, frames[:4], BOXES[1])
    multi = MultiTracker(t)
    multi.add(frames[0], BOXES[0])
    multi.add(frames[0], BOXES[1])
    got = {1: [BOXES[0]], 2: [BOXES[1]]}
    for f in frames[1:4]:  # target 2 stays behind
        assert list(multi.update(f, ids=[1])) == [1]
        got[1].append(multi.last(1).box)
    assert multi.last(2).box == BOXES[1]  # untouched
    for f in frames[1:4]:  # and catches up on its own
        assert list(multi.update(f, ids=[2])) == [2]
        got[2].append(multi.last(2).box)
    assert_same(got[1], one)
    assert_same(got[2], two)
    with pytest.raises(TrackerError, match="no target with id 9"):
        multi.update(frames[4], ids=[1, 9])
    assert multi.last(1).box == got[1][-1]  # nothing stepped


def test_bad_input_is_one_line_and_changes_nothing(frames):
    t = build_tracker("nanotrack_v3", engine="torch")
    multi = MultiTracker(t)
    multi.add(frames[0], BOXES[0])
    before = multi.last(1)
    cases = [
        (
            lambda: multi.add(frames[0], (5000, 10, 20, 20)),
            "target 2: box 5000,10,20,20 lies outside the 768x576 frame",
        ),
        (lambda: multi.add(frames[0], (10, 10, 0, 20)), "target 2: box 10,10,0,20 has zero or negative size"),
        (lambda: multi.add(frames[0], BOXES[1], 1), "target id 1 already exists"),
        (lambda: multi.add(frames[0], BOXES[1], 0), "a target id is a whole number from 1, got 0"),
        (lambda: multi.reinit(7, frames[0], BOXES[1]), "no target with id 7 (ids: 1)"),
        (lambda: multi.remove(7), "no target with id 7 (ids: 1)"),
        (lambda: multi.reinit(1, frames[0], (10, 10, 20, -1)), "target 1: box 10,10,20,-1 has zero or negative size"),
    ]
    for call, message in cases:
        with pytest.raises(TrackerError) as exc:
            call()
        assert str(exc.value) == message
        assert multi.ids == [1] and multi.last(1) == before


def test_init_file_rows(tmp_path):
    f = tmp_path / "boxes.csv"
    f.write_text("id,x,y,w,h\n3,10,20,30,40\n1 5 6 7 8\n")
    assert read_init_file(f) == {3: (10.0, 20.0, 30.0, 40.0), 1: (5.0, 6.0, 7.0, 8.0)}
    for text, message in [
        ("1,10,20,30\n", "boxes.csv:1: expected 5 values id,x,y,w,h, got 4"),
        ("1,10,20,30,40\nx,1,2,3,4\n", "boxes.csv:2: the id 'x' is not a whole number from 1"),
        ("1,10,20,30,40\n1,1,2,3,4\n", "boxes.csv:2: id 1 is given twice"),
        ("1,10,20,0,40\n", "boxes.csv:1: box 10,20,0,40 has zero or negative size"),
        ("id,x,y,w,h\n", "boxes.csv: no boxes in the file (one line id,x,y,w,h per target)"),
    ]:
        f.write_text(text)
        with pytest.raises(BoxFileError) as exc:
            read_init_file(f)
        assert str(exc.value) == f"{tmp_path}/{message}"


def test_track_several_targets_writes_mot_rows_per_target_files_and_video(video, tmp_path, capsys):
    out, clip = tmp_path / "gt.txt", tmp_path / "out.avi"
    argv = ["track", str(video), "--init", "280,180,40,90", "--init", "380,200,40,90", "--model", "nanotrack_v3"]
    argv += ["--engine", "torch", "--max-frames", "4", "--output", str(out), "--per-target", "--save-video", str(clip)]
    assert main(argv + ["--quiet"]) == 0
    rows = [ln.split(",") for ln in out.read_text().splitlines()]
    assert len(rows) == 8 and all(len(r) == 10 and r[7:] == ["-1", "-1", "-1"] for r in rows)
    assert [(int(r[0]), int(r[1])) for r in rows] == [(f, i) for f in (1, 2, 3, 4) for i in (1, 2)]
    assert rows[0][2:7] == ["280", "180", "40", "90", "1.0000"]
    t = build_tracker("nanotrack_v3", engine="torch")
    with open_source(str(video)) as source:
        frames = [f for _, f in zip(range(4), (f for _, f in source))]
    for i, box in ((1, BOXES[0]), (2, BOXES[1])):
        per_target = [[float(v) for v in ln.split(",")] for ln in (tmp_path / f"gt_{i}.txt").read_text().splitlines()]
        mot = [[float(v) for v in r[2:6]] for r in rows if int(r[1]) == i]
        assert_same(per_target, mot)
        assert_same(mot, alone(t, frames, box))
    cap = cv2.VideoCapture(str(clip))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    assert "targets 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    "rows,extra,needle",
    [
        ("1,280,180,40,90\n2,5000,10,20,20\n", [], "target 2: box 5000,10,20,20 lies outside the 768x576 frame"),
        ("1,280,180,40,90\n1,380,200,40,90\n", [], "boxes.csv:2: id 1 is given twice"),
        ("1,280,180,40,90\n2,380,200,40\n", [], "boxes.csv:2: expected 5 values id,x,y,w,h, got 4"),
        ("1,280,180,40,90\n", ["--init", "1,1,5,5"], "give the boxes with --init or with --init-file, not both"),
    ],
)
def test_track_bad_init_file_is_one_line_exit_2_and_keeps_the_old_output(video, tmp_path, capsys, rows, extra, needle):
    boxes, out = tmp_path / "boxes.csv", tmp_path / "gt.txt"
    boxes.write_text(rows)
    out.write_text("an earlier result\n")
    argv = ["track", str(video), "--init-file", str(boxes), "--model", "opencv:kcf", "--output", str(out)]
    assert main(argv + extra + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert out.read_text() == "an earlier result\n"


def test_single_target_api_is_the_one_target_case(frames):
    """A tracker's own update() and a MultiTracker of one give the same boxes (the same step)."""
    t = build_tracker("nanotrack_v3", engine="torch")
    expected = alone(t, frames[:4], BOXES[0])
    multi = MultiTracker(t)
    multi.add(frames[0], BOXES[0])
    got = [BOXES[0]] + [multi.update(f)[1].box for f in frames[1:4]]
    assert got == expected
