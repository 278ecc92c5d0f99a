"""Trackers on an export's graphs, run by an ONNX engine (no torch needed): an export folder
(`build_exported_tracker`), a preset's shipped export (`build_shipped_tracker`), any read export
(`tracker_on_export`, which for the `auto` engine times the installed engines, and int8 against float32,
once per machine: tracker.engines.choice)."""

from __future__ import annotations

from ..config.presets import Preset
from ..engines import ONNX_ENGINES, check_engine, default_engine, installed
from ..engines.exported import Export, ExportError, missing_graph, read_export
from ..engines.shipped import shipped_export, shipped_export_dir, shipped_presets
from ..trackers.kinds import check_long_term, siamese_tracker


def build_exported_tracker(
    root, engine: str | None = None, long_term: bool = False, threads: int | None = None, **overrides
):
    """A SiamRPN / SiamFC tracker on an export's graphs, run by an ONNX engine (no torch needed)."""
    name = (engine or default_engine()).lower()  # torch is refused before check_engine asks for it
    if name != "torch":
        name = check_engine(engine)
    if name == "torch":
        raise ExportError(f"{root}: an export runs on an ONNX engine (--engine onnxruntime or openvino), not torch")
    export = read_export(root)
    preset = export.preset.replace_track(**overrides) if overrides else export.preset
    return tracker_on_export(export, preset, name, long_term, threads)


def tracker_on_export(export: Export, preset: Preset, engine: str, long_term: bool = False, threads: int | None = None):
    """A tracker with `preset`'s tracking values on `export`'s graphs, run by ONNX engine `engine` (or the
    fastest installed one for 'auto'); refused in one line when the export lacks a graph they need."""
    from ..engines.onnx_engines import make_onnx_engine
    from ..runtime import engine_threads

    export.preset = preset
    lt = long_term or getattr(preset.track, "long_term", False)
    missing = missing_graph(export, preset, lt)
    if missing:
        raise ExportError(f"{export.root}: {missing}; export again with the tracking values you want to use")
    threads = threads or engine_threads()
    if engine == "auto":
        return _auto_tracker(export, preset, lt, threads)
    return _tracker(preset, make_onnx_engine(engine, export, threads), lt)


def _auto_tracker(export: Export, preset: Preset, lt: bool, threads: int):
    """`auto` on an export: the engine *and* precision timed here once and remembered (tracker.engines.choice),
    among the precisions whose accuracy the model card shows within the tolerance for the preset's shipped
    weights (config.presets.precision_validated): float32 always, the export's int8 graph (on ONNX Runtime,
    where it was checked; OpenVINO rounds int8 differently and runs it only when named). One precision: only
    the engine is chosen. A float32 graph computed in bfloat16 (OpenVINO) is never chosen here: its tracks
    depend on the thread count (weights/README.md, "bfloat16")."""
    from ..config.presets import precision_validated
    from ..engines.choice import fastest_engine, fastest_precision
    from ..engines.onnx_engines import make_onnx_engine

    usable = [e for e in ONNX_ENGINES if installed(e)]
    if not usable:
        raise ExportError("an export needs an ONNX engine: pip install onnxruntime (or 'siamtrack[openvino]')")
    exports: dict[str, Export] = {}
    engines: dict[str, list[str]] = {}
    f32: Export | None = export
    if export.precision == "int8":
        f32 = None
        if "onnxruntime" in usable:
            from .auto import float32_alternative

            f32 = float32_alternative(export, preset, lt)
            if f32 is None or precision_validated(preset.name, "int8"):
                exports["int8"], engines["int8"] = export, ["onnxruntime"]
        else:
            exports["int8"], engines["int8"] = export, usable
    if f32 is not None:
        f32.preset = preset
        exports["float32"], engines["float32"] = f32, usable
    if len(exports) == 1:
        ((precision, chosen),) = exports.items()
        engine, timings = fastest_engine(chosen, engines[precision], threads)  # timed only where there are two
    else:
        precision, engine, timings = fastest_precision(exports, engines, threads)
    tracker = _tracker(preset, make_onnx_engine(engine, exports[precision], threads, precision), lt)
    tracker.engine_choice = timings  # why: the best ms of each option timed ("engine" or "precision/engine")
    return tracker


def _tracker(preset: Preset, runner, long_term: bool):
    tracker = siamese_tracker(preset, runner, long_term)
    tracker.xcorr = "onnx"
    tracker.device_name = "cpu"
    tracker.engine_name = runner.name
    return tracker


def build_shipped_tracker(preset, weights=None, device="cpu", xcorr: str = "torch", engine=None, **overrides):
    """The tracker for `preset` (a Preset; the builder resolves names and YAML) on its shipped export, run by
    an ONNX engine, where that export can serve the request; else None (torch installed: the builder's torch
    path builds it), or without torch a one-line TorchMissing saying what needs it."""
    from .._torch import torch_installed, torch_missing

    have_torch = torch_installed()
    options = dict(overrides)
    long_term = bool(options.pop("long_term", False))
    check_long_term(preset, long_term)  # refused as such, not as something that needs torch
    fast = options.pop("fast", True)
    name = check_engine(engine)  # without torch, --engine torch is refused here

    def needs_torch(what: str, note: str | None = None) -> None:
        """None (the builder's torch path builds it) where torch is installed; else the one-line error."""
        if not have_torch:
            raise torch_missing(what, note=note)

    if name == "torch":
        return needs_torch("--engine torch")
    if weights is not None:
        return needs_torch(
            f"--weights {weights} (loading a checkpoint)",
            "or track a folder written by `siamtrack export` with --model DIR",
        )
    if str(device or "cpu") != "cpu":
        return needs_torch(f"--device {device}")
    if xcorr != "torch":
        return needs_torch(f"--xcorr {xcorr}")
    if not fast:
        return needs_torch("the torch engine (fast=False)")
    if options:
        preset = preset.replace_track(**options)
    if shipped_export_dir(preset) is None:
        return needs_torch(
            f"model {preset.name}",
            f"without it siamtrack runs {', '.join(shipped_presets())} and folders written by `siamtrack export`",
        )
    try:
        export, why = shipped_export(preset, preset.weights_sha256, long_term)
    except ExportError:
        if have_torch:  # a damaged shipped file: the torch path exports the .pth into the cache
            return None
        raise  # one line: which file fails its sha256 (reinstall)
    if export is None:
        return needs_torch(
            f"model {preset.name} with " + ("--long-term" if long_term else "these tracking values")
            if "graph" in why
            else f"model {preset.name}",
            why,
        )
    if have_torch and name == "auto" and not any(installed(e) for e in ONNX_ENGINES):
        return None  # no ONNX engine: auto takes torch (tracker.prepare.auto.choose_engine)
    return tracker_on_export(export, preset, name, long_term)
