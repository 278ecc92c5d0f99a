"""What a new user hits first: output paths checked before any work, library chatter kept off the terminal,
one clear line for a damaged checkpoint, negative boxes, the demo's output place, --version."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracker.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def frames(tmp_path):
    """A 6-frame image folder with a bright square moving right."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        img = np.full((96, 128, 3), 40, np.uint8)
        img[30:60, 20 + 3 * i : 50 + 3 * i] = (30, 200, 240)
        cv2.imwrite(str(folder / f"{i:04d}.png"), img)
    return folder


@pytest.fixture()
def text_as_mp4(tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is a text file, not a video\n" * 20)
    return fake


def _one_error_line(err: str, needle: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "error:" in lines[0] and needle in lines[0], err


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--save-video", "{tmp}/out.xyz"], "--save-video {tmp}/out.xyz: unsupported video extension '.xyz'"),
        (["--save-video", "{tmp}/out"], "give the video a file extension"),
        (["--output", "{tmp}"], "--output {tmp}: is a folder"),
        (["--output", "{frames}/0000.png/boxes.txt"], "0000.png is a file, not a folder"),
        (["--groundtruth", "{tmp}/gt.txt", "--output", "{tmp}/gt.txt"], "--output {tmp}/gt.txt: is one of the inputs"),
    ],
)
def test_output_paths_are_checked_before_any_work(frames, tmp_path, capsys, extra, needle):
    # an unknown model would fail later: the output check must come first
    extra = [a.format(tmp=tmp_path, frames=frames) for a in extra]
    (tmp_path / "gt.txt").write_text("20,30,30,30\n")
    before = sorted(p.name for p in frames.iterdir())
    rc = main(["track", str(frames), "--init", "20,30,30,30", "--model", "no_such_model", "--quiet", *extra])
    assert rc == 2
    _one_error_line(capsys.readouterr().err, needle.format(tmp=tmp_path, frames=frames))
    assert sorted(p.name for p in frames.iterdir()) == before  # nothing written, nothing lost


def _as_a_user_sees(monkeypatch, folder: Path) -> None:
    """os.access as a non-root user sees `folder` (no write permission): root writes anywhere, so as root
    (containers, CI) the refusal the permission bits give a user is simulated; as a user it is real."""
    if os.geteuid() != 0:
        return
    real = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: not (mode & os.W_OK and Path(p) == folder) and real(p, mode, **kw)
    )


