"""What a batch contains: items (tracker.batch.inputs) read from a manifest, CSV with a header or JSON lines
(`read_manifest`), or from a folder of videos with sidecar box files (tracker.batch.folder): `load_items`.

Stdlib only: the CLI imports this module before anything heavy.

An item is one video with one box (`BatchItem.box`) or with several targets (`BatchItem.boxes`, {target id:
box}, tracked together as `siamtrack track --init ... --init ...` tracks them). Several targets are given:
- CSV: a `target` column (ids whole numbers from 1): the rows of one item (the same id, or without an id
  column the same video) each give one target's box; every row of such an item names its target, the
  same video and the same start frame;
- JSON lines: `"boxes"`, a list of boxes (ids 1, 2, ...) or an object {"ID": box} instead of `"box"`;
- a folder: a sidecar of `id,x,y,w,h` lines (`siamtrack track --init-file`'s format; 5 values on its
  first line, or a first line of column names starting with `id`).

A problem with the manifest as a whole (no header, unknown layout, a line that is not JSON, two items
with one id) is a `UserError` naming the file and line, and so is a bad target row (a target id that is
not a whole number from 1 or is given twice for one video, a zero-size or unreadable box, rows of one item
naming different videos or start frames). A problem with a one-box item's values (a box that is not four
numbers, a negative start frame) does not stop the batch: the item carries the error and is reported as
failed, while the others are tracked.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..io.boxes import check_box
from ..io.boxes import parse_box as parse_box_text
from .folder import scan_folder
from .inputs import BatchItem, Box, ManifestError, parse_start, parse_target_id, repeated_id, safe_id

# Column names accepted in a CSV header / keys in a JSON line (first one is canonical).
VIDEO_KEYS = ("video", "path", "file", "source")
ID_KEYS = ("id", "item_id", "item", "name")
START_KEYS = ("start", "start_frame", "first_frame")
BOX_KEYS = ("box", "init_box", "bbox")
TARGET_KEYS = ("target", "target_id", "track_id")
BOXES_KEYS = ("boxes",)


_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def _target_box(value, where: str, target_id: int) -> Box:
    """A target's box (text "x,y,w,h" or four numbers); a ManifestError naming `where` and the target."""
    try:
        return parse_box_text(value) if isinstance(value, str) else check_box(value)
    except ValueError as exc:
        raise ManifestError(f"{where}: target {target_id}: {exc}") from None


def _check_given_id(item_id: str, where: str) -> str:
    item_id = item_id.strip()
    if not _SAFE_ID.match(item_id) or item_id in (".", ".."):
        raise ManifestError(
            f"{where}: item id {item_id!r} must be letters, digits, '.', '_', '+' or '-' (it names the output files)"
        )
    return item_id


# ------------------------------------------------------------------------------------------- manifest


def read_manifest(path: str | Path) -> list[BatchItem]:
    """Read a CSV (with header) or JSON-lines manifest. Relative video paths are resolved against the
    manifest's folder. Format: by extension (.jsonl/.json/.ndjson = JSON lines), else by content."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a text file (expected CSV or JSON lines)") from None
    except IsADirectoryError:
        raise ManifestError(f"{path}: is a folder, not a manifest") from None
    first = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    if not first:
        raise ManifestError(f"{path}: the manifest is empty")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson") or first.startswith("{"):
        items = _read_jsonl(path, text)
    else:
        items = _read_csv(path, text)
    _check_unique(items)
    return items


def _cell(row: list[str], c: int | None) -> str:
    """Column `c` of a CSV row, stripped; "" for a missing column."""
    return row[c].strip() if c is not None and c < len(row) else ""


def _first(keys: dict, names):
    """The value of the first of `names` in a JSONL object's lower-cased `keys`, else None."""
    return next((keys[n] for n in names if n in keys), None)


