"""A batch's items: `BatchItem` (one video with one box, or with several targets under ids), the value rules
their inputs follow, and `ManifestError` for an input that cannot be read as a whole.

Stdlib only: the CLI imports this module before anything heavy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import UserError

Box = tuple[float, float, float, float]


class ManifestError(UserError):
    """The manifest cannot be read as a whole; the message names the file and line."""


@dataclass(frozen=True)
class BatchItem:
    item_id: str
    video: str  # as written in the manifest (or the file name in folder mode)
    path: str  # resolved absolute path
    box: Box | None
    start: int = 0
    origin: str = ""  # "manifest.csv:4" — where the item was defined
    error: str | None = None  # an item-level input error: the item fails without being opened
    extra: dict = field(default_factory=dict, compare=False)
    boxes: dict[int, Box] | None = None  # several targets {id: box} (then `box` is None), in manifest order

    def fingerprint(self) -> dict:
        """The inputs that define this item's result (a finished result with other inputs is redone)."""
        fp: dict = {"video": self.video, "box": list(self.box) if self.box else None, "start": self.start}
        if self.boxes is not None:
            fp["boxes"] = boxes_json(self.boxes)
        return fp


def boxes_json(boxes: dict[int, Box]) -> dict[str, list[float]]:
    """Several targets' boxes as JSON wants them: {"ID": [x, y, w, h]}."""
    return {str(i): list(b) for i, b in boxes.items()}


def parse_start(value) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    if isinstance(value, bool):
        raise ValueError(f"start frame {value!r} is not a whole number")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"start frame {value!r} is not a whole number") from None
    if not f.is_integer() or f < 0:
        raise ValueError(f"start frame {value!r} must be a whole number >= 0")
    return int(f)


def safe_id(text: str) -> str:
    """A file-name-safe id derived from a path stem (ids become output file names)."""
    s = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("._") or "item"
    return s if s[0].isalnum() else "i" + s


def parse_target_id(value, where: str) -> int:
    """A target id (a whole number from 1, as MOT files number targets); a ManifestError naming `where`."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ManifestError(f"{where}: target id {value!r} is not a whole number from 1")
    return int(text)


def repeated_id(items: list[BatchItem]) -> tuple[BatchItem, BatchItem] | None:
    """The first item whose id an earlier item has, and that earlier item; None when the ids are distinct.
    Case-insensitively: ids name files, and "A" and "a" are one file on some file systems."""
    seen: dict[str, BatchItem] = {}
    for it in items:
        key = it.item_id.lower()
        if key in seen:
            return it, seen[key]
        seen[key] = it
    return None
