"""The inference-only install: `pip install siamtrack` has no torch. The default model ships exported
(weights/onnx/PRESET, tracker.engines.shipped) and tracks through ONNX Runtime; whatever needs torch says so in
one line. The shipped export must be the shipped weights' (a retrained default without a new export fails
here), and with torch the `auto` engine uses it instead of exporting into the cache."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracker import build_tracker
from tracker.cli import main
from tracker.config.presets import DEFAULT_PRESET, WEIGHTS_DIR, get_preset, list_presets
from tracker.engines.exported import read_export
from tracker.engines.shipped import shipped_export_dir

REPO = Path(__file__).resolve().parent.parent
# a process in which torch (and the exporter's onnx / onnxscript) cannot be imported: the inference-only
# install as far as the code can tell; a module left importable by mistake would show as an ImportError
NO_TORCH = (
    "import sys\n"
    "for m in ('torch', 'onnx', 'onnxscript', 'torchvision', 'numba'):\n"
    "    sys.modules[m] = None\n"
    "import tracker.config.presets\n"
    "if len(sys.argv) > 1 and sys.argv[1].startswith('--weights-dir='):\n"
    "    from pathlib import Path\n"
    "    tracker.config.presets.WEIGHTS_DIR = Path(sys.argv.pop(1).split('=', 1)[1])\n"
    "from tracker.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _no_torch(tmp_path, *args, weights_dir=None):
    env = dict(os.environ, PYTHONPATH=str(REPO), SIAMTRACK_CACHE=str(tmp_path / "cache"), TMPDIR=str(tmp_path))
    pre = [f"--weights-dir={weights_dir}"] if weights_dir else []
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH, *pre, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )


# the preset whose shipped export has an int8 search graph (the default until NanoTrack v3)
INT8_PRESET = "siamrpn_effnet_lite0_fast"


def _auc(text: str) -> float:
    return float(re.search(r"AUC (\d\.\d+)", text).group(1))


def test_the_shipped_int8_export_is_the_shipped_lite0_model():
    from tracker.models.checkpoint import sha256_file

    preset = get_preset(INT8_PRESET)
    folder = shipped_export_dir(preset)
    assert folder == WEIGHTS_DIR / "onnx" / INT8_PRESET
    export = read_export(folder)  # every file against the sidecar's sha256
    assert export.weights_sha256 == sha256_file(preset.weights_path) == preset.weights_sha256
    assert export.template.size == preset.track.exemplar_size
    # the search graph in int8, calibrated on training footage only; the template graph (once per target) float32
    assert export.precision == "int8" and [g.precision for g in export.search] == ["int8"]
    assert export.template.precision == "float32"
    sidecar = json.loads((folder / "siamtrack.json").read_text())
    assert sidecar["int8"]["calibration"] == "../shared/data/train/sequences"
    assert [(g.size, g.batch) for g in export.search] == [(preset.track.instance_size, 1)]
    for key in ("family", "model", "input"):
        ours, theirs = export.preset.to_dict()[key], preset.to_dict()[key]
        assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)
    import onnx

    size = 0
    for name in [export.template.path.name] + [g.path.name for g in export.search]:
        onnx.checker.check_model(str(folder / name), full_check=True)
        size += (folder / name).stat().st_size
    assert size < 10e6  # what the wheel carries for it (~7.3 MB)


def test_the_shipped_int8_search_graph_answers_as_the_float32_model(shared_dir):
    """The shipped int8 search graph is the Lite0 model quantized (weights/README.md, "int8"): on real
    search crops its best candidate is the float32 model's, at most one score-map cell away, with nearly
    the same box and score. (Whole trajectories are not compared: a near-tie that goes the other way once sends a track
    elsewhere, in float32 as well. The accuracy check is the validation split's AUC, in the model card.)"""
    from tracker.geometry import iou_xywh
    from tracker.trackers.siamrpn import context_size, subwindow

    checked = 0
    for name in ("BMX3", "car1", "person11"):
        seq = shared_dir / "data" / "sequences" / name
        files = sorted((seq / "img").iterdir())
        boxes = [[float(v) for v in line.split(",")] for line in (seq / "groundtruth_rect.txt").read_text().split()]
        f32, q = build_tracker(INT8_PRESET, engine="torch"), build_tracker(INT8_PRESET, engine="onnxruntime")
        assert q.engine.export.root == shipped_export_dir(get_preset(INT8_PRESET))
        first = cv2.imread(str(files[0]))
        f32.init(first, boxes[0])
        q.init(first, boxes[0])
        p = f32.p
        for i in range(1, 40, 6):
            x, y, w, h = boxes[i]
            s_x = context_size(w, h, p.context_amount) * p.instance_size / p.exemplar_size
            centre = np.array([x + w / 2 + 6, y + h / 2 - 4])  # the target off the crop's centre
            crop = subwindow(cv2.imread(str(files[i])), centre, p.instance_size, round(s_x), f32.channel_average)
            (s32, b32, *_), (s8, b8, *_) = (
                t._decode(*(o[0] for o in t.engine.search(crop, t.kernel))) for t in (f32, q)
            )
            a, b = int(np.argmax(s32)), int(np.argmax(s8))
            corners = lambda v: [v[0] - v[2] / 2, v[1] - v[3] / 2, v[2], v[3]]  # noqa: E731
            # the best candidate at most one cell (16 crop px) away, with nearly the same box
            assert np.abs(b32[:2, a] - b8[:2, b]).max() <= 16 and iou_xywh(corners(b32[:, a]), corners(b8[:, b])) > 0.75
            assert abs(s32[a] - s8[b]) < 0.05 and np.abs(b32[:, a] - b8[:, a]).max() < 4.0, (name, i)
            checked += 1
    assert checked == 21


def test_with_torch_auto_uses_the_shipped_export_and_exports_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SIAMTRACK_CACHE", str(tmp_path / "cache"))
    tracker = build_tracker(DEFAULT_PRESET)
    assert tracker.engine.name in ("onnxruntime", "openvino")  # float32: the faster one here
    assert tracker.engine.export.root == shipped_export_dir(get_preset(DEFAULT_PRESET))
    assert not (tmp_path / "cache" / "exports").exists()  # a float32 shipped export: nothing made
    int8 = build_tracker(INT8_PRESET)
    if int8.engine.export.precision == "int8":
        assert int8.engine.name == "onnxruntime"  # an int8 export: the engine its accuracy was checked on
        assert int8.engine.export.root == shipped_export_dir(get_preset(INT8_PRESET))
    # a shipped int8 graph is timed against the float32 export of the same weights (auto's engine and precision
    # choice, once per machine): that float32 export is all that is made
    from tracker.engines.exported import read_export

    made = list((tmp_path / "cache" / "exports").iterdir())
    assert len(made) == 1 and read_export(made[0]).precision == "float32"
    # what the shipped export lacks (here the long-term search size) is exported into the cache as before
    assert (
        build_tracker(INT8_PRESET, engine="onnxruntime", long_term=True).engine.export.root.parent
        == tmp_path / "cache" / "exports"
    )
    assert build_tracker(DEFAULT_PRESET, engine="torch").engine.name == "torch"


def test_with_torch_a_damaged_shipped_export_falls_back_to_exporting_the_weights(tmp_path, monkeypatch):
    import tracker.config.presets

    weights = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, weights, ignore=shutil.ignore_patterns("demo"))
    bad = weights / "onnx" / DEFAULT_PRESET / "search_255.onnx"
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(tracker.config.presets, "WEIGHTS_DIR", weights)
    monkeypatch.setenv("SIAMTRACK_CACHE", str(tmp_path / "cache"))
    t = build_tracker(DEFAULT_PRESET, engine="onnxruntime")
    assert t.engine.export.root.parent == tmp_path / "cache" / "exports"
    from tracker.prepare.auto import forget_export

    forget_export(read_export(shipped_export_dir(get_preset(DEFAULT_PRESET)), verify=False))
    assert bad.is_file()  # package data is never removed


