"""Frame hand-over between the capture thread and the tracking thread, and rate meters.

`LatestSlot` is a one-item mailbox. In real-time mode a new frame replaces one the consumer has not taken
yet (latest frame wins) and the replaced frame is counted as dropped: a slow tracker never builds a queue,
so what is shown is always the newest frame. In lossless mode (`block=True`) the producer waits instead,
so every frame of a file is tracked.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class LatestSlot:
    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._has_item = False
        self._final = None  # end-of-stream / error marker, delivered after the last frame
        self._has_final = False
        self._closed = False
        self.dropped = 0

    def put(self, item, block: bool = False, timeout: float | None = None) -> bool:
        """Hand over `item`. Non-blocking: replace an untaken item (counted in `dropped`). Blocking: wait
        until the consumer took the previous one. Returns False when the slot was closed (or timed out)."""
        with self._cond:
            if block:
                deadline = None if timeout is None else time.monotonic() + timeout
                while self._has_item and not self._closed:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.wait(remaining if remaining is not None else 0.1)
            if self._closed:
                return False
            if self._has_item:
                self.dropped += 1
            self._item, self._has_item = item, True
            self._cond.notify_all()
            return True

    def finish(self, marker) -> None:
        """Signal the end of the stream (or an error); never dropped, delivered after any pending item."""
        with self._cond:
            self._final, self._has_final = marker, True
            self._cond.notify_all()

    def get(self, timeout: float | None = None):
        """Take the newest item: returns ("frame", item), ("final", marker) or (None, None) on timeout/close."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._has_item and not self._has_final and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None, None
                self._cond.wait(remaining)
            if self._has_item:
                item, self._item, self._has_item = self._item, None, False
                self._cond.notify_all()
                return "frame", item
            if self._has_final:
                marker, self._final, self._has_final = self._final, None, False
                return "final", marker
            return None, None

    def clear(self) -> None:
        """Forget a pending item without counting it as dropped (used when seeking / reopening)."""
        with self._cond:
            self._item, self._has_item = None, False
            self._final, self._has_final = None, False
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False
            self._item, self._has_item = None, False
            self._final, self._has_final = None, False


class RateMeter:
    """Events per second over a sliding time window (for display fps and processed-frame fps)."""

    def __init__(self, window_s: float = 1.0, clock=time.monotonic):
        self.window_s = window_s
        self.clock = clock
        self._times: deque[float] = deque()

    def tick(self) -> None:
        now = self.clock()
        self._times.append(now)
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()

    @property
    def rate(self) -> float:
        now = self.clock()
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def reset(self) -> None:
        self._times.clear()


class DurationMeter:
    """The rate of a repeated step (tracker.update) over its last `n` calls, by the project's one fps rule
    (tracker.sequence.fps_from_times: 1 / median duration)."""

    def __init__(self, n: int = 30):
        self._d: deque[float] = deque(maxlen=n)

    def add(self, seconds: float) -> None:
        self._d.append(seconds)

    @property
    def rate(self) -> float:
        from ..sequence import fps_from_times

        fps = fps_from_times(self._d)
        return fps if fps == fps else 0.0

    def reset(self) -> None:
        self._d.clear()
