"""Engines and export: each engine tracks as torch does, an export tracks on its own (without torch), the
choices that timing makes are fixed per machine and model, and anything damaged or foreign is refused in one
line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tracker import UserError, build_tracker
from tracker.cli import main

# folder in ../shared/parity, how the model is named, sequence (as tests/test_parity.py)
CASES = [
    ("siamfc_alexnet", "siamfc_alexnet", "car1"),
    ("pysot_alex_dwxcorr_w05", "config.yaml", "BMX3"),
    ("pysot_alex_upxcorr_w025", "config.yaml", "boat1"),
]


def _needs(engine: str):
    if engine == "openvino":
        pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install 'siamtrack[openvino]')")
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed")


def _frames(shared_dir, sequence, n):
    paths = sorted((shared_dir / "data" / "sequences" / sequence / "img").iterdir())[:n]
    return [cv2.imread(str(p)) for p in paths]


def _track(tracker, frames, box):
    tracker.init(frames[0], box)
    return np.array([box] + [tracker.update(f).box for f in frames[1:]], dtype=np.float64)


def _case(shared_dir, case):
    folder, model, sequence = case
    fixture = shared_dir / "parity" / folder
    expected = np.array([[float(v) for v in line.split(",")] for line in (fixture / "boxes.txt").read_text().split()])
    spec = str(fixture / model) if model.endswith(".yaml") else model
    return spec, fixture / "weights.pth", _frames(shared_dir, sequence, len(expected)), expected


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.slow
def test_each_engine_tracks_as_torch_does_on_the_parity_fixtures(shared_dir, case, engine):
    _needs(engine)
    spec, weights, frames, expected = _case(shared_dir, case)
    theirs = build_tracker(spec, weights=weights, engine=engine)
    assert theirs.engine.name == engine
    ours = _track(build_tracker(spec, weights=weights, engine="torch"), frames, expected[0])
    got = _track(theirs, frames, expected[0])
    assert np.abs(got - ours).max() < 0.01, np.abs(got - ours).max(axis=1)
    assert np.abs(got - expected).max() < 0.5  # and so the reference's boxes too


@pytest.mark.slow
def test_an_export_tracks_on_its_own_without_torch(shared_dir, tmp_path):
    _needs("onnxruntime")
    spec, weights, frames, expected = _case(shared_dir, CASES[1])
    out = tmp_path / "export"
    assert main(["export", "--config", spec, "--weights", str(weights), "--out-dir", str(out)]) == 0
    side = json.loads((out / "siamtrack.json").read_text())
    import onnx

    for name in side["files"]:
        model = onnx.load(str(out / name))
        onnx.checker.check_model(model, full_check=True)
        assert model.opset_import[0].version >= 17
    from tracker.models.checkpoint import sha256_file

    assert side["weights_sha256"] == sha256_file(weights)
    # the same boxes as the torch model's, from the folder alone, in a process where torch cannot be imported
    paths = [str(p) for p in sorted((shared_dir / "data/sequences/BMX3/img").iterdir())[:12]]
    script = (
        f"import sys, json, cv2\nsys.modules['torch'] = None\nfrom tracker import build_tracker\n"
        f"t = build_tracker({str(out)!r}, engine='onnxruntime')\n"
        f"frames = [cv2.imread(p) for p in {paths!r}]\n"
        f"t.init(frames[0], {[float(v) for v in expected[0]]!r})\n"
        f"print(json.dumps([list(t.update(f).box) for f in frames[1:]]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    got = np.array(json.loads(run.stdout.strip().splitlines()[-1]))
    ours = _track(build_tracker(spec, weights=weights, engine="torch"), frames[:12], expected[0])[1:]
    assert np.abs(got - ours).max() < 0.01


@pytest.fixture(scope="module")
def small_export(shared_dir, tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed")
    spec, weights, _, _ = _case(shared_dir, CASES[2])
    out = tmp_path_factory.mktemp("export") / "upx"
    assert main(["export", "--config", spec, "--weights", str(weights), "--out-dir", str(out)]) == 0
    return out


def _refused(capsys, folder, *words):
    with pytest.raises(UserError) as err:
        build_tracker(str(folder))
    assert all(w in str(err.value) for w in words), str(err.value)
    source = Path(__file__).resolve().parent.parent / "weights" / "demo" / "demo.mp4"
    rc = main(["track", "--model", str(folder), "--init", "1,1,20,20", str(source)])
    msg = capsys.readouterr().err.strip()
    assert rc == 2 and len(msg.splitlines()) == 1 and all(w in msg for w in words), msg


@pytest.mark.slow
def test_a_damaged_or_foreign_export_is_refused_in_one_line(small_export, tmp_path, capsys):
    bad = tmp_path / "damaged"
    shutil.copytree(small_export, bad)
    search = next(bad.glob("search_*.onnx"))
    data = bytearray(search.read_bytes())
    data[len(data) // 2] ^= 0xFF
    search.write_bytes(bytes(data))
    _refused(capsys, bad, search.name, "sha256")

    side = json.loads((small_export / "siamtrack.json").read_text())
    foreign = tmp_path / "foreign"
    shutil.copytree(small_export, foreign)
    (foreign / "siamtrack.json").write_text(json.dumps({"name": "someone else's"}))
    _refused(capsys, foreign, "not a siamtrack export sidecar")
    (foreign / "siamtrack.json").write_text("{ not json")
    _refused(capsys, foreign, "not valid JSON")

    # another graph put in place of the template, its sha256 updated: its inputs give it away
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["a"], ["b"])],
        "other",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 3, 127, 127])],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 3, 127, 127])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(foreign / "template.onnx"))
    from tracker.engines.exported import file_sha256

    side["files"]["template.onnx"] = file_sha256(foreign / "template.onnx")
    (foreign / "siamtrack.json").write_text(json.dumps(side))
    _refused(capsys, foreign, "template.onnx", "foreign or altered graph")
    # and bytes that are no ONNX at all
    (foreign / "template.onnx").write_bytes(b"\x00not an onnx model" * 10)
    side["files"]["template.onnx"] = file_sha256(foreign / "template.onnx")
    (foreign / "siamtrack.json").write_text(json.dumps(side))
    _refused(capsys, foreign, "template.onnx", "cannot load it")


@pytest.mark.slow
def test_an_unexportable_layer_is_named_in_one_line(tmp_path, capsys):
    from tracker.config.presets import get_preset
    from tracker.engines.exported import ExportError
    from tracker.export.onnx import export_model
    from tracker.models import build_model

    class Histogram(torch.nn.Module):  # aten::histc has no ONNX counterpart
        def forward(self, x):
            return x + torch.histc(x, bins=4).sum() * 0

    preset = get_preset("siamfc_alexnet")
    model = build_model(preset).eval()
    model.backbone.conv5 = torch.nn.Sequential(model.backbone.conv5, Histogram())
    with pytest.raises(ExportError) as err:
        export_model(preset, model, tmp_path / "out")
    msg = str(err.value)
    assert "backbone.conv5.1 (Histogram)" in msg and "histc" in msg and len(msg.splitlines()) == 1, msg


@pytest.mark.slow
def test_int8_is_opt_in_calibrated_and_tracks(small_export, shared_dir, tmp_path, capsys):
    from tracker.bench.datasets import load_dataset
    from tracker.build import resolve_preset
    from tracker.engines.exported import read_export
    from tracker.export.onnx import export_model
    from tracker.export.quantize import Calibration
    from tracker.models import load_model

    fixture = shared_dir / "parity" / "pysot_alex_upxcorr_w025"
    preset = resolve_preset(str(fixture / "config.yaml"))
    model, _ = load_model(preset, fixture / "weights.pth")
    calib = shared_dir / "data" / "sequences"
    calibration = Calibration(str(calib), load_dataset(calib)[1])
    export = export_model(
        preset, model, tmp_path / "int8", None, int8=True, calibration=calibration, calibration_frames=6
    )
    assert export.precision == "int8" and [g.precision for g in export.search] == ["int8"]
    import onnx

    ops = {n.op_type for n in onnx.load(str(export.search[0].path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert read_export(tmp_path / "int8").template.precision == "float32"
    _, _, frames, expected = _case(shared_dir, CASES[2])
    boxes = _track(build_tracker(str(tmp_path / "int8"), engine="onnxruntime"), frames[:8], expected[0])
    assert np.isfinite(boxes).all()
    # the command line offers int8 only with calibration data, and only for presets whose accuracy it keeps
    capsys.readouterr()
    assert main(["export", "siamrpn_alex_upxcorr", "--out-dir", str(tmp_path / "x"), "--int8"]) == 2
    assert "--int8 needs --calibration" in capsys.readouterr().err
    assert (
        main(
            ["export", "siamrpn_alex_upxcorr", "--out-dir", str(tmp_path / "y"), "--int8", "--calibration", str(calib)]
        )
        == 2
    )
    assert "int8 is not offered for siamrpn_alex_upxcorr" in capsys.readouterr().err


@pytest.mark.slow
def test_the_engines_choice_is_remembered_and_a_named_engine_always_honoured(shared_dir, tmp_path, monkeypatch):
    _needs("openvino")
    from tracker.engines import choice

    monkeypatch.setenv("SIAMTRACK_CACHE", str(tmp_path / "cache"))
    spec, weights, frames, expected = _case(shared_dir, CASES[2])
    first = build_tracker(spec, weights=weights)  # auto: measures, remembers
    data = json.loads((tmp_path / "cache" / choice.CHOICES).read_text())
    key = next(k for k in data if k.startswith("engine:"))
    assert data[key] == first.engine.name
    other = {"onnxruntime": "openvino", "openvino": "onnxruntime"}[first.engine.name]
    data[key] = other
    (tmp_path / "cache" / choice.CHOICES).write_text(json.dumps(data))
    assert build_tracker(spec, weights=weights).engine.name == other  # read back, not measured again
    assert build_tracker(spec, weights=weights, engine=first.engine.name).engine.name == first.engine.name
    assert build_tracker(spec, weights=weights, engine="torch").engine.name == "torch"


@pytest.mark.slow
def test_a_first_run_says_in_one_line_that_it_prepares_the_model(shared_dir, tmp_path, monkeypatch, capsys):
    # the export and the engines' timing took about 12 s in silence; the line says what and where it is kept
    _needs("onnxruntime")
    from tracker.engines import choice

    monkeypatch.setattr(choice, "_announced", set())
    spec, weights, _, _ = _case(shared_dir, CASES[2])
    demo = Path(__file__).resolve().parent.parent / "weights" / "demo" / "demo.mp4"
    argv = ["track", "--config", spec, "--weights", str(weights), "--init", "200,100,40,40", "--max-frames", "2"]

    def first_lines(cache, *extra):
        monkeypatch.setenv("SIAMTRACK_CACHE", str(cache))
        assert main([*argv, *extra, str(demo)]) == 0
        return [ln for ln in capsys.readouterr().err.splitlines() if "preparing" in ln]

    assert first_lines(tmp_path / "quiet", "--quiet") == []
    assert any((tmp_path / "quiet" / "exports").iterdir())  # made all the same
    lines = first_lines(tmp_path / "cache")
    assert lines == [
        f"siamtrack: preparing siamrpn_alex_upxcorr_w025 for this machine (ONNX export and engine choice, once; "
        f"cached in {tmp_path / 'cache'})"
    ]
    choice._announced.clear()
    assert first_lines(tmp_path / "cache") == []  # kept: the next run starts at once


def test_the_library_shows_no_notices_unless_the_application_asks(capsys):
    from tracker.engines import choice
    from tracker.progress import show_notices

    choice.announce_preparation("some_model", "ONNX export")
    assert capsys.readouterr().err == "" and "some_model" not in choice._announced
    show_notices(sys.stderr)
    try:
        choice.announce_preparation("some_model", "ONNX export")
        choice.announce_preparation("some_model", "engine timing")  # the same preparation: no second line
    finally:
        show_notices(None)
        choice._announced.discard("some_model")
    assert capsys.readouterr().err.count("preparing some_model for this machine (ONNX export, once;") == 1


# The thread count follows the free cores, so it varies from run to run. What is promised (docs/speed.md,
# "Determinism"): at one thread count, on one machine, a rerun gives the same boxes to the bit; across thread
# counts the boxes agree within 0.01 px, the tolerance the engines keep to each other
# (test_each_engine_tracks_as_torch_does_on_the_parity_fixtures). Not the same bits: how oneDNN and the
# matrix product split a sum across threads depends on the instruction set (on an AVX-512 EPYC the torch
# engine's boxes at 3 threads differ from 1 thread's by 1.7e-5 px for Lite0, 7e-5 px for NanoTrack v3, 2e-8 px
# for the AlexNet RPN; on the AVX2 CPU the suite was written on the Lite0 boxes were identical). The cases: the
# default and Lite0-fast on auto (ONNX Runtime), and the torch engine for them, SiamFC and an AlexNet RPN
# preset (its fast path, tracker.models.fast, where the model has one).
@pytest.mark.parametrize(
    "model,engine,threads",
    [
        ("default", "auto", (1, 2, 3)),
        ("default", "torch", (1, 3)),
        ("siamrpn_effnet_lite0_fast", "auto", (1, 3)),
        ("siamrpn_effnet_lite0_fast", "torch", (1, 2, 3)),
        ("siamfc_alexnet", "torch", (1, 2)),
        ("siamrpn_alex_dwxcorr", "torch", (1, 3)),
    ],
)
@pytest.mark.slow
def test_reruns_repeat_their_boxes_and_thread_counts_agree_to_a_hundredth_of_a_pixel(
    shared_dir, model, engine, threads
):
    frames = _frames(shared_dir, "BMX3", 16)
    gt = (shared_dir / "data/sequences/BMX3/groundtruth_rect.txt").read_text()
    box = [float(v) for v in gt.split()[0].split(",")]
    from tracker.runtime import configure_threads

    runs = []
    try:
        for n in threads:
            configure_threads(n)
            first = _track(build_tracker(model, engine=engine), frames, box)
            again = _track(build_tracker(model, engine=engine), frames, box)
            assert np.array_equal(first, again), f"{n} threads: {np.abs(first - again).max()} px between reruns"
            runs.append(first)
    finally:
        configure_threads(None)
    for n, run in zip(threads[1:], runs[1:]):
        assert np.abs(run - runs[0]).max() < 0.01, f"{n} threads against {threads[0]}: {np.abs(run - runs[0]).max()}"


def test_engine_and_option_conflicts_are_one_line_errors(tmp_path, small_export):
    with pytest.raises(UserError, match="unknown engine"):
        build_tracker("siamfc_alexnet", engine="tensorrt")
    with pytest.raises(UserError, match="--xcorr numba"):
        build_tracker("siamfc_alexnet", engine="onnxruntime", xcorr="numba")
    with pytest.raises(UserError, match="not torch"):
        build_tracker(str(small_export), engine="torch")
    with pytest.raises(UserError, match="drop --weights"):
        build_tracker(str(small_export), weights="x.pth")
    with pytest.raises(UserError, match="no search graph"):
        build_tracker(str(small_export), instance_size=303)


@pytest.mark.slow
def test_a_cached_export_an_engine_cannot_load_is_made_again(shared_dir, tmp_path, monkeypatch):
    """A cached export whose files match their sidecar but which the engine refuses (an export left by an older
    exporter) is removed and exported afresh, once, instead of failing every later run."""
    _needs("onnxruntime")
    from tracker.engines.exported import SIDECAR, file_sha256

    monkeypatch.setenv("SIAMTRACK_CACHE", str(tmp_path / "cache"))
    spec, weights, frames, expected = _case(shared_dir, CASES[2])
    build_tracker(spec, weights=weights, engine="onnxruntime")
    folder = next((tmp_path / "cache" / "exports").iterdir())
    bad = folder / "template.onnx"
    good = bad.read_bytes()
    bad.write_bytes(b"not an onnx graph")
    side = json.loads((folder / SIDECAR).read_text())
    side["files"]["template.onnx"] = file_sha256(bad)  # consistent sidecar: only the engine can tell
    (folder / SIDECAR).write_text(json.dumps(side))
    tracker = build_tracker(spec, weights=weights, engine="onnxruntime")
    assert bad.read_bytes() == good and tracker.engine.name == "onnxruntime"


@pytest.mark.slow
def test_auto_chooses_engine_and_precision_once_and_int8_only_where_validated(tmp_path, monkeypatch):
    """The default's shipped int8 search graph against its float32 export, on each engine that may run them:
    timed once, remembered with each candidate's time (the why), read back on later runs; a preset whose int8
    accuracy is not on the model card within 0.005 AUC is never run in int8 by auto."""
    _needs("onnxruntime")
    from tracker.config import presets
    from tracker.engines import choice, engine_text

    monkeypatch.setenv("SIAMTRACK_CACHE", str(tmp_path / "cache"))
    name = "siamrpn_effnet_lite0_fast"
    first = build_tracker(name)
    data = json.loads((tmp_path / "cache" / choice.CHOICES).read_text())
    key = next(k for k in data if k.startswith("precision:") and not k.endswith(":ms"))
    options = set(data[key + ":ms"])
    assert data[key] in options and {"float32/onnxruntime", "int8/onnxruntime"} <= options
    assert "int8/openvino" not in options  # int8 is checked on ONNX Runtime only
    assert engine_text(first) == data[key].split("/")[1] + (" int8" if data[key].startswith("int8") else "")
    assert set(first.engine_choice) == options
    for forced, text in (("float32/onnxruntime", "onnxruntime"), ("int8/onnxruntime", "onnxruntime int8")):
        data[key] = forced
        (tmp_path / "cache" / choice.CHOICES).write_text(json.dumps(data))
        assert engine_text(build_tracker(name)) == text  # read back, not measured again
    monkeypatch.setattr(presets, "INT8_CHECKED", {})  # int8 not validated: float32 only
    assert "int8" not in engine_text(build_tracker(name))
    assert engine_text(build_tracker(name, engine="onnxruntime")) == "onnxruntime int8"  # a named engine: as shipped


def test_auto_never_chooses_bfloat16_even_where_the_cpu_has_it(tmp_path, monkeypatch):
    """`auto` chooses only the engine for NanoTrack's float32 export, even on a CPU with bfloat16 units: a
    float32 graph computed in bfloat16 tracks differently on each thread count (weights/README.md,
    "bfloat16"), so it is never timed beside float32, and a tracker made from the choice runs float32."""
    _needs("openvino")
    from tracker.engines import choice, engine_text, onnx_engines

    monkeypatch.setattr(onnx_engines, "bfloat16_native", lambda: True)
    monkeypatch.setenv("SIAMTRACK_CACHE", str(tmp_path))
    tracker = build_tracker("nanotrack_v2")
    assert tracker.engine.precision == "float32"
    assert engine_text(tracker) in ("onnxruntime", "openvino")
    data = json.loads((tmp_path / choice.CHOICES).read_text())
    assert not any(k.startswith("precision:") for k in data)  # one precision: no precision choice made
    assert "bfloat16" not in json.dumps(data)
    timed = [v for k, v in data.items() if k.endswith(":ms")]
    assert timed and all(set(v) == {"onnxruntime", "openvino"} for v in timed)


def test_bfloat16_engine_tracks_close_to_float32_and_onnxruntime_refuses_it(shared_dir):
    """The float32 graphs computed in bfloat16 (the CPU's own rounding: close to float32, not equal; on a CPU
    without bfloat16 units OpenVINO computes float32) stay on float32's track; ONNX Runtime has no bfloat16
    mode and says so."""
    _needs("openvino")
    from tracker.bench.metrics import iou
    from tracker.engines.exported import ExportError
    from tracker.engines.onnx_engines import make_onnx_engine
    from tracker.trackers.kinds import siamese_tracker

    frames = _frames(shared_dir, "car1", 30)
    box = (243.05, 165.16, 115.9, 112.68)  # car1, first frame
    f32 = build_tracker("nanotrack_v3", engine="openvino")
    export = f32.engine.export
    bf16 = siamese_tracker(f32.preset, make_onnx_engine("openvino", export, 2, "bfloat16"), False)
    tracks = []
    for t in (f32, bf16):
        t.init(frames[0], box)
        tracks.append(np.array([t.update(f).box for f in frames[1:]]))
    assert float(np.mean(iou(tracks[0], tracks[1]))) >= 0.9
    with pytest.raises(ExportError, match="onnxruntime cannot run a float32 export in bfloat16"):
        make_onnx_engine("onnxruntime", export, 2, "bfloat16")


def test_models_speed_says_what_auto_runs_and_why_remembers_it_and_retimes(tmp_path, monkeypatch, capsys):
    """`siamtrack models --speed` builds each shipped export's `auto` tracker and prints the engine it runs
    on with the search graph's best time on each candidate; the choice is remembered (a planted choice is read
    back, not timed again) and `--retime` forgets it and times again."""
    _needs("openvino")
    from tracker import runtime
    from tracker.engines import choice, shipped

    monkeypatch.setenv("SIAMTRACK_CACHE", str(tmp_path))
    monkeypatch.setattr(shipped, "shipped_presets", lambda: ["nanotrack_v2"])
    monkeypatch.setattr(runtime, "_configured_threads", runtime._configured_threads)  # restored after the test
    assert main(["models", "--speed", "--threads", "1", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["name"] == "nanotrack_v2" and row["threads"] == 1
    assert row["update_ms"] > 0  # one update on the demo clip, as tracked now
    timed = row["search_graph_ms"]
    assert set(timed) == {"onnxruntime", "openvino"} and all(v > 0 for v in timed.values())
    assert timed[row["runs_on"]] == min(timed.values())  # the fastest (times kept to the microsecond: ties)

    path = tmp_path / choice.CHOICES
    data = json.loads(path.read_text())
    (key,) = [k for k in data if not k.endswith(":ms")]
    other = ({"onnxruntime", "openvino"} - {row["runs_on"]}).pop()
    data[key], data[key + ":ms"] = other, {other: 0.5, row["runs_on"]: 99.0}
    path.write_text(json.dumps(data))
    assert main(["models", "--speed", "--threads", "1"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("nanotrack_v2")]
    assert line.split()[1] == other and f"{other} 0.50 ms, {row['runs_on']} 99.00 ms" in line
    update_ms, unit, fps, fps_unit = line.split()[2:6]  # the update as timed now: "2.4 ms (417 fps)"
    assert float(update_ms) > 0 and unit == "ms" and fps.startswith("(") and int(fps[1:]) > 0 and fps_unit == "fps)"

    assert main(["models", "--speed", "--threads", "1", "--retime", "--json"]) == 0
    (again,) = json.loads(capsys.readouterr().out)
    retimed = again["search_graph_ms"]
    assert set(retimed) == {"onnxruntime", "openvino"} and 99.0 not in retimed.values()
    assert retimed[again["runs_on"]] == min(retimed.values())

    assert main(["models", "--retime"]) == 2
    assert "--retime goes with --speed" in capsys.readouterr().err


def test_the_engine_choice_is_kept_per_thread_count(tmp_path, monkeypatch):
    """Which engine is faster depends on the thread count, so `auto` times and remembers a choice for each count
    it runs at: a choice remembered for one thread is used on one thread and never on two."""
    _needs("openvino")
    from tracker import runtime
    from tracker.engines import choice

    monkeypatch.setenv("SIAMTRACK_CACHE", str(tmp_path))
    monkeypatch.setattr(runtime, "_configured_threads", 1)
    one = build_tracker("nanotrack_v2")
    path = tmp_path / choice.CHOICES
    data = json.loads(path.read_text())
    (key_one,) = [k for k in data if not k.endswith(":ms")]
    other = {"onnxruntime": "openvino", "openvino": "onnxruntime"}[one.engine.name]
    data[key_one] = other  # planted: one thread now runs the other engine
    path.write_text(json.dumps(data))
    assert build_tracker("nanotrack_v2").engine.name == other and one.engine.threads == 1

    monkeypatch.setattr(runtime, "_configured_threads", 2)
    two = build_tracker("nanotrack_v2")  # a count of its own: timed, not the planted choice
    assert two.engine.threads == 2
    data = json.loads(path.read_text())
    choices = {k: v for k, v in data.items() if not k.endswith(":ms")}
    assert len(choices) == 2 and choices[key_one] == other
    (key_two,) = set(choices) - {key_one}
    timed = data[key_two + ":ms"]
    assert two.engine.name == choices[key_two] and timed[two.engine.name] == min(timed.values())


def test_models_speed_prints_the_times_even_where_the_cache_cannot_be_written(tmp_path, monkeypatch, capsys):
    """Without a writable cache folder the choice is timed on every run (nothing is remembered), and what was
    timed is still what `--speed` prints."""
    _needs("openvino")
    from tracker import runtime
    from tracker.engines import shipped

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SIAMTRACK_CACHE", str(blocker / "cache"))
    monkeypatch.setattr(shipped, "shipped_presets", lambda: ["nanotrack_v2"])
    monkeypatch.setattr(runtime, "_configured_threads", runtime._configured_threads)
    assert main(["models", "--speed", "--threads", "1", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert set(row["search_graph_ms"]) == {"onnxruntime", "openvino"}
    assert row["search_graph_ms"][row["runs_on"]] == min(row["search_graph_ms"].values()), row
    assert blocker.read_text() == "not a folder"
