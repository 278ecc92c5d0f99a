"""One tracking session: the targets of one `MultiTracker`, every target's result stored per frame index. No Qt.

A target is added on a frame (its box there is its first result) and tracked on every later frame the
session steps onto. Stepping onto a frame a target was already tracked on shows its stored result instead
of tracking it again; stepping onto a frame past a target's latest one tracks it there. So the session can
go back and forth through a file: each target is tracked once per frame.

- `correct(id, ...)` on frame k (a `reinit`): that target's stored results from k on are replaced by the
  new box on k; the later ones are dropped and tracked again as the session steps on. Its results before k,
  and every other target's results, stay as they were.
- `remove(id, k)`: the target stops on frame k; its results from k on are dropped, those before stay (a
  target removed on its first frame is gone entirely).

Export: `export` writes one target's `x,y,w,h` lines (the layout `siamtrack track` writes: its first box,
then one per frame it was tracked on), or the MOT layout for several targets as the CLI does;
`annotations()` are what `tracker.io.annotations` writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

from ..errors import UserError
from ..result import TrackResult
from ..trackers.base import Tracker
from ..trackers.multi import MultiTracker
from .frames import DurationMeter


class TrackSession:
    def __init__(self, trail_length: int = 64):
        self.multi: MultiTracker | None = None
        self.trail_length = trail_length
        self.speed = DurationMeter()
        self._results: dict[int, dict[int, TrackResult]] = {}  # id -> {frame index: result}
        self._position: dict[int, int] = {}  # id -> the frame index its tracker state is at (tracked ids)
        self._lock = threading.Lock()

    # ---- state ------------------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether any target is being tracked."""
        return bool(self._position)

    @property
    def ids(self) -> list[int]:
        """Every target with a stored result, tracked or stopped, in id order."""
        with self._lock:
            return sorted(i for i, r in self._results.items() if r)

    @property
    def tracked_ids(self) -> list[int]:
        """The targets being tracked, in the order they were added."""
        with self._lock:
            return list(self._position)

    def results_at(self, index: int) -> dict[int, TrackResult]:
        """The stored results on frame `index`: {id: result}, in id order."""
        with self._lock:
            return {i: r[index] for i, r in sorted(self._results.items()) if index in r}

    def results_of(self, target_id: int) -> dict[int, TrackResult]:
        """Target `target_id`'s stored results: {frame index: result}, in frame order."""
        with self._lock:
            return dict(sorted(self._results.get(target_id, {}).items()))

    def annotations(self) -> dict[int, dict[int, TrackResult]]:
        """Every target's stored results ({id: {frame index: result}}): `tracker.io.annotations.Tracks`."""
        with self._lock:
            return {i: dict(sorted(r.items())) for i, r in sorted(self._results.items()) if r}

    def trail(self, target_id: int, index: int) -> tuple[tuple[float, float], ...]:
        """The centres of target `target_id`'s boxes on the last `trail_length` frames up to `index`."""
        with self._lock:
            per_frame = self._results.get(target_id, {})
            frames = sorted(f for f in per_frame if f <= index)[-self.trail_length :]
            return tuple(_centre(per_frame[f].box) for f in frames)

    @property
    def boxes(self) -> list[tuple[float, float, float, float]]:
        """The boxes of the one target (the lowest id when there are several), in frame order."""
        ids = self.ids
        if not ids:
            return []
        return [tuple(float(v) for v in r.box) for r in self.results_of(ids[0]).values()]  # type: ignore[misc]

    # ---- changes ----------------------------------------------------------------------------------------
    def use(self, prototype: Tracker) -> None:
        """Track with a MultiTracker of `prototype`'s kind from now on, unless one is tracking already."""
        if self.multi is None:
            self.multi = MultiTracker(prototype)

    def add(self, frame: np.ndarray, box: Sequence[float], index: int) -> int:
        """A new target at `box` on `frame` (frame index `index`); returns its id. Raises what init raises
        (a bad box: nothing changes)."""
        if self.multi is None:
            raise UserError("no model to track with")
        with self._lock:
            taken = set(self._results) | set(self.multi.ids)
        target_id = max(taken, default=0) + 1  # ids are never reused, also after a removal
        self.multi.add(frame, box, target_id)
        self._begin(target_id, box, index)
        return target_id

    def correct(self, target_id: int, frame: np.ndarray, box: Sequence[float], index: int) -> None:
        """A correction of target `target_id` from frame `index` on (see the module's docstring); a stopped
        or removed target is tracked again from there."""
        if target_id not in self.ids and (self.multi is None or target_id not in self.multi):
            raise UserError(f"no target with id {target_id}")
        if self.multi is None:
            raise UserError("no model to track with")
        if target_id in self.multi:
            self.multi.reinit(target_id, frame, box)
        else:
            self.multi.add(frame, box, target_id)
        self._begin(target_id, box, index)

    def _begin(self, target_id: int, box: Sequence[float], index: int) -> None:
        x, y, w, h = (float(v) for v in box)  # four values: init accepted them
        with self._lock:
            kept = {f: r for f, r in self._results.get(target_id, {}).items() if f < index}
            kept[index] = TrackResult((x, y, w, h), 1.0, False)
            self._results[target_id] = kept
            self._position[target_id] = index
        self.speed.reset()

    def remove(self, target_id: int, index: int) -> None:
        """Target `target_id` stops on frame `index`: its results from there on are dropped."""
        if target_id not in self.ids and (self.multi is None or target_id not in self.multi):
            raise UserError(f"no target with id {target_id}")
        if self.multi is not None and target_id in self.multi:
            self.multi.remove(target_id)
        with self._lock:
            self._position.pop(target_id, None)
            kept = {f: r for f, r in self._results.get(target_id, {}).items() if f < index}
            if kept:
                self._results[target_id] = kept
            else:
                self._results.pop(target_id, None)

    def step(self, frame: np.ndarray, index: int) -> dict[int, TrackResult]:
        """The results on frame `index`: stored ones where a target was tracked on it already, the others
        tracked now (every target whose latest frame is before `index`, in one batched update). Exceptions
        from the tracker propagate (nothing is stored for this frame then)."""
        with self._lock:
            due = [i for i, at in self._position.items() if at < index]
        if due and self.multi is not None:
            t0 = time.perf_counter()
            fresh = self.multi.update(frame, ids=due)
            self.speed.add(time.perf_counter() - t0)
            with self._lock:
                for i, r in fresh.items():
                    self._results[i] = {f: v for f, v in self._results[i].items() if f < index}
                    self._results[i][index] = r
                    self._position[i] = index
        return self.results_at(index)

    def restart(self, prototype: Tracker, frame: np.ndarray, index: int) -> None:
        """Carry the tracked targets on with a new tracker kind (another model) from frame `index`, each
        from its box there (or its latest box)."""
        old = self.multi
        self.multi = MultiTracker(prototype)
        if old is None:
            return
        for i in self.tracked_ids:
            per_frame = self.results_of(i)
            before = [f for f in per_frame if f <= index]
            box = per_frame[before[-1] if before else next(iter(per_frame))].box
            self.multi.add(frame, box, i)
            self._begin(i, box, index)

    def stop(self) -> None:
        """Stop tracking; the stored results stay (for export and for stepping back)."""
        self.multi = None
        with self._lock:
            self._position.clear()

    def reset(self) -> None:
        """Stop and forget every result."""
        self.stop()
        with self._lock:
            self._results = {}

    # ---- export -----------------------------------------------------------------------------------------
    def export(self, path) -> int:
        """Write the boxes atomically: one target's `x,y,w,h` lines, or with several targets the MOT layout
        (`tracker.io.sinks.MotWriter`, as `siamtrack track` writes for several). Returns the lines written."""
        from ..io.annotations import mot_writer
        from ..io.sinks import write_boxes_atomic

        tracks = self.annotations()
        if not tracks:
            raise UserError("nothing to export: no box has been tracked yet")
        if len(tracks) == 1:
            boxes = self.boxes
            write_boxes_atomic(path, boxes)
            return len(boxes)
        writer = mot_writer(path, tracks)
        writer.close()
        return len(writer.rows)


def _centre(box: Sequence[float]) -> tuple[float, float]:
    x, y, w, h = box
    return x + w / 2.0, y + h / 2.0
