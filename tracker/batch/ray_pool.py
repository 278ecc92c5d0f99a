"""`siamtrack batch --ray`: the batch's items scheduled on a Ray cluster (or a local Ray instance).

The local pool's per-item work (tracker.batch.item's process_item: outputs, atomic writes, failures
recorded per item) runs inside a pool of Ray actors (tracker.batch.ray_actor); only the scheduling differs:

- each actor holds one tracker, built and warmed up once, and takes the next item when it is free
  (dynamic assignment: no actor idles while items wait);
- items go out longest first (frame count from the container, capped by --max-frames), so the longest
  videos do not start last and leave one actor working alone at the end;
- an actor that dies (its process killed, its node lost) has its item retried on a fresh actor, at most
  `max_retries` times; then the item is recorded as failed and its temporary files are removed;
- the driver (this process) shows the progress the actors report and, on Ctrl-C, tells them to stop at
  their next frame: items finished until then are kept, the others leave nothing under a final name.

Every actor writes the results itself, so the output folder must be a path that every node reaches
(a shared filesystem); the driver reads it for resume and writes the summary CSV there.

`ray` is an optional dependency (pip install "siamtrack[ray]"), imported through tracker.batch.ray_connect.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from .failures import failed_summary
from .inputs import BatchItem
from .options import BatchOptions
from .outputs import ItemPaths, clean_temps
from .ray_actor import TEST_HOOK_ENV, BatchWorker, parse_test_hook
from .ray_connect import connect, import_ray, quiet_ray_errors, ray_error_line


@dataclass
class RayOptions:
    address: str | None = None  # a cluster ("auto", "HOST:PORT", "ray://HOST:10001"); None: a local instance
    workers: int | None = None  # actors; None: as many as the cluster's CPUs (and GPUs) hold
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_retries: int = 2  # times an item whose actor died is tried again
    # Extra ray.init arguments for a local instance (tests: num_cpus=2).
    init_args: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------- scheduling


def item_frames(item: BatchItem, opts: BatchOptions) -> int | None:
    """Frames the item will track, from the container's frame count (None when the container does not say)."""
    if item.error:
        return 0  # fails without opening anything
    from ..io.sources import open_source

    try:
        src = open_source(item.path)
    except Exception:  # noqa: BLE001 - unreadable here: the actor reports it; schedule it early
        return None
    try:
        n = src.frame_count
    finally:
        src.close()
    if n is None:
        return None
    n = max(0, n - item.start)
    return min(n, opts.max_frames) if opts.max_frames else n


