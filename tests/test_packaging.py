"""The wheel a user installs carries the shipped weights and the demo clip (package data tracker/_weights),
with the checksums the presets record; one version number."""

from __future__ import annotations

import configparser
import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tracker import __version__
from tracker.config.presets import WEIGHTS_DIR, list_presets

REPO = Path(__file__).resolve().parent.parent


def test_one_version_number():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert cfg["metadata"]["version"] == "attr: tracker.version.__version__"
    assert __version__.count(".") == 2


@pytest.mark.slow
def test_wheel_holds_weights_and_demo(tmp_path):
    # built from a copy of what setup.py packs, so that the build leaves nothing in the checkout
    src, out = tmp_path / "src", tmp_path / "dist"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_weights")
    for d in ("tracker", "backbones", "weights", "docs"):
        shutil.copytree(REPO / d, src / d, ignore=ignore)
    for f in ("setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md"):
        shutil.copy2(REPO / f, src / f)
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    (wheel,) = out.glob("siamtrack-*.whl")
    assert wheel.name.startswith(f"siamtrack-{__version__}-")
    assert wheel.stat().st_size < 60 * 1024 * 1024
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for p in list_presets():
            if p.weights_available:
                member = f"tracker/_weights/{p.weights}"
                assert member in names, member
                assert hashlib.sha256(z.read(member)).hexdigest() == p.weights_sha256
        for f in ("demo/demo.mp4", "demo/groundtruth.txt"):
            member = f"tracker/_weights/{f}"
            assert z.read(member) == (WEIGHTS_DIR / f).read_bytes()
        # the shipped exports (tracker.engines.shipped): every file its sidecar lists, intact
        exports = sorted(p for p in (WEIGHTS_DIR / "onnx").glob("*/siamtrack.json"))
        assert exports
        for side in exports:
            member = f"tracker/_weights/onnx/{side.parent.name}"
            files = json.loads(z.read(f"{member}/siamtrack.json"))["files"]
            for name, sha in files.items():
                assert hashlib.sha256(z.read(f"{member}/{name}")).hexdigest() == sha, name
        assert "tracker/cli/__init__.py" in names and "backbones/efficientnet_lite.py" in names
        assert not [n for n in names if n.startswith(("tests/", "scripts/"))]


def _requirements(text: str) -> set[str]:
    return {
        re.split(r"[<>=!~;\[ ]", line.strip())[0].lower()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    }


def test_torch_is_an_extra_and_the_core_install_tracks_without_it():
    """`pip install siamtrack` is the inference-only install (numpy, OpenCV, PyYAML, ONNX Runtime); torch and
    the exporter's packages come with the `torch` extra, and with every extra whose commands need them."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    core = _requirements(cfg["options"]["install_requires"])
    assert core == {"numpy", "opencv-contrib-python-headless", "pyyaml", "onnxruntime"}
    extras = {k: _requirements(v) for k, v in cfg["options.extras_require"].items()}
    assert extras["torch"] == {"torch", "onnx", "onnxscript"}
    for name in ("train", "all", "test"):
        assert extras["torch"] <= extras[name], name
    assert "torch" in extras["numba"]  # --xcorr numba/cuda are the torch engine's
    for name in ("gui", "bench", "openvino", "ray"):  # these work with the shipped export alone
        assert "torch" not in extras[name], name