def _read_csv(path: Path, text: str) -> list[BatchItem]:
    lines = text.splitlines()
    # Comments and blank lines are allowed before the header; keep physical line numbers for messages.
    start = next(i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#"))
    body = "\n".join(lines[start:])
    sample = lines[start]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(body), dialect)
    header = [h.strip().lower() for h in next(reader)]
    where = f"{path}:{start + 1}"

    def col(keys):
        found = [i for i, h in enumerate(header) if h in keys]
        return found[0] if found else None

    vcol = col(VIDEO_KEYS)
    if vcol is None:
        raise ManifestError(
            f"{where}: the header needs a video column (one of {', '.join(VIDEO_KEYS)}); "
            f"got {', '.join(header) or 'nothing'}"
        )
    xywh = [col((k,)) for k in ("x", "y", "w", "h")]
    bcol = col(BOX_KEYS)
    if bcol is None and any(c is None for c in xywh):
        raise ManifestError(
            f"{where}: the header needs the initial box as columns x,y,w,h "
            f"(or one 'box' column); got {', '.join(header)}"
        )
    icol, scol, tcol = col(ID_KEYS), col(START_KEYS), col(TARGET_KEYS)

    items: list[BatchItem | _Targets] = []
    targets: dict[str, _Targets] = {}  # item id (lower case) -> the target rows read so far
    for row in reader:
        line = start + reader.line_num  # physical line of the row's end
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        where = f"{path}:{line}"
        video = _cell(row, vcol)
        if not video:
            raise ManifestError(f"{where}: no video path in this row")
        if _cell(row, tcol):
            _add_target_row(
                path, targets, items, row, where, video, _cell(row, icol), _cell(row, tcol), bcol, xywh, scol
            )
            continue
        error = None
        box = None
        try:
            box = parse_box_text(_cell(row, bcol)) if bcol is not None else check_box([_cell(row, c) for c in xywh])
        except ValueError as exc:
            error = f"{where}: {exc}"
        start_frame = 0
        try:
            start_frame = parse_start(_cell(row, scol))
        except ValueError as exc:
            error = error or f"{where}: {exc}"
        given = _cell(row, icol)
        item_id = _check_given_id(given, where) if given else None
        items.append(_make_item(path, video, item_id, box, start_frame, where, error))
    if not items:
        raise ManifestError(f"{path}: the manifest has a header but no items")
    return [t.item() if isinstance(t, _Targets) else t for t in items]


@dataclass
class _Targets:
    """The target rows of one CSV item, gathered: the first row's item, and {target id: (box, where)}."""

    first: BatchItem
    boxes: dict[int, tuple[Box, str]]

    def item(self) -> BatchItem:
        return BatchItem(
            item_id=self.first.item_id,
            video=self.first.video,
            path=self.first.path,
            box=None,
            start=self.first.start,
            origin=self.first.origin,
            boxes={i: b for i, (b, _) in self.boxes.items()},
        )


def _add_target_row(path: Path, targets: dict, items: list, row, where, video, given, target, bcol, xywh, scol):
    """One CSV row naming a target: its box joins its item's (the item is made at its first row)."""
    target_id = parse_target_id(target, where)
    raw = _cell(row, bcol) if bcol is not None else [_cell(row, c) for c in xywh]
    box = _target_box(raw, where, target_id)
    try:
        start_frame = parse_start(_cell(row, scol))
    except ValueError as exc:
        raise ManifestError(f"{where}: {exc}") from None
    item_id = _check_given_id(given, where) if given else safe_id(Path(video).stem)
    group = targets.get(item_id.lower())
    if group is None:
        group = targets[item_id.lower()] = _Targets(
            _make_item(path, video, item_id, None, start_frame, where, None), {}
        )
        items.append(group)
    first = group.first
    if first.item_id != item_id:
        raise ManifestError(f"{where}: item id {item_id!r} is already used at {first.origin} (as {first.item_id!r})")
    if video != first.video:
        raise ManifestError(
            f"{where}: item {item_id!r} is video {first.video} at {first.origin}, here {video} "
            "(the rows of one item give its targets in one video; give each video its own id)"
        )
    if start_frame != first.start:
        raise ManifestError(
            f"{where}: item {item_id!r} starts at frame {first.start} at {first.origin}, here at {start_frame} "
            "(its targets start on one frame)"
        )
    if target_id in group.boxes:
        raise ManifestError(
            f"{where}: target {target_id} of item {item_id!r} is already given at {group.boxes[target_id][1]}"
        )
    group.boxes[target_id] = (box, where)


