"""An export folder (written by `siamtrack export`, tracker.export): ONNX graphs plus the sidecar
`siamtrack.json` that makes them a tracker — preset (architecture, input convention, tracking values),
the checkpoint's sha256, each graph's inputs, outputs and shapes, and each file's sha256.

Reading one needs no torch (tracker.prepare.on_export tracks on it with numpy, OpenCV and an ONNX engine).
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
