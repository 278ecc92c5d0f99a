"""An item's files in the output folder (`ItemPaths`: ITEM.boxes.txt, ITEM.summary.json, ITEM.annotated.mp4) and
the temporary files a killed run may have left beside them (`clean_temps`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUMMARY_SUFFIX = ".summary.json"
BOXES_SUFFIX = ".boxes.txt"
VIDEO_SUFFIX = ".annotated.mp4"


@dataclass(frozen=True)
class ItemPaths:
    boxes: Path
    summary: Path
    video: Path

    @classmethod
    def of(cls, out_dir, item_id: str) -> ItemPaths:
        d = Path(out_dir)
        return cls(d / f"{item_id}{BOXES_SUFFIX}", d / f"{item_id}{SUMMARY_SUFFIX}", d / f"{item_id}{VIDEO_SUFFIX}")


def clean_temps(paths: ItemPaths) -> None:
    """Remove temporary files a killed run may have left for this item (never a final name)."""
    d = paths.boxes.parent
    if not d.is_dir():
        return
    from ..io.sinks import is_partial_video_of

    prefixes = tuple(f".{p.name}." for p in (paths.boxes, paths.summary))
    for f in d.iterdir():
        if (f.name.startswith(prefixes) and f.name.endswith(".tmp")) or is_partial_video_of(f.name, paths.video):
            try:
                f.unlink()
            except OSError:
                pass


def remove_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
