#!/usr/bin/env python
"""The accuracy check behind a lower precision: each preset's shipped float32 export tracked on OpenVINO in float32
and computed in bfloat16, scored with the OTB one-pass protocol (mean AUC, P@20, box-size error) on a split, and
the difference of the AUCs (what config.presets.BF16_CHECKED records, and `auto` offers within
PRECISION_TOLERANCE). On a CPU without bfloat16 units OpenVINO computes float32 both times.

    python scripts/check_precision.py --split scripts/splits/train7.txt --presets nanotrack_v3,nanotrack_v2

A run on scripts/splits/val19.txt is a look at the validation split: list it in weights/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker import build_tracker
from tracker.bench.datasets import load_dataset
from tracker.bench.metrics import box_size_error, otb_scores
from tracker.engines.onnx_engines import bfloat16_native, make_onnx_engine
from tracker.runtime import configure_process, engine_threads
from tracker.trackers.kinds import siamese_tracker


def score(tracker, data) -> tuple[float, float, float, list[float]]:
    aucs, p20s, sizes = [], [], []
    for frames, box0, seq in data:
        pred = np.array([r.box for r in tracker.track(iter(frames), box0)])
        s = otb_scores(pred, seq.gt)
        aucs.append(s.auc)
        p20s.append(s.precision20)
        sizes.append(box_size_error(pred, seq.gt))
    return float(np.mean(aucs)), float(np.mean(p20s)), float(np.nanmean(sizes)), aucs


def main() -> int:
    configure_process()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="scripts/splits/train7.txt", help="a dataset folder or split file")
    ap.add_argument("--presets", default="nanotrack_v3,nanotrack_v2")
    args = ap.parse_args()
    _, seqs = load_dataset(args.split)
    data = [([cv2.imread(str(f)) for f in s.frames], tuple(float(v) for v in s.gt[0]), s) for s in seqs]
    print(f"{len(seqs)} sequences of {args.split}; bfloat16 units here: {bfloat16_native()}")
    print("| preset | precision | AUC | P@20 | size err | per sequence AUC |\n|---|---|---|---|---|---|")
    for name in args.presets.split(","):
        base = build_tracker(name, engine="openvino")
        export = base.engine.export
        rows = {}
        for precision in ("float32", "bfloat16"):
            engine = make_onnx_engine("openvino", export, engine_threads(), precision)
            tracker = siamese_tracker(base.preset, engine, False)
            auc, p20, size, aucs = rows[precision] = score(tracker, data)
            per = " ".join(f"{a:.3f}" for a in aucs)
            print(f"| {name} | {precision} | {auc:.4f} | {p20:.3f} | {size:.3f} | {per} |", flush=True)
        print(f"| {name} | bfloat16 - float32 | {rows['bfloat16'][0] - rows['float32'][0]:+.4f} | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
