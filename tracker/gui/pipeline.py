# size: over 400 lines as one QThread: its command handlers and frame loop share the thread's state
"""Tracking off the UI thread.

Two threads feed the window:
- a capture thread (`tracker.gui.capture`) reads the source (file, folder, camera) and hands frames over
  through a `LatestSlot`, dropping the ones the tracker could not take in real-time mode;
- the `Pipeline` QThread takes the newest frame, runs the targets' tracker (a `TrackSession`: one
  MultiTracker, results stored per frame index, so stepping back shows them again), writes the recording
  (`tracker.gui.recording`: the overlay drawn into the frame), and publishes one `FramePacket` for the
  window (again latest-wins: a busy UI skips packets, it never queues them). The window paints the overlay
  itself, at screen resolution.

Its frame loop is event-driven (a box drawn on any frame, seeks, a model switched mid-run), so it keeps its
own loop rather than tracker.track(); its speed read-out uses the same rule (tracker.sequence.fps_from_times).

The window talks to the pipeline only through thread-safe methods (a command queue and flags); the
pipeline talks back through Qt signals. Every failure (source gone, broken file, model error, writer
error) becomes an `error` signal with a one-line message; the recording is finalised so the file
written so far stays a valid video.
"""

from __future__ import annotations

import queue
import threading

import numpy as np
from PyQt6.QtCore import QThread, pyqtSignal

from ..engines import engine_text
from ..result import TrackResult
from .capture import CaptureThread, Playback
from .frames import LatestSlot, RateMeter
from .models import ModelChoice
from .models import build as build_model
from .packet import FramePacket, PacketSlot, to_qimage
from .recording import Recording
from .session import TrackSession


