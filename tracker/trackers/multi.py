"""Several targets at once: `MultiTracker` holds any number of targets of one tracker kind under stable ids.

    tracker = MultiTracker(build_tracker("nanotrack_v3"))
    a = tracker.add(frame, (x, y, w, h))          # -> 1
    b = tracker.add(frame, (x2, y2, w2, h2))      # -> 2
    results = tracker.update(next_frame)          # {1: TrackResult, 2: TrackResult}
    tracker.reinit(a, frame, corrected_box)       # a correction: new template and state for target 1
    tracker.remove(b)

Each target is a tracker of its own (`Tracker.spawn()` of the one given: same kind, tracking values and
network), so its state, penalties, window, lost flag and template updates are exactly those of tracking it
alone. For the Siamese trackers a frame is one `search_step`: every target's search crops go through the
network in one batch against their kernels kept stacked as one batch (rebuilt only when a target's kernel
changes: an addition, removal, correction or template update). A single target's `update()` is the same step
with one target. Other trackers (OpenCV's) update one target after another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..result import TrackerError, TrackResult
from ..sequence import check_id
from .base import BatchedTracker, Tracker, search_step, validate_frame

if TYPE_CHECKING:
    from ..sequence import FrameInput, MultiTrackRun


class MultiTracker:
    """Targets under stable ids (1, 2, ... unless given), each tracked as `tracker` would track it alone."""

    def __init__(self, tracker: Tracker):
        self.prototype = tracker
        self.name = tracker.name
        self.targets: dict[int, Tracker] = {}
        self._next_id = 1
        self._stacks: dict[tuple, tuple[list, object]] = {}

    @property
    def ids(self) -> list[int]:
        return list(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def __contains__(self, target_id: object) -> bool:
        return target_id in self.targets

    def _target(self, target_id: object) -> Tracker:
        t = self.targets.get(target_id) if isinstance(target_id, int) else None
        if t is None:
            have = ", ".join(map(str, self.targets)) or "none"
            raise TrackerError(f"no target with id {target_id!r} (ids: {have})")
        return t

    def add(self, frame: np.ndarray, box: Sequence[float], target_id: int | None = None) -> int:
        """Start tracking a target at `box` on `frame`; returns its id (`target_id`, else the next free one)."""
        if target_id is None:
            target_id = self._next_id
            while target_id in self.targets:
                target_id += 1
        target_id = check_id(target_id)
        if target_id in self.targets:
            raise TrackerError(f"target id {target_id} already exists")
        t = self.prototype.spawn()
        _init(t, target_id, frame, box)
        self.targets[target_id] = t
        self._next_id = max(self._next_id, target_id + 1)
        return target_id

    def remove(self, target_id: int) -> None:
        """Stop tracking a target; the other targets are not affected."""
        self._target(target_id)
        del self.targets[target_id]
        self._stacks.clear()

    def reinit(self, target_id: int, frame: np.ndarray, box: Sequence[float]) -> None:
        """A correction: target `target_id` starts again at `box` on `frame` (a new template and state, as
        `init` gives); a bad box leaves it as it was."""
        _init(self._target(target_id), target_id, frame, box)

    def last(self, target_id: int) -> TrackResult:
        """Target `target_id`'s latest result (its box as given on the frame it was added or corrected on)."""
        result = getattr(self._target(target_id), "_last", None)
        assert result is not None  # set by init
        return result

    def update(self, frame: np.ndarray, ids: Sequence[int] | None = None) -> dict[int, TrackResult]:
        """Every target on the next frame: {id: TrackResult}, in the order the targets were added. `ids`:
        only these targets take the frame (one batch, as ever); the others are left as they are (a GUI
        stepping some targets that are behind the others)."""
        frame = validate_frame(frame)
        chosen = self.targets
        if ids is not None:
            wanted = {self._target(i) for i in ids}  # (an unknown id is named)
            chosen = {i: t for i, t in self.targets.items() if t in wanted}
        batched = [(i, t) for i, t in chosen.items() if isinstance(t, BatchedTracker)]
        results: dict[int, TrackResult] = {}
        if batched:
            stepped = search_step([t for _, t in batched], frame, self._stack)
            for (i, t), r in zip(batched, stepped):
                results[i] = t._accept(r)
        for i, other in chosen.items():
            if i not in results:
                results[i] = other.update(frame)
        return {i: results[i] for i in chosen}

    def _stack(self, group: list) -> object:
        """The group's kernels as one batch, made again only when one of them changed."""
        key = tuple(id(t) for t in group)
        kernels = [t.kernel for t in group]
        held = self._stacks.get(key)
        if held is None or any(a is not b for a, b in zip(held[0], kernels)):
            held = self._stacks[key] = (kernels, group[0].engine.stack(kernels))
        return held[1]

    def track(
        self,
        source: FrameInput,
        boxes: Sequence[Sequence[float]] | Mapping[int, Sequence[float]],
        *,
        start: int = 0,
        max_frames: int | None = None,
        schedule: Mapping[int, Mapping[int, Sequence[float] | None]] | None = None,
    ) -> MultiTrackRun:
        """Track several targets through a source (as `Tracker.track`): `boxes` on its first frame (a list:
        ids 1, 2, ...; or {id: box}); `schedule` {frame index: {id: box, or None to remove}} adds, corrects
        or removes targets on later frames. Iterate the run for one `MultiFrameResult` per frame. See
        `tracker.sequence`."""
        from ..sequence import MultiTrackRun

        return MultiTrackRun(self, source, boxes, start=start, max_frames=max_frames, schedule=schedule)


def _init(t: Tracker, target_id: int, frame, box) -> None:
    try:
        t.init(frame, box)
    except TrackerError as exc:
        raise TrackerError(f"target {target_id}: {exc}") from None
