"""An export folder (written by `siamtrack export`, tracker.export): ONNX graphs plus the sidecar
`siamtrack.json` that makes them a tracker — preset (architecture, input convention, tracking values),
the checkpoint's sha256, each graph's inputs, outputs and shapes, and each file's sha256.

Reading one needs no torch: `build_exported_tracker(folder)` tracks with numpy, OpenCV and an ONNX engine.
Anything that is not an intact export of ours is refused with one line saying what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..config.presets import Preset, SiamFCParams
from ..errors import UserError

SIDECAR = "siamtrack.json"
FORMAT = "siamtrack-onnx-export"
VERSION = 1


class ExportError(UserError):
    pass


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_export(path) -> bool:
    """Whether `path` is a folder holding a sidecar (so it is meant as an export, intact or not)."""
    try:
        return Path(path).is_dir() and (Path(path) / SIDECAR).is_file()
    except (TypeError, OSError):
        return False


@dataclass
class Graph:
    path: Path
    inputs: list[str]
    outputs: list[str]
    shapes: dict  # input name -> shape (the kernel inputs' shapes included)
    size: int  # the crop size the graph takes (exemplar or search size)
    batch: int
    precision: str  # "float32" or "int8"

    def check_signature(self, inputs: list[str], outputs: list[str]) -> None:
        if sorted(inputs) != sorted(self.inputs) or sorted(outputs) != sorted(self.outputs):
            raise ExportError(
                f"{self.path}: its inputs {inputs} / outputs {outputs} are not the "
                f"{self.inputs} / {self.outputs} its sidecar names (a foreign or altered graph)"
            )


@dataclass
class Export:
    root: Path
    preset: Preset
    template: Graph
    search: list[Graph]
    weights_sha256: str | None
    precision: str

    def search_graph(self, size: int, batch: int) -> Graph:
        for g in self.search:
            if g.size == size and g.batch == batch:
                return g
        have = ", ".join(f"{g.size} px x{g.batch}" for g in self.search)
        raise ExportError(
            f"{self.root}: no search graph for {batch} crop(s) of {size} px (this export has {have}); "
            f"export again with the tracking values you want to use"
        )


def _graph(root: Path, d: dict, files: dict) -> Graph:
    path = root / d["file"]
    if d["file"] not in files:
        raise ExportError(f"{root / SIDECAR}: graph {d['file']} has no sha256 in the sidecar")
    return Graph(
        path,
        list(d["inputs"]),
        list(d["outputs"]),
        {k: list(v) for k, v in d["shapes"].items()},
        int(d["size"]),
        int(d["batch"]),
        str(d.get("precision", "float32")),
    )


def read_export(root, verify: bool = True) -> Export:
    """The export in folder `root`, every file checked against the sha256 its sidecar records."""
    root = Path(root)
    side = root / SIDECAR
    if not root.is_dir():
        raise ExportError(f"{root}: not a folder (an export is the folder `siamtrack export --out` wrote)")
    if not side.is_file():
        raise ExportError(f"{root}: no {SIDECAR} in it, so not a siamtrack export (make one with siamtrack export)")
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{side}: not valid JSON ({exc}); the sidecar is damaged") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ExportError(f'{side}: not a siamtrack export sidecar (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise ExportError(
            f"{side}: export format version {data.get('version')!r}; this siamtrack reads version "
            f"{VERSION} (export the model again)"
        )
    try:
        preset = Preset.from_dict(data["preset"])
        files = dict(data["files"])
        template = _graph(root, data["graphs"]["template"], files)
        search = [_graph(root, g, files) for g in data["graphs"]["search"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ExportError(f"{side}: the sidecar is incomplete or damaged ({type(exc).__name__}: {exc})") from None
    if not search:
        raise ExportError(f"{side}: the sidecar lists no search graph")
    if verify:
        for name, expected in files.items():
            path = root / name
            if Path(name).name != name:
                raise ExportError(f"{side}: file name {name!r} points outside the export folder")
            if not path.is_file():
                raise ExportError(f"{root}: {name} is missing (the sidecar lists it)")
            if file_sha256(path) != expected:
                raise ExportError(f"{path}: sha256 differs from the sidecar's: the file is damaged or was replaced")
    return Export(root, preset, template, search, data.get("weights_sha256"), str(data.get("precision", "float32")))


def build_exported_tracker(
    root, engine: str | None = None, long_term: bool = False, threads: int | None = None, **overrides
):
    """A SiamRPN / SiamFC tracker on an export's graphs, run by an ONNX engine (no torch needed)."""
    from . import _default, check_engine

    name = (engine or _default).lower()  # torch is refused before check_engine asks for it
    if name != "torch":
        name = check_engine(engine)
    if name == "torch":
        raise ExportError(f"{root}: an export runs on an ONNX engine (--engine onnxruntime or openvino), not torch")
    export = read_export(root)
    preset = export.preset.replace_track(**overrides) if overrides else export.preset
    return tracker_on_export(export, preset, name, long_term, threads)


