"""What the pipeline hands the window for each frame: a `FramePacket` (the frame, its image for display,
every target's result, the counters), through a `PacketSlot` that holds only the newest one (a busy UI skips
packets, it never queues them)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PyQt6.QtGui import QImage

from ..result import TrackResult


@dataclass
class FramePacket:
    index: int
    frame: np.ndarray  # the raw BGR frame (what a new selection initialises on)
    image: QImage  # the same frame for display (the window paints the overlay over it)
    results: dict[int, TrackResult]  # every target's box on this frame, by id
    trails: dict[int, tuple[tuple[float, float], ...]] | None  # recent box centres by id when the trail is on
    tracking: bool
    processed: int  # frames processed since the source was opened
    dropped: int  # frames replaced before the tracker could take them
    skipped: int  # frames the source could not decode
    track_fps: float  # tracker.update speed
    process_fps: float  # frames through the pipeline per second
    frame_count: int | None
    recording: bool

    @property
    def result(self) -> TrackResult | None:
        """The box of the one target on this frame (the lowest id when there are several), None without."""
        return next(iter(self.results.values()), None)

    @property
    def trail(self) -> tuple[tuple[float, float], ...] | None:
        """The trail of `result`'s target, when the trail is on."""
        if not self.trails or not self.results:
            return None
        return self.trails.get(next(iter(self.results)))


def to_qimage(frame: np.ndarray) -> QImage:
    """A BGR frame as a QImage of its own (a copy: the frame's memory may go)."""
    shown = np.ascontiguousarray(frame)
    h, w = shown.shape[:2]
    # the stubs say bytes; PyQt takes any buffer (the array's memory, copied at once)
    return QImage(shown.data, w, h, shown.strides[0], QImage.Format.Format_BGR888).copy()  # type: ignore[call-overload]


class PacketSlot:
    """The newest packet, for the UI thread to take; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._packet: FramePacket | None = None
        self._pending = False

    def put(self, packet: FramePacket) -> bool:
        """Hold `packet` in place of the one held; True when the window has to be told (it had taken the last)."""
        with self._lock:
            self._packet = packet
            notify = not self._pending
            self._pending = True
        return notify

    def take(self) -> FramePacket | None:
        """The newest packet (again, if no newer one came since: the window may take it twice)."""
        with self._lock:
            self._pending = False
            return self._packet
