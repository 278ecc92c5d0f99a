"""Packaging: everything declarative is in setup.cfg. This file only adds the shipped weights, their shipped
ONNX exports (weights/onnx/PRESET/, tracker.engines.shipped) and the demo clip.

They live in the repository's `weights/` (where training and the model card keep them); in a wheel or a
non-editable install they become the data folder `tracker/_weights/` (see tracker.config.presets.WEIGHTS_DIR).
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGES = find_packages(include=["tracker", "tracker.*", "backbones", "backbones.*"])
# one data folder per shipped export (as the demo's: setuptools wants each folder of package data named)
ONNX_DIR = Path(__file__).resolve().parent / "weights" / "onnx"
EXPORTS = sorted(f"tracker._weights.onnx.{d.name}" for d in ONNX_DIR.glob("*") if d.is_dir())

setup(
    packages=PACKAGES + ["tracker._weights", "tracker._weights.demo", "tracker._weights.onnx"] + EXPORTS,
    package_dir={"tracker._weights": "weights"},
    package_data={
        "tracker": ["py.typed"],
        "tracker._weights": ["*.pth", "README.md", "LICENSE-*.txt"],
        "tracker._weights.demo": ["*.mp4", "*.txt"],
        **{name: ["*.onnx", "siamtrack.json"] for name in EXPORTS},
    },
)