def longest_first(items: list[BatchItem], opts: BatchOptions) -> list[BatchItem]:
    """Items by frames to track, most first; unknown lengths first (they may be long), ties in input order.
    Each container is opened for its frame count (milliseconds a video on a local disk, more on a network
    filesystem, so several at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as ex:
        lengths = list(ex.map(lambda it: item_frames(it, opts), items))
    order = sorted(range(len(items)), key=lambda k: (-(math.inf if (n := lengths[k]) is None else n), k))
    return [items[k] for k in order]


# ----------------------------------------------------------------------------------------------- actor


# ---------------------------------------------------------------------------------------------- driver


def pool_size(ray, ropts: RayOptions, n_items: int, note=None) -> int:
    res = ray.cluster_resources()
    cpus, gpus = float(res.get("CPU", 0)), float(res.get("GPU", 0))
    fit = math.inf
    if ropts.cpus_per_worker > 0:
        fit = int(cpus // ropts.cpus_per_worker + 1e-9)
    if ropts.gpus_per_worker > 0:
        fit = min(fit, int(gpus // ropts.gpus_per_worker + 1e-9))
    if fit == 0:
        raise UserError(
            f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs; one worker needs "
            f"{ropts.cpus_per_worker:g} CPUs and {ropts.gpus_per_worker:g} GPUs "
            "(--cpus-per-worker / --gpus-per-worker)"
        )
    n = ropts.workers or fit
    if n > fit:
        if note:
            note(
                f"batch: the Ray cluster has room for {fit} workers of {ropts.cpus_per_worker:g} CPUs"
                + (f" and {ropts.gpus_per_worker:g} GPUs" if ropts.gpus_per_worker else "")
                + f" ({n} asked)"
            )
        n = fit
    if n is math.inf:  # no CPU or GPU asked per worker: one per item
        n = n_items
    return max(1, min(int(n), n_items))


@dataclass
class _Slot:
    actor: Any  # a Ray actor handle (its methods are called as .remote())
    ready: bool = False
    item: BatchItem | None = None
    track_ref: object = None
    poll_ref: object = None


def run_on_ray(todo: list[BatchItem], opts: BatchOptions, ropts: RayOptions, results: dict, progress) -> bool:
    """Track `todo` on Ray actors, recording each summary in `results` (and `progress`). Returns True
    when interrupted (Ctrl-C): only complete items were kept."""
    ray = import_ray()
    hook = parse_test_hook(os.environ.get(TEST_HOOK_ENV))
    # Every node resolves the output folder by the same absolute path (a shared filesystem).
    opts = dataclasses.replace(opts, out_dir=str(Path(opts.out_dir).resolve()))
    Path(opts.out_dir).mkdir(parents=True, exist_ok=True)
    queue = longest_first(todo, opts)
    was_connected = ray.is_initialized()
    restore = None
    try:
        connect(ray, ropts.address, ropts.init_args)
        if not was_connected:
            restore = quiet_ray_errors()
        return _Scheduler(ray, queue, opts, ropts, results, progress, hook).run()
    except KeyboardInterrupt:
        return True  # before any item was sent (the scheduler handles a Ctrl-C once items run)
    finally:
        if not was_connected and ray.is_initialized():
            ray.shutdown()
        if restore:
            restore()


class _Scheduler:
    def __init__(self, ray, queue, opts, ropts, results, progress, hook):
        self.ray, self.queue, self.opts, self.ropts = ray, list(queue), opts, ropts
        self.results, self.progress, self.hook = results, progress, hook
        self.attempts: dict[str, int] = {}
        self.slots: list[_Slot] = []
        self.refs: dict = {}  # object ref -> (kind, slot)
        self.start_errors: list[str] = []
        self.threads = opts.threads or max(1, int(ropts.cpus_per_worker))
        self.actor_cls = ray.remote(BatchWorker).options(
            num_cpus=ropts.cpus_per_worker,
            num_gpus=ropts.gpus_per_worker,
            max_concurrency=3,
            max_restarts=0,
            max_task_retries=0,
        )

    def note(self, text: str) -> None:
        if self.progress is not None:
            self.progress.note(text)

    def spawn(self) -> None:
        actor = self.actor_cls.remote(self.opts, self.threads, os.getcwd(), self.hook)
        slot = _Slot(actor)
        self.slots.append(slot)
        self.refs[actor.ready.remote()] = ("ready", slot)

    def drop(self, slot: _Slot) -> None:
        self.slots.remove(slot)
        for ref, (_, s) in list(self.refs.items()):
            if s is slot:
                del self.refs[ref]
        try:
            self.ray.kill(slot.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass

    def run(self) -> bool:
        n = pool_size(self.ray, self.ropts, len(self.queue), self.note)
        try:
            for _ in range(n):
                self.spawn()
            while self.queue or any(s.item for s in self.slots):
                self.dispatch()
                if not self.slots:
                    raise UserError(
                        "the Ray workers could not start: "
                        + (self.start_errors[-1] if self.start_errors else "no worker left")
                    )
                done, _ = self.ray.wait(list(self.refs), num_returns=1, timeout=1.0)
                for ref in done:
                    if ref in self.refs:
                        kind, slot = self.refs.pop(ref)
                        getattr(self, "on_" + kind)(ref, slot)
            return False
        except KeyboardInterrupt:
            self.stop_all()
            return True
        finally:
            for slot in list(self.slots):
                self.drop(slot)

    def dispatch(self) -> None:
        for slot in self.slots:
            if slot.ready and slot.item is None and self.queue:
                it = self.queue.pop(0)
                slot.item = it
                slot.track_ref = slot.actor.track.remote(it, self.attempts.get(it.item_id, 0))
                self.refs[slot.track_ref] = ("track", slot)
                slot.poll_ref = slot.actor.poll.remote()
                self.refs[slot.poll_ref] = ("poll", slot)

    def on_ready(self, ref, slot: _Slot) -> None:
        try:
            info = self.ray.get(ref)
            error = info.get("error")
        except self.ray.exceptions.RayError as exc:
            info, error = {}, ray_error_line(exc)
        if error is None:
            slot.ready = True
            return
        where = f" on {info['host']}" if info.get("host") else ""
        self.start_errors.append(f"{error}{where}")
        self.drop(slot)
        if self.slots:
            self.note(f"batch: a Ray worker could not start{where}: {error}")

    def on_poll(self, ref, slot: _Slot) -> None:
        try:
            events = self.ray.get(ref)
        except self.ray.exceptions.RayError:
            return  # the actor died: its track call says so
        slot.poll_ref = None
        if slot.item is None:
            return
        if self.progress is not None:
            for kind, item_id, data in events:
                if item_id == slot.item.item_id:
                    self.progress.report(kind, item_id, **data)
        slot.poll_ref = slot.actor.poll.remote()
        self.refs[slot.poll_ref] = ("poll", slot)

    def on_track(self, ref, slot: _Slot) -> None:
        it, slot.item = slot.item, None
        assert it is not None  # a track reply comes from a slot that was given an item
        if slot.poll_ref is not None:
            self.refs.pop(slot.poll_ref, None)
            slot.poll_ref = None
        try:
            s = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:
            self.drop(slot)
            self.actor_died(it, ray_error_line(exc))
            return
        except self.ray.exceptions.RayError as exc:  # e.g. the item or its result could not be sent
            s = failed_summary(it, self.opts, f"{it.video}: Ray worker error: {ray_error_line(exc)}")
        if s is not None:
            self.record(s)

    def actor_died(self, it: BatchItem, why: str) -> None:
        n = self.attempts[it.item_id] = self.attempts.get(it.item_id, 0) + 1
        clean_temps(ItemPaths.of(self.opts.out_dir, it.item_id))
        if n > self.ropts.max_retries:
            self.record(
                failed_summary(
                    it,
                    self.opts,
                    f"{it.video}: the Ray worker died while tracking this item, {n} time{'s' if n > 1 else ''} ({why})",
                )
            )
        else:
            self.note(
                f"  retry  {it.item_id}: its Ray worker died ({why}); try {n + 1} of {self.ropts.max_retries + 1}"
            )
            self.queue.insert(0, it)
        if self.queue:
            self.spawn()  # a fresh actor (Ray places it where there is room)

    def record(self, s: dict) -> None:
        self.results[s["item_id"]] = s
        if self.progress is not None:
            self.progress.item_done(s)

    def stop_all(self) -> None:
        """Ctrl-C: nothing new starts; running items stop at their next frame, cleaning up after themselves.
        A second Ctrl-C while waiting is ignored (the wait is a frame long, or a dead actor's)."""
        busy = [s for s in self.slots if s.item is not None]
        for slot in busy:
            try:
                slot.actor.stop.remote()
            except Exception:  # noqa: BLE001 - the actor is already gone
                pass
        pending = {s.track_ref: s for s in busy}
        while pending:
            try:
                done, _ = self.ray.wait(list(pending), num_returns=len(pending), timeout=1.0)
            except KeyboardInterrupt:
                continue
            for ref in done:
                slot = pending.pop(ref)
                it, slot.item = slot.item, None
                assert it is not None  # pending holds the busy slots
                try:
                    s = self.ray.get(ref)
                except self.ray.exceptions.RayError:
                    clean_temps(ItemPaths.of(self.opts.out_dir, it.item_id))
                    continue
                if s is not None:
                    self.record(s)  # it finished before it saw the stop
