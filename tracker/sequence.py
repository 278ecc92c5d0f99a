"""The one sequence runner: a tracker through a source, frame by frame, with one definition of fps.

    tracker = build_tracker("siamrpn_alex_dwxcorr")
    for r in tracker.track("video.mp4", (x, y, w, h)):
        print(r.index, r.box, r.score, r.lost, r.seconds)

`Tracker.track(source, box)` returns a `TrackRun`: iterate it for one `FrameResult` per frame. The source is a
video file, an image folder (natural order), a camera index, an open `FrameSource`, or any iterable of BGR
uint8 frames. The first frame initialises the tracker on `box` (its result is that box, score 1, not lost);
every later frame is one `update()`. A frame the source could not decode still gets a result, marked
`skipped`, repeating the previous box, so result n is always frame start + n. The command line (`track`),
`batch`, `bench`, the training validation and the GUI's speed read-out all use this rule for speed:

    fps = 1 / median(seconds of each update() call)

(`fps_from_times`): the initialisation is left out, and the median keeps the first update (which builds a
model's optimised graphs: a second or more) and other hiccups from dominating a short clip.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Protocol, Union, cast

import numpy as np

from .io.sources import FrameSource, SourceError, open_source
from .result import Box, TrackerError, TrackResult, tracker_lost_signal

FrameInput = Union[str, "os.PathLike[str]", int, FrameSource, Iterable[np.ndarray]]


class OneTarget(Protocol):
    """What a `TrackRun` needs of its tracker (tracker.trackers.base.Tracker, whose `track()` makes the run)."""

    def init(self, frame: np.ndarray, box: Sequence[float]) -> None: ...

    def update(self, frame: np.ndarray) -> TrackResult: ...


def check_id(target_id: object) -> int:
    """A target id: a whole number from 1 (MOT files number targets from 1)."""
    if isinstance(target_id, bool) or not isinstance(target_id, (int, np.integer)) or target_id < 1:
        raise TrackerError(f"a target id is a whole number from 1, got {target_id!r}")
    return int(target_id)


def fps_from_times(times: Iterable[float]) -> float:
    """The project's one tracking rate: 1 / median of per-frame update() times in seconds. Zero and
    non-finite entries (frames not tracked) are left out; NaN when nothing was timed."""
    t = np.asarray(list(times), dtype=np.float64)
    t = t[np.isfinite(t) & (t > 0)]
    return float(1.0 / np.median(t)) if t.size else float("nan")


@dataclass(frozen=True)
class FrameResult(TrackResult):
    """One frame's result in a run: a `TrackResult` (box, score, lost, xyxy, as_opencv()) plus where and
    how long. `seconds` is the time of this frame's init() or update() call (0 for a skipped frame).
    `initial`: the frame the tracker was initialised on (box = the given box). `skipped`: the source could
    not decode this frame; box, score and lost repeat the previous frame's and `frame` is None. `frame` is
    the decoded image itself: keeping every result of a long video (`list(run)`) keeps every frame too, so
    keep `r.box` (or drop `r.frame`) when collecting results."""

    index: int = 0
    seconds: float = 0.0
    initial: bool = False
    skipped: bool = False
    frame: np.ndarray | None = field(default=None, compare=False, repr=False)


class _IterableSource(FrameSource):
    """Frames from any iterable of arrays (a list, a generator, an (N, H, W, 3) array), indexed from 0."""

    def __init__(self, frames: Iterable[np.ndarray], start: int = 0):
        super().__init__("frames", len(frames) if isinstance(frames, Sized) else None, None, None)
        self._frames = frames
        self.start = start

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for i, frame in enumerate(self._frames):
            if i >= self.start:
                yield i, frame


def _as_source(source: FrameInput, start: int) -> tuple[FrameSource, bool]:
    """(source, whether this run opened it and so closes it)."""
    if isinstance(source, FrameSource) or (hasattr(source, "frame_count") and hasattr(source, "skipped")):
        # an open source (or one shaped like it): yields (index, frame) pairs and lists what it skipped
        source = cast(FrameSource, source)
        if start:
            raise TrackerError(
                "start= applies to a path, camera or iterable; an open FrameSource starts where it was opened"
            )
        return source, False
    if isinstance(source, (str, int, os.PathLike)) and not isinstance(source, bool):
        return open_source(source, start=start), True
    if isinstance(source, np.ndarray) and source.ndim == 3:
        raise TrackerError(
            "track() takes a sequence of frames (a video, a folder, a camera, a list of "
            "frames), not a single frame: use init() and update() for one frame at a time"
        )
    if isinstance(source, (bytes, bytearray)) or not isinstance(source, Iterable):
        raise TrackerError(
            f"cannot track {type(source).__name__!s}: give a video file, an image folder, a "
            f"camera index or an iterable of BGR uint8 frames"
        )
    return _IterableSource(source, start), True


def _box(box: Sequence[float]) -> Box:
    if len(box) != 4:
        raise TrackerError(f"a box has 4 values x,y,w,h, got {len(box)}")
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        raise TrackerError(f"a box is 4 numbers x,y,w,h, got {tuple(box)!r}") from None
    return x, y, w, h


class _Run:
    """What both runs (`TrackRun`, `MultiTrackRun`) share: the source, the frame loop (the first frame
    initialises, frames the source could not decode repeat the previous result, every other frame is one timed
    update), their length, rate and closing. A run says how to begin (`_first`), repeat (`_repeat`) and
    update (`_update`)."""

    def __init__(self, source: FrameInput, start: int, max_frames: int | None) -> None:
        if max_frames is not None and max_frames < 1:
            raise TrackerError(f"max_frames must be at least 1, got {max_frames}")
        if start < 0:
            raise TrackerError(f"start must be 0 or more, got {start}")
        self.max_frames = max_frames
        self.source, self._owns_source = _as_source(source, start)
        self.start = int(getattr(self.source, "start", start) or 0)  # an open FrameSource's own start
        self.frames = 0  # results yielded so far (skipped frames included)
        self.skipped: list[int] = []  # indices of frames the source could not decode (filled in)
        self.update_times: list[float] = []  # seconds of each update() call
        self._started = False

    def __iter__(self):
        if self._started:
            raise TrackerError(
                f"a {type(self).__name__} can be iterated once: call tracker.track(...) again for a new run"
            )
        self._started = True
        return self._run()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _first(self, index: int, frame: np.ndarray):
        raise NotImplementedError

    def _repeat(self, prev, index: int):
        raise NotImplementedError

    def _update(self, index: int, frame: np.ndarray):
        """One frame's update: its result, the update() call's time appended to `update_times`."""
        raise NotImplementedError

    def _run(self):
        limit = self.max_frames if self.max_frames is not None else math.inf
        prev = None
        try:
            for index, frame in self.source:
                if prev is None:
                    result = self._first(index, frame)
                else:
                    for missing in range(prev.index + 1, index):
                        if self.frames >= limit:
                            return
                        self.skipped.append(missing)
                        yield self._emit(self._repeat(prev, missing))
                    if self.frames >= limit:
                        return
                    result = self._update(index, frame)
                prev = result
                yield self._emit(result)
                if self.frames >= limit:
                    return
            if prev is None:
                where = f" from frame {self.start} on" if self.start else ""
                raise SourceError(f"{getattr(self.source, 'spec', 'source')}: no frame could be read{where}")
        finally:
            self.close()

    def _emit(self, result):
        self.frames += 1
        if not result.skipped:
            self.last = result
        return result

    def _timed(self, call):
        """`call()`'s answer and its time, the time appended to `update_times`."""
        t0 = time.perf_counter()
        out = call()
        dt = time.perf_counter() - t0
        self.update_times.append(dt)
        return out, dt

    @property
    def total(self) -> int | None:
        """How many results the run will give, when the source knows its length (else max_frames or None)."""
        count = self.source.frame_count
        n = count - self.start if count is not None else None
        if self.max_frames is not None:
            n = min(n, self.max_frames) if n is not None else self.max_frames
        return n

    @property
    def fps(self) -> float:
        """Tracking rate so far (`fps_from_times` of the update() times): NaN before the second frame."""
        return fps_from_times(self.update_times)

    def close(self) -> None:
        if self._owns_source:
            self._owns_source = False
            self.source.close()


