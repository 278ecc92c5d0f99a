"""Reading the source on a thread of its own: `CaptureThread` hands frames to the pipeline through a
`LatestSlot`, as the `Playback` flags (play, pause, step, limit, real-time) shared with the window allow.

In real-time mode (always for a camera) a frame the tracker has not taken yet is replaced by the newer one
and counted as dropped; for files the default is lossless (every frame tracked), paced at the file's frame
rate. A camera's buffer is kept fresh while paused, so play resumes with a live frame. The end of the
source or a failure is handed over as the slot's final item.
"""

from __future__ import annotations

import threading
import time

from .frames import LatestSlot


class Playback:
    """Play / pause / step / limit flags shared by the window, the pipeline and the capture thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self.paused = True
        self.steps = 0
        self.limit: int | None = None  # pause after delivering this frame index (smoke mode)
        self.realtime = False  # drop frames instead of waiting (always on for cameras)
        self.pace = True  # files: do not run faster than the file's frame rate

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self.paused = paused
            if not paused:
                self.steps = 0

    def request_step(self, n: int = 1) -> None:
        with self._lock:
            self.paused = True
            self.steps += n

    def may_read(self) -> bool:
        """True when the capture thread should deliver the next frame (consumes one step when paused)."""
        with self._lock:
            if not self.paused:
                return True
            if self.steps > 0:
                self.steps -= 1
                return True
            return False

    def delivered(self, index: int) -> None:
        with self._lock:
            if self.limit is not None and index >= self.limit:
                self.paused = True
                self.steps = 0


class CaptureThread(threading.Thread):
    def __init__(self, source, slot: LatestSlot, playback: Playback):
        super().__init__(name="siamtrack-capture", daemon=True)
        self.source = source
        self.slot = slot
        self.playback = playback
        self.halt = threading.Event()
        self.is_camera = bool(getattr(source, "is_camera", False))

    def run(self) -> None:
        spec = getattr(self.source, "spec", "source")
        try:
            it = iter(self.source)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.slot.finish(("error", f"{spec}: {exc}"))
            return
        fps = getattr(self.source, "fps", None) or 0.0
        next_due = None
        while not self.halt.is_set():
            if not self.playback.may_read():
                if self.is_camera:
                    # keep the device's buffer fresh while paused, so play resumes with a live frame
                    try:
                        next(it)
                    except StopIteration:
                        self.slot.finish(("error", f"camera {spec} stopped delivering frames (disconnected?)"))
                        return
                    except Exception as exc:  # noqa: BLE001 - shown to the user
                        self.slot.finish(("error", f"camera {spec}: {exc}"))
                        return
                else:
                    time.sleep(0.01)
                next_due = None
                continue
            try:
                index, frame = next(it)
            except StopIteration:
                if self.is_camera:
                    self.slot.finish(("error", f"camera {spec} stopped delivering frames (disconnected?)"))
                else:
                    self.slot.finish(("end", None))
                return
            except Exception as exc:  # noqa: BLE001 - shown to the user, whatever its type
                self.slot.finish(("error", f"{spec}: cannot read frame: {exc}"))
                return
            if not self.is_camera and self.playback.pace and fps > 0 and not self.playback.paused:
                now = time.monotonic()
                if next_due is not None and next_due > now:
                    self.halt.wait(next_due - now)
                next_due = max(now, next_due or now) + 1.0 / fps
            block = not (self.is_camera or self.playback.realtime)
            while not self.halt.is_set():
                if self.slot.put((index, frame), block=block, timeout=0.1):
                    break
                if not block:
                    return  # slot closed
            self.playback.delivered(index)
