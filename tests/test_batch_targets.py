"""`siamtrack batch` items of several targets: the manifest forms (CSV target rows, a JSON "boxes" list or
object, a folder sidecar of id,x,y,w,h lines); such an item writes what `siamtrack track --init ... --init ...`
writes (the MOT layout, each target as it is tracked alone), a one-box item in the same manifest writes what
it wrote before; a bad target row is one line naming the row, exit 2, and nothing already written is lost.

Real clips from ../shared/data/videos, first few frames: OpenCV's KCF (deterministic; each target a tracker of
its own) and NanoTrack (the batched Siamese step).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import pytest
from test_batch import batch, boxes_of, no_temporaries, stamp

from tracker.batch.folder import scan_folder
from tracker.batch.inputs import ManifestError
from tracker.batch.manifest import read_manifest
from tracker.cli import main

FRAMES = 10
A, B = (250.0, 150.0, 100.0, 120.0), (420.0, 180.0, 80.0, 100.0)  # two faces' worth of Megamind.avi
ONE = (200.0, 100.0, 60.0, 150.0)  # the person in oneperson.mp4


@pytest.fixture(scope="module")
def videos(shared_dir):
    d = shared_dir / "data" / "videos"
    return {"mega": d / "Megamind.avi", "one": d / "oneperson.mp4", "vtest": d / "vtest.avi"}


def fmt(box) -> str:
    return ",".join(f"{v:g}" for v in box)


def two_videos(path: Path, videos) -> Path:
    """A manifest of two videos: `mega` with targets 1 and 2 (two rows), `one` with one box (no target)."""
    path.write_text(
        "video,x,y,w,h,start,id,target\n"
        f"{videos['mega']},{fmt(A)},0,mega,1\n"
        f"{videos['one']},{fmt(ONE)},5,one,\n"
        f"{videos['mega']},{fmt(B)},0,mega,2\n"
    )
    return path


def mot_rows(path: Path) -> list[list[str]]:
    return [ln.split(",") for ln in path.read_text().splitlines()]


def track_cli(video, boxes, out: Path, *extra) -> Path:
    """`siamtrack track VIDEO --init A --init B ... --output OUT`."""
    argv = ["track", str(video), *(a for b in boxes for a in ("--init", fmt(b))), "--output", str(out)]
    assert main([*argv, "--max-frames", str(FRAMES), *extra, "--quiet"]) == 0
    return out


# ------------------------------------------------------------------------------------------ manifests


def test_each_manifest_form_gives_an_item_of_several_targets_and_one_box_rows_stay_as_they_were(tmp_path, videos):
    m = two_videos(tmp_path / "m.csv", videos)
    mega, one = read_manifest(m)
    assert (mega.item_id, mega.box, mega.boxes, mega.origin) == ("mega", None, {1: A, 2: B}, f"{m}:2")
    assert (one.item_id, one.box, one.boxes, one.start) == ("one", ONE, None, 5)
    assert "boxes" not in one.fingerprint() and mega.fingerprint()["boxes"] == {"1": list(A), "2": list(B)}

    # Without an id column the rows of one video are one item; ids as given, in the rows' order.
    m.write_text(f"video,box,target\nclip.mp4,{fmt(B)!r},7\nclip.mp4,{fmt(A)!r},3\n".replace("'", '"'))
    (clip,) = read_manifest(m)
    assert (clip.item_id, list(clip.boxes.items())) == ("clip", [(7, B), (3, A)])

    j = tmp_path / "m.jsonl"
    j.write_text(
        json.dumps({"video": "a.mp4", "boxes": [list(A), fmt(B)]})
        + "\n"
        + json.dumps({"video": "b.mp4", "boxes": {"4": list(B), "2": list(A)}, "start": 3, "id": "bee"})
        + "\n"
        + json.dumps({"video": "c.mp4", "box": list(ONE)})
        + "\n"
    )
    a, bee, c = read_manifest(j)
    assert a.boxes == {1: A, 2: B} and a.box is None
    assert (bee.item_id, list(bee.boxes.items()), bee.start) == ("bee", [(4, B), (2, A)], 3)
    assert c.box == ONE and c.boxes is None

    d = tmp_path / "folder"
    d.mkdir()
    (d / "two.avi").symlink_to(videos["mega"])
    (d / "two.txt").write_text(f"id,x,y,w,h\n1,{fmt(A)}\n2,{fmt(B)}\n")
    (d / "single.mp4").symlink_to(videos["one"])
    (d / "single.txt").write_text(f"{fmt(ONE)}\n{fmt(A)}\n")  # a box per frame: the first initialises
    items = {it.item_id: it for it in scan_folder(d)}
    assert items["two"].boxes == {1: A, 2: B} and items["two"].box is None
    assert items["single"].box == ONE and items["single"].boxes is None


CSV = "video,x,y,w,h,target,start,id\n"


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("m.csv", CSV + "a.mp4,1,2,3,4,1\na.mp4,5,6,7,8,1\n", "m.csv:3: target 1 of item 'a' is already given at "),
        ("m.csv", CSV + "a.mp4,1,2,3,4,1\na.mp4,5,6,0,8,2\n", "m.csv:3: target 2: box 5,6,0,8 has zero or negative"),
        ("m.csv", CSV + "a.mp4,1,2,3,4,x\n", "m.csv:2: target id 'x' is not a whole number from 1"),
        ("m.csv", CSV + "a.mp4,1,2,3,4,0\n", "m.csv:2: target id '0' is not a whole number from 1"),
        ("m.csv", CSV + "a.mp4,1,2,3,4,1\na.mp4,1,2,3,4,\n", "m.csv:3: item id 'a' is already used at "),
        ("m.csv", CSV + "a.mp4,1,2,3,4,1,0\na.mp4,1,2,3,4,2,4\n", "m.csv:3: item 'a' starts at frame 0"),
        ("m.csv", CSV + "a.mp4,1,2,3,4,1,,k\nb.mp4,1,2,3,4,2,,k\n", "m.csv:3: item 'k' is video a.mp4"),
        ("m.jsonl", '{"video": "a", "boxes": {"1": [1,2,3,4], "1": [1,2,3,4]}}', "m.jsonl:1: target 1 is given twice"),
        ("m.jsonl", '{"video": "a", "boxes": {"-1": [1,2,3,4]}}', "m.jsonl:1: target id '-1' is not a whole number"),
        ("m.jsonl", '{"video": "a", "boxes": [[1,2,3,4], [1,2,3,0]]}', "m.jsonl:1: target 2: box 1,2,3,0 has zero"),
        ("m.jsonl", '{"video": "a", "boxes": []}', 'm.jsonl:1: "boxes" is empty'),
        ("m.jsonl", '{"video": "a", "box": [1,2,3,4], "boxes": [[1,2,3,4]]}', 'm.jsonl:1: give either "box"'),
    ],
)
def test_a_bad_target_row_is_one_line_naming_it(tmp_path, name, text, message):
    m = tmp_path / name
    m.write_text(text)
    with pytest.raises(ManifestError) as exc:
        read_manifest(m)
    assert str(exc.value).startswith(f"{tmp_path}/{message}")
    assert "\n" not in str(exc.value)


def test_a_bad_sidecar_of_targets_is_one_line_naming_its_row(tmp_path, videos):
    (tmp_path / "two.avi").symlink_to(videos["mega"])
    (tmp_path / "two.txt").write_text(f"1,{fmt(A)}\n1,{fmt(B)}\n")
    with pytest.raises(ManifestError, match=rf"^{tmp_path}/two\.txt:2: id 1 is given twice$"):
        scan_folder(tmp_path)


# ------------------------------------------------------------------------------------------ the run


def test_two_videos_one_of_two_targets_each_as_tracked_alone_and_as_track_writes_it(tmp_path, videos):
    m = two_videos(tmp_path / "m.csv", videos)
    out = tmp_path / "out"
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", FRAMES, "--save-video", "--quiet") == 0
    rows = {r["item_id"]: r for r in csv.DictReader(open(out / "summary.csv"))}
    assert rows["mega"]["status"] == rows["one"]["status"] == "ok"
    assert rows["mega"]["frames"] == str(FRAMES) and rows["mega"]["init_box"] == f"1:{fmt(A)} 2:{fmt(B)}"
    assert rows["one"]["init_box"] == fmt(ONE)

    # The two-target item: MOT rows, byte for byte what `siamtrack track --init A --init B` writes ...
    reference = track_cli(videos["mega"], (A, B), tmp_path / "track.txt", "--model", "opencv:kcf")
    assert (out / "mega.boxes.txt").read_bytes() == reference.read_bytes()
    rows_ = mot_rows(out / "mega.boxes.txt")
    assert [(int(r[0]), int(r[1])) for r in rows_] == [(f, i) for f in range(1, FRAMES + 1) for i in (1, 2)]
    # ... and each target's boxes exactly those of a batch item of that box alone.
    alone = tmp_path / "alone.csv"
    alone.write_text(f"video,x,y,w,h,id\n{videos['mega']},{fmt(A)},a\n{videos['mega']},{fmt(B)},b\n")
    assert batch(alone, "-o", tmp_path / "alone", "--model", "opencv:kcf", "--max-frames", FRAMES, "--quiet") == 0
    for target, item in ((1, "a"), (2, "b")):
        single = (tmp_path / "alone" / f"{item}.boxes.txt").read_text().splitlines()
        assert [",".join(r[2:6]) for r in rows_ if int(r[1]) == target] == single
    summary = json.loads((out / "mega.summary.json").read_text())
    assert summary["init_boxes"] == {"1": list(A), "2": list(B)} and set(summary["lost_by_target"]) == {"1", "2"}
    cap = cv2.VideoCapture(str(out / "mega.annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES

    # The one-box item in the same manifest: what a manifest of it alone wrote before, byte for byte.
    before = tmp_path / "before.csv"
    before.write_text(f"video,x,y,w,h,start,id\n{videos['one']},{fmt(ONE)},5,one\n")
    assert batch(before, "-o", tmp_path / "before", "--model", "opencv:kcf", "--max-frames", FRAMES, "--quiet") == 0
    assert (out / "one.boxes.txt").read_bytes() == (tmp_path / "before" / "one.boxes.txt").read_bytes()
    one = json.loads((out / "one.summary.json").read_text())
    assert "init_boxes" not in one and "lost_by_target" not in one and len(boxes_of(out, "one")) == FRAMES
    assert no_temporaries(out)

    # A rerun redoes nothing; another box for a target makes the item's result stale, and only that item's.
    stamps = {p.name: stamp(p) for p in out.glob("*.boxes.txt")}
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", FRAMES, "--save-video", "--quiet") == 0
    assert {p.name: stamp(p) for p in out.glob("*.boxes.txt")} == stamps
    m.write_text(m.read_text().replace(f"{fmt(B)},0,mega,2", f"{fmt(A)},0,mega,2"))
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", FRAMES, "--save-video", "--quiet") == 0
    assert stamp(out / "one.boxes.txt") == stamps["one.boxes.txt"]
    again = mot_rows(out / "mega.boxes.txt")
    assert [r[2:6] for r in again if r[1] == "2"] == [r[2:6] for r in again if r[1] == "1"]


def test_the_batched_siamese_step_writes_what_track_writes(tmp_path, videos):
    """NanoTrack's targets go through the network as one batch: exactly `siamtrack track`'s rows."""
    m = tmp_path / "m.jsonl"
    m.write_text(json.dumps({"video": str(videos["vtest"]), "boxes": [[280, 180, 40, 90], [380, 200, 40, 90]]}) + "\n")
    out = tmp_path / "out"
    model = ("--model", "nanotrack_v3", "--engine", "torch")
    assert batch(m, "-o", out, *model, "--max-frames", FRAMES, "--quiet") == 0
    reference = track_cli(videos["vtest"], ((280, 180, 40, 90), (380, 200, 40, 90)), tmp_path / "t.txt", *model)
    assert (out / "vtest.boxes.txt").read_bytes() == reference.read_bytes()


def test_an_item_whose_target_lies_outside_the_frame_fails_alone(tmp_path, videos):
    m = tmp_path / "m.csv"
    m.write_text(
        "video,x,y,w,h,id,target\n"
        f"{videos['mega']},{fmt(A)},mega,1\n{videos['mega']},5000,10,20,20,mega,2\n"
        f"{videos['one']},{fmt(ONE)},one,\n"
    )
    out = tmp_path / "out"
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", 3, "--quiet") == 1
    s = json.loads((out / "mega.summary.json").read_text())
    assert s["status"] == "failed" and "target 2" in s["error"] and "Megamind.avi" in s["error"]
    assert not (out / "mega.boxes.txt").exists() and (out / "one.boxes.txt").is_file()


def test_bad_target_rows_stop_the_command_with_one_line_and_exit_2_keeping_earlier_results(tmp_path, videos, capsys):
    m = two_videos(tmp_path / "m.csv", videos)
    out = tmp_path / "out"
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", 3, "--quiet") == 0
    before = {p.name: (p.read_bytes(), stamp(p)) for p in out.iterdir()}
    capsys.readouterr()
    for bad in ("1", "x", "0"):  # a duplicate id for the video, ids that are not whole numbers from 1
        m.write_text(two_videos(m, videos).read_text().replace(",0,mega,2\n", f",0,mega,{bad}\n"))
        assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", 3, "--quiet") == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{m}:4: target" in err[0], err
    m.write_text(two_videos(m, videos).read_text().replace(f"{fmt(B)},0,mega,2", "420,180,0,100,0,mega,2"))
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", 3, "--quiet") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{m}:4: target 2: box 420,180,0,100 has zero or negative size" in err[0]
    assert {p.name: (p.read_bytes(), stamp(p)) for p in out.iterdir()} == before


@pytest.mark.slow
def test_an_item_of_several_targets_in_worker_processes_writes_what_one_process_writes(tmp_path, videos):
    m = two_videos(tmp_path / "m.csv", videos)
    run = ("--model", "opencv:kcf", "--max-frames", FRAMES, "--quiet")
    assert batch(m, "-o", tmp_path / "here", *run) == 0
    assert batch(m, "-o", tmp_path / "pool", "--workers", 2, *run) == 0
    for item in ("mega", "one"):
        assert (tmp_path / "pool" / f"{item}.boxes.txt").read_bytes() == (
            tmp_path / "here" / f"{item}.boxes.txt"
        ).read_bytes()
        assert json.loads((tmp_path / "pool" / f"{item}.summary.json").read_text())["pid"] != os.getpid()
