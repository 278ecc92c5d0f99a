"""The local pool: a batch's items one after another in this process (`run_here`), or spread over spawned
worker processes (`run_pool`), each item's work being tracker.batch.item's process_item. A worker that dies
(killed, out of memory, a crash in a decoder) fails only the item it was running."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from ..errors import UserError
from .failures import failed_summary
from .inputs import BatchItem
from .item import process_item
from .options import BatchOptions, uses_torch

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


def run_here(todo, opts, results, progress) -> bool:
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


def run_pool(todo, opts, workers, results, progress) -> bool:
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
