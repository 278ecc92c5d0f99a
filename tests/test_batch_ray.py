"""`siamtrack batch --ray`: the same items on a local Ray instance (2 CPU actors) give byte-identical box
files to the local runner; an actor killed mid-item has its item retried; a corrupt video fails alone; a
rerun redoes nothing; Ctrl-C ends the real command with 130 and only complete files.

Real clips from ../shared/data (videos and an image-folder sequence) tracked with OpenCV's KCF, which
is deterministic. The tests that start Ray are skipped, saying why, when Ray is not installed
(pip install "siamtrack[ray]"); CI installs it.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tracker.batch.manifest import read_manifest
from tracker.batch.options import BatchOptions
from tracker.batch.progress import Progress
from tracker.batch.runner import run_batch

REPO = Path(__file__).resolve().parent.parent
NO_RAY = 'Ray is not installed (pip install "siamtrack[ray]")'
FRAMES = 40


def ray_installed() -> bool:
    try:
        importlib.import_module("ray")
    except ImportError:
        return False
    return True


needs_ray = pytest.mark.skipif(not ray_installed(), reason=NO_RAY)


@pytest.fixture(scope="module")
def local_ray():
    """One small local Ray instance (2 CPUs) for this module's in-process runs; run_batch uses a connection
    that already exists and leaves it open."""
    import logging

    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=100 * 1024 * 1024,
        logging_level=logging.ERROR,
    )
    yield ray
    ray.shutdown()


def write_manifest(path: Path, rows) -> Path:
    path.write_text("video,x,y,w,h,start,id\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def clips(shared_dir, tmp_path_factory):
    """Four real clips (three videos, one image-folder sequence) and a corrupt video."""
    d = tmp_path_factory.mktemp("clips")
    v = shared_dir / "data" / "videos"
    corrupt = d / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(1).integers(0, 256, 30000, dtype=np.uint8).tobytes())
    return write_manifest(
        d / "m.csv",
        [
            (v / "vtest.avi", 100, 100, 50, 80, 0, "vtest"),
            (v / "Megamind.avi", 250, 150, 100, 120, 0, "mega"),
            (v / "oneperson.mp4", 200, 100, 60, 150, 5, "one"),
            (shared_dir / "data" / "sequences" / "car1" / "img", 243.05, 165.16, 115.9, 112.68, 0, "car1"),
            (corrupt, 10, 10, 20, 20, 0, "corrupt"),
        ],
    )


@pytest.fixture(scope="module")
def reference(clips, tmp_path_factory):
    """The local runner's results (one process) for the same items."""
    out = tmp_path_factory.mktemp("local")
    res = run_batch(read_manifest(clips), BatchOptions(out_dir=str(out), model="opencv:kcf", max_frames=FRAMES))
    assert {s["item_id"]: s["status"] for s in res.summaries} == {
        "vtest": "ok",
        "mega": "ok",
        "one": "ok",
        "car1": "ok",
        "corrupt": "failed",
    }
    return out


def ray_opts(**kw):
    from tracker.batch.ray_pool import RayOptions

    return RayOptions(**kw)


def stable_rows(summaries) -> list[dict]:
    from tracker.batch.summary import summary_row

    return sorted(
        ({k: v for k, v in summary_row(s).items() if k not in ("fps", "wall_fps", "seconds")} for s in summaries),
        key=lambda r: r["item_id"],
    )


def stamps(out: Path) -> dict:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()}


def no_temporaries(out: Path) -> bool:
    return not [p.name for p in out.iterdir() if p.name.startswith(".")]


OK_ITEMS = ("vtest", "mega", "one", "car1")


