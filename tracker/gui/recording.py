"""The annotated video the window records: every frame the pipeline shows, with its targets drawn in as the
annotated video of `siamtrack track` draws them (one target: `draw_result`, green or lost red, with its
trail; several: `draw_results`, each id in its colour). Written to a temporary name and renamed when closed
(tracker.io.sinks.VideoSink), so what was recorded before a failure stays a valid video."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ..result import TrackResult


def overlay(
    frame: np.ndarray,
    results: Mapping[int, TrackResult],
    trails: Mapping[int, Sequence[tuple[float, float]]] | None = None,
) -> np.ndarray:
    """A copy of `frame` with the targets' boxes (and the one target's trail) drawn in."""
    from ..io.sinks import draw_result, draw_results

    if len(results) > 1:
        return draw_results(frame, results)
    one = next(iter(results), None)
    trail = trails.get(one) if trails and one is not None else None
    return draw_result(frame, results[one] if one is not None else None, None, trail)


class Recording:
    """One recording: `write` a frame with its results, `close` to finish the file."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]):
        from ..io.sinks import VideoSink

        self.sink = VideoSink(path, fps, size)
        self.last_index: int | None = None  # the frame index written last

    def write(
        self,
        index: int,
        frame: np.ndarray,
        results: Mapping[int, TrackResult],
        trails: Mapping[int, Sequence[tuple[float, float]]] | None = None,
    ) -> None:
        self.sink.write(overlay(frame, results, trails))
        self.last_index = index

    def close(self, why: str | None = None) -> str:
        """Finish the file; returns what to tell the user (where it is and how many frames, or why not)."""
        sink = self.sink
        try:
            sink.close()
            note = f"recording saved: {sink.path} ({sink.frames} frames)"
        except Exception as exc:  # noqa: BLE001 - reported to the user; the app goes on
            note = f"recording {sink.path} could not be finalised: {exc}"
        return f"{note} ({why})" if why else note
