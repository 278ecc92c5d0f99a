"""Shipped exports: a preset's ONNX export made with `siamtrack export` from its shipped weights and shipped
with them as package data, `weights/onnx/<preset>/` (weights/README.md says how it was made). The default
model and NanoTrack v2 and v3 have one.

This module finds a preset's shipped export (`shipped_export`); where a preset has one, `build_tracker` runs it
on an ONNX engine without loading the model in torch (tracker.prepare.on_export.build_shipped_tracker):
- without torch (`pip install siamtrack`), it is how the default model tracks at all; what it cannot serve
  (another preset, a checkpoint file, `--engine torch`, a GPU, other crop sizes) needs PyTorch and is refused
  in one line (tracker._torch);
- with torch, it is what the `auto` engine (and a named ONNX engine) would have exported into the cache on
  first use, so the first run skips that export (tens of seconds) and torch's model build.

A shipped export stands for a preset only when it is the same model: its sidecar's weights sha256 is the
checkpoint's, and its architecture and input convention are the preset's; it must also hold the graphs the
tracking values need (tracker.engines.exported.missing_graph). tests/test_engines.py checks that the shipped
export matches the shipped .pth and tracks the same boxes as the torch engine, so weights retrained without
a new export fail the tests. The exporter-fingerprint key of the cache (tracker.prepare.auto) does not apply:
the shipped export is not a cache entry but a tested file of this release.
"""

from __future__ import annotations

from pathlib import Path

from .exported import Export, missing_graph, read_export

SHIPPED_DIR = "onnx"


def shipped_export_dir(preset) -> Path | None:
    """The folder of `preset`'s shipped export, where it has one."""
    from ..config.presets import WEIGHTS_DIR
    from .exported import is_export

    folder = WEIGHTS_DIR / SHIPPED_DIR / preset.name
    return folder if is_export(folder) else None


def shipped_presets() -> list[str]:
    """The presets that ship an export (what tracks without torch), the default first."""
    from ..config.presets import DEFAULT_PRESET, list_presets

    names = [p.name for p in list_presets() if shipped_export_dir(p) is not None]
    return sorted(names, key=lambda n: n != DEFAULT_PRESET)


def _model(preset) -> list:
    d = preset.to_dict()
    return [d["family"], d["model"], d["input"]]


def shipped_export(preset, weights_sha256: str | None, long_term: bool = False) -> tuple[Export | None, str]:
    """(`preset`'s shipped export, "") when it stands for `preset` with the weights of sha256
    `weights_sha256` and has the graphs its tracking values need; else (None, why not). A shipped export
    whose files fail their sha256 raises ExportError (reinstall)."""
    folder = shipped_export_dir(preset)
    if folder is None:
        return None, "it has no shipped ONNX export"
    export = read_export(folder)
    from .choice import digest

    if weights_sha256 is None or export.weights_sha256 != weights_sha256:
        return None, "its shipped ONNX export is of other weights"
    if digest(_model(export.preset)) != digest(_model(preset)):
        return None, "its shipped ONNX export is of another architecture or input convention"
    missing = missing_graph(export, preset, long_term or getattr(preset.track, "long_term", False))
    if missing:
        return None, f"its shipped ONNX export has {missing}"
    return export, ""
