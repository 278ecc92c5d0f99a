"""Sinks: results files (atomic), annotated video, and the overlay drawing shared by all of them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from ..trackers.base import TrackResult

# Annotated-video containers and the codec each is written with.
VIDEO_FOURCC = {".avi": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v"}


class OutputError(UserError):
    """An output path that cannot be written; checked before any work starts."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_writable(base: Path, path, flag: str) -> None:
    """`base`, the nearest existing folder of an output `path`, must be a folder we can write in."""
    if not base.is_dir():
        raise OutputError(f"{flag} {path}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {path}: cannot write in {base} (permission denied)")


def check_output_file(path: str | os.PathLike, flag: str = "--output") -> Path:
    """The path of an output file we can create (its folders are made when written), or an OutputError
    naming the flag: the path is a folder, a parent is a file, or the folder is not writable."""
    p = Path(path)
    if str(path).endswith(os.sep) or p.is_dir():
        raise OutputError(f"{flag} {path}: is a folder; give a file name inside it")
    _check_writable(_nearest_existing(p.parent if str(p.parent) else Path(".")), path, flag)
    return p


def check_output_folder(path: str | os.PathLike, flag: str = "--out-dir") -> Path:
    """A folder we can create or write in, or an OutputError naming the flag."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{flag} {path}: exists and is not a folder")
    _check_writable(_nearest_existing(p), path, flag)
    return p


def check_video_output(path: str | os.PathLike, flag: str = "--save-video") -> Path:
    """check_output_file plus a container we can write (.mp4, .avi, ...)."""
    p = check_output_file(path, flag)
    if not p.suffix:
        raise OutputError(f"{flag} {path}: give the video a file extension (.mp4 or .avi)")
    if p.suffix.lower() not in VIDEO_FOURCC:
        raise OutputError(f"{flag} {path}: unsupported video extension '{p.suffix}' (use .mp4 or .avi)")
    return p


def format_box(box: Sequence[float]) -> str:
    return ",".join(f"{v:.4f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v)) for v in box)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write to a temporary file beside the target, then rename: readers never see half a file."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name inside it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            # mkstemp creates the file 0600; give the result the permissions a plain open() would have.
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_boxes_atomic(path: str | os.PathLike, boxes: Iterable[Sequence[float]]) -> None:
    atomic_write_text(path, "".join(format_box(b) + "\n" for b in boxes))


class BoxWriter:
    """Collects one x,y,w,h line per frame; `close()` writes the file atomically."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.boxes: list[Sequence[float]] = []

    def write(self, box: Sequence[float]) -> None:
        self.boxes.append(tuple(float(v) for v in box))

    def close(self) -> None:
        write_boxes_atomic(self.path, self.boxes)


LOST_COLOUR = (0, 0, 255)
TRACK_COLOUR = (0, 255, 0)


def draw_result(
    frame: np.ndarray,
    result: TrackResult | None,
    label: str | None = None,
    trail: Sequence[tuple[float, float]] | None = None,
) -> np.ndarray:
    """Draw the box (green when tracked, red and dashed-looking when lost) and the score on a copy."""
    out = frame.copy()
    if trail and len(trail) > 1:
        pts = np.array(trail, dtype=np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], False, (255, 200, 0), 1, cv2.LINE_AA)
    if result is not None:
        x, y, w, h = result.box
        colour = LOST_COLOUR if result.lost else TRACK_COLOUR
        p1, p2 = (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h)))
        cv2.rectangle(out, p1, p2, colour, 1 if result.lost else 2, cv2.LINE_AA)
        text = f"{result.score:.2f}" + (" LOST" if result.lost else "")
        if label:
            text = f"{label} {text}"
        org, scale = label_position(text, p1, p2, out.shape[1], out.shape[0])
        cv2.putText(out, text, org, LABEL_FONT, scale, colour, 1, cv2.LINE_AA)
    return out


LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_SCALE = 0.45


def label_position(
    text: str, p1: tuple[int, int], p2: tuple[int, int], width: int, height: int, margin: int = 2
) -> tuple[tuple[int, int], float]:
    """(baseline origin, font scale) for a box's label so that the whole text lies inside a width x height
    frame: above the box's top-left corner when there is room, else just inside the box's top edge; moved
    left at the right edge; a smaller font when the text is wider than the frame (small videos)."""
    scale = LABEL_SCALE
    (tw, th), base = cv2.getTextSize(text, LABEL_FONT, scale, 1)
    if tw > width - 2 * margin:
        scale *= max(width - 2 * margin, 1) / tw
        (tw, th), base = cv2.getTextSize(text, LABEL_FONT, scale, 1)
    x = min(max(p1[0], margin), max(width - margin - tw, 0))
    y = p1[1] - 4  # the baseline just above the box
    if y - th < margin:
        y = max(p1[1], 0) + th + 4  # no room above: inside the box, under its top edge
    y = min(max(y, th + margin), max(height - margin - base, th))
    return (int(x), int(y)), scale


def partial_video_name(path: Path, pid: int | None = None) -> str:
    """The temporary name VideoSink writes `path` under: hidden, beside it, and this process's own, so two runs
    writing the same video (two `siamtrack track --demo` at once) do not take each other's file away."""
    return f".{path.stem}.{os.getpid() if pid is None else pid}.partial{path.suffix.lower()}"


def is_partial_video_of(name: str, path: Path) -> bool:
    """Whether file name `name` is a temporary VideoSink file of `path`, from any process."""
    head, tail = f".{path.stem}.", f".partial{path.suffix.lower()}"
    return name.startswith(head) and name.endswith(tail) and name[len(head) : -len(tail)].isdigit()


class VideoSink:
    """Annotated video writer: mp4v for .mp4, MJPG for .avi. Written to a temporary name (partial_video_name),
    renamed on close, so an interrupted run never leaves a truncated file under the final name."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]):
        self.path = check_video_output(path, "video")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ext = self.path.suffix.lower()
        fourcc = VIDEO_FOURCC[ext]
        self.tmp = self.path.with_name(partial_video_name(self.path))
        self.size = size
        self.writer: cv2.VideoWriter | None = cv2.VideoWriter(
            str(self.tmp), cv2.VideoWriter.fourcc(*fourcc), float(fps or 25.0), size
        )
        if not self.writer.isOpened():
            raise OutputError(f"{self.path}: cannot open a video writer")
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None:
            raise ValueError(f"{self.path}: write to a closed video")  # as a closed file says
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size)
        self.writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            os.replace(self.tmp, self.path)
