"""Frame sources: a video file, a folder of images (in natural order: frame_2 before frame_10) or a camera index.

Iterating a source yields (index, frame) with BGR uint8 frames. A frame that fails to decode in the
middle of a video is reported through `on_skip` and skipped, never yielded as None.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError

# The one list of image file extensions (all of them read by cv2.imread): sources, bench datasets and
# training data use it.
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

_DIGITS = re.compile(r"(\d+)")


def natural_key(path: str | os.PathLike) -> list:
    """Sort key that orders the numbers inside names by value: frame_2 before frame_10 (case ignored)."""
    return [int(t) if t.isdigit() else t.lower() for t in _DIGITS.split(os.fspath(path))]


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly inside `folder` (IMAGE_EXTS, any case), in natural order; [] when the
    folder does not exist. The one listing every image-folder reader uses."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file()),
        key=lambda p: natural_key(p.name),
    )


class SourceError(UserError):
    """The source cannot be opened or read; the message names it."""


class FrameSource:
    def __init__(self, spec: str, frame_count: int | None, fps: float | None, size: tuple[int, int] | None):
        self.spec = spec
        self.frame_count = frame_count
        self.fps = fps
        self.size = size  # (width, height)
        self.skipped: list[int] = []
        self.on_skip: Callable[[int, str], None] | None = None

    def _skip(self, index: int, why: str) -> None:
        self.skipped.append(index)
        if self.on_skip:
            self.on_skip(index, why)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ImageFolderSource(FrameSource):
    def __init__(self, folder: Path, start: int = 0):
        files = list_images(folder)
        if not files:
            raise SourceError(f"{folder}: no image files in this folder")
        first = cv2.imread(str(files[0]))
        if first is None:
            raise SourceError(f"{files[0]}: cannot decode image")
        super().__init__(str(folder), len(files), None, (first.shape[1], first.shape[0]))
        self.files = files
        self.start = start

    def __iter__(self):
        for i, path in enumerate(self.files[self.start :], start=self.start):
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is None:
                self._skip(i, f"{path.name}: cannot decode image")
                continue
            yield i, frame


class CaptureSource(FrameSource):
    """cv2.VideoCapture over a file or a camera index."""

    MAX_CONSECUTIVE_FAILURES = 25

    def __init__(self, spec: str, target, is_camera: bool, start: int = 0):
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            if is_camera:
                raise SourceError(f"{spec}: cannot open camera")
            raise SourceError(f"{spec}: cannot open video (not a video file, or a format OpenCV cannot read)")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if not is_camera else None
        fps = cap.get(cv2.CAP_PROP_FPS) or None
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        super().__init__(spec, count if count and count > 0 else None, fps, (w, h) if w and h else None)
        self.cap = cap
        self.is_camera = is_camera
        if start:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        self.start = start

    def __iter__(self):
        index = self.start
        failures = 0
        while True:
            ok = self.cap.grab()
            if not ok:
                # End of stream for a file (or a broken tail); a camera that stopped delivering.
                if (
                    self.frame_count is not None
                    and index < self.frame_count
                    and failures < self.MAX_CONSECUTIVE_FAILURES
                ):
                    failures += 1
                    self._skip(index, "frame could not be read")
                    index += 1
                    continue
                return
            ok, frame = self.cap.retrieve()
            if not ok or frame is None:
                failures += 1
                self._skip(index, "frame could not be decoded")
                index += 1
                if failures >= self.MAX_CONSECUTIVE_FAILURES:
                    return
                continue
            failures = 0
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            yield index, frame
            index += 1

    def request_size(self, width: int, height: int) -> tuple[int, int]:
        """Ask the device for frames of width x height (a camera picks the nearest mode it has); `size`
        becomes, and this returns, what it reports now (0, 0 where it cannot say)."""
        self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.size = (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        return self.size

    def close(self):
        self.cap.release()


def open_source(spec: str | int | os.PathLike, start: int = 0) -> FrameSource:
    """Open a video file, an image folder or a camera index ("0", 0)."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit() and not os.path.exists(spec)):
        return CaptureSource(str(spec), int(spec), is_camera=True, start=0)
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.is_dir():
        return ImageFolderSource(path, start)
    if not os.access(path, os.R_OK):
        raise SourceError(f"{path}: not readable")
    src = CaptureSource(str(path), str(path), is_camera=False, start=start)
    return src