class TrackRun(_Run):
    """A tracker going through a source: iterate it (once) for `FrameResult`s. While and after it runs,
    `frames` (results so far), `lost`, `skipped`, `update_times`, `fps` and `source` describe it. The
    source is closed when the iteration ends, breaks or fails, or on `close()` (or leaving a `with` block),
    unless it was an open `FrameSource` given by the caller."""

    def __init__(
        self,
        tracker: OneTarget,
        source: FrameInput,
        box: Sequence[float],
        *,
        start: int = 0,
        max_frames: int | None = None,
    ) -> None:
        super().__init__(source, start, max_frames)
        self.tracker = tracker
        self.box = _box(box)
        self.lost = 0  # tracked frames reported lost
        self.last: FrameResult | None = None

    def __iter__(self) -> Iterator[FrameResult]:
        return super().__iter__()

    def __enter__(self) -> TrackRun:
        return self

    def _first(self, index: int, frame: np.ndarray) -> FrameResult:
        t0 = time.perf_counter()
        self.tracker.init(frame, self.box)
        signal = tracker_lost_signal(self.tracker)
        seconds = time.perf_counter() - t0
        return FrameResult(self.box, 1.0, False, signal, index=index, seconds=seconds, initial=True, frame=frame)

    def _repeat(self, prev: FrameResult, index: int) -> FrameResult:
        return FrameResult(prev.box, prev.score, prev.lost, prev.lost_signal, index=index, skipped=True)

    def _update(self, index: int, frame: np.ndarray) -> FrameResult:
        r, dt = self._timed(lambda: self.tracker.update(frame))
        self.lost += int(r.lost)
        return FrameResult(
            _box(r.box), float(r.score), bool(r.lost), r.lost_signal, index=index, seconds=dt, frame=frame
        )