@needs_ray
@pytest.mark.slow
def test_two_ray_actors_write_byte_identical_boxes_a_corrupt_video_fails_alone_and_a_rerun_redoes_nothing(
    local_ray, clips, reference, tmp_path
):
    items = read_manifest(clips)
    out = tmp_path / "ray"
    opts = BatchOptions(out_dir=str(out), model="opencv:kcf", max_frames=FRAMES)
    res = run_batch(items, opts, ray=ray_opts())  # as many actors as the 2 CPUs hold: 2
    status = {s["item_id"]: s["status"] for s in res.summaries}
    assert status == {"vtest": "ok", "mega": "ok", "one": "ok", "car1": "ok", "corrupt": "failed"}
    for i in OK_ITEMS:
        assert (out / f"{i}.boxes.txt").read_bytes() == (reference / f"{i}.boxes.txt").read_bytes()
    bad = next(s for s in res.summaries if s["item_id"] == "corrupt")
    assert "corrupt.mp4" in bad["error"] and not (out / "corrupt.boxes.txt").exists()
    assert all(s["pid"] != os.getpid() for s in res.summaries)  # tracked in the actors
    assert {s["attempts"] for s in res.summaries} == {1}
    assert no_temporaries(out)
    # ... and the summary CSV's rows are the local runner's (but for timings and the folder's name)
    local = run_batch(items, BatchOptions(out_dir=str(reference), model="opencv:kcf", max_frames=FRAMES))
    assert local.skipped == 4 and stable_rows(res.summaries) == stable_rows(local.summaries)

    # The rerun: the finished items are not touched (the failed one is tried again, and fails again).
    before = {k: v for k, v in stamps(out).items() if not k.startswith("corrupt")}
    again = run_batch(items, opts, ray=ray_opts())
    assert again.skipped == 4 and again.processed == 1
    assert {k: v for k, v in stamps(out).items() if not k.startswith("corrupt")} == before
    # Without the failing item nothing is left to do: Ray is not even asked.
    good = [it for it in items if it.item_id != "corrupt"]
    import tracker.batch.ray_pool as rr

    assert run_batch(good, opts, ray=rr.RayOptions(address="unreachable.invalid:1")).processed == 0
    assert {k: v for k, v in stamps(out).items() if not k.startswith("corrupt")} == before


@needs_ray
@pytest.mark.slow
def test_an_item_of_several_targets_on_ray_writes_what_the_local_runner_writes(local_ray, shared_dir, tmp_path):
    video = shared_dir / "data" / "videos" / "Megamind.avi"
    m = tmp_path / "m.csv"
    m.write_text(f"video,x,y,w,h,target\n{video},250,150,100,120,1\n{video},420,180,80,100,2\n")
    items = read_manifest(m)
    here = run_batch(items, BatchOptions(out_dir=str(tmp_path / "here"), model="opencv:kcf", max_frames=FRAMES))
    there = run_batch(
        items, BatchOptions(out_dir=str(tmp_path / "ray"), model="opencv:kcf", max_frames=FRAMES), ray=ray_opts()
    )
    assert [s["status"] for s in here.summaries] == [s["status"] for s in there.summaries] == ["ok"]
    assert there.summaries[0]["pid"] != os.getpid()
    mot = (tmp_path / "ray" / "Megamind.boxes.txt").read_bytes()
    assert mot == (tmp_path / "here" / "Megamind.boxes.txt").read_bytes()
    assert {ln.split(b",")[1] for ln in mot.splitlines()} == {b"1", b"2"}


@needs_ray
@pytest.mark.slow
def test_an_actor_killed_mid_item_has_its_item_retried_on_another(local_ray, clips, reference, tmp_path, monkeypatch):
    from tracker.batch.ray_actor import TEST_HOOK_ENV

    items = [it for it in read_manifest(clips) if it.item_id in ("mega", "one")]
    monkeypatch.setenv(TEST_HOOK_ENV, "exit:mega:5")  # the actor tracking "mega" exits at its 5th frame
    out = tmp_path / "retried"
    res = run_batch(
        items,
        BatchOptions(out_dir=str(out), model="opencv:kcf", max_frames=FRAMES, save_video=True),
        ray=ray_opts(workers=2),
    )
    by_id = {s["item_id"]: s for s in res.summaries}
    assert by_id["mega"]["status"] == "ok" and by_id["mega"]["attempts"] == 2
    assert by_id["one"]["status"] == "ok" and by_id["one"]["attempts"] == 1
    for i in ("mega", "one"):
        assert (out / f"{i}.boxes.txt").read_bytes() == (reference / f"{i}.boxes.txt").read_bytes()
        assert (out / f"{i}.annotated.mp4").stat().st_size > 0
    assert no_temporaries(out)

    # With no retries left the item is reported failed, and nothing of it stays (the half-written
    # annotated video included).
    out0 = tmp_path / "no_retry"
    res = run_batch(
        items,
        BatchOptions(out_dir=str(out0), model="opencv:kcf", max_frames=FRAMES, save_video=True),
        ray=ray_opts(workers=2, max_retries=0),
    )
    by_id = {s["item_id"]: s for s in res.summaries}
    assert by_id["mega"]["status"] == "failed" and "Ray worker died" in by_id["mega"]["error"]
    assert by_id["one"]["status"] == "ok"
    assert sorted(p.name for p in out0.iterdir()) == [
        "mega.summary.json",
        "one.annotated.mp4",
        "one.boxes.txt",
        "one.summary.json",
    ]


