"""`siamtrack batch`: manifests, per-item results, failures recorded and survived, resume, --force,
shards equal to the unsharded batch, merge, and Ctrl-C leaving only complete files.

Real clips from ../shared/data/videos (first few frames only) tracked with OpenCV's KCF, which is
deterministic, so two runs over the same item must write identical boxes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tracker.batch.folder import scan_folder
from tracker.batch.inputs import ManifestError
from tracker.batch.item import process_item
from tracker.batch.manifest import load_items, read_manifest
from tracker.batch.options import BatchOptions
from tracker.batch.progress import Progress
from tracker.batch.runner import run_batch
from tracker.batch.shards import parse_shard, select_shard
from tracker.cli import batch as cli
from tracker.errors import UserError
from tracker.trackers.base import Tracker, TrackResult

FRAMES = 12  # frames per item: enough to exercise tracking, few enough to keep the file fast
TIMING_COLUMNS = {"fps", "wall_fps", "seconds"}


def batch(*argv) -> int:
    """`siamtrack batch ARGS` in this process, with the exit codes tracker.cli.main gives."""
    p = argparse.ArgumentParser()
    p.add_argument("--debug", action="store_true")
    cli.add_arguments(p)
    args = p.parse_args([str(a) for a in argv])
    try:
        return cli.run(args)
    except KeyboardInterrupt:
        return 130
    except UserError as exc:
        print(f"siamtrack batch: error: {exc}", file=sys.stderr)
        return 2


@pytest.fixture(scope="module")
def videos(shared_dir):
    d = shared_dir / "data" / "videos"
    return {"vtest": d / "vtest.avi", "mega": d / "Megamind.avi", "one": d / "oneperson.mp4"}


def write_manifest(path: Path, rows: list[tuple]) -> Path:
    lines = ["video,x,y,w,h,start,id"] + [",".join(str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def stable_rows(path: Path) -> list[dict]:
    """Summary rows without the timing columns (which differ from run to run)."""
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in read_csv(path)]


def boxes_of(out: Path, item_id: str) -> list[list[float]]:
    return [[float(v) for v in ln.split(",")] for ln in (out / f"{item_id}.boxes.txt").read_text().splitlines()]


def stamp(path: Path):
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def no_temporaries(out: Path) -> bool:
    return not [p.name for p in out.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------------------------------ manifests


def test_csv_manifest_resolves_relative_paths_and_keeps_bad_values_per_item(tmp_path):
    (tmp_path / "clips").mkdir()
    m = tmp_path / "clips" / "m.csv"
    m.write_text(
        "# a comment before the header\n"
        "id,video,box,start\n"
        'a,a.mp4,"10,20,30,40",\n'
        "b,/abs/b.avi,1 2 3 4,7\n"
        'c,c.mp4,"1,2,zero,4",\n'
        'd,d.mp4,"1,2,3,4",-1\n'
    )
    items = read_manifest(m)
    assert [it.item_id for it in items] == ["a", "b", "c", "d"]
    a, b, c, d = items
    assert a.path == str(tmp_path / "clips" / "a.mp4")  # relative to the manifest's folder
    assert a.box == (10, 20, 30, 40) and a.start == 0 and a.error is None
    assert b.path == "/abs/b.avi" and b.start == 7 and b.box == (1, 2, 3, 4)
    # A bad value fails its item (with file and line), not the whole manifest.
    assert c.error and "m.csv:5" in c.error and "'zero'" in c.error
    assert d.error and "m.csv:6" in d.error and "start frame" in d.error


def test_jsonl_manifest_and_whole_manifest_errors_name_the_line(tmp_path):
    m = tmp_path / "m.jsonl"
    m.write_text(
        '{"video": "x.mp4", "box": [1, 2, 3, 4], "start": 2}\n'
        "\n"
        '{"video": "y.mp4", "x": 5, "y": 6, "w": 7, "h": 8, "id": "why"}\n'
    )
    x, y = read_manifest(m)
    assert (x.item_id, x.box, x.start) == ("x", (1, 2, 3, 4), 2)
    assert (y.item_id, y.box, y.start) == ("why", (5, 6, 7, 8), 0)

    m.write_text('{"video": "x.mp4", "box": [1, 2, 3, 4]}\n{"video": "y.mp4", "box": [1, 2, 3, 4]\n')
    with pytest.raises(ManifestError, match=r"m\.jsonl:2: not valid JSON"):
        read_manifest(m)
    m.write_text('{"video": "x.mp4", "box": [1, 2, 3, 4]}\n{"video": "sub/x.mp4", "box": [1, 2, 3, 4]}\n')
    with pytest.raises(ManifestError, match=r"m\.jsonl:2: item id 'x' is already used at .*m\.jsonl:1"):
        read_manifest(m)
    c = tmp_path / "m.csv"
    c.write_text("clip,x,y,w,h\na.mp4,1,2,3,4\n")
    with pytest.raises(ManifestError, match=r"m\.csv:1: the header needs a video column"):
        read_manifest(c)
    c.write_text("video,x,y,w,h,id\na.mp4,1,2,3,4,../evil\n")
    with pytest.raises(ManifestError, match=r"m\.csv:2: item id '\.\./evil'"):
        read_manifest(c)


def test_folder_of_videos_with_sidecar_boxes(tmp_path, videos):
    d = tmp_path / "in"
    d.mkdir()
    (d / "clip.avi").symlink_to(videos["mega"])
    (d / "clip.txt").write_text("\n250, 150, 100, 120\n")
    (d / "other.mp4").symlink_to(videos["one"])
    (d / "other.box").write_text("200 100 60 150\n")
    (d / "lonely.avi").symlink_to(videos["vtest"])
    (d / "notes.txt").write_text("not a video, no item\n")
    items = {it.item_id: it for it in scan_folder(d)}
    assert set(items) == {"clip", "other", "lonely"}
    assert items["clip"].box == (250, 150, 100, 120) and items["clip"].error is None
    assert items["other"].box == (200, 100, 60, 150)
    assert items["lonely"].box is None and "no sidecar box file" in items["lonely"].error
    assert load_items(d) == scan_folder(d)


def test_shards_partition_the_items_deterministically():
    items = read_manifest_text("\n".join(["video,x,y,w,h"] + [f"v{i:03d}.mp4,1,1,5,5" for i in range(60)]))
    for by in ("id", "index"):
        parts = [select_shard(items, i, 4, by=by) for i in range(4)]
        ids = [it.item_id for p in parts for it in p]
        assert sorted(ids) == sorted(it.item_id for it in items)  # every item in exactly one shard
        assert all(p for p in parts)
    # By id, an item's shard does not depend on the manifest's order (or on this machine).
    rev = list(reversed(items))
    assert {it.item_id for it in select_shard(rev, 1, 4)} == {it.item_id for it in select_shard(items, 1, 4)}
    assert parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "1/0", "a/b", "1"):
        with pytest.raises(UserError):
            parse_shard(bad)


def read_manifest_text(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.csv"
        p.write_text(text)
        return read_manifest(p)


# --------------------------------------------------------------------------------- the acceptance run


def test_batch_finishes_good_items_reports_bad_ones_resumes_and_force_redoes(tmp_path, videos, capsys):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    m = write_manifest(
        tmp_path / "m.csv",
        [
            (videos["vtest"], 100, 100, 50, 80, "", "vtest"),
            (videos["mega"], 250, 150, 100, 120, 0, "mega"),
            (videos["one"], 200, 100, 60, 150, 5, "one"),
            ("corrupt.mp4", 10, 10, 20, 20, "", "corrupt"),
            (videos["mega"], 10, 10, 0, 20, "", "zero_box"),
            (videos["one"], 5000, 10, 20, 20, "", "outside"),
        ],
    )
    out = tmp_path / "out"
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", FRAMES) == 1
    rows = {r["item_id"]: r for r in read_csv(out / "summary.csv")}
    assert set(rows) == {"vtest", "mega", "one", "corrupt", "zero_box", "outside"}
    for good, box in (("vtest", [100, 100, 50, 80]), ("mega", [250, 150, 100, 120]), ("one", [200, 100, 60, 150])):
        assert rows[good]["status"] == "ok" and rows[good]["frames"] == str(FRAMES)
        b = boxes_of(out, good)
        assert len(b) == FRAMES and b[0] == box  # one line per frame, the first is the initial box
        s = json.loads((out / f"{good}.summary.json").read_text())
        assert s["status"] == "ok" and s["frames"] == FRAMES and s["fps"] > 0 and s["error"] is None
        assert s["start_frame"] == (5 if good == "one" else 0)
    assert rows["corrupt"]["status"] == "failed" and "corrupt.mp4" in rows["corrupt"]["error"]
    assert "m.csv:6" in rows["zero_box"]["error"] and "size" in rows["zero_box"]["error"]
    assert "outside" in rows["outside"]["error"] and "oneperson.mp4" in rows["outside"]["error"]
    for bad in ("corrupt", "zero_box", "outside"):
        assert not (out / f"{bad}.boxes.txt").exists()
        assert json.loads((out / f"{bad}.summary.json").read_text())["status"] == "failed"
    err = capsys.readouterr().err
    assert "fps" in err and "FAILED" in err  # per-item progress with fps, failures shown
    assert no_temporaries(out)

    # Second run: the finished items are not touched; the failed ones are tried again and fail again.
    before = {g: (stamp(out / f"{g}.boxes.txt"), stamp(out / f"{g}.summary.json")) for g in ("vtest", "mega", "one")}
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", FRAMES) == 1
    after = {g: (stamp(out / f"{g}.boxes.txt"), stamp(out / f"{g}.summary.json")) for g in ("vtest", "mega", "one")}
    assert after == before
    assert "3 of 6 items already finished" in capsys.readouterr().err
    assert stable_rows(out / "summary.csv") == [
        {k: v for k, v in r.items() if k not in TIMING_COLUMNS}
        for r in sorted(rows.values(), key=lambda r: r["item_id"])
    ]

    # --force redoes them (new files), with the same result (KCF is deterministic).
    old_boxes = {g: (out / f"{g}.boxes.txt").read_text() for g in ("vtest", "mega", "one")}
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", FRAMES, "--force") == 1
    for g in ("vtest", "mega", "one"):
        assert stamp(out / f"{g}.summary.json") != before[g][1]
        assert (out / f"{g}.boxes.txt").read_text() == old_boxes[g]

    # Other inputs for an item (here more frames) make its old result stale: it is redone, not skipped.
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", FRAMES + 3, "--quiet") == 1
    assert len(boxes_of(out, "mega")) == FRAMES + 3


def test_video_that_stops_decoding_fails_instead_of_passing_as_complete(tmp_path, videos):
    truncated = tmp_path / "truncated.avi"  # decodes ~60 frames, then the data stops
    with open(videos["vtest"], "rb") as f:
        truncated.write_bytes(f.read(700_000))
    m = write_manifest(tmp_path / "m.csv", [("truncated.avi", 100, 100, 50, 80, "", "t")])
    out = tmp_path / "out"
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--quiet") == 1
    s = json.loads((out / "t.summary.json").read_text())
    assert s["status"] == "failed" and "stopped decoding" in s["error"] and "truncated.avi" in s["error"]
    assert not (out / "t.boxes.txt").exists()


# ---------------------------------------------------------------------------------------- shards


def test_shards_together_equal_the_unsharded_batch(tmp_path, videos):
    rows = [
        (videos[k], *box, start, f"{k}{start}")
        for k, box in (("vtest", (100, 100, 50, 80)), ("mega", (250, 150, 100, 120)), ("one", (200, 100, 60, 150)))
        for start in (0, 20)
    ]
    m = write_manifest(tmp_path / "m.csv", rows)
    n = 6
    common = ["--model", "opencv:kcf", "--max-frames", 6, "--quiet"]
    assert batch(m, "-o", tmp_path / "all", *common) == 0
    # n shards into one folder (each writes its own shard summary) ...
    for i in range(n):
        assert batch(m, "-o", tmp_path / "one_dir", "--shard", f"{i}/{n}", *common) == 0
    # ... and n shards into n folders, merged.
    for i in range(n):
        assert batch(m, "-o", tmp_path / f"s{i}", "--shard", f"{i}/{n}", "--shard-by", "index", *common) == 0
    assert (
        batch("--merge", *(tmp_path / f"s{i}" for i in range(n)), "--output", tmp_path / "merged.csv", "--quiet") == 0
    )
    assert batch("--merge", tmp_path / "one_dir", "--output", tmp_path / "merged1.csv", "--quiet") == 0

    expected = stable_rows(tmp_path / "all" / "summary.csv")
    assert len(expected) == 6
    assert stable_rows(tmp_path / "merged.csv") == expected
    assert stable_rows(tmp_path / "merged1.csv") == expected
    shard_rows = [r for i in range(n) for r in stable_rows(tmp_path / "one_dir" / f"summary.shard-{i}-of-{n}.csv")]
    assert sorted(shard_rows, key=lambda r: r["item_id"]) == expected
    for r in expected:
        ref = (tmp_path / "all" / f"{r['item_id']}.boxes.txt").read_text()
        assert (tmp_path / "one_dir" / f"{r['item_id']}.boxes.txt").read_text() == ref
        shard_dir = next(
            tmp_path / f"s{i}" for i in range(n) if (tmp_path / f"s{i}" / f"{r['item_id']}.boxes.txt").exists()
        )
        assert (shard_dir / f"{r['item_id']}.boxes.txt").read_text() == ref


def test_merge_reports_missing_and_failed_items(tmp_path, videos):
    m = write_manifest(
        tmp_path / "m.csv",
        [
            (videos["mega"], 250, 150, 100, 120, 0, "a"),
            (videos["mega"], 250, 150, 0, 120, 0, "bad"),
            (videos["one"], 200, 100, 60, 150, 0, "c"),
        ],
    )
    common = ["--model", "opencv:kcf", "--max-frames", 4, "--quiet", "--shard-by", "index"]
    assert batch(m, "-o", tmp_path / "s0", "--shard", "0/2", *common) == 0  # a, c
    # shard 1 has not run: merging with the manifest reports its item as missing
    assert batch(m, "--merge", tmp_path / "s0", "--output", tmp_path / "sum.csv", "--quiet") == 1
    status = {r["item_id"]: r["status"] for r in read_csv(tmp_path / "sum.csv")}
    assert status == {"a": "ok", "bad": "missing", "c": "ok"}
    assert batch(m, "-o", tmp_path / "s1", "--shard", "1/2", *common) == 1  # bad
    assert batch("--merge", tmp_path / "s0", tmp_path / "s1", "--output", tmp_path / "sum.csv", "--quiet") == 1
    status = {r["item_id"]: r["status"] for r in read_csv(tmp_path / "sum.csv")}
    assert status == {"a": "ok", "bad": "failed", "c": "ok"}
    # the same finished item in two folders is ambiguous
    assert batch(m, "-o", tmp_path / "s0b", "--shard", "0/2", *common) == 0
    assert batch("--merge", tmp_path / "s0", tmp_path / "s0b", "--output", tmp_path / "x.csv", "--quiet") == 2


# ---------------------------------------------------------------------------------- interruption


class StepTracker(Tracker):
    """Moves the box one pixel right per frame; optionally raises KeyboardInterrupt (Ctrl-C) at frame k."""

    def __init__(self, interrupt_after: int | None = None):
        self.interrupt_after = interrupt_after

    def _init(self, frame, box):
        self.box = list(box)
        self.n = 0

    def _update(self, frame):
        self.n += 1
        if self.interrupt_after is not None and self.n >= self.interrupt_after:
            raise KeyboardInterrupt
        self.box[0] += 1
        return TrackResult(tuple(self.box), 0.5, self.n % 4 == 0)


def test_ctrl_c_mid_item_leaves_only_complete_files_and_the_rerun_completes(tmp_path, videos, monkeypatch):
    m = write_manifest(
        tmp_path / "m.csv",
        [
            (videos["mega"], 250, 150, 100, 120, 0, "first"),
            (videos["one"], 200, 100, 60, 150, 0, "second"),
            (videos["vtest"], 100, 100, 50, 80, 0, "third"),
        ],
    )
    out = tmp_path / "out"
    items = read_manifest(m)
    opts = BatchOptions(out_dir=str(out), model="opencv:kcf", max_frames=FRAMES, save_video=True)
    run_batch(items[:1], opts)  # "first" finishes normally
    first = (stamp(out / "first.boxes.txt"), stamp(out / "first.summary.json"))

    # Ctrl-C five frames into "second", through the command line: exit 130, nothing partial left.
    import tracker.batch.item as item_module

    monkeypatch.setattr(item_module, "make_tracker", lambda opts, warm=True: StepTracker(interrupt_after=5))
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", FRAMES, "--save-video", "--quiet") == 130
    names = sorted(p.name for p in out.iterdir())
    assert names == ["first.annotated.mp4", "first.boxes.txt", "first.summary.json"]
    assert (stamp(out / "first.boxes.txt"), stamp(out / "first.summary.json")) == first
    monkeypatch.undo()

    # The rerun completes the rest and leaves "first" alone.
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", FRAMES, "--save-video", "--quiet") == 0
    assert (stamp(out / "first.boxes.txt"), stamp(out / "first.summary.json")) == first
    for item in ("second", "third"):
        assert len(boxes_of(out, item)) == FRAMES
        assert (out / f"{item}.annotated.mp4").stat().st_size > 0
    assert no_temporaries(out)


def test_interrupted_redo_of_a_finished_item_never_leaves_new_boxes_with_the_old_summary(tmp_path, videos):
    m = write_manifest(tmp_path / "m.csv", [(videos["mega"], 250, 150, 100, 120, 0, "a")])
    item = read_manifest(m)[0]
    out = tmp_path / "out"
    ok = process_item(item, BatchOptions(out_dir=str(out), tracker_factory=StepTracker, max_frames=8))
    assert ok["status"] == "ok" and len(boxes_of(out, "a")) == 8
    with pytest.raises(KeyboardInterrupt):
        process_item(item, BatchOptions(out_dir=str(out), tracker_factory=lambda: StepTracker(3), max_frames=8))
    # The interrupted redo wrote nothing: the old, consistent result stands.
    assert json.loads((out / "a.summary.json").read_text())["frames"] == 8 and len(boxes_of(out, "a")) == 8
    assert no_temporaries(out)


# ------------------------------------------------------------------------------- frames and output


class FakeSource:
    """Frames 0..9 where 3 and 4 fail to decode (reported through `skipped`, as the real sources do)."""

    def __init__(self, spec, start=0):
        self.frame_count, self.fps, self.size, self.skipped = 10, 25.0, (64, 48), []

    def __iter__(self):
        for i in range(10):
            if i in (3, 4):
                self.skipped.append(i)
                continue
            yield i, np.zeros((48, 64, 3), np.uint8)

    def close(self):
        pass


def test_undecodable_frames_keep_one_line_per_frame(tmp_path, monkeypatch):
    import tracker.io.sources as sources

    monkeypatch.setattr(sources, "open_source", FakeSource)
    m = tmp_path / "m.jsonl"
    m.write_text('{"video": "fake.avi", "box": [10, 10, 8, 8], "id": "f"}\n')
    s = process_item(read_manifest(m)[0], BatchOptions(out_dir=str(tmp_path / "o"), tracker_factory=StepTracker))
    assert s["status"] == "ok" and s["frames"] == 10 and s["skipped_indices"] == [3, 4]
    xs = [b[0] for b in boxes_of(tmp_path / "o", "f")]
    # frames 0,1,2 tracked (10, 11, 12), 3 and 4 repeat the last box, then 5.. continue from the tracker
    assert xs == [10, 11, 12, 12, 12, 13, 14, 15, 16, 17]
    assert s["frames_lost"] == 1 and s["lost_indices"] == [6]  # the 4th update (frame 6) reports lost
    assert s["mean_score"] == pytest.approx(0.5)


def test_progress_draws_an_overall_bar_and_per_item_fps():
    buf = io.StringIO()
    p = Progress(stream=buf, bar=True)
    p.begin(2, 0)
    p.report("begin", "a")
    p.report("start", "a", total=100)
    p.report("frames", "a", done=50, total=100, fps=42.0)
    assert "a 50/100 42.0 fps" in p.line() and "0/2 items" in p.line()
    p.item_done({"item_id": "a", "status": "ok", "frames": 100, "fps": 42.0})
    p.item_done({"item_id": "b", "status": "failed", "error": "b.mp4: cannot open video"})
    p.end()
    text = buf.getvalue()
    assert "[1/2] a: 100 frames, 42.0 fps" in text and "b.mp4: cannot open video" in text
    assert "[" + "#" * 24 + "] 2/2 items" in text and "1 ok, 1 failed" in text


def test_command_line_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert batch(tmp_path / "nope.csv", "-o", tmp_path / "o") == 2
    assert "nope.csv: no such manifest or folder" in capsys.readouterr().err
    bad = tmp_path / "m.csv"
    bad.write_text("video,x,y\na.mp4,1,2\n")
    assert batch(bad, "-o", tmp_path / "o") == 2
    assert "m.csv:1: the header needs the initial box" in capsys.readouterr().err
    assert batch(bad) == 2  # no output folder
    ok = write_manifest(tmp_path / "ok.csv", [("a.mp4", 1, 2, 3, 4, "", "")])
    assert batch(ok, "-o", tmp_path / "o", "--model", "opencv:nosuch") == 2  # fails before any item
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())
    assert batch("--merge", tmp_path) == 2  # --merge needs --output


def test_a_row_with_a_bad_box_fails_its_item_as_the_help_says(tmp_path, videos, capsys):
    """Issue 28: a row with three box values failed its item (exit 1) while the help said bad manifests exit
    2. The design stands (tracker.batch.manifest: one row's bad values do not stop the others) and the help
    says it: such a row fails its item, named by its line, the rest are tracked, exit 1; a manifest that
    cannot be read as a whole is exit 2 before any item runs."""
    help_text = " ".join(cli.EPILOG.split())
    assert "1 some item failed, the others tracked" in help_text
    assert "a row whose values are bad (a box that is not four numbers" in help_text
    assert "2 bad arguments or a manifest that cannot be read as a whole" in help_text
    m = tmp_path / "m.csv"
    m.write_text(f'id,video,box\ngood,{videos["vtest"]},"100,100,50,80"\nbad,{videos["vtest"]},"100,100,50"\n')
    out = tmp_path / "out"
    assert batch(m, "-o", out, "--model", "opencv:kcf", "--max-frames", 3) == 1
    failed = [ln for ln in capsys.readouterr().err.splitlines() if "FAILED" in ln]
    assert len(failed) == 1 and "m.csv:3: an initial box has 4 values x,y,w,h, got 3" in failed[0]
    rows = {r["item_id"]: r for r in read_csv(out / "summary.csv")}
    assert rows["good"]["status"] == "ok" and len(boxes_of(out, "good")) == 3
    assert rows["bad"]["status"] == "failed" and rows["bad"]["error"].startswith(f"{m}:3: ")
    m.write_text("video,box\n")  # a header and no items: the manifest as a whole
    assert batch(m, "-o", tmp_path / "out2", "--model", "opencv:kcf") == 2
    assert not (tmp_path / "out2").exists()


def test_threads_follow_the_free_cores_unless_given(tmp_path, videos, monkeypatch, capsys):
    """--threads N (else the free cores, split among the workers) is what the process's torch gets."""
    import torch

    from tracker import runtime
    from tracker.batch import pool

    monkeypatch.setattr(runtime, "free_cores", lambda: 2)
    calls, real = [], runtime.threads_per_worker

    def spy(workers=1, requested=None):
        calls.append((workers, requested, real(workers, requested)))
        return calls[-1][2]

    monkeypatch.setattr(runtime, "threads_per_worker", spy)
    torch_threads = []
    monkeypatch.setattr(torch, "set_num_threads", torch_threads.append)
    # KCF needs no torch; pretend this model does, to see the number reach torch.set_num_threads
    monkeypatch.setattr(pool, "uses_torch", lambda opts: True)
    m = write_manifest(tmp_path / "m.csv", [(videos["vtest"], 100, 100, 50, 80, "", "vtest")])
    assert batch(m, "-o", tmp_path / "a", "--model", "opencv:kcf", "--max-frames", 2, "--quiet") == 0
    assert batch(m, "-o", tmp_path / "b", "--model", "opencv:kcf", "--max-frames", 2, "--threads", 3, "--quiet") == 0
    assert calls[0] == (1, None, 2) and calls[-1] == (1, 3, 3)  # one process: all free cores, or N
    assert torch_threads == [2, 3]
    with pytest.raises(SystemExit):
        batch(m, "-o", tmp_path / "c", "--threads", 0)
    assert "--threads" in capsys.readouterr().err


class CrashOnWideBoxTracker(StepTracker):
    """A tracker bug: fails on its third frame for boxes wider than 80 pixels."""

    def _update(self, frame):
        if self.box[2] > 80 and self.n == 2:
            raise RuntimeError("index out of range in the score map")
        return super()._update(frame)


def test_a_tracker_exception_fails_only_its_item_with_a_traceback(tmp_path, videos):
    m = write_manifest(
        tmp_path / "m.csv",
        [(videos["mega"], 250, 150, 100, 120, 0, "wide"), (videos["one"], 200, 100, 60, 150, 0, "narrow")],
    )
    out = tmp_path / "out"
    res = run_batch(
        read_manifest(m),
        BatchOptions(out_dir=str(out), tracker_factory=CrashOnWideBoxTracker, max_frames=6, save_video=True),
    )
    wide, narrow = res.summaries
    assert wide["status"] == "failed" and "RuntimeError: index out of range" in wide["error"]
    assert "Megamind.avi" in wide["error"] and "_update" in wide["traceback"]
    assert narrow["status"] == "ok" and len(boxes_of(out, "narrow")) == 6
    assert sorted(p.name for p in out.iterdir()) == [
        "narrow.annotated.mp4",
        "narrow.boxes.txt",
        "narrow.summary.json",
        "wide.summary.json",
    ]


def test_nanotrack_runs_with_its_model_folder_and_without_it_says_which_flag(tmp_path, videos, shared_dir, capsys):
    m = write_manifest(tmp_path / "m.csv", [(videos["vtest"], 100, 100, 50, 80, 0, "vtest")])
    out = tmp_path / "out"
    assert batch(m, "-o", out, "--model", "opencv:nano", "--max-frames", 5, "--quiet") == 2
    assert "--nano-dir FOLDER" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())  # failed before any item
    assert (
        batch(m, "-o", out, "--model", "opencv:nano", "--nano-dir", shared_dir / "peers", "--max-frames", 5, "--quiet")
        == 0
    )
    assert read_csv(out / "summary.csv")[0]["status"] == "ok" and len(boxes_of(out, "vtest")) == 5


