#!/usr/bin/env python
"""The accuracy check behind a lower precision: each preset's shipped float32 export tracked on OpenVINO in float32
and computed in bfloat16, scored with the OTB one-pass protocol (mean AUC, P@20, box-size error) on a split, and
the difference of the AUCs (the numbers in weights/README.md, "bfloat16"; `auto` never chooses bfloat16, whose
tracks depend on the thread count: compare --threads 1 and 2). On a CPU without bfloat16 units OpenVINO computes
float32 both times. With `--int8
PRESET=DIR` (an int8 export of the preset's shipped weights, `siamtrack export PRESET --weights ... --int8`) it
also tracks that export on ONNX Runtime, the engine int8 is offered on, against the float32 export on ONNX
Runtime (what INT8_CHECKED records).

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
from tracker.engines.exported import read_export
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
    ap.add_argument("--int8", action="append", default=[], metavar="PRESET=DIR", help="an int8 export to check too")
    ap.add_argument("--threads", type=int, default=None, help="engine threads (default: the cores free at start-up)")
    args = ap.parse_args()
    threads = args.threads or engine_threads()
    int8 = dict(item.split("=", 1) for item in args.int8)
    _, seqs = load_dataset(args.split)
    data = [([cv2.imread(str(f)) for f in s.frames], tuple(float(v) for v in s.gt[0]), s) for s in seqs]
    print(f"{len(seqs)} sequences of {args.split}; {threads} threads; bfloat16 units here: {bfloat16_native()}")
    print("| preset | precision | AUC | P@20 | size err | per sequence AUC |\n|---|---|---|---|---|---|")
    for name in args.presets.split(","):
        base = build_tracker(name, engine="openvino")
        export = base.engine.export
        runs = [("float32", "openvino", export, None), ("bfloat16", "openvino", export, "bfloat16")]
        if name in int8:
            runs += [("float32", "onnxruntime", export, None), ("int8", "onnxruntime", read_export(int8[name]), None)]
        rows = {}
        for label, engine_name, ex, precision in runs:
            engine = make_onnx_engine(engine_name, ex, threads, precision)
            tracker = siamese_tracker(base.preset, engine, False)
            auc, p20, size, aucs = rows[label, engine_name] = score(tracker, data)
            per = " ".join(f"{a:.3f}" for a in aucs)
            print(f"| {name} | {label} ({engine_name}) | {auc:.4f} | {p20:.3f} | {size:.3f} | {per} |", flush=True)
        for low, engine_name in (("bfloat16", "openvino"), ("int8", "onnxruntime")):
            if (low, engine_name) in rows:
                delta = rows[low, engine_name][0] - rows["float32", engine_name][0]
                print(f"| {name} | {low} - float32 ({engine_name}) | {delta:+.4f} | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
