"""The ONNX engines for a model given as a preset (or config) and checkpoint, and the `auto` choice.

An ONNX engine runs an export; for a preset the export is made once and kept in the cache folder
(tracker.engines.choice.cache_dir()/exports), keyed by the architecture, input convention, graph shapes,
checkpoint sha256 and torch version, so later runs load it directly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ..engines import ONNX_ENGINES, installed
from ..engines.choice import announce_preparation, cache_dir, digest
from ..engines.exported import ExportError, read_export


def weights_sha256(preset, weights) -> str:
    if weights is None:
        return preset.weights_sha256
    from ..models.checkpoint import sha256_file

    return sha256_file(weights)


def exporter_fingerprint() -> str:
    """A digest of the code an export is made by (the exporter, the models, the backbones), so that an export
    cached by another version of siamtrack is never reused: an engine may not load it (seen: an export
    written before the exporter avoided ScatterND nodes, which OpenVINO refuses)."""
    root = Path(__file__).resolve().parent.parent
    files = [
        root / "export" / "onnx.py",
        *sorted((root / "models").glob("*.py")),
        *sorted((root.parent / "backbones").glob("*.py")),
    ]
    h = hashlib.sha256()
    for f in files:
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def forget_export(export) -> None:
    """Remove a cached export (one an engine could not load), so that the next use makes it again; a shipped
    export (tracker.engines.shipped) is package data, never removed."""
    if (cache_dir() / "exports").resolve() in Path(export.root).resolve().parents:
        shutil.rmtree(export.root, ignore_errors=True)


def export_tools_missing() -> str | None:
    """The packages an export needs besides torch (the `torch` extra) that are not installed, if any."""
    missing = [m for m in ("onnx", "onnxscript") if not installed_module(m)]
    return " and ".join(missing) or None


def installed_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def exported_for(preset, model, weights, long_term: bool = False, float32: bool = False, targets: int = 1):
    """The preset's shipped export where it is this model (tracker.engines.shipped; with `float32`, only a
    float32 one), else the cached export of `model` (made now if missing or damaged; a None `model` is loaded
    from `weights`, or the preset's shipped weights, only then). `targets` > 1: the export whose search graphs
    take that many targets at once (tracker.export.onnx.export_model), never shipped."""
    sha = weights_sha256(preset, weights)
    from ..engines.shipped import shipped_export

    try:
        shipped = shipped_export(preset, sha, long_term)[0] if targets == 1 else None
    except ExportError:  # a damaged shipped file: the cache's own export instead
        shipped = None
    if shipped is not None and not (float32 and shipped.precision != "float32"):
        return shipped
    missing = export_tools_missing()
    if missing:  # torch installed without the `torch` extra (auto then takes torch)
        raise ExportError(
            f"exporting {preset.name} for an ONNX engine needs {missing}, which are not installed "
            f'(pip install "siamtrack[torch]"); or use --engine torch'
        )
    import torch

    from ..export.onnx import export_model, search_shapes

    spec = preset.to_dict()
    key = digest(
        [
            spec["model"],
            spec["input"],
            spec["family"],
            spec["track"]["exemplar_size"],
            search_shapes(preset, long_term, targets),
            sha,
            torch.__version__,
            exporter_fingerprint(),
        ]
        + ([f"targets={targets}"] if targets > 1 else [])
    )
    folder = cache_dir() / "exports" / f"{preset.name}-{key}"

    def make(tmp: Path) -> None:
        nonlocal model
        announce_preparation(preset.name, "ONNX export and engine choice")
        if model is None:
            from ..models import load_model

            model, _ = load_model(preset, weights, "cpu")
        # a copy: export_model drops the optimised graphs of the model it is given
        import copy

        export_model(preset, copy.deepcopy(model).cpu(), tmp, sha, long_term=long_term, targets=targets)

    return cached_export(folder, make)


def cached_export(folder: Path, make):
    """The export kept in the cache folder `folder`: read, or (missing, or damaged: removed) made by `make(tmp)`
    into a temporary folder beside it and moved into place; where another process finished the same export
    first, theirs is used."""
    if folder.is_dir():
        try:
            return read_export(folder)
        except ExportError:
            shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".export-"))
    try:
        make(tmp)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished the same export first: use theirs
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return read_export(folder)


def batch_exporter(preset, weights, long_term: bool, load_model):
    """For an ONNX engine running `preset` with `weights` (None: the shipped ones): a function giving the
    export for n targets at once (OnnxEngine.batch_export), made into the cache on first use from the torch
    model that `load_model()` returns (called then, once); None where no such export can be made here (no
    torch or export tools)."""
    from .._torch import torch_installed

    if not torch_installed() or export_tools_missing():
        return None
    held: list = []

    def export_for(targets: int):
        try:
            if not held:
                held.append(load_model())
            return exported_for(preset, held[0], weights, long_term, targets=targets)
        except (ExportError, OSError):  # not exportable, or no writable cache folder: one search per target
            return None

    return export_for


def choose_engine(preset, model, weights, device, xcorr: str, long_term: bool, fast: bool) -> str:
    """`auto`: on the CPU the faster installed ONNX engine (ONNX Runtime, OpenVINO), measured once per machine,
    model and thread count and remembered (tracker.engines.choice), so every run uses the same engine and
    numbers; both ran every preset measured faster than the torch engine (docs/speed.md, "Engines"). torch on a GPU,
    with a non-torch correlation backend, without `fast`, with no ONNX engine installed, or for a model that
    cannot be exported."""
    onnx = [e for e in ONNX_ENGINES if installed(e)]
    if device.type != "cpu" or xcorr != "torch" or not fast or not onnx:
        return "torch"
    try:
        export = exported_for(preset, model, weights, long_term)
    except (ExportError, OSError):  # not exportable (or no onnx), or no writable cache folder: torch
        return "torch"
    from ..engines.choice import fastest_engine
    from ..runtime import engine_threads

    return fastest_engine(export, onnx, engine_threads())[0]


def float32_alternative(export, preset, long_term: bool):
    """For an int8 export of a preset's own shipped weights: the float32 export of the same weights (the shipped
    one, or made once into the cache), so that `auto` can time the two; None where it cannot be had here
    (no torch or export tools, other weights, an export that fails)."""
    from .._torch import torch_installed

    if export.precision != "int8" or export.weights_sha256 != preset.weights_sha256 or not preset.weights_available:
        return None
    if not torch_installed() or export_tools_missing():
        return None
    try:
        return exported_for(preset, None, None, long_term, float32=True)
    except (ExportError, OSError):
        return None
