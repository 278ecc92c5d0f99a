"""Running a batch: one item at a time in this process, or spread over spawned worker processes.

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
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from .failures import ItemFailure, ItemInterrupted, failed_summary, record_failure
from .manifest import BatchItem
from .options import BatchOptions, uses_torch
from .outputs import ItemPaths, clean_temps, remove_file
from .summary import dump_summary, finished_summary, new_summary

if TYPE_CHECKING:
    from ..io.sinks import MotWriter, VideoSink
    from ..sequence import FrameResult, MultiFrameResult


# A video that yields this many unreadable frames in a row after its last good frame (before its announced
# end) has stopped decoding: the item fails instead of passing off a truncated track as complete.
STOPPED_DECODING_RUN = 25


# ------------------------------------------------------------------------------------------ resume


# ------------------------------------------------------------------------------------------ one item

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


# ---------------------------------------------------------------------------------------- workers

_WORKER: dict = {}


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def _worker_init(threads: int, stop, queue, uses_torch: bool) -> None:
    """Runs first in every spawned worker: the parent alone decides when to stop (it sets `stop`), and
    the thread pools are sized (tracker.runtime: free cores / workers, or --threads) before any tracker (or torch's
    thread pool) exists."""
    # Ctrl-C reaches the whole process group and schedulers send SIGTERM to every process of a job: the
    # workers ignore both and stop when the parent sets `stop`, so no item is cut mid-write.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from ..runtime import configure_worker_threads

    configure_worker_threads(threads, uses_torch)
    _WORKER.update(stop=stop, queue=queue, threads=threads)


def _worker_report(kind, item_id, **data) -> None:
    q = _WORKER.get("queue")
    if q is not None:
        try:
            q.put_nowait((kind, item_id, data))
        except Exception:  # noqa: BLE001 - progress is best effort
            pass


def _worker_item(item: BatchItem, opts: BatchOptions) -> dict:
    s = process_item(item, opts, report=_worker_report, stop=_WORKER.get("stop"))
    s["threads"] = _WORKER.get("threads")
    return s


# ------------------------------------------------------------------------------------------- batch


@dataclass
class BatchResult:
    summaries: list[dict]  # one per item of this run, in manifest order (finished ones included)
    processed: int  # items tracked (or attempted) in this run
    skipped: int  # items already finished, not redone
    interrupted: bool = False

    @property
    def failed(self) -> list[dict]:
        return [s for s in self.summaries if s.get("status") != "ok"]


def run_batch(items: list[BatchItem], opts: BatchOptions, workers: int = 1, progress=None, ray=None) -> BatchResult:
    """Track every unfinished item. Raises nothing for a failing item; on Ctrl-C returns with
    interrupted=True after every worker has cleaned up (only complete files remain). With `ray` (a
    ray_runner.RayOptions) the items run on Ray actors instead of here or in local worker processes:
    the same process_item, resume and results, another scheduler."""
    done: dict[str, dict] = {}
    todo: list[BatchItem] = []
    for it in items:
        fin = None if opts.force else finished_summary(it, opts)
        if fin is not None:
            done[it.item_id] = fin
        else:
            todo.append(it)
    if progress:
        progress.begin(len(items), len(done))
        for it in items:
            if it.item_id in done:
                progress.item_done(done[it.item_id], resumed=True)
    results: dict[str, dict] = {}
    interrupted = False
    if ray is not None:
        if todo:
            from .ray_runner import run_on_ray

            interrupted = run_on_ray(todo, opts, ray, results, progress)
    elif opts.device.startswith("cuda") or workers <= 1 or len(todo) <= 1:
        interrupted = _run_here(todo, opts, results, progress)
    else:
        interrupted = _run_pool(todo, opts, min(workers, len(todo)), results, progress)
    if progress:
        progress.end(interrupted)
    summaries = [results.get(it.item_id) or done.get(it.item_id) for it in items]
    return BatchResult(
        [s for s in summaries if s is not None], processed=len(results), skipped=len(done), interrupted=interrupted
    )


def _run_here(todo, opts, results, progress) -> bool:
    from ..runtime import configure_threads, threads_per_worker

    threads = threads_per_worker(1, opts.threads)
    if todo and uses_torch(opts):
        configure_threads(threads)
    report = progress.report if progress else None
    for it in todo:
        try:
            s = process_item(it, opts, report=report)
        except KeyboardInterrupt:
            return True
        results[it.item_id] = s
        if progress:
            progress.item_done(s)
    return False


def _run_pool(todo, opts, workers, results, progress) -> bool:
    """Spread items over spawned workers. A worker that dies (killed, out of memory, a crash in a
    decoder) breaks the pool: the items it may have been running are retried one at a time, so the
    culprit alone is recorded as failed, and the others go on in a fresh pool."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    queue = ctx.Queue()
    started: set[str] = set()
    listener = threading.Thread(target=_listen, args=(queue, progress, started), daemon=True)
    listener.start()
    attempts: dict[str, int] = {}
    remaining = list(todo)
    pools_left = 2 * len(todo) + 2  # every pool finishes an item or marks a suspect; this is a backstop
    try:
        while remaining:
            pools_left -= 1
            if pools_left < 0:
                for it in remaining:
                    _record(
                        failed_summary(it, opts, f"{it.video}: not tracked: the worker processes kept dying"),
                        results,
                        progress,
                    )
                break
            suspects = [it for it in remaining if attempts.get(it.item_id)]
            batch = suspects[:1] if suspects else remaining
            n = 1 if suspects else min(workers, len(batch))
            requeue, interrupted = _one_pool(ctx, batch, opts, n, stop, queue, started, attempts, results, progress)
            if interrupted:
                return True
            done_now = {it.item_id for it in batch} - {it.item_id for it in requeue}
            remaining = [it for it in remaining if it.item_id not in done_now]
            if requeue and not done_now and not any(attempts.get(it.item_id) for it in requeue):
                raise UserError("the worker processes could not start (see the error above); try --workers 1")
        return False
    finally:
        queue.put(None)
        listener.join(timeout=5)
        queue.close()


