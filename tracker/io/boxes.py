"""Box text and box files: the one parser of `x,y,w,h` text (`--init`, manifests) and ground-truth files
(track's --groundtruth, bench's datasets, training's sequences), with one set of rules:

- values are separated by commas, tabs, spaces or semicolons (any run of them);
- a box file has one region per line, line n for frame n: 4 values (x, y, w, h) or, where the format has
  them, 8 (a VOT polygon); 'NaN' marks a frame without the target; blank lines at the end are ignored, a
  blank line inside the file is an error (it would shift every box after it by a frame); a line of a
  segmentation mask (VOT 2020's 'm...') is refused by name;
- a file's first pixel (0 or 1) follows its format as the community's toolkits read it (`gt_base_for`);
  siamtrack's own boxes are 0-based.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..geometry import polygon_to_box

SEPARATORS = re.compile(r"[,\s;]+")


class BoxFileError(UserError):
    """A box file that cannot be read: its message names the file and the line."""


def split_values(text: str) -> list[str]:
    """The values of one line of box text, whatever separates them."""
    return [p for p in SEPARATORS.split(text.strip()) if p]


def parse_values(text: str) -> list[float]:
    """The numbers of one line of box text; ValueError naming the first value that is not a number."""
    parts = split_values(text)
    try:
        return [float(p) for p in parts]
    except ValueError:
        bad = next(p for p in parts if not _is_float(p))
        raise ValueError(f"'{bad}' is not a number") from None


def parse_box(text: str) -> tuple[float, float, float, float]:
    """'x,y,w,h' (see the separators above) -> four finite floats, w and h > 0; ValueError saying why not."""
    return check_box(split_values(text))


def check_box(values) -> tuple[float, float, float, float]:
    """Four values (numbers or number text) -> a box of four finite floats with w and h > 0; ValueError
    saying why not."""
    if values is None:
        raise ValueError("no initial box")
    values = list(values)
    if len(values) != 4:
        raise ValueError(f"an initial box has 4 values x,y,w,h, got {len(values)}: {_show(values)}")
    out = []
    for v in values:
        if isinstance(v, bool):
            raise ValueError(f"box value {v!r} is not a number")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"box value {v!r} is not a number") from None
        if not math.isfinite(f):
            raise ValueError(f"box value {v!r} is not finite")
        out.append(f)
    if out[2] <= 0 or out[3] <= 0:
        raise ValueError(f"box {_show(out)} has zero or negative size")
    return out[0], out[1], out[2], out[3]


def _show(values) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def read_box_rows(path, counts=(4,), error: type[Exception] = BoxFileError) -> list[list[float]]:
    """The rows of a box file (the rules above), raw: `counts` values each (4, or 4 and 8 where polygons
    are allowed), NaN kept. An empty file gives []. Raises `error` naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    rows = []
    want = " or ".join(str(c) for c in counts)
    for no, line in enumerate(lines, 1):
        s = line.strip()
        if not s:
            raise error(f"{path}:{no}: empty line (expected {want} numbers)")
        if s[0] in "mM":
            raise error(f"{path}:{no}: segmentation-mask ground truth is not supported (expected {want} numbers)")
        try:
            vals = parse_values(s)
        except ValueError as exc:
            raise error(f"{path}:{no}: {exc}") from None
        if len(vals) not in counts:
            raise error(f"{path}:{no}: expected {want} numbers, got {len(vals)}")
        rows.append(vals)
    return rows


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def region_to_box(row) -> tuple[float, ...]:
    """A row of 4 values as it is; a row of 8 (a VOT polygon) as its box (geometry.polygon_to_box)."""
    return tuple(polygon_to_box(row)) if len(row) == 8 else tuple(row)


def boxes_from_rows(rows) -> np.ndarray:
    """Rows of 4 values as boxes; rows of 8 (polygons) through the VOT polygon-to-box rule. Boxes with
    non-finite values or zero/negative size become NaN rows (left out of the scores)."""
    out = np.full((len(rows), 4), np.nan)
    for i, r in enumerate(rows):
        if not all(np.isfinite(r)):
            continue
        b = region_to_box(r)
        if b[2] > 0 and b[3] > 0:
            out[i] = b
    return out


# ------------------------------------------------------------------------------------- box origin

# Where each format's box files put the first pixel, as the community's toolkits read them: OTB's
# groundtruth_rect.txt is 1-based (the original MATLAB toolkit), GOT-10k's groundtruth.txt is 1-based (its
# authors), VOT's regions are 0-based, anything else follows siamtrack's own rule (0-based). A sequence folder
# with an origin.json is this project's shared data, whose README documents its boxes as 0-based whatever the
# benchmark they came from. `--gt-base 0|1` overrides all of this.
FORMAT_GT_BASE = {"otb": 1, "got10k": 1, "vot": 0, "generic": 0}


def gt_base_for(fmt: str, gt_file, override: str | int | None = None) -> int:
    """0 or 1: the origin of the boxes in `gt_file`, a box file of a dataset of format `fmt`."""
    if override is not None and str(override) != "auto":
        if str(override) not in ("0", "1"):
            raise BoxFileError(f"--gt-base must be auto, 0 or 1, got {override!r}")
        return int(override)
    if (Path(gt_file).parent / "origin.json").is_file():
        return 0
    return FORMAT_GT_BASE.get(fmt, 0)


def box_file_base(path, override: str | int | None = None) -> int:
    """The origin of a lone box file (`siamtrack track --groundtruth`): OTB's file name means OTB's rule."""
    fmt = "otb" if Path(path).name.startswith("groundtruth_rect") else "generic"
    return gt_base_for(fmt, path, override)


def read_box_file(path, base: str | int | None = "auto") -> list[list[float]]:
    """A lone ground-truth file (track's --groundtruth) as 0-based x,y,w,h rows: 4 values a line, its origin
    from `box_file_base` (`base` 0 or 1 overrides). An empty file is an error."""
    rows = read_box_rows(path)
    if not rows:
        raise BoxFileError(f"{path}: no boxes in the file")
    b = box_file_base(path, base)
    return [[v - b if i < 2 else v for i, v in enumerate(row)] for row in rows]


def read_init_file(path) -> dict[int, tuple[float, float, float, float]]:
    """A file of initial boxes for several targets (`siamtrack track --init-file`): one target a line,
    `id,x,y,w,h` (any of the separators above; ids whole numbers from 1, each once; 0-based pixels), an
    optional first line of column names. Raises BoxFileError naming the file and line of the first bad row."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise BoxFileError(f"{path}: not a text file") from None
    except OSError as exc:
        raise BoxFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    boxes: dict[int, tuple[float, float, float, float]] = {}
    for no, line in enumerate(lines, 1):
        values = split_values(line)
        if not values or (no == 1 and values[0].lower() == "id"):
            continue
        if len(values) != 5:
            raise BoxFileError(f"{path}:{no}: expected 5 values id,x,y,w,h, got {len(values)}")
        text = values[0]
        if not text.isdigit() or int(text) < 1:
            raise BoxFileError(f"{path}:{no}: the id {text!r} is not a whole number from 1")
        target_id = int(text)
        if target_id in boxes:
            raise BoxFileError(f"{path}:{no}: id {target_id} is given twice")
        try:
            boxes[target_id] = check_box(values[1:])
        except ValueError as exc:
            raise BoxFileError(f"{path}:{no}: {exc}") from None
    if not boxes:
        raise BoxFileError(f"{path}: no boxes in the file (one line id,x,y,w,h per target)")
    return boxes
