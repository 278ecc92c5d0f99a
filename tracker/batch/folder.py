"""A folder as a batch's input (`scan_folder`): every video in it, each with a sidecar `STEM.txt` or `STEM.box`
holding `x,y,w,h` on its first non-empty line (a ground-truth file's first box), or `id,x,y,w,h` lines for
several targets (`siamtrack track --init-file`'s format)."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..io.boxes import parse_box as parse_box_text
from ..io.boxes import read_init_file, split_values
from .inputs import BatchItem, Box, ManifestError, repeated_id, safe_id

VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
SIDECAR_EXTS = (".txt", ".box")


def scan_folder(folder: str | Path) -> list[BatchItem]:
    """Every video in `folder` (not recursive), each with a sidecar `STEM.txt` or `STEM.box` holding
    `x,y,w,h` on its first non-empty line. A video without a readable sidecar becomes a failed item."""
    folder = Path(folder)
    videos = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS and not p.name.startswith(".")
    )
    if not videos:
        raise ManifestError(f"{folder}: no video files here (looked for {', '.join(sorted(VIDEO_EXTS))})")
    items = []
    for v in videos:
        item_id = safe_id(v.stem)
        sidecars = [v.with_suffix(ext) for ext in SIDECAR_EXTS if v.with_suffix(ext).is_file()]
        box, boxes, error, where = None, None, None, str(v)
        if not sidecars:
            error = f"{v}: no sidecar box file ({v.stem}.txt or {v.stem}.box with x,y,w,h)"
        else:
            side = sidecars[0]
            where = f"{side}:1"
            try:
                lines = side.read_text(encoding="utf-8-sig").splitlines()
                no, first = next(((i, ln) for i, ln in enumerate(lines, 1) if ln.strip()), (1, ""))
                where = f"{side}:{no}"
                if _is_init_file_line(first):
                    boxes = _sidecar_targets(side)
                else:
                    box = parse_box_text(first)
            except (OSError, UnicodeDecodeError) as exc:
                error = f"{side}: cannot read the box file ({exc})"
            except ValueError as exc:
                error = f"{where}: {exc}"
        items.append(
            BatchItem(
                item_id=item_id,
                video=v.name,
                path=str(v.resolve()),
                box=box,
                start=0,
                origin=where,
                error=error,
                boxes=boxes,
            )
        )
    _check_unique_folder(items)
    return items


def _is_init_file_line(line: str) -> bool:
    """Whether a sidecar's first line starts `id,x,y,w,h` rows (five values, or column names from `id`)."""
    values = split_values(line)
    return len(values) == 5 or (bool(values) and values[0].lower() == "id")


def _sidecar_targets(side: Path) -> dict[int, Box]:
    """A sidecar of several targets, read as `siamtrack track --init-file` reads its file."""
    try:
        return read_init_file(side)
    except UserError as exc:
        raise ManifestError(str(exc)) from None


def _check_unique_folder(items: list[BatchItem]) -> None:
    repeated = repeated_id(items)
    if repeated is not None:
        it, other = repeated
        raise ManifestError(
            f"{it.path} and {other.path} would both be item {it.item_id!r}; "
            "rename one, or use a manifest with an id column"
        )
