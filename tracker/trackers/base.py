"""The one interface every tracker in the project honours (`Tracker`; `BatchedTracker` and `search_step` for
the Siamese trackers, whose network serves several targets in one batch). What a tracker answers
(`TrackResult`) and raises (`TrackerError`) lives in tracker.result, below the frame loop that `track()` runs.

Frames are BGR uint8 arrays as OpenCV returns them; boxes are 0-based pixel (x, y, w, h) floats.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..result import Box, TrackerError, TrackResult, tracker_lost_signal

if TYPE_CHECKING:
    from ..sequence import FrameInput, TrackRun


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
        return self._accept(self._update(frame))

    def _accept(self, result: TrackResult) -> TrackResult:
        """What `update()` returns for `_update`'s result (also for a target of a MultiTracker)."""
        if not all(math.isfinite(v) for v in result.box) or not math.isfinite(result.score):
            # Never hand a NaN/inf box to a sink: keep the last good state and call it lost.
            result = TrackResult(self._last.box, 0.0, True, 0.0)
        elif result.lost_signal is None and (signal := tracker_lost_signal(self)) is not None:
            result = replace(result, lost_signal=signal)
        self._last = result
        return result

    @property
    def initialized(self) -> bool:
        return getattr(self, "_last", None) is not None

    def spawn(self) -> Tracker:
        """A new, uninitialised tracker of the same kind and values sharing this one's network (engine): one
        per target of a MultiTracker (tracker.trackers.multi)."""
        twin = copy.copy(self)  # the state attributes are set anew by its init
        twin.__dict__.pop("_last", None)
        return twin

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


class BatchedTracker(Tracker):
    """A tracker whose network serves several targets in one batch (the Siamese trackers). A frame is three
    steps: `_crops(frame)`, this target's search crops (k, S, S, 3) from its state; the network on them against
    `self.kernel` (`search_step`: one call for every target of the batch); `_finish(frame, cls, loc)`, this
    target's own decoding and state update from its share of the outputs. `update()` is `search_step` with
    this tracker alone: one target is the N = 1 case of the same path."""

    engine: Any
    kernel: Any

    def _crops(self, frame: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _finish(self, frame: np.ndarray, cls: np.ndarray, loc: np.ndarray | None) -> TrackResult:
        raise NotImplementedError

    def _update(self, frame: np.ndarray) -> TrackResult:
        return search_step([self], frame)[0]


def search_step(targets: Sequence[BatchedTracker], frame: np.ndarray, stack=None) -> list[TrackResult]:
    """One frame for several targets: each target's crops; one search per engine and crop shape for all the
    targets sharing them, their kernels stacked into one batch (`stack(targets)`, else the engine's
    `stack`); each target's `_finish` on its share of the outputs. Results in the targets' order, not
    yet `_accept`ed. An engine without `search_targets` (a plain `template`/`search` engine) searches one
    target at a time."""
    crops = [t._crops(frame) for t in targets]
    groups: dict[tuple, list[int]] = {}
    for i, (t, c) in enumerate(zip(targets, crops)):
        groups.setdefault((id(t.engine), c.shape), []).append(i)
    results: list[TrackResult | None] = [None] * len(targets)
    for idx in groups.values():
        group = [targets[i] for i in idx]
        engine = group[0].engine
        per = len(crops[idx[0]])
        batch = crops[idx[0]] if len(idx) == 1 else np.concatenate([crops[i] for i in idx])
        if not hasattr(engine, "search_targets"):
            outs = [engine.search(crops[i], targets[i].kernel) for i in idx]
            cls = np.concatenate([o[0] for o in outs])
            loc = None if outs[0][1] is None else np.concatenate([o[1] for o in outs])
        else:
            kernel = stack(group) if stack is not None else engine.stack([t.kernel for t in group])
            cls, loc = engine.search_targets(batch, kernel, len(group))
        for j, i in enumerate(idx):
            part = slice(j * per, (j + 1) * per)
            results[i] = targets[i]._finish(frame, cls[part], None if loc is None else loc[part])
    return cast("list[TrackResult]", results)