@needs_ray
def test_items_go_out_longest_first_and_the_driver_shows_progress(local_ray, clips, tmp_path):
    from tracker.batch.ray_pool import longest_first

    items = [it for it in read_manifest(clips) if it.item_id != "corrupt"]
    opts = BatchOptions(out_dir=str(tmp_path / "o"), model="opencv:kcf", max_frames=300)
    # frames to track: vtest 795 -> 300 (capped), one 443 - 5 = 438 -> 300, mega 270, car1 252
    assert [it.item_id for it in longest_first(items, opts)] == ["vtest", "one", "mega", "car1"]
    opts.max_frames = None
    assert [it.item_id for it in longest_first(items, opts)] == ["vtest", "one", "mega", "car1"]
    short = [it for it in items if it.item_id in ("mega", "car1")][::-1]  # car1 first in the input
    opts.max_frames = 30
    buf = _Tty()
    progress = Progress(stream=buf, bar=True)
    res = run_batch(short, opts, ray=ray_opts(workers=1), progress=progress)
    assert [s["status"] for s in res.summaries] == ["ok", "ok"]
    text = buf.getvalue()
    # one actor: the order it tracked them in is the schedule (a tie at 30 frames keeps the input order)
    assert text.index("[1/2] car1") < text.index("[2/2] mega")
    assert "frames/s overall" in text and "2 ok, 0 failed" in text


@needs_ray
@pytest.mark.slow
def test_workers_that_cannot_build_the_tracker_stop_the_batch_with_the_reason(local_ray, clips, tmp_path):
    import functools

    from tracker import build_tracker
    from tracker.errors import UserError

    items = [it for it in read_manifest(clips) if it.item_id in ("mega", "one")]
    opts = BatchOptions(out_dir=str(tmp_path / "o"), tracker_factory=functools.partial(build_tracker, "nosuchmodel"))
    with pytest.raises(UserError, match=r"the Ray workers could not start: unknown model preset 'nosuchmodel'"):
        run_batch(items, opts, ray=ray_opts(workers=2))
    assert not list((tmp_path / "o").iterdir())  # no item was attempted


class _Tty:
    def __init__(self):
        self.parts = []

    def write(self, s):
        self.parts.append(s)

    def flush(self):
        pass

    def isatty(self):
        return True

    def getvalue(self):
        return "".join(self.parts)


def test_longest_first_puts_unknown_lengths_first_and_input_errors_last(clips):
    from tracker.batch.ray_pool import longest_first

    items = read_manifest(clips)
    opts = BatchOptions(out_dir="unused", model="opencv:kcf")
    order = [it.item_id for it in longest_first(items, opts)]
    assert order == ["corrupt", "vtest", "one", "mega", "car1"]  # corrupt: no frame count, maybe long


# ------------------------------------------------------------------------------------- command line


def run_cli(*argv, env=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", "batch", *map(str, argv)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=kw.pop("timeout", 120),
        **kw,
    )


def test_ray_flags_are_checked_before_anything_starts(clips, tmp_path, monkeypatch):
    import argparse

    from tracker.cli import batch as cli
    from tracker.errors import UserError

    p = argparse.ArgumentParser()
    cli.add_arguments(p)

    def run(*argv):
        return cli.run(p.parse_args([str(a) for a in argv]))

    out = tmp_path / "o"
    monkeypatch.setitem(sys.modules, "ray", None)  # as without the extra
    with pytest.raises(UserError, match=r'--ray needs Ray: pip install "siamtrack\[ray\]"'):
        run(clips, "-o", out, "--ray")
    monkeypatch.undo()
    if ray_installed():
        with pytest.raises(UserError, match="needs --gpus-per-worker"):
            run(clips, "-o", out, "--model", "opencv:kcf", "--ray", "--device", "cuda")
        with pytest.raises(UserError, match="use --device cuda"):
            run(clips, "-o", out, "--model", "opencv:kcf", "--ray", "--gpus-per-worker", "1", "--device", "cuda:1")
    with pytest.raises(UserError, match="put INPUT before --ray"):
        run("-o", out, "--ray", clips)
    with pytest.raises(SystemExit):
        p.parse_args([str(clips), "--ray", "--cpus-per-worker", "0"])
    assert not out.exists()


