"""`siamtrack batch --workers N`: spawned worker processes give the same results as one process, divide
the free cores among themselves, and stop cleanly on Ctrl-C (only complete files remain)."""

from __future__ import annotations

import functools
import os
import signal
import time

import pytest

from tracker.batch.manifest import read_manifest
from tracker.batch.options import BatchOptions
from tracker.batch.runner import run_batch
from tracker.trackers.base import Tracker, TrackResult


def write_manifest(path, rows):
    path.write_text("video,x,y,w,h,id\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def manifest(tmp_path, shared_dir):
    d = shared_dir / "data" / "videos"
    return write_manifest(
        tmp_path / "m.csv",
        [
            (d / "vtest.avi", 100, 100, 50, 80, "vtest"),
            (d / "Megamind.avi", 250, 150, 100, 120, "mega"),
            (d / "oneperson.mp4", 200, 100, 60, 150, "one"),
        ],
    )


def test_two_workers_match_one_process_and_split_the_cores(tmp_path, shared_dir, monkeypatch):
    from tracker import runtime

    monkeypatch.setattr(runtime, "free_cores", lambda: 4)  # the parent decides; the workers get 4 // 2
    items = read_manifest(manifest(tmp_path, shared_dir))
    one = run_batch(items, BatchOptions(out_dir=str(tmp_path / "w1"), model="opencv:kcf", max_frames=10))
    two = run_batch(items, BatchOptions(out_dir=str(tmp_path / "w2"), model="opencv:kcf", max_frames=10), workers=2)
    assert [s["status"] for s in one.summaries] == ["ok"] * 3 == [s["status"] for s in two.summaries]
    for it in items:
        name = f"{it.item_id}.boxes.txt"
        assert (tmp_path / "w2" / name).read_text() == (tmp_path / "w1" / name).read_text()
    assert all(s["pid"] != os.getpid() for s in two.summaries)  # tracked in the workers
    assert all(s["pid"] == os.getpid() for s in one.summaries)
    assert {s["threads"] for s in two.summaries} == {2}


class SigintTracker(Tracker):
    """After `k` frames, the first tracker to get there sends Ctrl-C (SIGINT) to the batch's parent
    process, then slows down so the item is still running when the parent tells the workers to stop."""

    def __init__(self, parent: int, flag: str, k: int):
        self.parent, self.flag, self.k = parent, flag, k

    def _init(self, frame, box):
        self.box, self.n, self.sent = tuple(box), 0, False

    def _update(self, frame):
        self.n += 1
        if self.n == self.k:
            try:
                os.close(os.open(self.flag, os.O_CREAT | os.O_EXCL))  # only one worker sends it
                os.kill(self.parent, signal.SIGINT)
                self.sent = True
            except FileExistsError:
                pass
        if self.n >= self.k and os.path.exists(self.flag):
            time.sleep(0.02)
        return TrackResult(self.box, 0.9, False)


def make_sigint_tracker(parent, flag, k):
    return SigintTracker(parent, flag, k)


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt here even when the tests run as a background job (a shell starts
    those with SIGINT ignored, and Python then keeps it ignored)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def _sigint_default():  # for subprocesses: undo an inherited SIG_IGN before Python starts
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_workers_leaving_complete_files_only(tmp_path, shared_dir, ctrl_c_raises):
    items = read_manifest(manifest(tmp_path, shared_dir))
    out = tmp_path / "out"
    factory = functools.partial(make_sigint_tracker, os.getpid(), str(tmp_path / "sent.flag"), 10)
    res = run_batch(items, BatchOptions(out_dir=str(out), tracker_factory=factory, max_frames=120), workers=2)
    assert res.interrupted
    assert (tmp_path / "sent.flag").exists()
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.startswith(".")]  # no temporaries
    finished = {s["item_id"] for s in res.summaries}
    assert len(finished) < 3
    for it in items:  # each item has both its files, complete, or none of them
        has = {(out / f"{it.item_id}{sfx}").exists() for sfx in (".boxes.txt", ".summary.json")}
        assert has == {it.item_id in finished}
        if it.item_id in finished:
            assert len((out / f"{it.item_id}.boxes.txt").read_text().splitlines()) == 120

    # The rerun (one process, a tracker that does not interrupt) completes the rest, keeps the finished.
    plain = functools.partial(make_sigint_tracker, os.getpid(), str(tmp_path / "sent.flag"), 10**9)
    before = {i: (out / f"{i}.summary.json").stat().st_mtime_ns for i in finished}
    again = run_batch(items, BatchOptions(out_dir=str(out), tracker_factory=plain, max_frames=120))
    assert not again.interrupted and [s["status"] for s in again.summaries] == ["ok"] * 3
    assert again.skipped == len(finished)
    assert {i: (out / f"{i}.summary.json").stat().st_mtime_ns for i in finished} == before


def test_real_command_with_workers_exits_130_on_ctrl_c_leaving_no_partial_file(tmp_path, shared_dir):
    """The installed entry point (`python -m tracker.cli batch`) with spawned workers: Ctrl-C (SIGINT to
    the whole process group, as a terminal sends it) ends it with 130 and only complete files remain."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    m = manifest(tmp_path, shared_dir)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracker.cli",
            "batch",
            str(m),
            "-o",
            str(out),
            "--model",
            "opencv:kcf",
            "--workers",
            "2",
            "--save-video",
        ],
        cwd=repo,
        start_new_session=True,
        preexec_fn=_sigint_default,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 20
    while time.time() < deadline and not (out.is_dir() and any(p.suffix == ".mp4" for p in out.iterdir())):
        time.sleep(0.1)  # wait until a worker is writing an annotated video (a half-written file exists)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.startswith(".")], names  # the partial videos were removed
    for n in names:  # whatever is left is a complete item: its summary says ok
        item = n.split(".")[0]
        assert (out / f"{item}.summary.json").exists(), names


class DyingTracker(Tracker):
    """Kills its process (as the OOM killer or a crash in native code would) for boxes wider than 80 px."""

    def _init(self, frame, box):
        if box[2] > 80:
            os._exit(3)
        self.box = tuple(box)

    def _update(self, frame):
        return TrackResult(self.box, 1.0, False)


@pytest.mark.slow
def test_a_worker_that_dies_fails_its_item_only(tmp_path, shared_dir):
    d = shared_dir / "data" / "videos"
    m = write_manifest(
        tmp_path / "m.csv",
        [
            (d / "Megamind.avi", 250, 150, 100, 120, "killer"),
            (d / "oneperson.mp4", 200, 100, 60, 150, "a"),
            (d / "Megamind.avi", 20, 10, 60, 50, "b"),
        ],
    )
    items = read_manifest(m)
    res = run_batch(
        items, BatchOptions(out_dir=str(tmp_path / "o"), tracker_factory=DyingTracker, max_frames=3), workers=2
    )
    status = {s["item_id"]: s["status"] for s in res.summaries}
    assert status == {"killer": "failed", "a": "ok", "b": "ok"}
    assert "worker process died" in res.summaries[0]["error"]
