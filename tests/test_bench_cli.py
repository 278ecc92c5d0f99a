"""`siamtrack bench` end to end on real frames: raw results, resume, dropped-in results, VOT supervised
runs, and scores that agree with an independent per-frame computation."""

import json
import math

import cv2
import numpy as np
import pytest

from tracker import Tracker, TrackResult
from tracker.bench.runner import parse_tracker_spec, track_supervised
from tracker.bench.sequences import Sequence
from tracker.cli.bench import main
from tracker.config.presets import DEFAULT_PRESET


def _bench(tmp_path, shared_dir, *extra, seqs="car1,person9", frames=35, plots=False):
    argv = ["--no-plots"] * (not plots) + [
        str(shared_dir / "data" / "sequences"),
        "--results",
        str(tmp_path / "results"),
        "--report-dir",
        str(tmp_path / "report"),
        "--quiet",
        "--sequences",
        seqs,
        "--max-frames",
        str(frames),
        *extra,
    ]
    return main(argv)


def _report(tmp_path):
    return json.loads((tmp_path / "report" / "report.json").read_text())


def _lines(path):
    return [line for line in path.read_text().splitlines() if line.strip()]


def _independent_scores(result_file, gt_file, n):
    """AUC and P@20 of one sequence recomputed with plain loops: IoU > t for t = 0, 0.05, .. 1, centre
    error <= 20 px, frames whose ground truth is NaN skipped."""
    pred = [[float(v) for v in line.split(",")] for line in _lines(result_file)[:n]]
    gt = [[float(v) for v in line.split(",")] for line in _lines(gt_file)[:n]]
    ious, errs = [], []
    for p, g in zip(pred, gt):
        if any(math.isnan(v) for v in g):
            continue
        ix = max(0.0, min(p[0] + p[2], g[0] + g[2]) - max(p[0], g[0]))
        iy = max(0.0, min(p[1] + p[3], g[1] + g[3]) - max(p[1], g[1]))
        inter = ix * iy
        # min(): identical boxes can come out as 1.000000000000001 in floating point; IoU is at most 1
        ious.append(min(1.0, inter / (p[2] * p[3] + g[2] * g[3] - inter)))
        errs.append(math.hypot(p[0] + p[2] / 2 - g[0] - g[2] / 2, p[1] + p[3] / 2 - g[1] - g[3] / 2))
    success = [sum(1 for v in ious if v > k / 20) / len(ious) for k in range(21)]
    return sum(success) / 21, sum(1 for e in errs if e <= 20) / len(errs)