def missing_graph(export: Export, preset: Preset, long_term: bool = False) -> str | None:
    """Which graph `export` lacks for `preset`'s tracking values (crop sizes, SiamFC's scales, the long-term
    re-detection size), in words; None when it has them all."""
    p = preset.track
    if export.template.size != p.exemplar_size:
        return (
            f"the template graph takes {export.template.size} px, the tracking values ask for exemplar_size "
            f"{p.exemplar_size}"
        )
    if isinstance(p, SiamFCParams):
        shapes = [(p.instance_size, p.scale_num)]
    else:
        shapes = [(p.instance_size, 1)] + ([(p.lost_instance_size, 1)] if long_term else [])
    for size, batch in shapes:
        if not any(g.size == size and g.batch == batch for g in export.search):
            have = ", ".join(f"{g.size} px x{g.batch}" for g in export.search)
            return f"no search graph for {batch} crop(s) of {size} px (this export has {have})"
    return None


def tracker_on_export(export: Export, preset: Preset, engine: str, long_term: bool = False, threads: int | None = None):
    """A tracker with `preset`'s tracking values on `export`'s graphs, run by ONNX engine `engine` (or the
    fastest installed one for 'auto'); refused in one line when the export lacks a graph they need."""
    from ..runtime import engine_threads
    from . import ONNX_ENGINES, installed
    from .onnx_engines import make_onnx_engine

    export.preset = preset
    lt = long_term or getattr(preset.track, "long_term", False)
    missing = missing_graph(export, preset, lt)
    if missing:
        raise ExportError(f"{export.root}: {missing}; export again with the tracking values you want to use")
    threads = threads or engine_threads()
    if engine == "auto":
        usable = [e for e in ONNX_ENGINES if installed(e)]
        if not usable:
            raise ExportError("an export needs an ONNX engine: pip install onnxruntime (or 'siamtrack[openvino]')")
        if export.precision == "int8" and "onnxruntime" in usable:
            # int8 graphs are quantized for, and their accuracy checked on, ONNX Runtime (weights/README.md,
            # "int8"); OpenVINO rounds its int8 arithmetic differently, so its tracks differ. OpenVINO runs
            # them when named.
            from ..config.presets import int8_validated
            from .auto import float32_alternative

            f32 = float32_alternative(export, preset, lt)
            if f32 is not None:
                # engine *and* precision: float32 always a candidate, int8 only where the model card shows it
                # within the tolerance; timed here once, remembered (on a CPU where int8 is slower, float32)
                from .choice import fastest_precision

                f32.preset = preset
                exports = {"float32": f32, **({"int8": export} if int8_validated(preset.name) else {})}
                engines = {"float32": usable, "int8": ["onnxruntime"]}
                precision, engine, timings = fastest_precision(exports, engines, threads)
                tracker = _tracker(preset, make_onnx_engine(engine, exports[precision], threads), lt)
                tracker.engine_choice = timings  # why, in ms
                return tracker
            usable = ["onnxruntime"]
        from .choice import fastest_engine

        engine = fastest_engine(export, usable, threads)  # one candidate: no timing
    return _tracker(preset, make_onnx_engine(engine, export, threads), lt)


def _tracker(preset: Preset, runner, long_term: bool):
    from ..trackers.kinds import siamese_tracker

    tracker = siamese_tracker(preset, runner, long_term)
    tracker.xcorr = "onnx"
    tracker.device_name = "cpu"
    tracker.engine_name = runner.name
    return tracker
