"""One tracking session: a tracker, the boxes to export and the trail to draw. No Qt here.

Export format is the one `siamtrack track` writes: one x,y,w,h line per frame, the initial box first,
then the tracker's box for every following frame that was tracked. A re-initialisation starts a new
session (the export always describes one continuous run from its initial box).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

import numpy as np

from ..errors import UserError
from ..trackers.base import TrackResult
from .frames import DurationMeter


class TrackSession:
    def __init__(self, trail_length: int = 64):
        self.tracker = None
        self.result: TrackResult | None = None
        self.start_index: int | None = None
        self.last_index: int | None = None
        self.trail: deque[tuple[float, float]] = deque(maxlen=trail_length)
        self.speed = DurationMeter()
        self._boxes: list[tuple[float, float, float, float]] = []
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.tracker is not None

    def start(self, tracker, frame: np.ndarray, box: Sequence[float], index: int = 0) -> TrackResult:
        """Initialise `tracker` on `frame` with `box`; raises what tracker.init raises (bad box...)."""
        tracker.init(frame, box)
        x, y, w, h = (float(v) for v in box)  # four values: init accepted them
        box = (x, y, w, h)
        self.tracker = tracker
        self.result = TrackResult(box, 1.0, False)
        self.start_index = self.last_index = index
        self.trail.clear()
        self.trail.append(_centre(box))
        self.speed.reset()
        with self._lock:
            self._boxes = [box]
        return self.result

    def step(self, frame: np.ndarray, index: int | None = None) -> TrackResult | None:
        """Track one frame; None when no session is active. Exceptions from the tracker propagate."""
        if self.tracker is None:
            return None
        t0 = time.perf_counter()
        result = self.tracker.update(frame)
        self.speed.add(time.perf_counter() - t0)
        self.result = result
        self.last_index = index
        self.trail.append(_centre(result.box))
        with self._lock:
            self._boxes.append(tuple(float(v) for v in result.box))
        return result

    def stop(self) -> None:
        """Stop tracking; the boxes of the finished run stay available for export."""
        self.tracker = None

    def reset(self) -> None:
        self.stop()
        self.result = None
        self.trail.clear()
        self.start_index = self.last_index = None
        with self._lock:
            self._boxes = []

    @property
    def boxes(self) -> list[tuple[float, float, float, float]]:
        with self._lock:
            return list(self._boxes)

    def export(self, path) -> int:
        """Write the boxes (atomic); returns the number of lines written."""
        from ..io.sinks import write_boxes_atomic

        boxes = self.boxes
        if not boxes:
            raise UserError("nothing to export: no box has been tracked yet")
        write_boxes_atomic(path, boxes)
        return len(boxes)


def _centre(box: Sequence[float]) -> tuple[float, float]:
    x, y, w, h = box
    return x + w / 2.0, y + h / 2.0