class Pipeline(QThread):
    frameReady = pyqtSignal()
    error = pyqtSignal(str)
    info = pyqtSignal(str)
    ended = pyqtSignal()
    trackingChanged = pyqtSignal(bool)
    recordingChanged = pyqtSignal(bool, str)
    modelReady = pyqtSignal(str, str)  # the model's name, and what runs it (engine_text), '' for OpenCV's

    def __init__(self, tracker_factory=None, parent=None):
        super().__init__(parent)
        self.tracker_factory = tracker_factory or build_model
        self.playback = Playback()
        self.slot = LatestSlot()
        self.session = TrackSession()
        self.show_trail = False
        self.model = ModelChoice("opencv:csrt")
        self.device = "cpu"
        self.xcorr = "torch"
        self.source = None
        self.capture: CaptureThread | None = None
        self.recording: Recording | None = None
        self.processed = 0
        self.current: tuple[int, np.ndarray] | None = None
        self.at_end = False
        self._commands: queue.Queue = queue.Queue()
        self._quit = threading.Event()
        self._tracker_cache = None
        self._packets = PacketSlot()
        self._rate = RateMeter()

    # ---- called from the UI thread -------------------------------------------------------------------
    def set_source(self, source, paused: bool = True) -> None:
        self._commands.put(("source", source, paused))

    def play(self) -> None:
        if self.at_end and self.source is not None and not getattr(self.source, "is_camera", False):
            # play again from the start; the finished run is over (its boxes stay for export)
            self._commands.put(("stop",))
            self._commands.put(("seek", 0, False))
            return
        self.playback.set_paused(False)

    def pause(self) -> None:
        self.playback.set_paused(True)

    @property
    def paused(self) -> bool:
        return self.playback.paused

    def step(self) -> None:
        self.playback.request_step(1)

    def seek(self, index: int) -> None:
        self._commands.put(("seek", max(0, int(index)), True))

    def add_target(self, box, frame: np.ndarray | None = None, index: int | None = None) -> None:
        """A new target at `box` on `frame` (index `index`; the frame being processed when not given)."""
        self._commands.put(("add", None, tuple(float(v) for v in box), frame, index))

    def correct_target(self, target_id: int, box, frame: np.ndarray, index: int) -> None:
        """Target `target_id` starts again at `box` on frame `index` (its later results tracked again)."""
        self._commands.put(("add", int(target_id), tuple(float(v) for v in box), frame, index))

    def remove_target(self, target_id: int, index: int) -> None:
        """Target `target_id` stops on frame `index` (its results from there on dropped)."""
        self._commands.put(("remove", int(target_id), int(index)))

    def stop_tracking(self) -> None:
        self._commands.put(("stop",))

    def reset_tracking(self) -> None:
        self._commands.put(("reset",))

    def set_model(self, choice: ModelChoice, device: str, xcorr: str) -> None:
        self._commands.put(("model", choice, device, xcorr))

    def set_trail(self, on: bool) -> None:
        self._commands.put(("trail", bool(on)))

    def start_recording(self, path) -> None:
        self._commands.put(("record", str(path)))

    def stop_recording(self) -> None:
        self._commands.put(("record_stop",))

    def take_packet(self) -> FramePacket | None:
        return self._packets.take()

    def shutdown(self) -> None:
        """Stop the pipeline thread and close the source, recording and capture. Waits for the thread: a
        command it is running (loading a model can take seconds) finishes first, and commands still queued are
        dropped. Closing while the thread still ran would close the recording under its writer, and Qt aborts
        the process when a running QThread is destroyed."""
        self._quit.set()
        self.slot.close()
        if self.isRunning():
            self.wait()
        self._close_everything()  # no-op when the thread already did it

    @property
    def dropped(self) -> int:
        return self.slot.dropped

    # ---- the pipeline thread ----------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while not self._quit.is_set():
                self._drain_commands()
                kind, item = self.slot.get(timeout=0.02)
                if kind == "frame":
                    self._process(*item)
                elif kind == "final":
                    self._on_final(*item)
        except Exception as exc:  # noqa: BLE001 - last resort: never take the window down
            self.error.emit(f"internal error in the video pipeline: {exc}")
        finally:
            self._close_everything()

    def _drain_commands(self) -> None:
        while not self._quit.is_set():  # once shutting down, queued commands are dropped
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                getattr(self, f"_cmd_{cmd[0]}")(*cmd[1:])
            except Exception as exc:  # noqa: BLE001 - shown; the thread goes on
                self.error.emit(str(exc))

    def _cmd_source(self, source, paused: bool) -> None:
        self._stop_capture()
        if self.source is not None and self.source is not source:
            try:
                self.source.close()
            except Exception:  # noqa: BLE001 - closing the old source is best effort
                pass
        self._finalise_recording("source changed")
        self.session.reset()
        self.trackingChanged.emit(False)
        self.source = source
        self.processed = 0
        self.current = None
        self.slot.dropped = 0
        self._rate.reset()
        self._start_capture(paused)

    def _start_capture(self, paused: bool, show_first: bool = True) -> None:
        self.at_end = False
        self.slot.reopen()
        is_camera = bool(getattr(self.source, "is_camera", False))
        if paused and not is_camera:
            self.playback.set_paused(True)
            if show_first:
                self.playback.request_step(1)  # show the first frame
        else:
            self.playback.set_paused(paused)
        self.capture = CaptureThread(self.source, self.slot, self.playback)
        self.capture.start()

    def _stop_capture(self) -> None:
        if self.capture is not None:
            self.capture.halt.set()
            self.slot.close()
            self.capture.join(timeout=5.0)
            self.capture = None
        self.slot.clear()

    def _cmd_seek(self, index: int, paused: bool, show_first: bool = True) -> None:
        if self.source is None:
            return
        if getattr(self.source, "is_camera", False):
            raise ValueError("a camera cannot seek")
        count = getattr(self.source, "frame_count", None)
        if count:
            index = min(index, count - 1)
        from ..io.sources import open_source

        self._stop_capture()
        try:
            self.source.close()
        except Exception:  # noqa: BLE001 - closing the old source is best effort
            pass
        self.source = open_source(self.source.spec, start=index)
        self._start_capture(paused, show_first)

    def _cmd_add(self, target_id: int | None, box, frame, index) -> None:
        """A new target (`target_id` None) or a correction of one, on `frame`."""
        if frame is None:
            if self.current is None:
                raise ValueError("open a video, image folder or camera first")
            index, frame = self.current
        index = index or 0
        if self.session.multi is None:
            tracker = self._tracker()
            if tracker is None:
                return
            self.session.use(tracker)
        try:
            if target_id is None:
                target_id = self.session.add(frame, box, index)
            else:
                self.session.correct(target_id, frame, box, index)
        except Exception as exc:  # noqa: BLE001 - a model that cannot start tracking: say so, keep the app
            if not self.session.active:
                self.session.stop()
            self.trackingChanged.emit(self.session.active)
            self.error.emit(f"cannot start tracking: {exc}")
            return
        behind = (
            self.current is not None
            and index is not None
            and self.current[0] != index
            and not getattr(self.source, "is_camera", False)
            and hasattr(self.source, "spec")
        )
        self.current = (index, frame)
        self.trackingChanged.emit(True)
        # the recording gets the initial box too, unless this frame is in it already
        again = self.recording is not None and self.recording.last_index == index
        self._publish(index, frame, self.session.results_at(index), record=not again)
        if behind:
            # a file went on playing while the box was drawn: continue from the frame after the one the
            # box was drawn on, so the target has a box on every frame from there
            self._cmd_seek(index + 1, self.playback.paused, show_first=False)

    def _cmd_remove(self, target_id: int, index: int) -> None:
        self.session.remove(target_id, index)
        self.trackingChanged.emit(self.session.active)
        self._republish()

    def _cmd_stop(self) -> None:
        self.session.stop()
        self.trackingChanged.emit(False)
        self._republish()

    def _cmd_reset(self) -> None:
        self.session.reset()
        self.trackingChanged.emit(False)
        self._republish()

    def _cmd_model(self, choice: ModelChoice, device: str, xcorr: str) -> None:
        self.model, self.device, self.xcorr = choice, device, xcorr
        self._tracker_cache = None
        if not choice.is_opencv:
            self.info.emit(f"loading {choice.display} on {device}...")
            tracker = self._tracker()
            if tracker is not None:
                try:
                    # build the optimised graphs now, not in the seconds after the user draws a box
                    tracker.warm_up()
                except Exception as exc:  # noqa: BLE001 - the model cannot track: say so, keep the app
                    self._tracker_cache = tracker = None
                    self.error.emit(f"model {choice.display}: {exc}")
            if tracker is None:
                self.session.stop()
                self.trackingChanged.emit(False)
                return
        self.modelReady.emit(choice.display, engine_text(self._tracker_cache) if not choice.is_opencv else "")
        if self.session.active and self.current is not None:
            # carry on with the new model from where the old one was
            tracker = self._tracker()
            if tracker is None:
                self.session.stop()
                self.trackingChanged.emit(False)
                return
            index, frame = self.current
            try:
                self.session.restart(tracker, frame, index)
            except Exception as exc:  # noqa: BLE001 - the new model cannot start: say so, keep the app
                self.session.stop()
                self.trackingChanged.emit(False)
                self.error.emit(f"cannot start tracking: {exc}")
            self._republish()

    def _cmd_trail(self, on: bool) -> None:
        self.show_trail = on
        self._republish()

    def _cmd_record(self, path: str) -> None:
        self._finalise_recording("new recording")
        if self.current is not None:
            size = (self.current[1].shape[1], self.current[1].shape[0])
        elif self.source is not None and getattr(self.source, "size", None):
            size = tuple(self.source.size)
        else:
            raise ValueError("open a video, image folder or camera before recording")
        fps = getattr(self.source, "fps", None) or 25.0
        self.recording = Recording(path, fps, size)
        self.recordingChanged.emit(True, str(path))

    def _cmd_record_stop(self) -> None:
        self._finalise_recording(None)

    def _tracker(self):
        """The tracker for a new initialisation: OpenCV ones are rebuilt (cheap, fresh state), models are
        built once per selection. None (and an error shown) when the model cannot be built."""
        if self._tracker_cache is not None and not self.model.is_opencv:
            return self._tracker_cache
        try:
            tracker = self.tracker_factory(self.model, self.device, self.xcorr)
        except Exception as exc:  # noqa: BLE001 - a model that cannot be built: say so, keep the app
            text = str(exc)
            prefix = f"model {self.model.display}"
            self.error.emit(text if text.startswith(("model ", self.model.name)) else f"{prefix}: {text}")
            return None
        self._tracker_cache = tracker
        return tracker

    def _process(self, index: int, frame: np.ndarray) -> None:
        self.current = (index, frame)
        self.processed += 1
        self._rate.tick()
        try:
            results = self.session.step(frame, index)
        except Exception as exc:  # noqa: BLE001 - a failing model stops tracking, not the app
            self.session.stop()
            self.trackingChanged.emit(False)
            self.error.emit(f"model {self.model.display} failed on frame {index}: {exc}; tracking stopped")
            results = self.session.results_at(index)
        self._publish(index, frame, results)

    def _on_final(self, kind: str, message) -> None:
        self.playback.set_paused(True)
        if kind == "end":
            self.at_end = True
            self.info.emit("end of video")
            self.ended.emit()
        else:
            self._finalise_recording(message)
            self.error.emit(message)
            self.ended.emit()

    def _republish(self) -> None:
        if self.current is not None:
            index = self.current[0]
            self._publish(index, self.current[1], self.session.results_at(index), record=False)

    def _publish(self, index: int, frame: np.ndarray, results: dict[int, TrackResult], record: bool = True) -> None:
        trails = {i: self.session.trail(i, index) for i in results} if self.show_trail else None
        if record and self.recording is not None:
            try:
                self.recording.write(index, frame, results, trails)
            except Exception as exc:  # noqa: BLE001 - a failing recording stops the recording, not tracking
                self._finalise_recording(f"cannot write the recording: {exc}")
                self.error.emit(f"recording stopped: {exc}")
        packet = FramePacket(
            index=index,
            frame=frame,
            image=to_qimage(frame),
            results=dict(results),
            trails=trails,
            tracking=self.session.active,
            processed=self.processed,
            dropped=self.slot.dropped,
            skipped=len(getattr(self.source, "skipped", []) or []),
            track_fps=self.session.speed.rate,
            process_fps=self._rate.rate,
            frame_count=getattr(self.source, "frame_count", None),
            recording=self.recording is not None,
        )
        if self._packets.put(packet):
            self.frameReady.emit()

    def _finalise_recording(self, why: str | None) -> None:
        recording, self.recording = self.recording, None
        if recording is not None:
            self.recordingChanged.emit(False, recording.close(why))

    def _close_everything(self) -> None:
        if self.capture is not None:
            self.capture.halt.set()
            self.slot.close()
            self.capture.join(timeout=5.0)
            self.capture = None
        self._finalise_recording(None)
        if self.source is not None:
            try:
                self.source.close()
            except Exception:  # noqa: BLE001 - closing the source at shutdown is best effort
                pass
            self.source = None