@pytest.mark.slow
def test_one_tracker_per_process_reinitialised_per_item_gives_each_item_its_own_result(tmp_path, videos, monkeypatch):
    # the model is loaded and its fast path built once per process; init must leave nothing of the last item
    from tracker.batch import item as batch_item

    monkeypatch.setattr(batch_item, "_CACHED", {})  # not a tracker an earlier test left in this process
    opts = BatchOptions(out_dir=str(tmp_path / "o"), model="siamrpn_effnet_lite0_fast", engine="torch")
    built = batch_item.make_tracker(opts, warm=False)  # the command line's up-front check: nothing built yet
    assert not built.model.fast_path.search.copies
    assert batch_item.make_tracker(opts) is built and built.model.fast_path.search.copies  # the first item warms it
    assert batch_item.make_tracker(opts) is batch_item.make_tracker(opts)
    m = write_manifest(
        tmp_path / "m.csv",
        [
            (videos["vtest"], 100, 100, 50, 80, 0, "first"),
            (videos["mega"], 250, 150, 100, 120, 0, "other"),
            (videos["vtest"], 100, 100, 50, 80, 0, "again"),
        ],
    )
    out = tmp_path / "out"
    assert batch(m, "-o", out, "--model", "siamrpn_effnet_lite0_fast", "--max-frames", 8, "--quiet") == 0
    assert boxes_of(out, "first") == boxes_of(out, "again") and boxes_of(out, "first") != boxes_of(out, "other")


@pytest.mark.parametrize(
    "model,engine,ran",
    [
        # the default runs its shipped int8 export on ONNX Runtime: no torch correlation ran
        ("siamrpn_effnet_lite0_fast", "auto", {"engine": "onnxruntime int8"}),
        ("siamfc_alexnet", "torch", {"engine": "torch", "xcorr": "torch"}),
        ("opencv:kcf", "auto", {"engine": None}),
    ],
)
def test_the_summary_records_the_engine_that_ran_and_xcorr_only_for_the_torch_engine(
    tmp_path, videos, monkeypatch, model, engine, ran
):
    from tracker.batch import item as batch_item

    monkeypatch.setattr(batch_item, "_CACHED", {})  # this test's tracker, not one an earlier test left
    item = read_manifest(write_manifest(tmp_path / "m.csv", [(videos["vtest"], 100, 100, 50, 80, 0, "v")]))[0]
    s = process_item(item, BatchOptions(out_dir=str(tmp_path / "o"), model=model, engine=engine, max_frames=3))
    assert s["status"] == "ok", s["error"]
    on_disk = json.loads((tmp_path / "o" / "v.summary.json").read_text())
    assert {k: on_disk[k] for k in ("engine", "xcorr") if k in on_disk} == ran
