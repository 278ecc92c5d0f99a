"""The one interface every tracker in the project honours.

Frames are BGR uint8 arrays as OpenCV returns them; boxes are 0-based pixel (x, y, w, h) floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError

if TYPE_CHECKING:
    from ..sequence import FrameInput, TrackRun


Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class TrackResult:
    """What `update()` returns: the box (0-based x, y, w, h, floats), the tracker's own score and whether
    the tracker considers the target lost. `lost_signal` is what `lost` is decided on, for the Siamese
    trackers: their confidence relative to their confidence on the target's first frames (1 = as sure as at
    the start); `lost` is `lost_signal < the preset's lost_threshold` (docs/lost-flag.md), or the model gave
    no usable box (the box is then the last good one). None for trackers without one (OpenCV's)."""

    box: Box
    score: float
    lost: bool
    lost_signal: float | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        """True while the target is tracked (not lost): the `ok` of OpenCV's `ok, box = tracker.update(frame)`."""
        return not self.lost

    @property
    def xyxy(self) -> Box:
        """The box as corners (x1, y1, x2, y2) = (x, y, x + w, y + h)."""
        x, y, w, h = self.box
        return x, y, x + w, y + h

    def as_opencv(self) -> tuple[bool, tuple[int, int, int, int]]:
        """`(ok, (x, y, w, h))` as OpenCV's `Tracker.update` returns it: the box rounded to whole pixels,
        ready for `cv2.rectangle`. Code written for OpenCV trackers can use
        `ok, box = tracker.update(frame).as_opencv()`; `.box` keeps the sub-pixel values."""
        x, y, w, h = (int(round(v)) for v in self.box)
        return self.ok, (x, y, w, h)


class TrackerError(UserError, ValueError):
    """A problem the user can fix (bad box, bad frame, bad weights...). Its message is shown as is."""


class NotInitializedError(TrackerError, RuntimeError):
    """`update()` was called before `init()`."""


def validate_frame(frame: object) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise TrackerError("frame must be a BGR uint8 array of shape (H, W, 3)")
    return frame


def validate_box(box: Sequence[float], frame_shape: tuple[int, ...]) -> Box:
    """Check an initial box against the frame: finite, positive size, overlapping the image."""
    if len(box) != 4:
        raise TrackerError(f"a box has 4 values x,y,w,h, got {len(box)}")
    x, y, w, h = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise TrackerError(f"box {x},{y},{w},{h} is not finite")
    if w <= 0 or h <= 0:
        raise TrackerError(f"box {x:g},{y:g},{w:g},{h:g} has zero or negative size")
    H, W = frame_shape[:2]
    if x >= W or y >= H or x + w <= 0 or y + h <= 0:
        raise TrackerError(f"box {x:g},{y:g},{w:g},{h:g} lies outside the {W}x{H} frame")
    return x, y, w, h


def tracker_lost_signal(tracker: object) -> float | None:
    """The Siamese trackers' `lost_signal` attribute (set by init and each update), None where there is none."""
    signal = getattr(tracker, "lost_signal", None)
    return float(signal) if isinstance(signal, (int, float)) and not isinstance(signal, bool) else None


class Tracker:
    """Base class: subclasses implement `_init` and `_update`; the checks live here once."""

    name: str = "tracker"

    def init(self, frame: np.ndarray, box: Sequence[float]) -> None:
        frame = validate_frame(frame)
        box = validate_box(box, frame.shape)
        self._frame_shape = frame.shape
        self._init(frame, box)
        self._last = TrackResult(box, 1.0, False)

    def update(self, frame: np.ndarray) -> TrackResult:
        if getattr(self, "_last", None) is None:
            raise NotInitializedError(
                f"{self.name}: update() before init(): initialise the tracker with init(frame, box) first"
            )
        frame = validate_frame(frame)
        result = self._update(frame)
        if not all(math.isfinite(v) for v in result.box) or not math.isfinite(result.score):
            # Never hand a NaN/inf box to a sink: keep the last good state and call it lost.
            result = TrackResult(self._last.box, 0.0, True, 0.0)
        elif result.lost_signal is None and (signal := tracker_lost_signal(self)) is not None:
            result = replace(result, lost_signal=signal)
        self._last = result
        return result

    def track(
        self, source: FrameInput, box: Sequence[float], *, start: int = 0, max_frames: int | None = None
    ) -> TrackRun:
        """Track through a whole source: a video file, an image folder, a camera index, an open
        FrameSource or any iterable of BGR uint8 frames. The first frame (from `start`) initialises on
        `box`; iterate the returned `TrackRun` for one `FrameResult` (box, score, lost, index, seconds) per
        frame, at most `max_frames`. See `tracker.sequence`."""
        from ..sequence import TrackRun

        return TrackRun(self, source, box, start=start, max_frames=max_frames)

    def warm_up(self) -> None:
        """One init and update on a synthetic frame, so that what a tracker builds on first use (the
        torch engine's fast path for the Siamese models: 0.4-1.5 s on this project's CPU) exists before the first real
        frame. The next init starts afresh, so nothing of it remains."""
        frame = np.random.default_rng(0).integers(0, 256, (360, 480, 3), dtype=np.uint8)
        self.init(frame, (208.0, 148.0, 64.0, 64.0))
        self.update(frame)

    def _init(self, frame: np.ndarray, box: tuple[float, float, float, float]) -> None:
        raise NotImplementedError

    def _update(self, frame: np.ndarray) -> TrackResult:
        raise NotImplementedError
