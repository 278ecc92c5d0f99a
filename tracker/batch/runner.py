"""Running a batch (`run_batch`): the items already finished with the same inputs are kept, the others are
tracked here or in local worker processes (tracker.batch.pool), or on Ray actors (tracker.batch.ray_pool);
wherever an item runs, the same work (tracker.batch.item) writes the same files."""

from __future__ import annotations

from dataclasses import dataclass

from .inputs import BatchItem
from .options import BatchOptions
from .pool import run_here, run_pool
from .summary import finished_summary


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
    ray_pool.RayOptions) the items run on Ray actors instead of here or in local worker processes:
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
            from .ray_pool import run_on_ray

            interrupted = run_on_ray(todo, opts, ray, results, progress)
    elif opts.device.startswith("cuda") or workers <= 1 or len(todo) <= 1:
        interrupted = run_here(todo, opts, results, progress)
    else:
        interrupted = run_pool(todo, opts, min(workers, len(todo)), results, progress)
    if progress:
        progress.end(interrupted)
    summaries = [results.get(it.item_id) or done.get(it.item_id) for it in items]
    return BatchResult(
        [s for s in summaries if s is not None], processed=len(results), skipped=len(done), interrupted=interrupted
    )
