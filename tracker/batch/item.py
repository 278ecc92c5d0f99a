"""One item's work (`process_item`): its tracker (`make_tracker`: one per process, kept from item to item), the
run through its frames (`ItemTrack` for one box, `TargetsTrack` for several targets) and publishing its files.

Per item, in the output folder:
    ITEM.boxes.txt        one x,y,w,h line per frame from the start frame (the first line is the initial box),
                          the format `siamtrack track` writes; for an item of several targets the MOT challenge
                          layout `siamtrack track --init ... --init ...` writes (frame,id,x,y,w,h,score,...)
    ITEM.annotated.mp4    with --save-video
    ITEM.summary.json     written last; the item is finished only when it exists and says "ok"

Every file is written under a temporary name and renamed, so an interrupted or killed run leaves complete
files or none. A finished item's old summary is removed just before its new boxes are written, so a run
cut between the two renames leaves the item unfinished (redone next time) rather than mixing results.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .failures import ItemFailure, ItemInterrupted, record_failure
from .inputs import BatchItem
from .options import BatchOptions
from .outputs import ItemPaths, clean_temps, remove_file
from .summary import dump_summary, new_summary

if TYPE_CHECKING:
    from ..io.sinks import MotWriter, VideoSink
    from ..sequence import FrameResult, MultiFrameResult

# A video that yields this many unreadable frames in a row after its last good frame (before its announced
# end) has stopped decoding: the item fails instead of passing off a truncated track as complete.
STOPPED_DECODING_RUN = 25

_CACHED: dict = {}  # this process's tracker, kept from item to item: key, tracker, warmed


def make_tracker(opts: BatchOptions, warm: bool = True):
    """The tracker for `opts`. One per process, initialised afresh for each item (init resets all of a
    tracker's state), so the model is loaded and its optimised graphs built once, not per video: building
    them per item took seconds and made a short clip's rate a fraction of the tracking rate (docs/speed.md,
    "Implementation choices"). With `warm` it is warmed up
    (Tracker.warm_up) the first time, so the first video's fps is a tracking rate too; the command line's
    up-front check builds it without, as its worker processes (or the thread count set afterwards) would
    make that warm-up wasted. The key includes the weights file's size and time, so a file replaced between
    library calls is loaded again."""
    if opts.tracker_factory is not None:
        return opts.tracker_factory()
    stamp = None
    if opts.weights:
        try:
            st = os.stat(opts.weights)
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            pass  # build_tracker reports the missing file
    key = (opts.config or opts.model, opts.weights, stamp, opts.device, opts.xcorr, opts.engine, opts.model_dir)
    if _CACHED.get("key") != key:
        from .. import build_tracker

        extra = {"model_dir": opts.model_dir} if opts.model_dir else {}
        tracker = build_tracker(
            opts.config or opts.model,
            weights=opts.weights,
            device=opts.device,
            xcorr=opts.xcorr,
            engine=opts.engine,
            **extra,
        )
        _CACHED.update(key=key, tracker=tracker, warmed=False)
    if warm and not _CACHED["warmed"]:
        _CACHED["tracker"].warm_up()
        _CACHED["warmed"] = True
    return _CACHED["tracker"]


def _rate(fps: float, digits: int | None = None) -> float | None:
    """A run's fps (tracker.sequence's rule: 1 / median update time) for JSON: None when nothing was timed."""
    if not math.isfinite(fps):
        return None
    return round(fps, digits) if digits is not None else fps


def engine_fields(tracker) -> dict:
    """What ran an item's network, for its summary: the engine and its precision ("onnxruntime int8",
    "torch"; None for a tracker without one, OpenCV's), and the correlation backend where the torch engine
    ran (an ONNX engine runs its graph's own)."""
    from ..engines import engine_text

    engine = engine_text(tracker) or None
    return {"engine": engine, "xcorr": getattr(tracker, "xcorr", None)} if engine == "torch" else {"engine": engine}


def frames_to_track(item: BatchItem, src, max_frames: int | None) -> int | None:
    """How many frames the item will track (None: unknown); an ItemFailure when it starts past the end."""
    if src.frame_count is not None and item.start >= src.frame_count:
        raise ItemFailure(
            f"{item.video}: start frame {item.start} is past the end (the video has {src.frame_count} frames)"
        )
    total = (src.frame_count - item.start) if src.frame_count else None
    if max_frames:
        total = min(total, max_frames) if total else max_frames
    return total


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise ItemInterrupted()


class ItemTrack:
    """What tracking one item gathers: a box per frame (a skipped frame repeats the last box), the scores
    and lost frames of the tracked ones, the last tracked frame, and the annotated video (--save-video).
    `of` gives the right kind for an item: this one for one box, `TargetsTrack` for several."""

    def __init__(self, item: BatchItem, src, paths: ItemPaths, save_video: bool):
        self.item, self.src, self.paths, self.save_video = item, src, paths, save_video
        self.frames = 0  # results taken (skipped frames included)
        self.boxes: list[tuple[float, float, float, float]] = []
        self.scores: list[float] = []
        self.lost: list[int] = []
        self.last: FrameResult | MultiFrameResult | None = None  # the last frame actually tracked (not skipped)
        self.sink: VideoSink | None = None

    @staticmethod
    def of(item: BatchItem, src, paths: ItemPaths, save_video: bool) -> ItemTrack:
        cls = TargetsTrack if item.boxes is not None else ItemTrack
        return cls(item, src, paths, save_video)

    def run(self, tracker, max_frames: int | None):
        """The run (tracker.sequence) of `tracker` over the item's frames."""
        return tracker.track(self.src, self.item.box, max_frames=max_frames)

    def add(self, r) -> None:
        self.frames += 1
        self._keep(r)
        if r.skipped:
            return
        self.last = r
        self._score(r)
        if self.save_video:
            self._write_frame(r)

    def _keep(self, r) -> None:
        self.boxes.append(r.box)

    def _score(self, r) -> None:
        if not r.initial:
            self.scores.append(r.score)
            if r.lost:
                self.lost.append(r.index)

    def _draw(self, r):
        from ..io.sinks import draw_result

        return draw_result(r.frame, r, self.item.item_id)

    def _write_frame(self, r) -> None:
        from ..io.sinks import VideoSink

        if self.sink is None:
            h, w = r.frame.shape[:2]
            self.sink = VideoSink(self.paths.video, self.src.fps or 25.0, (w, h))
        self.sink.write(self._draw(r))

    def write_boxes(self) -> None:
        """The box file under its final name (written atomically)."""
        from ..io.sinks import write_boxes_atomic

        write_boxes_atomic(self.paths.boxes, self.boxes)

    def summary_fields(self) -> dict:
        """What this kind of item adds to its summary once tracked."""
        return {}

    def check_decoding(self, max_frames: int | None) -> None:
        """An ItemFailure when the video stopped decoding before its announced end (STOPPED_DECODING_RUN
        unreadable frames after the last good one) rather than reaching it or `max_frames`."""
        assert self.last is not None  # the start frame is tracked (the run raises when no frame can be read)
        reached_limit = bool(max_frames and self.frames >= max_frames)
        tail = [s for s in self.src.skipped if s > self.last.index]
        if not reached_limit and len(tail) >= STOPPED_DECODING_RUN:
            raise ItemFailure(
                f"{self.item.video}: frames stopped decoding after frame {self.last.index} "
                f"({len(tail)} frames in a row could not be read)"
            )

    def finish_video(self) -> str | None:
        """Close the annotated video under its final name; its file name, or None without one."""
        if self.sink is None:
            return None
        self.sink.close()
        self.sink = None
        return self.paths.video.name

    def abort_video(self) -> None:
        if self.sink is not None:
            _abort_sink(self.sink)
            self.sink = None


class TargetsTrack(ItemTrack):
    """An item of several targets, tracked by one MultiTracker (tracker.trackers.multi) through the run
    `siamtrack track --init ... --init ...` uses: its box file in the MOT layout (io.sinks.MotWriter), each
    id in its colour on the video; `lost` lists the frames where some target was lost, `lost_by_target`
    each target's."""

    def __init__(self, item: BatchItem, src, paths: ItemPaths, save_video: bool):
        from ..io.sinks import MotWriter

        super().__init__(item, src, paths, save_video)
        self.writer: MotWriter = MotWriter(paths.boxes)
        self.lost_by_target: dict[int, list[int]] = {i: [] for i in item.boxes or {}}

    def run(self, tracker, max_frames: int | None):
        from ..trackers.multi import MultiTracker

        return MultiTracker(tracker).track(self.src, self.item.boxes or {}, max_frames=max_frames)

    def _keep(self, r) -> None:
        self.writer.write(r.index, r.targets)

    def _score(self, r) -> None:
        lost = False
        for target_id, t in r.items():
            if t.initial:
                continue
            self.scores.append(t.score)
            if t.lost:
                self.lost_by_target.setdefault(target_id, []).append(r.index)
                lost = True
        if lost:
            self.lost.append(r.index)

    def _draw(self, r):
        from ..io.sinks import draw_results

        return draw_results(r.frame, r.targets)

    def write_boxes(self) -> None:
        self.writer.close()

    def summary_fields(self) -> dict:
        return {"lost_by_target": {str(i): v for i, v in self.lost_by_target.items()}}


def track_item(
    tracker,
    track: ItemTrack,
    opts: BatchOptions,
    total: int | None,
    report: Callable | None = None,
    stop: threading.Event | None = None,
):
    """Run `tracker` over the item's frames (tracker.sequence's frame loop) into `track`, reporting progress
    every 0.25 s; returns the finished run (its fps and skipped frames)."""
    item = track.item
    last_report = time.perf_counter()
    run = track.run(tracker, opts.max_frames or None)
    for r in run:  # TrackerError (a box outside the frame) from the first
        if track.frames == 0 and r.index != item.start:
            raise ItemFailure(f"{item.video}: frame {item.start} (the start frame) could not be decoded")
        _check_stop(stop)
        track.add(r)
        if r.skipped:
            continue
        now = time.perf_counter()
        if report and now - last_report >= 0.25:
            last_report = now
            report("frames", item.item_id, done=track.frames, total=total, fps=_rate(run.fps))
    return run


def publish_item(track: ItemTrack, run, summary: dict, t_item: float) -> dict:
    """Write the item's boxes, video and (last) its "ok" summary. The old summary goes first: the item is
    unfinished until the new one lands."""
    from ..io.sinks import atomic_write_text

    paths, frames = track.paths, track.frames
    remove_file(paths.summary)
    track.write_boxes()
    video = track.finish_video()
    if video is not None:
        summary["video_file"] = video
    wall = time.perf_counter() - t_item
    scores = track.scores
    summary.update(
        status="ok",
        frames=frames,
        frames_lost=len(track.lost),
        lost_indices=track.lost,
        frames_skipped=len(run.skipped),
        skipped_indices=run.skipped,
        mean_score=round(sum(scores) / len(scores), 6) if scores else None,
        fps=_rate(run.fps, 3),
        wall_fps=round(frames / wall, 3) if wall > 0 else None,
        seconds=round(wall, 3),
        boxes_file=paths.boxes.name,
        **track.summary_fields(),
    )
    atomic_write_text(paths.summary, dump_summary(summary))
    return summary


def process_item(
    item: BatchItem, opts: BatchOptions, report: Callable | None = None, stop: threading.Event | None = None
) -> dict:
    """Track one item and write its files. Returns its summary (status "ok" or "failed"); a failure of
    the item is recorded, never raised. Ctrl-C (or `stop`) raises after removing temporary files."""
    from ..io.sources import open_source

    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = ItemPaths.of(out_dir, item.item_id)
    clean_temps(paths)
    if not opts.save_video:
        remove_file(paths.video)  # a previous run's video (--force without --save-video): the summary says none
    summary = new_summary(item, opts)
    t_item = time.perf_counter()
    src = track = None
    if report:
        report("begin", item.item_id)
    try:
        _check_stop(stop)
        if item.error:
            raise ItemFailure(item.error)
        src = open_source(item.path, start=item.start)
        total = frames_to_track(item, src, opts.max_frames)
        if report:
            report("start", item.item_id, total=total)
        tracker = make_tracker(opts)
        summary.update(engine_fields(tracker))
        track = ItemTrack.of(item, src, paths, opts.save_video)
        run = track_item(tracker, track, opts, total, report, stop)
        track.check_decoding(opts.max_frames)
        return publish_item(track, run, summary, t_item)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one item's failure, whatever it is, must not stop the batch
        if track is not None:
            track.abort_video()
        return record_failure(exc, item, paths, summary, t_item)
    finally:
        if track is not None:
            track.abort_video()
        if src is not None:
            src.close()


def _abort_sink(sink) -> None:
    """Drop a half-written annotated video (VideoSink writes under a temporary name)."""
    try:
        if sink.writer is not None:
            sink.writer.release()
            sink.writer = None
    finally:
        remove_file(Path(sink.tmp))
