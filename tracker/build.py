"""Building trackers: `build_tracker` (every family: a preset, a pysot YAML, an export folder or an OpenCV
baseline) and `build_siamese_tracker` (preset or pysot YAML + checkpoint → a ready SiamFC / SiamRPN /
anchor-free tracker on an engine), with `resolve_preset` (what names a model). Building changes no
process-wide state; see `tracker.runtime.configure_process`.

A tracker on an ONNX engine is built with tracker.prepare: the export a preset runs on and the `auto` engine's
choice (auto), the tracker on an export (on_export), OpenCV's NanoTrack pair converted (opencv_nano)."""

from __future__ import annotations

import os
from pathlib import Path

from .config.presets import Preset, PresetError, get_preset
from .errors import UserError
from .trackers.base import Tracker


def build_tracker(preset_or_config, weights=None, device="cpu", xcorr="torch", engine=None, **overrides) -> Tracker:
    """A preset name, preset object or YAML (run by `engine`: auto, torch, onnxruntime, openvino; None: auto
    unless tracker.engines.set_default_engine said otherwise); a folder
    written by `siamtrack export` (ONNX engines only, no torch needed); `opencv-nano:DIR`, the backbone and
    neck-head files of OpenCV's cv2.TrackerNano run by our engines and tracker (tracker.prepare.opencv_nano); or
    an OpenCV baseline (`opencv:...`)."""
    if isinstance(preset_or_config, str) and preset_or_config.startswith("opencv:"):
        if engine not in (None, "auto"):
            raise UserError(f"--engine {engine} applies to the Siamese models, not {preset_or_config}")
        from .trackers.opencv import build_opencv_tracker

        return build_opencv_tracker(preset_or_config, **overrides)
    from .prepare.opencv_nano import is_opencv_nano

    if is_opencv_nano(preset_or_config):  # cv2.TrackerNano's two ONNX files, in our engines and tracker
        if weights is not None or str(device or "cpu") != "cpu" or xcorr != "torch":
            raise UserError(
                f"{preset_or_config} runs OpenCV's NanoTrack files on the CPU with their own weights "
                f"(drop --weights / --device / --xcorr)"
            )
        from .prepare.opencv_nano import build_opencv_nano_tracker

        return build_opencv_nano_tracker(preset_or_config, engine=engine, **overrides)
    from .engines.exported import is_export

    if is_export(preset_or_config):
        if weights is not None:
            raise UserError(f"{preset_or_config} is an export: its weights are in its graphs (drop --weights)")
        if str(device or "cpu") != "cpu" or xcorr != "torch":
            raise UserError(
                f"{preset_or_config} is an export: it runs on the CPU with its own correlation "
                f"(drop --device / --xcorr)"
            )
        from .prepare.on_export import build_exported_tracker

        return build_exported_tracker(preset_or_config, engine=engine, **overrides)
    from .prepare.on_export import build_shipped_tracker  # a shipped ONNX export; without torch, the only way

    preset = resolve_preset(preset_or_config)
    tracker = build_shipped_tracker(preset, weights, device, xcorr, engine, **overrides)
    if tracker is not None:
        options = {k: v for k, v in overrides.items() if k not in ("long_term", "fast")}
        preset = preset.replace_track(**options) if options else preset
        _batch_exports(tracker, preset, None, bool(overrides.get("long_term")), lambda: _load(preset))
        return tracker
    return build_siamese_tracker(
        preset_or_config, weights=weights, device=device, xcorr=xcorr, engine=engine, **overrides
    )


# What names a model, wherever one is asked for (`--model`, `--config`, bench's `--tracker`, build_tracker)
MODEL_FORMS = (
    "a model is a preset name (`siamtrack models`), a folder written by `siamtrack export`, "
    "opencv:NAME, opencv-nano:DIR (cv2.TrackerNano's ONNX pair), or a YAML config (.yaml)"
)


def resolve_preset(preset_or_config) -> Preset:
    """A Preset, a preset name, a pysot config.yaml, or a YAML written from a Preset (Preset.to_dict). Any
    other path (an .onnx or .pth file, a folder that is not an export, a missing file) is a PresetError
    saying what it is and what a model is (MODEL_FORMS), in one line."""
    if isinstance(preset_or_config, Preset):
        return preset_or_config
    spec = str(preset_or_config)
    if spec.lower().endswith((".yaml", ".yml")):
        from .config.pysot import load_pysot_config, read_yaml

        data = read_yaml(spec)
        if isinstance(data, dict) and "family" in data and "model" in data:
            return Preset.from_dict(data)
        return load_pysot_config(spec, data)
    if os.sep in spec or (os.altsep and os.altsep in spec):
        raise not_a_model(spec)
    try:
        return get_preset(spec)
    except PresetError:
        if os.path.lexists(spec):  # a file or folder in the current folder, named without a slash
            raise not_a_model(spec) from None
        raise