def test_a_read_only_output_folder_is_called_read_only(frames, clip_folder, tmp_path, capsys, monkeypatch):
    """Issue 28: a folder nobody may write in was reported as "permission denied"; it is "read-only", for
    track's files and batch's folder alike, before any work."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    _as_a_user_sees(monkeypatch, locked)
    rc = main(["track", str(frames), "--init", "20,30,30,30", "--output", str(locked / "b.txt"), "--quiet"])
    assert rc == 2
    _one_error_line(
        capsys.readouterr().err, f"--output {locked}/b.txt: cannot write in {locked}: the folder is read-only"
    )
    rc = main(["batch", str(clip_folder), "-o", str(locked / "out"), "--model", "opencv:kcf", "--quiet"])
    assert rc == 2
    _one_error_line(
        capsys.readouterr().err, f"-o/--out-dir {locked}/out: cannot write in {locked}: the folder is read-only"
    )
    assert list(locked.iterdir()) == []


def test_an_unwritable_folder_says_why(tmp_path, monkeypatch):
    """Writable by its owner but not by us: read-only for this user; on a read-only file system: that."""
    from tracker.io.sinks import OutputError, check_output_file

    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    real = os.access  # what a user other than the owner is told: no writing, the rest as it is
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: (mode & os.W_OK == 0) and real(p, mode, **kw))
    with pytest.raises(OutputError, match=r"the folder is read-only for this user \(no write permission\)$"):
        check_output_file(theirs / "b.txt")

    class ReadOnlyFs:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", lambda p: ReadOnlyFs())
    with pytest.raises(OutputError, match=r"cannot write in .*theirs: it is on a read-only file system$"):
        check_output_file(theirs / "b.txt")


def test_negative_box_parses_and_is_judged_by_the_tracker(frames, capsys):
    rc = main(["track", str(frames), "--init", "-100,-100,20,20", "--model", "opencv:kcf", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    _one_error_line(err, "outside the 128x96 frame")
    # a box partly outside the frame is a valid start
    rc = main(["track", str(frames), "--init", "-5,30,40,30", "--model", "opencv:kcf", "--quiet"])
    assert rc == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (
            ["track", "{frames}", "--init", "10,10,50"],
            "argument --init: expected X,Y,W,H (four numbers), got '10,10,50'",
        ),
        (["track", "{frames}", "--init", "a,b,c,d"], "argument --init: expected X,Y,W,H (four numbers), got 'a,b,c,d'"),
        (["track", "{frames}", "--init"], "argument --init: expected one argument"),
        (["batch", "{frames}", "--threads", "0"], "argument --threads: must be at least 1"),
    ],
)
def test_a_bad_option_value_is_one_line_without_the_usage(frames, capsys, argv, needle):
    """Issue 28: a malformed --init printed argparse's 12-line usage above the error; the error alone names
    the option and what it expects."""
    with pytest.raises(SystemExit) as exit_:
        main([a.format(frames=frames) for a in argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    _one_error_line(err, f"siamtrack {argv[0]}: error: {needle}")
    assert "usage:" not in err


def test_an_unknown_option_keeps_the_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["track", "--bogus"])
    assert exit_.value.code == 2
    assert "usage: siamtrack" in capsys.readouterr().err


@pytest.fixture()
def not_models(tmp_path):
    """Paths people give as a model that name none: a shipped export's graph file, the same file truncated,
    a checkpoint, binary content named .yaml, a folder that is no export, a path that does not exist."""
    from tracker.config.presets import WEIGHTS_DIR

    graph = WEIGHTS_DIR / "onnx" / "siamrpn_effnet_lite0_fast" / "template.onnx"
    (tmp_path / "cut.onnx").write_bytes(graph.read_bytes()[:5000])
    (tmp_path / "model.pth").write_bytes(b"PK\x03\x04\xff\xfe" + bytes(range(256)))
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    (tmp_path / "plain").mkdir()
    return {
        "graph": (str(graph), "an ONNX file (give the folder `siamtrack export` wrote, not one of its files)"),
        "cut": (str(tmp_path / "cut.onnx"), "an ONNX file"),
        "pth": (str(tmp_path / "model.pth"), "a weights file (give it with --weights)"),
        "yaml": (str(tmp_path / "binary.yaml"), "not a YAML config (not a text file)"),
        "folder": (str(tmp_path / "plain"), "a folder without siamtrack.json"),
        "missing": (str(tmp_path / "nope.onnx"), "no such file or folder"),
    }


@pytest.mark.parametrize("flag", ["--model", "--config"])
@pytest.mark.parametrize("command", ["track", "batch", "bench"])
@pytest.mark.parametrize("case", ["graph", "cut", "pth", "yaml", "folder", "missing"])
def test_a_path_that_is_no_model_is_one_line(frames, tmp_path, not_models, capsys, command, flag, case):
    """Issue 28: `--model ./file.onnx` and `--config some.pth` ended in a UnicodeDecodeError traceback (exit
    1) in track, batch and bench; now one line saying what the path is and what a model is, exit 2, before
    any output is written."""
    path, needle = not_models[case]
    out = tmp_path / "out"
    if command == "track":
        argv = ["track", str(frames), "--init", "20,30,30,30", flag, path, "--output", str(out / "b.txt")]
    elif command == "batch":
        (tmp_path / "m.csv").write_text(f"video,x,y,w,h\n{frames}/0000.png,20,30,30,30\n")
        argv = ["batch", str(tmp_path / "m.csv"), "-o", str(out), flag, path]
    else:
        (tmp_path / "ds").mkdir()
        (tmp_path / "ds" / "clip").symlink_to(frames)
        (frames / "groundtruth.txt").write_text("20,30,30,30\n" * 6)
        argv = ["bench", str(tmp_path / "ds"), "--results", str(out), "--tracker" if flag == "--model" else flag, path]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    _one_error_line(err, f"siamtrack {command}: error: {path}: {needle}")
    assert "Traceback" not in err
    if case != "yaml":
        assert err.rstrip().endswith(
            "a model is a preset name (`siamtrack models`), a folder written by `siamtrack export`, "
            "opencv:NAME, opencv-nano:DIR (cv2.TrackerNano's ONNX pair), or a YAML config (.yaml)"
        )
    assert not out.exists()


def test_negative_values_join_their_option_only():
    from tracker.cli.args import join_negative_values as join

    assert join(["track", "v.mp4", "--init", "-1,-2.5,3,4"]) == ["track", "v.mp4", "--init=-1,-2.5,3,4"]
    assert join(["--init", "-1, 2, 3, 4", "--quiet"]) == ["--init=-1, 2, 3, 4", "--quiet"]
    assert join(["--max-frames", "-3"]) == ["--max-frames", "-3"]  # argparse handles a single number
    assert join(["--", "--init", "-1,2,3,4"]) == ["--", "--init", "-1,2,3,4"]


def _run_cli(*argv, cwd=None, env=None):
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("OPENCV_LOG_LEVEL", None)
    full_env.pop("OPENCV_FFMPEG_LOGLEVEL", None)
    full_env["QT_QPA_PLATFORM"] = "offscreen"
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *argv],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_text_file_named_mp4_gives_our_line_only_in_track(text_as_mp4):
    r = _run_cli("track", str(text_as_mp4), "--init", "1,1,5,5", "--model", "opencv:kcf")
    assert r.returncode == 2
    assert "moov atom" not in r.stderr and "WARN" not in r.stderr and "[mov" not in r.stderr
    _one_error_line(r.stderr, f"{text_as_mp4}: cannot open video")


def test_text_file_named_mp4_gives_our_line_only_in_gui(text_as_mp4, tmp_path):
    pytest.importorskip("PyQt6")
    r = _run_cli("gui", str(text_as_mp4), "--frames", "2", "--screenshot", str(tmp_path / "s.png"))
    assert r.returncode == 2
    assert "moov atom" not in r.stderr and "[mov" not in r.stderr and "WARN" not in r.stderr
    _one_error_line(r.stderr, "cannot open video")


def test_text_file_named_mp4_gives_our_line_only_in_batch(text_as_mp4, tmp_path):
    (tmp_path / "clip.txt").write_text("1,1,5,5\n")
    out = tmp_path / "out"
    r = _run_cli("batch", str(tmp_path), "-o", str(out), "--model", "opencv:kcf", "--quiet")
    assert r.returncode == 1  # the item failed, the run did not
    assert "moov atom" not in r.stderr and "[mov" not in r.stderr and "WARN" not in r.stderr
    summary = (out / "summary.csv").read_text()
    assert "cannot open video" in summary


def test_camera_probe_is_silent():
    r = _run_cli("track", "7", "--init", "1,1,5,5", "--model", "opencv:kcf")
    assert r.returncode == 2
    assert "WARN" not in r.stderr and "VIDEOIO" not in r.stderr
    _one_error_line(r.stderr, "7: cannot open camera")


@pytest.mark.parametrize(
    "content,needle",
    [
        (os.urandom(4096), "not a checkpoint (corrupt or not a torch file)"),
        (b"just some text\n", "not a checkpoint (corrupt or not a torch file)"),
    ],
)
def test_corrupt_checkpoint_is_one_line_without_unsafe_advice(frames, tmp_path, capsys, content, needle):
    bad = tmp_path / "model.pth"
    bad.write_bytes(content)
    rc = main(["track", str(frames), "--init", "20,30,30,30", "--model", "siamfc_alexnet", "--weights", str(bad)])
    assert rc == 2
    err = capsys.readouterr().err
    _one_error_line(err, needle)
    assert "weights_only" not in err


def test_pickled_objects_are_refused_without_unsafe_advice(tmp_path):
    import torch
    from torch import nn

    from tracker.models.checkpoint import CheckpointError, read_checkpoint

    path = tmp_path / "whole_model.pth"
    torch.save(nn.Linear(2, 2), path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert "state_dict()" in str(info.value) and "weights_only" not in str(info.value)
    assert "\n" not in str(info.value)


def test_demo_writes_to_the_temporary_folder_not_the_current_one(tmp_path, monkeypatch, capsys):
    import tempfile

    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    rc = main(["track", "--demo", "--model", "opencv:kcf", "--max-frames", "3", "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    video = tmp / "siamtrack-demo" / "demo_tracked.mp4"
    assert f"annotated video: {video}" in out
    assert video.is_file() and video.stat().st_size > 0
    assert list(cwd.iterdir()) == []
    # asked for: the current folder
    rc = main(["track", "--demo", "--model", "opencv:kcf", "--max-frames", "3", "--quiet", "--save-video", "d.avi"])
    assert rc == 0 and (cwd / "d.avi").is_file()


def test_two_runs_writing_the_same_video_at_once_both_finish(tmp_path):
    """Two `siamtrack track --demo` at the same time write the same annotated video: each process writes its
    own temporary file (tracker.io.sinks.partial_video_name) and renames it, so neither takes the other's away."""
    from tracker.io.sinks import is_partial_video_of, partial_video_name

    video = tmp_path / "tmp" / "siamtrack-demo" / "demo_tracked.mp4"
    assert partial_video_name(video, 11) != partial_video_name(video, 12)
    assert is_partial_video_of(partial_video_name(video, 11), video)
    assert not is_partial_video_of(".demo_tracked.x.partial.mp4", video) and not is_partial_video_of(
        "demo_tracked.mp4", video
    )
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path / "tmp"), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "tracker.cli", "track", "--demo", "--model", "opencv:kcf", "--quiet"]
    procs = [
        subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert all(rc == 0 and err == "" for _, err, rc in results), results
    assert video.stat().st_size > 0 and sorted(p.name for p in video.parent.iterdir()) == ["demo_tracked.mp4"]


def test_version_and_default_alias(capsys):
    from tracker import __version__
    from tracker.config.presets import DEFAULT_PRESET, get_preset

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"siamtrack {__version__}"
    assert get_preset("default").name == DEFAULT_PRESET


def test_gui_checks_its_outputs_before_opening_a_window(frames, tmp_path):
    r = _run_cli(
        "gui",
        str(frames),
        "--frames",
        "2",
        "--screenshot",
        str(tmp_path / "s.png"),
        "--save-video",
        str(tmp_path / "rec.xyz"),
    )
    assert r.returncode == 2
    _one_error_line(r.stderr, "--save-video")
    r = _run_cli(
        "gui", str(frames), "--frames", "2", "--screenshot", str(tmp_path / "s.png"), "--output", str(tmp_path)
    )
    assert r.returncode == 2
    _one_error_line(r.stderr, "is a folder")
    assert not (tmp_path / "s.png").exists()


@pytest.fixture()
def clip_folder(tmp_path):
    """A folder with one 8-frame .avi and its sidecar box file."""
    folder = tmp_path / "clips"
    folder.mkdir()
    w = cv2.VideoWriter(str(folder / "a.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (128, 96))
    for i in range(8):
        img = np.full((96, 128, 3), 40, np.uint8)
        img[30:60, 20 + 3 * i : 50 + 3 * i] = (30, 200, 240)
        w.write(img)
    w.release()
    (folder / "a.txt").write_text("20,30,30,30\n")
    return folder


def test_batch_force_without_save_video_removes_the_old_video(clip_folder, tmp_path, capsys):
    import json

    out = tmp_path / "out"
    base = ["batch", str(clip_folder), "-o", str(out), "--model", "opencv:kcf", "--quiet"]
    assert main(base + ["--save-video"]) == 0
    assert (out / "a.annotated.mp4").is_file()
    assert main(base + ["--force"]) == 0
    assert not (out / "a.annotated.mp4").exists()
    assert json.loads((out / "a.summary.json").read_text())["video_file"] is None


def test_batch_summary_flag_and_the_old_spelling(clip_folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "batch",
                str(clip_folder),
                "-o",
                str(out),
                "--model",
                "opencv:kcf",
                "--quiet",
                "--summary",
                str(tmp_path / "s.csv"),
            ]
        )
        == 0
    )
    assert (tmp_path / "s.csv").read_text().count("\n") == 2
    assert capsys.readouterr().err == ""
    assert main(["batch", "--merge", str(out), "--output", str(tmp_path / "m.csv"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.strip() == "siamtrack: note: --output is deprecated, use --summary (--output goes in 0.3)"
    assert (tmp_path / "m.csv").is_file()


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["-o", "{clips}/a.avi"], "exists and is not a folder"),
        (["-o", "{tmp}/out", "--summary", "{tmp}"], "--summary {tmp}: is a folder"),
    ],
)
def test_batch_outputs_checked_before_any_work(clip_folder, tmp_path, capsys, extra, needle):
    extra = [a.format(tmp=tmp_path, clips=clip_folder) for a in extra]
    rc = main(["batch", str(clip_folder), "--model", "no_such_model", "--quiet", *extra])
    assert rc == 2
    _one_error_line(capsys.readouterr().err, needle.format(tmp=tmp_path))


@pytest.mark.parametrize(
    "name,flag,first",
    [
        ("groundtruth_rect.txt", [], "20,30,30,30"),  # OTB's file: 1-based
        ("groundtruth_rect.txt", ["--gt-base", "0"], "21,31,30,30"),
        ("gt.txt", [], "21,31,30,30"),  # any other file: 0-based (siamtrack's rule)
        ("gt.txt", ["--gt-base", "1"], "20,30,30,30"),
    ],
)
def test_track_reads_ground_truth_with_its_origin(frames, tmp_path, capsys, name, flag, first):
    gt = tmp_path / name
    gt.write_text("".join(f"{21 + 3 * i},31,30,30\n" for i in range(6)))
    out = tmp_path / "boxes.txt"
    rc = main(
        [
            "track",
            str(frames),
            "--groundtruth",
            str(gt),
            "--output",
            str(out),
            "--model",
            "opencv:csrt",
            "--quiet",
            *flag,
        ]
    )
    assert rc == 0
    assert out.read_text().splitlines()[0] == first
    assert "AUC" in capsys.readouterr().out


def test_train_flags_one_meaning_and_old_spellings(capsys):
    from tracker.cli import build_parser

    p = build_parser()
    a = p.parse_args(["train", "p", "--init-weights", "w.pth", "--data-workers", "2", "--quiet", "--out-dir", "o"])
    assert (a.init, a.workers, a.no_progress, a.out) == ("w.pth", 2, True, "o")
    assert capsys.readouterr().err == ""
    a = p.parse_args(["train", "p", "--init", "w.pth", "--workers", "3", "--no-progress", "--out", "o"])
    assert (a.init, a.workers, a.no_progress, a.out) == ("w.pth", 3, True, "o")
    notes = capsys.readouterr().err.splitlines()
    assert notes == [
        f"siamtrack: note: {old} is deprecated, use {new} ({old} goes in 0.3)"
        for old, new in [
            ("--init", "--init-weights"),
            ("--workers", "--data-workers"),
            ("--no-progress", "--quiet"),
            ("--out", "--out-dir"),
        ]
    ]


def test_gui_source_positional_and_old_spellings(capsys):
    from tracker.cli import build_parser

    p = build_parser()
    a = p.parse_args(["gui", "clip.mp4", "--output", "b.txt", "--save-video", "r.mp4", "--init", "1,2,3,4"])
    assert (a.source, a.export, a.record) == ("clip.mp4", "b.txt", "r.mp4")
    assert capsys.readouterr().err == ""
    a = p.parse_args(["gui", "--source", "clip.mp4", "--export", "b.txt", "--record", "r.mp4"])
    assert (a.source_opt, a.export, a.record) == ("clip.mp4", "b.txt", "r.mp4")
    assert len(capsys.readouterr().err.splitlines()) == 3


def test_workers_zero_means_one_per_core_in_batch_and_bench():
    from tracker.cli import build_parser

    p = build_parser()
    assert p.parse_args(["batch", "m.csv", "-o", "x", "--workers", "0"]).workers == 0
    assert p.parse_args(["bench", "d", "--workers", "0"]).workers == 0
    with pytest.raises(SystemExit):
        p.parse_args(["bench", "d", "--workers", "-1"])


def test_export_writes_to_out_dir_checked_first(tmp_path, capsys):
    from tracker.cli import build_parser

    assert build_parser().parse_args(["export", "--out-dir", "d"]).out == "d"
    (tmp_path / "f").write_text("x")
    rc = main(["export", "no_such_model", "--out-dir", str(tmp_path / "f")])
    assert rc == 2
    _one_error_line(capsys.readouterr().err, "exists and is not a folder")
