"""Packaging: everything declarative is in setup.cfg. This file only adds the shipped weights and demo clip.

They live in the repository's `weights/` (where training and the model card keep them); in a wheel or a
non-editable install they become the data folder `tracker/_weights/` (see tracker.config.presets.WEIGHTS_DIR).
"""
from setuptools import find_packages, setup

PACKAGES = find_packages(include=["tracker", "tracker.*", "backbones", "backbones.*"])

setup(
    packages=PACKAGES + ["tracker._weights", "tracker._weights.demo"],
    package_dir={"tracker._weights": "weights"},
    package_data={"tracker": ["py.typed"], "tracker._weights": ["*.pth", "README.md"], "tracker._weights.demo": ["*.mp4", "*.txt"]},
)
