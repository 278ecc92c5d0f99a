"""Item summaries: an item's ITEM.summary.json (`new_summary` before it is tracked, written last: the item is
finished only when it exists and says "ok"), reading them back for resume (`finished_summary`) and --merge
(`collect_summaries`), and the batch's summary CSV (`write_summary_csv`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import UserError
from .inputs import BatchItem, boxes_json
from .options import BatchOptions
from .outputs import SUMMARY_SUFFIX, ItemPaths

SCHEMA = "siamtrack.batch.item/1"

SUMMARY_COLUMNS = [
    "item_id",
    "status",
    "video",
    "start_frame",
    "init_box",
    "frames",
    "frames_lost",
    "frames_skipped",
    "mean_score",
    "fps",
    "wall_fps",
    "seconds",
    "boxes_file",
    "video_file",
    "model",
    "error",
]


def new_summary(item: BatchItem, opts: BatchOptions) -> dict:
    """An item's summary before it is tracked: status "failed" until the tracking is published. An item of
    several targets also has "init_boxes" ({"ID": box}) and, once tracked, "lost_by_target"."""
    summary = {
        "schema": SCHEMA,
        "item_id": item.item_id,
        "status": "failed",
        "error": None,
        "video": item.video,
        "video_path": item.path,
        "origin": item.origin,
        "start_frame": item.start,
        "init_box": list(item.box) if item.box else None,
        "frames": 0,
        "frames_lost": 0,
        "lost_indices": [],
        "frames_skipped": 0,
        "skipped_indices": [],
        "mean_score": None,
        "fps": None,
        "wall_fps": None,
        "seconds": None,
        "boxes_file": None,
        "video_file": None,
        "model": opts.model_label,
        "device": opts.device,
        "engine": None,  # what ran the network, once the tracker is built (engine_fields)
        "inputs": opts.fingerprint(item),
        "host": host(),
        "pid": os.getpid(),
    }
    if item.boxes is not None:
        summary["init_boxes"] = boxes_json(item.boxes)
    return summary


def dump_summary(summary: dict) -> str:
    """JSON with one key per line and each value on its line (long index lists stay one line)."""
    body = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in summary.items())
    return "{\n" + body + "\n}\n"


def read_summary(path: Path) -> dict | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None


def finished_summary(item: BatchItem, opts: BatchOptions) -> dict | None:
    """The item's summary if it is finished with the same inputs (status ok, boxes present), else None."""
    paths = ItemPaths.of(opts.out_dir, item.item_id)
    s = read_summary(paths.summary)
    if not s or s.get("status") != "ok" or not paths.boxes.is_file():
        return None
    if s.get("inputs") != json.loads(json.dumps(opts.fingerprint(item))):
        return None
    if opts.save_video and not paths.video.is_file():
        return None
    return s


def host() -> str:
    try:
        return os.uname().nodename
    except AttributeError:  # pragma: no cover - Windows
        import platform

        return platform.node()


def _fmt_box(box) -> str:
    from ..io.sinks import format_box

    return format_box(box)


def summary_row(s: dict) -> dict:
    def num(v, nd):
        return "" if v is None else f"{v:.{nd}f}"

    box, boxes = s.get("init_box"), s.get("init_boxes")
    if boxes:  # several targets: "ID:x,y,w,h ID:x,y,w,h"
        init = " ".join(f"{i}:{_fmt_box(b)}" for i, b in boxes.items())
    else:
        init = _fmt_box(box) if box else ""
    return {
        "item_id": s.get("item_id", ""),
        "status": s.get("status", ""),
        "video": s.get("video", ""),
        "start_frame": s.get("start_frame", ""),
        "init_box": init,
        "frames": s.get("frames", ""),
        "frames_lost": s.get("frames_lost", ""),
        "frames_skipped": s.get("frames_skipped", ""),
        "mean_score": num(s.get("mean_score"), 4),
        "fps": num(s.get("fps"), 1),
        "wall_fps": num(s.get("wall_fps"), 1),
        "seconds": num(s.get("seconds"), 2),
        "boxes_file": s.get("boxes_file") or "",
        "video_file": s.get("video_file") or "",
        "model": s.get("model", ""),
        "error": (s.get("error") or "").replace("\n", " "),
    }


def write_summary_csv(path, summaries: list[dict]) -> None:
    """One row per item, sorted by item id (so a merged sharded batch equals the unsharded one)."""
    import csv
    import io

    from ..io.sinks import atomic_write_text

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    w.writeheader()
    for s in sorted(summaries, key=lambda s: s.get("item_id", "")):
        w.writerow(summary_row(s))
    atomic_write_text(path, buf.getvalue())


def collect_summaries(dirs) -> list[dict]:
    """Every item summary in the given output folders (for --merge). The same item in two folders is an
    error unless only one of them finished it, in which case the finished one counts."""
    found: dict[str, tuple[Path, dict]] = {}
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise UserError(f"{d}: not a folder (--merge takes batch output folders)")
        for f in sorted(d.glob(f"*{SUMMARY_SUFFIX}")):
            s = read_summary(f)
            if s is None:
                raise UserError(f"{f}: not a batch item summary (unreadable or another format)")
            s = dict(s, summary_file=str(f))
            key = s["item_id"]
            if key in found:
                other_f, other = found[key]
                if other_f.resolve() == f.resolve():
                    continue
                if (s["status"] == "ok") == (other["status"] == "ok"):
                    raise UserError(
                        f"item {key!r} appears in both {other_f} and {f}; merge folders of "
                        "different shards, or remove one"
                    )
                if s["status"] != "ok":
                    continue
            found[key] = (f, s)
    return [s for _, s in found.values()]


def missing_summaries(summaries: list[dict], expected: list[BatchItem]) -> tuple[list[dict], list[str]]:
    """For --merge with the batch's input: a record (status "missing") for each `expected` item without a
    summary among `summaries`, and the ids (sorted) of the summaries of items not expected."""
    ids = {s["item_id"] for s in summaries}
    missing = [
        {
            "item_id": it.item_id,
            "status": "missing",
            "video": it.video,
            "start_frame": it.start,
            "init_box": list(it.box) if it.box else None,
            "init_boxes": boxes_json(it.boxes) if it.boxes else None,
            "error": "no result in the merged folders",
        }
        for it in expected
        if it.item_id not in ids
    ]
    return missing, sorted(ids - {it.item_id for it in expected})