def not_a_model(spec: str) -> PresetError:
    """The one-line error for a path that names no model: what the path is, and what a model is."""
    path = Path(spec)
    if path.is_dir():
        if (path / "opencv_nano.json").is_file():
            what = "an opencv-nano export (run it with --model opencv:nano --nano-dir FOLDER)"
        else:
            what = "a folder without siamtrack.json (not written by `siamtrack export`)"
    elif path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".onnx":
            what = "an ONNX file (give the folder `siamtrack export` wrote, not one of its files)"
        elif suffix in (".pth", ".pt", ".pkl", ".ckpt", ".bin"):
            what = "a weights file (give it with --weights)"
        else:
            what = "a file that is not a YAML config"
    else:
        what = "no such file or folder"
    return PresetError(f"{spec}: {what}; {MODEL_FORMS}")


def _load(preset: Preset):
    """The preset's torch network with its shipped weights, on the CPU."""
    from .models import load_model

    return load_model(preset)[0]


def build_siamese_tracker(
    preset_or_config, weights=None, device="cpu", xcorr="torch", long_term=False, fast=True, engine=None, **overrides
):
    """A SiamFC / SiamRPN / anchor-free tracker for a preset (name, object or YAML) with its weights (the
    shipped file unless `weights` is given), its network run by `engine` (auto: the faster one here) on
    `device`; `fast` uses the model's CPU fast path (SiameseModel.fast_path) with the torch engine; tracking
    values in `overrides`. Changes no process-wide state (tracker.runtime.configure_process does)."""
    from .engines import ONNX_ENGINES, check_engine
    from .engines.torch_engine import TorchEngine
    from .models import InputAdapter, load_model, resolve_device
    from .trackers.kinds import check_long_term, siamese_tracker
    from .xcorr import check_backend

    engine = check_engine(engine)
    preset = resolve_preset(preset_or_config)
    if overrides:
        preset = preset.replace_track(**overrides)
    check_long_term(preset, long_term)  # before the model is loaded or exported
    dev = resolve_device(device)
    if engine in ONNX_ENGINES:
        if dev.type != "cpu":
            raise UserError(f"engine '{engine}' runs on the CPU here; with --device {dev} use --engine torch")
        if xcorr != "torch":
            raise UserError(
                f"--xcorr {xcorr} chooses the torch engine's correlation; engine '{engine}' runs the "
                f"exported graph's own (leave --xcorr at torch, or use --engine torch)"
            )
    check_backend(xcorr, dev)
    model, _meta = load_model(preset, weights, dev)
    if engine == "auto":
        from .prepare.auto import choose_engine

        engine = choose_engine(preset, model, weights, dev, xcorr, long_term, fast)
    if engine in ONNX_ENGINES:
        from .engines.exported import ExportError
        from .prepare.auto import exported_for, forget_export
        from .prepare.on_export import tracker_on_export

        export = exported_for(preset, model, weights, long_term)
        try:
            tracker = tracker_on_export(export, preset, engine, long_term)
        except ExportError:
            # a cached export this engine cannot load: made again once; a fresh one that fails is reported
            forget_export(export)
            tracker = tracker_on_export(exported_for(preset, model, weights, long_term), preset, engine, long_term)
        return _batch_exports(tracker, preset, weights, long_term, lambda: model)
    model.set_xcorr_backend(xcorr)
    if dev.type == "cpu" and fast:
        model.enable_fast_inference()
    runner = TorchEngine(model, InputAdapter(preset.input, dev), dev)
    tracker = siamese_tracker(preset, runner, long_term)
    tracker.xcorr = xcorr
    tracker.device_name = str(dev)
    tracker.engine_name = "torch"
    return tracker


def _batch_exports(tracker, preset: Preset, weights, long_term: bool, load):
    """Let `tracker`'s ONNX engine track several targets in one batch (tracker.trackers.multi): the export for
    that many targets is made from the torch model (`load()`) on first use (tracker.prepare.auto). Not for an
    int8 export: a float32 batch would give other boxes than the int8 graph gives each target alone, so its
    targets run the int8 graph one after another."""
    from .prepare.auto import batch_exporter

    if tracker.engine.export.precision == "float32":
        tracker.engine.batch_export = batch_exporter(preset, weights, long_term, load)
    return tracker
