"""What a tracker answers for a frame (`TrackResult`, its `Box`) and what it raises for input the user can fix
(`TrackerError`): the words the trackers, the frame loop (tracker.sequence), the sinks (tracker.io.sinks) and
the applications share, so it lies below all of them."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UserError

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


def tracker_lost_signal(tracker: object) -> float | None:
    """The Siamese trackers' `lost_signal` attribute (set by init and each update), None where there is none."""
    signal = getattr(tracker, "lost_signal", None)
    return float(signal) if isinstance(signal, (int, float)) and not isinstance(signal, bool) else None