@dataclass(frozen=True)
class MultiFrameResult:
    """One frame's results in a multi-target run (`MultiTracker.track`): `targets` {id: FrameResult} for
    every target tracked on this frame, in the order they were added (`initial` for one added or corrected
    on this frame: its box is the given one); `seconds`, the time of this frame's update() for all targets
    together (0 for the first frame and a skipped one); `skipped` and `frame` as in `FrameResult`."""

    index: int
    targets: dict[int, FrameResult]
    seconds: float = 0.0
    skipped: bool = False
    frame: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __getitem__(self, target_id: int) -> FrameResult:
        return self.targets[target_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def items(self):
        return self.targets.items()


def _boxes(boxes) -> dict[int, Box]:
    if isinstance(boxes, Mapping):
        items = [(check_id(i), b) for i, b in boxes.items()]
    else:
        if isinstance(boxes, np.ndarray) and boxes.ndim == 1:
            boxes = [boxes]
        items = list(enumerate(boxes, 1))
    return {i: _box(b) for i, b in items}


class MultiTrackRun(_Run):
    """A MultiTracker going through a source: iterate it (once) for `MultiFrameResult`s. The first frame adds
    the targets of `boxes`; `schedule` {frame index: {id: box or None}} adds (a new id), corrects (an id
    tracked: `reinit`) or removes (None) targets on that frame, after the other targets' update. `frames`,
    `lost` ({id: frames reported lost}), `skipped`, `update_times`, `fps` and `source` describe it as
    `TrackRun`'s do; the source is closed as `TrackRun` closes it."""

    def __init__(
        self,
        tracker,
        source: FrameInput,
        boxes,
        *,
        start: int = 0,
        max_frames: int | None = None,
        schedule: Mapping[int, Mapping[int, Sequence[float] | None]] | None = None,
    ) -> None:
        super().__init__(source, start, max_frames)
        self.tracker = tracker
        self.boxes = _boxes(boxes)
        self.schedule = {
            int(f): {check_id(i): (None if b is None else _box(b)) for i, b in events.items()}
            for f, events in (schedule or {}).items()
        }
        self.lost: dict[int, int] = {}
        self.last: MultiFrameResult | None = None

    def __iter__(self) -> Iterator[MultiFrameResult]:
        return super().__iter__()

    def __enter__(self) -> MultiTrackRun:
        return self

    def _initial(self, frame, index: int, events: Mapping[int, Box | None], results: dict) -> None:
        """Apply a frame's additions, corrections and removals (`results` gets the initial results)."""
        tracker = self.tracker
        for target_id, box in events.items():
            if box is None:
                tracker.remove(target_id)
                results.pop(target_id, None)
                continue
            if target_id in tracker:
                tracker.reinit(target_id, frame, box)
            else:
                tracker.add(frame, box, target_id)
            r = tracker.last(target_id)
            results[target_id] = FrameResult(
                box, r.score, r.lost, r.lost_signal, index=index, initial=True, frame=frame
            )

    def _first(self, index: int, frame: np.ndarray) -> MultiFrameResult:
        results: dict[int, FrameResult] = {}
        self._initial(frame, index, self.boxes, results)
        self._initial(frame, index, self.schedule.get(index, {}), results)
        return MultiFrameResult(index, results, frame=frame)

    def _repeat(self, prev: MultiFrameResult, index: int) -> MultiFrameResult:
        repeated = {
            i: FrameResult(r.box, r.score, r.lost, r.lost_signal, index=index, skipped=True) for i, r in prev.items()
        }
        return MultiFrameResult(index, repeated, skipped=True)

    def _update(self, index: int, frame: np.ndarray) -> MultiFrameResult:
        tracker = self.tracker
        updated, dt = self._timed(lambda: tracker.update(frame) if len(tracker) else {})
        results: dict[int, FrameResult] = {}
        for i, r in updated.items():
            self.lost[i] = self.lost.get(i, 0) + int(r.lost)
            results[i] = FrameResult(
                _box(r.box), float(r.score), bool(r.lost), r.lost_signal, index=index, seconds=dt, frame=frame
            )
        self._initial(frame, index, self.schedule.get(index, {}), results)
        return MultiFrameResult(index, results, seconds=dt, frame=frame)
