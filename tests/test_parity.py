"""Our trackers reproduce the reference trackers' own answers (../shared/parity) frame by frame.

The fixtures are seeded random networks: they track nothing in particular, so the trajectory is a
fingerprint of the whole algorithm (crop, padding, anchors, decoding, penalties, window, smoothing,
clipping). Any mismatch grows from the frame it first happens on, so 0.5 px on every frame is strict.
"""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tracker import build_tracker

CASES = [
    # folder, how the model is named, sequence
    ("siamfc_alexnet", "siamfc_alexnet", "car1"),
    ("pysot_alex_dwxcorr_w05", "config.yaml", "BMX3"),
    ("pysot_alex_upxcorr_w025", "config.yaml", "boat1"),
]


def read_boxes(path):
    return np.array([[float(v) for v in line.split(",")] for line in Path(path).read_text().split()])


# every case on the CPU with the default backend; the other backends and CUDA on one case each
RUNS = [(case, "cpu", "torch") for case in CASES] + [(CASES[1], "cpu", "numba"), (CASES[2], "cpu", "numba")]
if torch.cuda.is_available():
    RUNS += [(case, "cuda", xc) for case in CASES for xc in ("torch", "cuda")]


@pytest.mark.parametrize("case,device,xcorr", RUNS, ids=lambda v: v[0] if isinstance(v, tuple) else str(v))
def test_reproduces_reference_boxes(shared_dir, case, device, xcorr):
    folder, model, sequence = case
    fixture = shared_dir / "parity" / folder
    expected = read_boxes(fixture / "boxes.txt")
    frames = sorted((shared_dir / "data" / "sequences" / sequence / "img").iterdir())[:len(expected)]
    model_spec = str(fixture / model) if model.endswith(".yaml") else model
    tracker = build_tracker(model_spec, weights=fixture / "weights.pth", device=device, xcorr=xcorr)
    tracker.init(cv2.imread(str(frames[0])), expected[0])
    got = [expected[0]]
    for path in frames[1:]:
        got.append(tracker.update(cv2.imread(str(path))).box)
    err = np.abs(np.array(got) - expected).max(axis=1)
    worst = int(err.argmax())
    assert err.max() < 0.5, f"frame {worst}: ours {got[worst]} vs reference {expected[worst]} (|d|={err.max():.3f})"