def _sigint_default():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@needs_ray
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.slow
def test_real_command_on_ray_stops_on_ctrl_c_with_130_and_the_rerun_completes_the_rest(clips, tmp_path):
    """The installed command with --ray (its own local Ray instance): one item is held at its 5th frame
    (the test hook), the others finish; Ctrl-C to the whole process group, as a terminal sends it,
    ends it with 130 leaving only complete files. Nothing but the batch's own lines reaches the terminal."""
    from tracker.batch.ray_actor import TEST_HOOK_ENV

    out = tmp_path / "out"
    args = [
        clips,
        "-o",
        out,
        "--model",
        "opencv:kcf",
        "--max-frames",
        60,
        "--save-video",
        "--ray",
        "--cpus-per-worker",
        1,
    ]
    env = dict(os.environ, **{TEST_HOOK_ENV: "hold:vtest:5"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "batch", *map(str, args)],
        cwd=REPO,
        env=env,
        start_new_session=True,
        preexec_fn=_sigint_default,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120  # a backstop only: the wait is for the files
        while not all((out / f"{i}.summary.json").exists() for i in ("mega", "one", "car1", "corrupt")):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.1)
        # Ray's processes do not take Ctrl-C themselves (SIGINT blocked or ignored): the driver decides
        ray_procs = {pid: c for pid, c in group_members(proc.pid).items() if pid != proc.pid}
        assert any("raylet" in c for c in ray_procs.values()), ray_procs
        assert all(sigint_held(pid) for pid in ray_procs), {c[:60]: sigint_held(pid) for pid, c in ray_procs.items()}
        os.killpg(proc.pid, signal.SIGINT)
        stdout, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert stdout == ""
    assert all(ln.startswith(("  ok ", "  FAILED ", "batch")) for ln in err.splitlines()), err
    assert "interrupted" in err
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.startswith(".")], names  # the half-written video was removed
    assert not [n for n in names if n.startswith("vtest")], names
    kept = {n: (out / n).stat().st_mtime_ns for n in names if not n.startswith("corrupt")}

    done = run_cli(*args[:-3])  # the rerun, here in one process: the same results and resume
    assert done.returncode == 1, done.stderr  # the corrupt video fails again
    assert "3 of 5 items already finished" in done.stderr
    assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept
    assert len((out / "vtest.boxes.txt").read_text().splitlines()) == 60


def group_members(pgid: int) -> dict[int, str]:
    """Live processes (not zombies) of a process group, with their command lines, from /proc."""
    found = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp ...
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found[int(d.name)] = cmd
    return found


def sigint_held(pid: int) -> bool:
    """SIGINT blocked or ignored by the process (or it is gone)."""
    try:
        status = dict(ln.split(":", 1) for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in ln)
    except OSError:
        return True
    bit = 1 << (signal.SIGINT - 1)
    return bool((int(status["SigBlk"], 16) | int(status["SigIgn"], 16)) & bit)


@needs_ray
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.slow
def test_ctrl_c_while_ray_starts_leaves_no_ray_process_behind(clips, tmp_path):
    """Ctrl-C to the process group while the local Ray instance is starting: exit 130 and every process
    of the group (Ray's servers and agents included) ends with the command."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "batch", str(clips), "-o", str(out), "--model", "opencv:kcf", "--ray"],
        cwd=REPO,
        start_new_session=True,
        preexec_fn=_sigint_default,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120  # a backstop only: the wait is for Ray's node agents
        while not any("agent" in c for c in group_members(proc.pid).values()):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=90)
        assert proc.returncode == 130, err
        # the batch's own way out (not an interrupted ray.init), and nothing else on the terminal
        assert err.splitlines()[-1] == "batch: interrupted; finished items are kept, rerun to complete the rest", err
        deadline = time.time() + 30
        while group_members(proc.pid) and time.time() < deadline:
            time.sleep(0.1)
        assert group_members(proc.pid) == {}
    finally:
        if group_members(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