@pytest.mark.slow
def test_kcf_scores_agree_with_an_independent_per_frame_computation(tmp_path, shared_dir):
    assert _bench(tmp_path, shared_dir, "--tracker", "opencv:kcf", plots=True) == 0
    rep = _report(tmp_path)
    kcf = rep["trackers"]["opencv-kcf"]
    seq_root = shared_dir / "data" / "sequences"
    aucs, precs = [], []
    for name in ("car1", "person9"):
        result = tmp_path / "results" / "sequences" / "opencv-kcf" / f"{name}.txt"
        assert len(_lines(result)) == 35
        gt_file = seq_root / name / "groundtruth_rect.txt"
        # the first line is the initial ground-truth box
        assert [float(v) for v in _lines(result)[0].split(",")] == [float(v) for v in _lines(gt_file)[0].split(",")]
        a, p = _independent_scores(result, gt_file, 35)
        assert kcf["per_sequence"][name]["auc"] == pytest.approx(a, abs=1e-9)
        assert kcf["per_sequence"][name]["precision20"] == pytest.approx(p, abs=1e-9)
        aucs.append(a)
        precs.append(p)
    assert kcf["summary"]["auc"] == pytest.approx(sum(aucs) / 2, abs=1e-9)
    assert kcf["summary"]["precision20"] == pytest.approx(sum(precs) / 2, abs=1e-9)
    # person9's frames 17..28 have no ground truth: 35 - 12 frames scored
    assert kcf["per_sequence"]["person9"]["frames"] == 23
    assert kcf["summary"]["fps"] > 0
    for png in ("success_plot.png", "precision_plot.png"):
        assert (tmp_path / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| 1 | opencv-kcf |" in md and f"{kcf['summary']['auc']:.3f}" in md
    csv = (tmp_path / "report" / "report.csv").read_text().splitlines()
    assert csv[0].startswith("tracker,auc,precision20") and csv[1].startswith("opencv-kcf,")


def test_rerun_skips_finished_sequences_and_force_redoes_them(tmp_path, shared_dir, capsys):
    assert _bench(tmp_path, shared_dir, "--tracker", "opencv:kcf", seqs="car1", frames=10) == 0
    result = tmp_path / "results" / "sequences" / "opencv-kcf" / "car1.txt"
    before = result.stat().st_mtime_ns
    capsys.readouterr()
    argv = [
        str(shared_dir / "data" / "sequences"),
        "--results",
        str(tmp_path / "results"),
        "--report-dir",
        str(tmp_path / "report"),
        "--sequences",
        "car1",
        "--max-frames",
        "10",
        "--tracker",
        "opencv:kcf",
        "--no-plots",
    ]
    assert main(argv) == 0
    assert "1 tracker/sequence result(s) already in" in capsys.readouterr().err
    assert result.stat().st_mtime_ns == before
    assert main(argv + ["--force", "--quiet"]) == 0
    assert result.stat().st_mtime_ns != before
    # a different --max-frames does not count as finished: the file is redone with 12 lines
    assert _bench(tmp_path, shared_dir, "--tracker", "opencv:kcf", seqs="car1", frames=12) == 0
    assert len(_lines(result)) == 12
    # a quicker check later never overwrites the longer result: it scores the first 8 lines of it
    before = result.stat().st_mtime_ns
    assert _bench(tmp_path, shared_dir, "--tracker", "opencv:kcf", seqs="car1", frames=8) == 0
    assert result.stat().st_mtime_ns == before and len(_lines(result)) == 12
    assert _report(tmp_path)["trackers"]["opencv-kcf"]["per_sequence"]["car1"]["frames"] == 8


def test_dropped_in_results_are_ranked_beside_ours(tmp_path, shared_dir):
    seq_root = shared_dir / "data" / "sequences"
    pub = tmp_path / "results" / "sequences" / "Oracle"
    pub.mkdir(parents=True)
    for name in ("car1", "person9"):  # a 'published' tracker whose boxes are the ground truth, full length
        (pub / f"{name}.txt").write_text((seq_root / name / "groundtruth_rect.txt").read_text().replace(",", "\t"))
    assert _bench(tmp_path, shared_dir, "--tracker", "opencv:kcf") == 0
    rep = _report(tmp_path)
    assert rep["ranking"][0] == "Oracle"
    assert set(rep["ranking"]) == {"Oracle", "opencv-kcf"}
    # IoU 1 beats every threshold but t = 1
    assert rep["trackers"]["Oracle"]["summary"]["auc"] == pytest.approx(20 / 21)
    assert rep["trackers"]["Oracle"]["summary"]["fps"] is None  # no timing files: no speed claimed


@pytest.fixture
def thread_calls(monkeypatch):
    """Records each (workers, requested) -> threads decision of tracker.runtime's policy, with 2 free cores."""
    from tracker import runtime

    monkeypatch.setattr(runtime, "free_cores", lambda: 2)
    calls, real = [], runtime.threads_per_worker

    def spy(workers=1, requested=None):
        n = real(workers, requested)
        calls.append((workers, requested, n))
        return n

    monkeypatch.setattr(runtime, "threads_per_worker", spy)
    return calls


def test_threads_follow_the_free_cores_unless_given(tmp_path, shared_dir, thread_calls, capsys):
    assert _bench(tmp_path / "a", shared_dir, "--tracker", "opencv:csrt", seqs="car1", frames=2) == 0
    assert _bench(tmp_path / "b", shared_dir, "--tracker", "opencv:csrt", "--threads", "3", seqs="car1", frames=2) == 0
    assert thread_calls == [(1, None, 2), (1, 3, 3)]
    assert _bench(tmp_path / "c", shared_dir, "--tracker", "opencv:csrt", "--threads", "0", seqs="car1", frames=2) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err


def test_workers_give_the_same_results_as_one_process(tmp_path, shared_dir, thread_calls):
    assert _bench(tmp_path / "one", shared_dir, "--tracker", "opencv:kcf", frames=15) == 0
    assert _bench(tmp_path / "two", shared_dir, "--tracker", "opencv:kcf", "--workers", "2", frames=15) == 0
    assert thread_calls[-1] == (2, None, 1)  # two workers share the two free cores
    for name in ("car1", "person9"):
        a = (tmp_path / "one" / "results" / "sequences" / "opencv-kcf" / f"{name}.txt").read_text()
        b = (tmp_path / "two" / "results" / "sequences" / "opencv-kcf" / f"{name}.txt").read_text()
        assert a == b


@pytest.mark.slow
def test_vot_protocol_writes_codes_and_reports_eao(tmp_path, shared_dir):
    assert _bench(tmp_path, shared_dir, "--tracker", "opencv:kcf", "--protocol", "vot", frames=60, plots=True) == 0
    rep = _report(tmp_path)
    s = rep["trackers"]["opencv-kcf"]["summary"]
    assert set(s) >= {"accuracy", "robustness", "failures", "eao"}
    total_failures = 0
    for name in ("car1", "person9"):
        f = tmp_path / "results" / "sequences" / "opencv-kcf" / "baseline" / name / f"{name}_001.txt"
        lines = _lines(f)
        assert len(lines) == 60 and lines[0] == "1"
        for i, line in enumerate(lines):
            if line == "2":  # a failure: four skipped frames, then a re-initialisation
                total_failures += 1
                assert lines[i + 1 : i + 5] == ["0"] * 4 or i + 5 > 59
                # re-initialised at the first frame from i + 5 on that has ground truth (person9 has NaN runs)
                after = [x for x in lines[i + 5 :] if x != "0"]
                assert not after or after[0] == "1"
    assert s["failures"] == total_failures
    assert s["robustness"] == pytest.approx(100 * total_failures / 120)
    assert (tmp_path / "report" / "eao_plot.png").is_file()


class _Scripted(Tracker):
    """Returns the ground truth except on scripted frames, where it jumps far away (a failure)."""

    def __init__(self, gt, fail_at):
        self.gt, self.fail_at, self.i = gt, set(fail_at), 0

    def _init(self, frame, box):
        self.i = int(round(box[0]))  # boxes below encode the frame index in x

    def _update(self, frame):
        self.i += 1
        if self.i in self.fail_at:
            return TrackResult((200.0, 200.0, 5.0, 5.0), 0.1, False)
        return TrackResult(tuple(self.gt[self.i]), 1.0, False)


def test_supervised_protocol_reinitialises_five_frames_after_a_failure(tmp_path):
    files = []
    for i in range(14):
        p = tmp_path / f"{i:04d}.png"
        cv2.imwrite(str(p), np.zeros((64, 64, 3), np.uint8))
        files.append(p)
    gt = np.array([[i, 10, 20, 20] for i in range(14)], dtype=float)
    seq = Sequence("s", files, gt, tmp_path / "gt.txt")
    traj, times = track_supervised(_Scripted(gt, fail_at={3}), seq)
    codes = [t if isinstance(t, int) else "box" for t in traj]
    assert codes == [1, "box", "box", 2, 0, 0, 0, 0, 1] + ["box"] * 5
    assert len(times) == 14


def test_tracker_spec_syntax():
    s = parse_tracker_spec("siamrpn_alex_dwxcorr@weights/model.pth")
    assert (s.name, s.weights, s.label) == ("siamrpn_alex_dwxcorr", "weights/model.pth", "siamrpn_alex_dwxcorr@model")
    s = parse_tracker_spec("siamrpn_alex_dwxcorr=mine", default_weights="w.pth")
    assert (s.weights, s.label) == ("w.pth", "mine")
    s = parse_tracker_spec("opencv:nano", default_weights="w.pth", opencv_dirs={"nano": "/m"})
    assert (s.weights, s.label, dict(s.overrides)) == (None, "opencv-nano", {"model_dir": "/m"})
    # `default` is labelled (results folder, tables, plot legends) by the preset it stands for
    assert parse_tracker_spec("default").label == DEFAULT_PRESET
    assert parse_tracker_spec("default@w/mine.pth").label == f"{DEFAULT_PRESET}@mine"
    assert parse_tracker_spec("default=base").label == "base"


def test_the_default_model_is_named_in_the_report_and_its_plots(tmp_path, shared_dir, monkeypatch):
    from tracker.bench import plots

    legends = []
    real = plots._curve_plot

    def recording(path, series, *args, **kwargs):  # the labels each plot's legend gets
        legends.append([label for label, _, _ in series])
        return real(path, series, *args, **kwargs)

    monkeypatch.setattr(plots, "_curve_plot", recording)
    assert _bench(tmp_path, shared_dir, "-t", "default", "-t", "opencv:kcf", seqs="car1", frames=4, plots=True) == 0
    assert legends and all(sorted(labels) == sorted([DEFAULT_PRESET, "opencv-kcf"]) for labels in legends)
    assert DEFAULT_PRESET in (tmp_path / "report" / "report.md").read_text()
    assert "default" not in {p.name for p in (tmp_path / "results").glob("*/*")}


def test_user_errors_exit_2_with_one_line(tmp_path, shared_dir, capsys):
    assert _bench(tmp_path, shared_dir, "--tracker", "opencv:nano") == 2
    err = capsys.readouterr().err
    assert "opencv:nano needs its ONNX model files" in err and "Traceback" not in err
    bad = tmp_path / "ds" / "clip"
    bad.mkdir(parents=True)
    cv2.imwrite(str(bad / "0001.png"), np.zeros((8, 8, 3), np.uint8))
    (bad / "groundtruth.txt").write_text("1,2,3\n")
    assert main([str(tmp_path / "ds"), "--tracker", "opencv:kcf", "--results", str(tmp_path / "r"), "--quiet"]) == 2
    assert "groundtruth.txt:1: expected 4 or 8 numbers, got 3" in capsys.readouterr().err


@pytest.mark.slow
def test_our_siamese_tracker_through_bench_reproduces_the_pysot_parity_run(tmp_path, shared_dir, monkeypatch):
    # a pysot YAML config plus weights as --tracker; the bench must feed frames and the initial box exactly
    # as the parity run did (first files of img/ in name order, BGR, line 1 of the ground truth)
    import torch

    import tracker.runtime

    torch_threads = []
    monkeypatch.setattr(torch, "set_num_threads", torch_threads.append)
    # what earlier in-process commands left asked for (e.g. with torch hidden) is not this run's
    monkeypatch.setattr(tracker.runtime, "_pending", set())
    par = shared_dir / "parity" / "pysot_alex_upxcorr_w025"
    spec = f"{par / 'config.yaml'}@{par / 'weights.pth'}=up025"
    assert _bench(tmp_path, shared_dir, "--tracker", spec, "--threads", "1", seqs="boat1", frames=4) == 0
    assert torch_threads == [1]  # --threads reaches torch (a torch tracker, in this process)
    ours = np.loadtxt(tmp_path / "results" / "sequences" / "up025" / "boat1.txt", delimiter=",")
    ref = np.loadtxt(par / "boxes.txt", delimiter=",")[:4]
    np.testing.assert_allclose(ours, ref, atol=1e-2)


def _linked_sequence(dst, shared_dir, n, image_dir=None):
    """A sequence folder whose frames are links to car1's first n frames (nothing copied)."""
    src = shared_dir / "data" / "sequences" / "car1"
    target = dst / image_dir if image_dir else dst
    target.mkdir(parents=True)
    for i, f in enumerate(sorted((src / "img").glob("*.jpg"))[:n]):
        (target / f"{i + 1:08d}.jpg").symlink_to(f)
    return [[float(v) for v in line.split(",")] for line in _lines(src / "groundtruth_rect.txt")[:n]]


def test_got10k_layout_and_scores_end_to_end(tmp_path, shared_dir):
    root = tmp_path / "GOT-10k_val"
    seq = root / "GOT-10k_Val_000001"
    gt = _linked_sequence(seq, shared_dir, 12)
    (root / "list.txt").write_text("GOT-10k_Val_000001\n")
    (seq / "groundtruth.txt").write_text("".join(",".join(f"{v:g}" for v in b) + "\n" for b in gt))
    (seq / "absence.label").write_text("0\n" * 12)
    (seq / "cover.label").write_text("8\n" * 5 + "0\n" + "8\n" * 6)  # frame 6 fully covered: not scored
    argv = [
        str(root),
        "--tracker",
        "opencv:kcf",
        "--results",
        str(tmp_path / "results"),
        "--report-dir",
        str(tmp_path / "report"),
        "--quiet",
        "--no-plots",
    ]
    assert main(argv) == 0
    out = tmp_path / "results" / "GOT-10k_val" / "opencv-kcf" / "GOT-10k_Val_000001" / "GOT-10k_Val_000001_001.txt"
    pred = [[float(v) for v in line.split(",")] for line in _lines(out)]
    assert len(pred) == 12
    ious = []
    for i in range(1, 12):  # the first frame is not scored; frame index 5 is hidden
        if i == 5:
            continue
        p, g = pred[i], gt[i]
        ix = max(0.0, min(p[0] + p[2], g[0] + g[2]) - max(p[0], g[0]))
        iy = max(0.0, min(p[1] + p[3], g[1] + g[3]) - max(p[1], g[1]))
        ious.append(min(1.0, ix * iy / (p[2] * p[3] + g[2] * g[3] - ix * iy)))
    s = _report(tmp_path)["trackers"]["opencv-kcf"]["summary"]
    assert s["ao"] == pytest.approx(sum(ious) / len(ious), abs=1e-9)
    assert s["sr50"] == pytest.approx(sum(v > 0.5 for v in ious) / len(ious))


def test_vot_layout_with_polygons_end_to_end(tmp_path, shared_dir):
    root = tmp_path / "vot_mini"
    seq = root / "car"
    gt = _linked_sequence(seq, shared_dir, 10, image_dir="color")
    (root / "list.txt").write_text("car\n")
    # axis-aligned 8-value polygons of the boxes
    (seq / "groundtruth.txt").write_text(
        "".join(f"{x},{y},{x + w},{y},{x + w},{y + h},{x},{y + h}\n" for x, y, w, h in gt)
    )
    (seq / "occlusion.tag").write_text("0\n" * 5 + "1\n" * 5)
    argv = [
        str(root),
        "--tracker",
        "opencv:kcf",
        "--results",
        str(tmp_path / "results"),
        "--report-dir",
        str(tmp_path / "report"),
        "--quiet",
        "--no-plots",
    ]
    assert main(argv) == 0
    rep = _report(tmp_path)
    assert rep["protocol"] == "vot"
    lines = _lines(tmp_path / "results" / "vot_mini" / "opencv-kcf" / "baseline" / "car" / "car_001.txt")
    assert lines[0] == "1" and len(lines) == 10
    tr = rep["trackers"]["opencv-kcf"]
    assert set(tr["attributes"]) == {"occlusion", "empty"}
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Per attribute (EAO)" in md


def test_report_only_ranks_published_results_with_attribute_tables(tmp_path):
    root = tmp_path / "ds"
    for name, attrs, boxes in (("a", "OCC", [[0, 0, 10, 10]] * 3), ("b", "OCC, SV", [[5, 5, 20, 20]] * 3)):
        d = root / name
        (d / "img").mkdir(parents=True)
        for i in range(3):
            (d / "img" / f"{i + 1:04d}.jpg").write_bytes(b"")  # scoring never opens the frames
        (d / "groundtruth_rect.txt").write_text("".join(",".join(map(str, b)) + "\n" for b in boxes))
        (d / "attributes.txt").write_text(attrs + "\n")
        res = tmp_path / "results" / "ds"
        (res / "Oracle").mkdir(parents=True, exist_ok=True)
        (res / "Half").mkdir(parents=True, exist_ok=True)
        (res / "Oracle" / f"{name}.txt").write_text((d / "groundtruth_rect.txt").read_text())
        x, y, w, h = boxes[0]
        half = [x, y, w, h / 2]  # IoU exactly 0.5 with the ground truth
        (res / "Half" / f"{name}.txt").write_text(
            "\n".join([",".join(map(str, boxes[0]))] + [",".join(map(str, half))] * 2)
        )
    argv = [
        str(root),
        "--report-only",
        "--results",
        str(tmp_path / "results"),
        "--report-dir",
        str(tmp_path / "report"),
        "--quiet",
        "--no-plots",
    ]
    assert main(argv) == 0
    rep = _report(tmp_path)
    assert rep["ranking"] == ["Oracle", "Half"]
    half = rep["trackers"]["Half"]
    # per sequence: frame 0 IoU 1 (20 thresholds passed), frames 1-2 IoU 0.5 (10 passed: 0 .. 0.45)
    assert half["summary"]["auc"] == pytest.approx((20 + 10 + 10) / 3 / 21)
    assert set(half["attributes"]) == {"OCC", "SV"}
    assert half["attributes"]["SV"]["sequences"] == 1
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Per attribute (AUC)" in md and "| SV |" in md


def _square_sequence(root, name, n=12, absent=()):
    """A bright square moving right on grey, OTB layout, 0-based boxes (origin.json marks them so)."""
    import cv2

    d = root / name
    (d / "img").mkdir(parents=True)
    lines = []
    for i in range(n):
        img = np.full((120, 160, 3), 60, np.uint8)
        x = 30 + 3 * i
        if i in absent:
            lines.append("NaN,NaN,NaN,NaN")
        else:
            img[40:70, x : x + 30] = (40, 200, 230)
            lines.append(f"{x},40,30,30")
        cv2.imwrite(str(d / "img" / f"{i + 1:04d}.jpg"), img)
    (d / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    (d / "origin.json").write_text("{}")


def test_split_file_jitter_runs_size_error_and_lost_flags_in_the_report(tmp_path, capsys):
    """A split file gathers sequences of two folders; --jitter adds runs from jittered first boxes whose AUC
    spread is reported; size error and the lost-flag columns come from the same runs."""
    import json

    from tracker.cli.bench import main

    _square_sequence(tmp_path / "a", "s1")
    _square_sequence(tmp_path / "b", "s2", absent=(8, 9))
    _square_sequence(tmp_path / "b", "s3")
    split = tmp_path / "split.txt"
    split.write_text("# two folders\na\nb: s2\n")
    res = tmp_path / "results"
    rc = main([str(split), "-t", "opencv:kcf", "--jitter", "2", "--results", str(res), "--no-plots", "--quiet"])
    assert rc == 0
    root = res / "split" / "opencv-kcf"
    for sub in ("", "jitter1/", "jitter2/"):
        for s in ("s1", "s2"):
            assert (root / f"{sub}{s}.txt").is_file() and (root / f"{sub}lost" / f"{s}_lost.txt").is_file()
    assert not (root / "s3.txt").exists()
    data = json.loads((tmp_path / "reports" / "split" / "report.json").read_text())
    t = data["trackers"]["opencv-kcf"]
    assert t["sequences"] == ["s1", "s2"]
    for s in ("s1", "s2"):
        row = t["per_sequence"][s]
        assert row["jitter_runs"] == 2 and 0 <= row["jitter_spread"] <= 1 and 0 <= row["size_err"] < 1
    assert t["summary"]["lost_absent"] == 2
    out = capsys.readouterr().out
    assert "size err" in out and "jitter spread" in out
    # a rerun redoes nothing, jittered runs included
    before = (root / "jitter2" / "s2.txt").stat().st_mtime_ns
    assert main([str(split), "-t", "opencv:kcf", "--jitter", "2", "--results", str(res), "--no-plots", "--quiet"]) == 0
    assert (root / "jitter2" / "s2.txt").stat().st_mtime_ns == before
