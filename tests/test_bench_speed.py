"""scripts/bench_speed.py's accounting: the multiply-adds it counts per update() and the per-convolution
floor it times (the numbers behind the README's speed table)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_speed", ROOT / "scripts" / "bench_speed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_counted_gmacs_match_the_recorded_convolutions():
    bench = _bench()
    from tracker import build_tracker

    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    t = build_tracker("siamfc_alexnet", engine="torch")
    t.init(frame, (140, 100, 40, 30))
    calls = []
    gmac = bench.count_update_gmacs(t, frame, calls)
    # five AlexNet convolutions on the three-scale batch, then the xcorr: one grouped conv
    assert len(calls) == 6
    assert tuple(calls[0][0].shape[:2]) == (3, 3)
    macs = sum(
        torch.nn.functional.conv2d(x, w, None, s, p, d, g).numel() * w.shape[1] * w.shape[2] * w.shape[3]
        for x, w, s, p, d, g in calls
    )
    assert abs(gmac - macs / 1e9) < 1e-9
    assert 7.5 < gmac < 9.0  # 3 x 2.7 GMAC for the backbone at 255 px, plus the xcorr


def test_conv_floor_times_each_distinct_convolution_once(monkeypatch):
    bench = _bench()
    timed = []

    def fake_timed(fn, x):
        timed.append(tuple(x.shape))
        fn(x)
        return 0.001

    monkeypatch.setattr(bench, "_timed", fake_timed)
    x, w = torch.randn(1, 4, 9, 9), torch.randn(8, 4, 3, 3)
    call = (x, w, 1, 1, 1, 1)
    other = (torch.randn(1, 4, 7, 7), w, 1, 0, 1, 1)
    ms = bench.conv_floor_ms([call, call, other, call], runs=2)
    # two distinct shapes timed (oneDNN graph and plain call, 2 runs each); four calls counted at 1 ms each
    assert timed.count((1, 4, 9, 9)) == 4 and timed.count((1, 4, 7, 7)) == 4
    assert abs(ms - 4.0) < 1e-9


def test_breakdown_times_the_crop_of_a_tracker_whose_update_is_inherited():
    # SiamRPN-style trackers take their update from trackers/base.py; the crop is called from trackers/siamrpn.py
    bench = _bench()
    from tracker import build_tracker
    from tracker.trackers import siamrpn

    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    t = build_tracker("nanotrack_v3", engine="torch")
    t.init(frame, (140, 100, 40, 30))
    crops = []
    real = siamrpn.subwindow

    def counted(*a, **k):
        crops.append(a[2])
        return real(*a, **k)

    siamrpn.subwindow = counted
    try:
        b = bench.Breakdown(t)
        assert (siamrpn, "subwindow") in [(m, n) for m, n, _ in b._patched]
        b.update(frame)
        b.update(frame)
    finally:
        siamrpn.subwindow = real
    assert siamrpn.subwindow is real  # put back after each update
    assert crops == [255, 255]  # one search crop per update, through the timed wrapper
    assert all(row["crop"] > 0 for row in b.rows)
    assert all(row["crop"] + row["decode"] < row["total"] for row in b.rows)


def test_breakdown_times_siamfc_its_crops_and_its_responses_upsampling():
    # SiamFC has no _choose / _decode: its decoding is the upsampling of its scales' responses
    bench = _bench()
    from tracker import build_tracker

    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    t = build_tracker("siamfc_alexnet", engine="torch")
    t.init(frame, (140, 100, 40, 30))
    b = bench.Breakdown(t)
    b.update(frame)
    b.update(frame)
    assert all(row["crop"] > 0 and row["decode"] > 0 and row["graph"] > 0 for row in b.rows)
    assert all(row["crop"] + row["graph"] + row["decode"] < row["total"] for row in b.rows)
