"""Sinks: results files (atomic), annotated video, and the overlay drawing shared by all of them."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from ..result import TrackResult

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
        raise OutputError(f"{flag} {path}: cannot write in {base}: {_why_not_writable(base)}")


def _why_not_writable(folder: Path) -> str:
    """Why os.access refused to let us write in `folder`, in the user's words: a read-only file system, a
    read-only folder (no write permission for anyone), one read-only for this user, or one we cannot enter."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    except (OSError, AttributeError):  # no statvfs (Windows): the permission bits still tell
        pass
    if not os.access(folder, os.X_OK):
        return "the folder cannot be entered (permission denied)"
    if not folder.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return "the folder is read-only"
    return "the folder is read-only for this user (no write permission)"


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
    """x,y,w,h with up to 4 decimals; NaN (no box on that frame) as NaN."""
    return ",".join(
        "NaN" if v != v else f"{v:.4f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v)) for v in box
    )


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
LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_result(
    frame: np.ndarray,
    result: TrackResult | None,
    label: str | None = None,
    trail: Sequence[tuple[float, float]] | None = None,
) -> np.ndarray:
    """Draw the box (green when tracked, thinner and red when lost) and its label (the score, LOST, and
    `label` in front where it fits) on a copy. Line widths and text size follow the frame's size."""
    out = frame.copy()
    height, width = out.shape[:2]
    style = overlay_style(width, height)
    if trail and len(trail) > 1:
        pts = np.array(trail, dtype=np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], False, (255, 200, 0), style.line, cv2.LINE_AA)
    if result is not None:
        _draw_box(out, result, label, LOST_COLOUR if result.lost else TRACK_COLOUR)
    return out


# one colour per target id (BGR), in turn: distinct from each other and from the lost red
ID_COLOURS = [
    (0, 255, 0),
    (255, 160, 0),
    (0, 215, 255),
    (255, 0, 255),
    (255, 255, 0),
    (0, 128, 255),
    (128, 0, 128),
    (0, 128, 0),
    (203, 192, 255),
    (128, 128, 0),
]


def id_colour(target_id: int) -> tuple[int, int, int]:
    """Target `target_id`'s colour (ids from 1): ID_COLOURS in turn."""
    return ID_COLOURS[(int(target_id) - 1) % len(ID_COLOURS)]


def draw_results(frame: np.ndarray, results: Mapping[int, TrackResult]) -> np.ndarray:
    """Several targets on a copy of `frame`: each box in its id's colour (`id_colour`; thinner when lost)
    with a label '#id score' (and LOST)."""
    out = frame.copy()
    for target_id, result in results.items():
        _draw_box(out, result, f"#{target_id}", id_colour(target_id), id_first=True)
    return out