def _one_pool(ctx, items, opts, workers, stop, queue, started, attempts, results, progress):
    from concurrent.futures.process import BrokenProcessPool

    from ..runtime import threads_per_worker

    threads = threads_per_worker(workers, opts.threads)
    ex = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(threads, stop, queue, uses_torch(opts))
    )
    pending: dict = {}
    requeue: list[BatchItem] = []
    broken = False
    try:
        pending = {ex.submit(_worker_item, it, opts): it for it in items}
        while pending:
            finished, _ = wait(list(pending), timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                it = pending.pop(fut)
                try:
                    s = fut.result()
                except BrokenProcessPool:
                    if not broken:
                        broken = True
                        time.sleep(0.3)  # let the listener receive the last "begin" messages
                    if it.item_id in started and it.item_id not in results:
                        attempts[it.item_id] = attempts.get(it.item_id, 0) + 1
                        if attempts[it.item_id] >= 2:
                            s = failed_summary(
                                it,
                                opts,
                                f"{it.video}: the worker process died while "
                                "tracking this item (killed, out of memory, or a crash)",
                            )
                            _record(s, results, progress)
                            continue
                        started.discard(it.item_id)
                    requeue.append(it)
                    continue
                except KeyboardInterrupt:
                    continue  # stopped for Ctrl-C: unfinished, nothing under its final names
                except Exception as exc:  # noqa: BLE001 - e.g. an item that cannot be sent to a worker
                    s = failed_summary(it, opts, f"{it.video}: worker error: {type(exc).__name__}: {exc}")
                _record(s, results, progress)
        return requeue, False
    except KeyboardInterrupt:
        stop.set()
        for fut in pending:
            fut.cancel()
        # Running items notice `stop` at their next frame, remove their temporaries and return.
        while True:
            try:
                wait(list(pending))
                break
            except KeyboardInterrupt:
                continue
        for fut in pending:
            if not fut.cancelled() and fut.exception() is None:
                _record(fut.result(), results, progress)
        return [], True
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _record(s: dict, results: dict, progress) -> None:
    results[s["item_id"]] = s
    if progress:
        progress.item_done(s)


def _listen(queue, progress, started: set) -> None:
    while True:
        try:
            msg = queue.get()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        kind, item_id, data = msg
        if kind == "begin":
            started.add(item_id)
        if progress:
            progress.report(kind, item_id, **data)


# ------------------------------------------------------------------------------------------ summary