def _read_jsonl(path: Path, text: str) -> list[BatchItem]:
    items = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#") or s.startswith("//"):
            continue
        where = f"{path}:{line_no}"
        try:
            obj = json.loads(s, object_pairs_hook=_Object.of)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise ManifestError(
                f'{where}: each line must be a JSON object like {{"video": "clip.mp4", "box": [x, y, w, h]}}'
            )
        keys = {k.lower(): v for k, v in obj.items()}
        video = _first(keys, VIDEO_KEYS)
        if not isinstance(video, str) or not video.strip():
            raise ManifestError(f'{where}: no "video" path in this line')
        given = _first(keys, ID_KEYS)
        item_id = _check_given_id(str(given), where) if given not in (None, "") else None
        if _first(keys, BOXES_KEYS) is not None:
            items.append(_jsonl_targets(path, keys, where, video.strip(), item_id))
            continue
        error = None
        box = None
        try:
            raw = _first(keys, BOX_KEYS)
            if raw is None and all(k in keys for k in ("x", "y", "w", "h")):
                raw = [keys["x"], keys["y"], keys["w"], keys["h"]]
            if isinstance(raw, str):
                box = parse_box_text(raw)
            else:
                box = check_box(raw)
        except ValueError as exc:
            error = f"{where}: {exc}"
        start_frame = 0
        try:
            start_frame = parse_start(_first(keys, START_KEYS))
        except ValueError as exc:
            error = error or f"{where}: {exc}"
        items.append(_make_item(path, video.strip(), item_id, box, start_frame, where, error))
    if not items:
        raise ManifestError(f"{path}: the manifest has no items")
    return items


def _jsonl_targets(path: Path, keys: dict, where: str, video: str, item_id: str | None) -> BatchItem:
    """A JSON line with "boxes": a list (ids 1, 2, ...) or an object {"ID": box}; every value checked."""
    raw = _first(keys, BOXES_KEYS)
    if _first(keys, BOX_KEYS) is not None or all(k in keys for k in ("x", "y", "w", "h")):
        raise ManifestError(f'{where}: give either "box" (one target) or "boxes" (several), not both')
    if isinstance(raw, list):
        pairs = list(enumerate(raw, 1))
    elif isinstance(raw, dict):
        for k in getattr(raw, "repeated", []):
            raise ManifestError(f"{where}: target {k} is given twice")
        pairs = [(parse_target_id(k, where), v) for k, v in raw.items()]
    else:
        raise ManifestError(f'{where}: "boxes" is a list of boxes [[x, y, w, h], ...] or an object {{"ID": box}}')
    if not pairs:
        raise ManifestError(f'{where}: "boxes" is empty')
    boxes: dict[int, Box] = {}
    for target_id, value in pairs:
        if target_id in boxes:
            raise ManifestError(f"{where}: target {target_id} is given twice")
        boxes[target_id] = _target_box(value, where, target_id)
    try:
        start_frame = parse_start(_first(keys, START_KEYS))
    except ValueError as exc:
        raise ManifestError(f"{where}: {exc}") from None
    item = _make_item(path, video, item_id, None, start_frame, where, None)
    return BatchItem(item.item_id, item.video, item.path, None, start_frame, where, boxes=boxes)


class _Object(dict):
    """A JSON object that remembers the keys it was given more than once (json keeps the last silently)."""

    repeated: list

    @classmethod
    def of(cls, pairs: list) -> _Object:
        out = cls()
        out.repeated = []
        for k, v in pairs:
            if k in out:
                out.repeated.append(k)
            out[k] = v
        return out


def _make_item(manifest: Path, video: str, item_id, box, start, where, error) -> BatchItem:
    p = Path(video).expanduser()
    if not p.is_absolute():
        p = manifest.resolve().parent / p
    if item_id is None:
        item_id = safe_id(Path(video).stem)
    return BatchItem(item_id=item_id, video=video, path=str(p), box=box, start=start, origin=where, error=error)


def _check_unique(items: list[BatchItem]) -> None:
    repeated = repeated_id(items)
    if repeated is not None:
        it, other = repeated
        raise ManifestError(
            f"{it.origin}: item id {it.item_id!r} is already used at {other.origin} "
            "(give each item a distinct id column, or a target column for several boxes in one video)"
        )


def load_items(source: str | Path) -> list[BatchItem]:
    source = Path(source)
    if not source.exists():
        raise ManifestError(f"{source}: no such manifest or folder")
    return scan_folder(source) if source.is_dir() else read_manifest(source)