def _draw_box(out: np.ndarray, result: TrackResult, label: str | None, colour, id_first: bool = False) -> None:
    height, width = out.shape[:2]
    style = overlay_style(width, height)
    x, y, w, h = result.box
    p1, p2 = (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h)))
    cv2.rectangle(out, p1, p2, colour, max(1, style.line // 2) if result.lost else style.line, cv2.LINE_AA)
    text = f"{result.score:.2f}" + (" LOST" if result.lost else "")
    texts = [f"{label} {text}", label if id_first else text] if label else [text]
    draw_label(out, layout_label(texts, p1, width, height), colour)


def format_mot_row(frame: int, target_id: int, box: Sequence[float], score: float) -> str:
    """One line of a MOT challenge file: frame (1-based), id, x, y, w, h, score, -1, -1, -1."""
    return f"{frame},{target_id},{format_box(box)},{float(score):.4f},-1,-1,-1"


class MotWriter:
    """Collects the targets' boxes frame by frame; `close()` writes them atomically: the MOT challenge layout
    (`format_mot_row`: frames numbered from 1, siamtrack's 0-based boxes) to `path`, and with `per_target`
    one x,y,w,h file per target beside it (`NAME_ID.EXT`: a line per frame of the run, NaN where that target
    was not tracked, as box files mark a frame without the target)."""

    def __init__(self, path: str | os.PathLike, per_target: bool = False):
        self.path = Path(path)
        self.per_target = per_target
        self.rows: list[tuple[int, int, tuple[float, ...], float]] = []
        self.frames: list[int] = []

    def write(self, frame_index: int, results: Mapping[int, TrackResult]) -> None:
        self.frames.append(frame_index)
        for target_id, r in results.items():
            self.rows.append((frame_index, target_id, tuple(float(v) for v in r.box), float(r.score)))

    def target_path(self, target_id: int) -> Path:
        return self.path.with_name(f"{self.path.stem}_{target_id}{self.path.suffix}")

    def close(self) -> None:
        atomic_write_text(self.path, "".join(format_mot_row(f + 1, i, b, s) + "\n" for f, i, b, s in self.rows))
        if self.per_target:
            nan = (float("nan"),) * 4
            for target_id in dict.fromkeys(i for _, i, _, _ in self.rows):
                boxes = {f: b for f, i, b, _ in self.rows if i == target_id}
                write_boxes_atomic(self.target_path(target_id), (boxes.get(f, nan) for f in self.frames))


@dataclass(frozen=True)
class OverlayStyle:
    line: int  # the tracked box's line width (px); a lost box's is half
    scale: float  # the label's font scale
    thickness: int  # the label's stroke width (px)
    pad: int  # space between the label's text and its edges (px)


def overlay_style(width: int, height: int) -> OverlayStyle:
    """Line widths and label size for a width x height frame: the text (getTextSize's height) about 2.7% of
    the frame's shorter side high (29 px at 1080 lines), never below 12 px (0.45, what every size had)."""
    short = min(width, height)
    scale = max(0.45, short / 1000)
    return OverlayStyle(
        line=max(2, round(short / 300)), scale=scale, thickness=max(1, round(scale * 2)), pad=max(2, round(4 * scale))
    )


@dataclass(frozen=True)
class Label:
    """A box's label laid out in a frame: the text, its baseline origin and font, and the filled rectangle
    behind it (x0, y0, x1, y1, x1 and y1 exclusive), which holds all of the text's ink."""

    text: str
    origin: tuple[int, int]
    scale: float
    thickness: int
    rect: tuple[int, int, int, int]


def layout_label(texts: Sequence[str], p1: tuple[int, int], width: int, height: int) -> Label:
    """The label of the box whose top-left corner is `p1`, in a width x height frame: the first of `texts`
    (longest first) that fits the frame's width at overlay_style's size, else the last made smaller to fit;
    above the box's top-left corner when there is room, else just inside its top edge; always wholly inside
    the frame."""
    style = overlay_style(width, height)
    scale, thick, pad = style.scale, style.thickness, style.pad

    def size(text: str, scale: float) -> tuple[int, int, int]:
        (tw, th), base = cv2.getTextSize(text, LABEL_FONT, scale, thick)
        return tw + thick, th + thick // 2 + 1, base + thick // 2  # the ink's extent: strokes stick out

    room = max(width - 2 * pad, 1)
    text = texts[-1]
    for candidate in texts:
        if size(candidate, scale)[0] <= room:
            text = candidate
            break
    else:
        scale *= room / size(text, scale)[0]
        while scale > 0.05 and size(text, scale)[0] > room:  # rounding in getTextSize
            scale *= 0.95
    tw, ascent, descent = size(text, scale)
    lw, lh = min(tw + 2 * pad, width), min(ascent + descent + 2 * pad, height)
    x0 = min(max(p1[0], 0), max(width - lw, 0))
    y0 = p1[1] - lh  # above the box ...
    if y0 < 0:
        y0 = max(p1[1], 0)  # ... or just inside it when the box touches the top
    y0 = min(max(y0, 0), max(height - lh, 0))
    origin = (x0 + pad + thick // 2, y0 + pad + ascent)
    return Label(text, origin, scale, thick, (x0, y0, x0 + lw, y0 + lh))


def label_ink(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text, whichever contrasts more with a label filled with `colour` (BGR; WCAG's
    contrast ratio): black on the green and red of the boxes."""
    lum = relative_luminance(colour)
    return (0, 0, 0) if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else (255, 255, 255)


def relative_luminance(bgr) -> float:
    """WCAG 2's relative luminance of an sRGB colour given as B, G, R in 0-255."""

    def linear(c: float) -> float:
        c = c / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    b, g, r = (float(v) for v in bgr[:3])
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def draw_label(image: np.ndarray, label: Label, colour: tuple[int, int, int]) -> None:
    """Fill the label's rectangle with `colour` and write its text over it in label_ink's colour."""
    x0, y0, x1, y1 = label.rect
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), colour, cv2.FILLED)
    ink = label_ink(colour)
    cv2.putText(image, label.text, label.origin, LABEL_FONT, label.scale, ink, label.thickness, cv2.LINE_AA)


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