def test_without_torch_the_demo_tracks_as_with_torch(tmp_path, capsys):
    run = _no_torch(tmp_path, "track", "--demo", "--quiet")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr == "" and (tmp_path / "siamtrack-demo" / "demo_tracked.mp4").stat().st_size > 0
    assert not (tmp_path / "cache" / "exports").exists()
    assert main(["track", "--demo", "--quiet", "--save-video", str(tmp_path / "a.mp4")]) == 0
    with_torch = _auc(capsys.readouterr().out)
    assert main(["track", "--demo", "--quiet", "--engine", "torch", "--save-video", str(tmp_path / "t.mp4")]) == 0
    float32 = _auc(capsys.readouterr().out)  # the model unquantized
    without = _auc(run.stdout)
    assert without > 0.7  # the README's demo line
    assert abs(without - with_torch) <= 0.001  # the same shipped graphs (on the engine each run found faster)
    assert abs(without - float32) <= 0.001, (without, float32)  # float32 graphs of the same weights


def test_without_torch_the_light_commands_and_the_api_work(tmp_path):
    for args in (["--help"], ["--version"], ["models"], ["track", "--help"], ["train", "--help"]):
        run = _no_torch(tmp_path, *args)
        assert run.returncode == 0 and run.stderr == "", (args, run.stderr[-2000:])
        if args == ["models"]:  # what runs without torch is told apart from what needs it
            rows = {
                line.split()[0]: line for line in run.stdout.splitlines() if line.startswith(("siam", "anchor", "nano"))
            }
            assert "(needs torch)" not in rows[DEFAULT_PRESET] and "shipped" in rows[DEFAULT_PRESET]
            assert "shipped (needs torch)" in rows["siamfc_alexnet"]
            assert "pip install" in run.stdout
    script = (
        "import sys\nfor m in ('torch', 'onnx', 'onnxscript'):\n    sys.modules[m] = None\n"
        "import cv2\nfrom tracker import build_tracker\n"
        f"cap = cv2.VideoCapture({str(WEIGHTS_DIR / 'demo' / 'demo.mp4')!r})\n"
        "frames = [cap.read()[1] for _ in range(5)]\n"
        f"gt = open({str(WEIGHTS_DIR / 'demo' / 'groundtruth.txt')!r})\n"
        "box = [float(v) for v in gt.readline().split(',')]\n"
        "t = build_tracker('default')\nt.init(frames[0], box)\n"
        "print(t.engine.name, [round(v, 1) for v in t.update(frames[1]).box])\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), SIAMTRACK_CACHE=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[0] in ("onnxruntime", "openvino")  # an ONNX engine on the shipped graphs


def test_without_torch_batch_and_bench_run_the_default(tmp_path, shared_dir):
    videos = tmp_path / "in"
    videos.mkdir()
    shutil.copy2(WEIGHTS_DIR / "demo" / "demo.mp4", videos / "clip.mp4")
    (videos / "clip.txt").write_text((WEIGHTS_DIR / "demo" / "groundtruth.txt").read_text().splitlines()[0] + "\n")
    run = _no_torch(tmp_path, "batch", str(videos), "-o", str(tmp_path / "out"), "--max-frames", "10", "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    assert DEFAULT_PRESET in (tmp_path / "out" / "summary.csv").read_text()
    assert len((tmp_path / "out" / "clip.boxes.txt").read_text().splitlines()) == 10
    run = _no_torch(
        tmp_path,
        "bench",
        str(shared_dir / "data" / "sequences"),
        "--sequences",
        "BMX3",
        "-t",
        "default",
        "--max-frames",
        "10",
        "--results",
        str(tmp_path / "res"),
        "--report-dir",
        str(tmp_path / "rep"),
        "--no-plots",
        "--quiet",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"| {DEFAULT_PRESET} |" in run.stdout and "1/1" in run.stdout, run.stdout[-2000:]  # `default` named


# what needs torch, and the words its one line must hold
NEEDS_TORCH = [
    (["train", "default", "--data", "sequences=x"], "training needs PyTorch"),
    (["export", "--out-dir", "x"], "exporting a model needs PyTorch"),
    (["track", "--demo", "--model", "siamfc_alexnet"], "model siamfc_alexnet needs PyTorch"),
    (["track", "--demo", "--engine", "torch"], "--engine torch needs PyTorch"),
    (["track", "--demo", "--weights", str(WEIGHTS_DIR / "siamrpn_effnet_lite0_fast.pth")], "needs PyTorch"),
    (["track", "--demo", "--model", INT8_PRESET, "--long-term"], "with --long-term needs PyTorch"),
    (["track", "--demo", "--device", "cuda"], "--device cuda needs PyTorch"),
]


@pytest.mark.parametrize("args,words", NEEDS_TORCH, ids=[" ".join(a[:3]) for a, _ in NEEDS_TORCH])
def test_without_torch_what_needs_it_says_so_in_one_line(tmp_path, args, words):
    run = _no_torch(tmp_path, *args)
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and 'pip install "siamtrack[' in lines[0], run.stderr
    assert "Traceback" not in run.stderr and "ModuleNotFoundError" not in run.stderr


def test_without_torch_a_damaged_shipped_export_is_refused_in_one_line(tmp_path):
    weights = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, weights)
    bad = weights / "onnx" / DEFAULT_PRESET / "template.onnx"
    bad.write_bytes(bad.read_bytes()[:-10])
    run = _no_torch(tmp_path, "track", "--demo", "--quiet", weights_dir=weights)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and "template.onnx" in lines[0] and "sha256" in lines[0], run.stderr


def test_without_torch_an_export_folder_with_engine_torch_is_refused_as_with_torch(tmp_path):
    folder = shipped_export_dir(get_preset(DEFAULT_PRESET))
    run = _no_torch(tmp_path, "track", "--demo", "--model", str(folder), "--engine", "torch")
    assert run.returncode == 2 and run.stderr.strip().endswith(
        "an export runs on an ONNX engine (--engine onnxruntime or openvino), not torch"
    ), run.stderr


SHIPPED_EXPORTS = [p.name for p in list_presets() if shipped_export_dir(p) is not None]


def test_the_nanotrack_presets_ship_float32_exports():
    assert {"nanotrack_v2", "nanotrack_v3", DEFAULT_PRESET} <= set(SHIPPED_EXPORTS)


@pytest.mark.parametrize("name", SHIPPED_EXPORTS)
def test_every_shipped_export_is_its_presets_shipped_model(name):
    """Each shipped export is the preset's shipped weights, architecture and input convention, with the graphs
    its tracking values need, every file passing onnx.checker (weights/README.md: how each was made)."""
    import onnx

    from tracker.engines.shipped import shipped_export
    from tracker.models.checkpoint import sha256_file

    preset = get_preset(name)
    export, why = shipped_export(preset, preset.weights_sha256)
    assert export is not None, why
    assert export.weights_sha256 == sha256_file(preset.weights_path)
    for key in ("family", "model", "input"):
        assert json.dumps(export.preset.to_dict()[key], sort_keys=True) == json.dumps(
            preset.to_dict()[key], sort_keys=True
        )
    for graph in [export.template, *export.search]:
        onnx.checker.check_model(str(graph.path), full_check=True)


@pytest.mark.parametrize("name", [n for n in SHIPPED_EXPORTS if n.startswith("nanotrack")])
def test_a_shipped_float32_export_tracks_as_the_torch_model(name, shared_dir):
    """float32 graphs of the same weights: the same boxes as the torch engine to rounding, frame by frame."""
    seq = shared_dir / "data" / "sequences" / "car1"
    files = sorted((seq / "img").iterdir())[:25]
    box = [float(v) for v in (seq / "groundtruth_rect.txt").read_text().split()[0].split(",")]
    shipped, torch_engine = build_tracker(name, engine="onnxruntime"), build_tracker(name, engine="torch")
    assert shipped.engine.export.root == shipped_export_dir(get_preset(name))
    frames = [cv2.imread(str(f)) for f in files]
    for t in (shipped, torch_engine):
        t.init(frames[0], box)
    for f in frames[1:]:
        a, b = shipped.update(f).box, torch_engine.update(f).box
        assert np.abs(np.subtract(a, b)).max() < 0.01, (a, b)


def test_without_torch_long_term_for_the_default_is_refused_as_with_torch(tmp_path):
    run = _no_torch(tmp_path, "track", "--demo", "--long-term")
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and "--long-term is for the SiamRPN models only" in lines[0]


def test_without_torch_models_speed_times_the_shipped_exports(tmp_path):
    """`siamtrack models --speed` needs no torch: each shipped export on an ONNX engine, its update timed on the
    demo clip; Lite0-fast's int8 graph is then its only candidate (its float32 alternative is exported by torch)."""
    run = _no_torch(tmp_path, "models", "--speed", "--threads", "1", "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {r["name"]: r for r in json.loads(run.stdout)}
    assert set(rows) >= {DEFAULT_PRESET, "nanotrack_v2", "siamrpn_effnet_lite0_fast"}
    assert all(r["update_ms"] > 0 and r["runs_on"].split()[0] in ("onnxruntime", "openvino") for r in rows.values())
    assert rows["siamrpn_effnet_lite0_fast"]["runs_on"] == "onnxruntime int8"
    assert rows["siamrpn_effnet_lite0_fast"]["search_graph_ms"] == {}
