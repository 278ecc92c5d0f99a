"""int8 for an export's search graph: static post-training quantization (ONNX Runtime, QDQ format,
per-channel int8 weights, uint8 activations), calibrated on real frames.

The calibration inputs are exactly what the float32 export sees while tracking: its own tracker (the
export on ONNX Runtime) is run from each calibration sequence's first ground-truth box and every search
crop and template kernel it feeds the search graph is kept. Weights are quantized to 7 bits
(`reduce_range`): x86 CPUs without VNNI multiply uint8 by int8 in 16-bit sums that full-range weights can
saturate. The template graph, run once per target, stays float32; so does a long-term re-detection graph
(the calibration run never re-detects).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..engines.exported import ExportError, read_export
from ..engines.onnx_engines import make_onnx_engine
from ..errors import UserError
from ..runtime import engine_threads
from ..trackers.kinds import siamese_tracker


@dataclass
class Calibration:
    """What int8 is calibrated on: `sequences`, each with `frames` (image paths) and `gt` (boxes, the first one
    finite to start from), as the caller read them from `source` (a folder: recorded in the sidecar and named
    in messages). `siamtrack export --calibration DATA` reads any layout `siamtrack bench` reads."""

    source: str
    sequences: list


def calibration_samples(export, calibration: Calibration, frames: int) -> list[dict]:
    """Search-graph feeds ({input name: array}) from tracking the calibration sequences with the float32
    export on ONNX Runtime: about `frames` in all, spread over the sequences."""
    data = calibration.source
    sequences = [s for s in calibration.sequences if len(s) > 1 and np.all(np.isfinite(s.gt[0]))]
    if not sequences:
        raise UserError(f"--calibration {data}: no sequence with frames and a first ground-truth box")
    per_seq = max(1, math.ceil(frames / len(sequences)))
    graph = export.search_graph(export.preset.track.instance_size, getattr(export.preset.track, "scale_num", 1))
    samples: list[dict] = []
    tracker = siamese_tracker(export.preset, make_onnx_engine("onnxruntime", export, engine_threads()), False)
    engine = tracker.engine
    run_search = engine.search

    def recording(crops, kernel):
        if len(samples) < frames:
            samples.append(dict(zip(graph.inputs, [engine.prepare(crops), *kernel])))
        return run_search(crops, kernel)

    engine.search = recording
    for seq in sequences:
        if len(samples) >= frames:
            break
        first = cv2.imread(str(seq.frames[0]))
        if first is None:
            continue
        tracker.init(first, seq.gt[0])
        stop = len(samples) + per_seq
        for path in seq.frames[1:]:
            if len(samples) >= min(stop, frames):
                break
            frame = cv2.imread(str(path))
            if frame is not None:
                tracker.update(frame)
    if not samples:
        raise UserError(f"--calibration {data}: no frame could be read")
    return samples


class _Reader:
    """onnxruntime.quantization's CalibrationDataReader protocol over a list of feeds."""

    def __init__(self, samples: list[dict]):
        self.samples = iter(samples)

    def get_next(self):
        return next(self.samples, None)

    def rewind(self):
        pass


def quantize_export(out: Path, sidecar: dict, calibration: Calibration | None, frames: int = 96) -> None:
    """Replace the export's search graph at the instance size by its int8 version (in place; the sidecar
    dict is updated, the caller rewrites the file)."""
    if calibration is None:
        raise UserError(
            "--int8 needs --calibration DATA: a folder of sequences with ground truth (real frames "
            "of the kind you will track)"
        )
    try:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    except ImportError:
        raise UserError("--int8 needs ONNX Runtime's quantization tools (pip install onnxruntime)") from None
    export = read_export(out)
    p = export.preset.track
    graph = export.search_graph(p.instance_size, getattr(p, "scale_num", 1))
    samples = calibration_samples(export, calibration, frames)
    tmp = graph.path.with_suffix(".int8.tmp")
    pre = graph.path.with_suffix(".pre.tmp")
    source = graph.path
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer's advice, logged on the root logger
    try:
        try:
            # ONNX Runtime's recommended pre-processing: shape inference and graph optimisation, so that
            # quantization sees fused Conv + activation nodes
            from onnxruntime.quantization.shape_inference import quant_pre_process

            quant_pre_process(str(graph.path), str(pre), skip_symbolic_shape=True)
            source = pre
        except Exception:  # noqa: BLE001 - optional: quantize the graph as exported
            source = graph.path
        quantize_static(
            str(source),
            str(tmp),
            _Reader(samples),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        import onnx

        onnx.checker.check_model(str(tmp), full_check=True)
    except (UserError, ExportError):
        raise
    except Exception as exc:  # noqa: BLE001 - the quantizer raises many types
        tmp.unlink(missing_ok=True)
        raise ExportError(f"int8 quantization of {graph.path.name} failed: {str(exc).splitlines()[0][:200]}") from None
    finally:
        root.setLevel(level)
        pre.unlink(missing_ok=True)
    tmp.replace(graph.path)
    for g in sidecar["graphs"]["search"]:
        if g["file"] == graph.path.name:
            g["precision"] = "int8"
    sidecar["precision"] = "int8"
    sidecar["int8"] = {
        "method": "ONNX Runtime static QDQ, per-channel int8 weights (7-bit range), uint8 "
        "activations, MinMax calibration",
        "calibration": calibration.source,
        "calibration_samples": len(samples),
    }
