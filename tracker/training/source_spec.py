"""What a training source is, as the command line (`--data KIND=PATH,OPTION=VALUE,...`) and a recipe file
write it: its kind, path, weight, frame range and options (SourceSpec), parsed and checked."""

from __future__ import annotations

from dataclasses import dataclass

from .data import DataError

SOURCE_KINDS = {
    "sequences": "OTB / VOT / GOT-10k style folder of sequence folders (or one sequence folder)",
    "got10k": "GOT-10k training layout (alias of sequences; honours list.txt and absence.label)",
    "otb": "alias of sequences",
    "vot": "alias of sequences",
    "coco": "COCO detection JSON (option images=FOLDER for the image root)",
    "yolo": "YOLO folder: images/**.jpg with labels/**.txt",
    "csv": "still images with one box each: a CSV image,x,y,w,h[,class] (masks/ beside it, when present)",
    "video": "a video file or a folder of videos without labels (self-supervised pairs)",
}


@dataclass
class SourceSpec:
    kind: str
    path: str
    weight: float = 1.0
    frame_range: int = 100
    images: str | None = None  # COCO image root
    min_size: float = 4.0  # stills: smaller boxes are skipped
    name: str | None = None
    masks: str | None = None  # object masks: per-sequence folders (sequences) or a folder (csv)

    def to_dict(self) -> dict:
        d = {
            "kind": self.kind,
            "path": self.path,
            "weight": float(self.weight),
            "frame_range": int(self.frame_range),
            "min_size": float(self.min_size),
        }
        if self.images:
            d["images"] = self.images
        if self.masks:
            d["masks"] = self.masks
        if self.name:
            d["name"] = self.name
        return d


_KEYS = {"weight": float, "range": int, "frame_range": int, "images": str, "min_size": float, "name": str, "masks": str}


def parse_source_spec(text: str) -> SourceSpec:
    """`KIND=PATH[,weight=W][,range=R][,images=DIR][,min_size=PX][,name=N][,masks=DIR]`, e.g.
    `sequences=../shared/data/sequences,weight=2,range=50`."""
    parts = [p.strip() for p in text.split(",")]
    head = parts[0]
    if "=" not in head:
        raise DataError(f"--data {text!r}: expected KIND=PATH (kinds: {', '.join(SOURCE_KINDS)})")
    kind, path = head.split("=", 1)
    kind = kind.strip().lower()
    if kind not in SOURCE_KINDS:
        raise DataError(f"--data {text!r}: unknown kind {kind!r} (kinds: {', '.join(SOURCE_KINDS)})")
    spec = SourceSpec(kind, path.strip())
    for p in parts[1:]:
        if "=" not in p:
            raise DataError(f"--data {text!r}: option {p!r} is not KEY=VALUE")
        k, v = (s.strip() for s in p.split("=", 1))
        if k not in _KEYS:
            raise DataError(f"--data {text!r}: unknown option {k!r} (options: {', '.join(_KEYS)})")
        try:
            val = _KEYS[k](v)
        except ValueError:
            raise DataError(f"--data {text!r}: {k}={v!r} is not a valid {_KEYS[k].__name__}") from None
        setattr(spec, "frame_range" if k == "range" else k, val)
    if spec.weight < 0:
        raise DataError(f"--data {text!r}: weight must be >= 0")
    return spec


def spec_from_dict(d: dict, where: str = "recipe") -> SourceSpec:
    d = dict(d)
    try:
        kind, path = str(d.pop("kind")).lower(), str(d.pop("path"))
    except KeyError as exc:
        raise DataError(f"{where}: a source needs {exc.args[0]!r}") from None
    if kind not in SOURCE_KINDS:
        raise DataError(f"{where}: unknown source kind {kind!r} (kinds: {', '.join(SOURCE_KINDS)})")
    if "range" in d:
        d["frame_range"] = d.pop("range")
    unknown = set(d) - {"weight", "frame_range", "images", "min_size", "name", "masks"}
    if unknown:
        raise DataError(f"{where}: unknown source option(s) {', '.join(sorted(unknown))}")
    return SourceSpec(kind, path, **d)
