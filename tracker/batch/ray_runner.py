"""`siamtrack batch --ray`: the batch's items scheduled on a Ray cluster (or a local Ray instance).

The same per-item function as the local runner (runner.process_item: outputs, atomic writes, failures
recorded per item) runs inside a pool of Ray actors; only the scheduling differs:

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

`ray` is an optional dependency (pip install "siamtrack[ray]"), imported only here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from .failures import failed_summary
from .item import make_tracker, process_item
from .manifest import BatchItem
from .options import BatchOptions, uses_torch
from .outputs import ItemPaths, clean_temps
from .summary import host

# Test hook, read by the driver and passed to the actors: "exit:ITEM:K" makes the actor tracking ITEM end
# its process (os._exit, as a kill or a lost node would) at frame K of the item's first attempt; "hold:ITEM:K"
# holds the item at frame K until the batch is stopped (an item surely still running when a test presses
# Ctrl-C).
TEST_HOOK_ENV = "SIAMTRACK_BATCH_TEST_HOOK"

POLL_S = 0.5  # how long an actor's progress call waits for news


@dataclass
class RayOptions:
    address: str | None = None  # a cluster ("auto", "HOST:PORT", "ray://HOST:10001"); None: a local instance
    workers: int | None = None  # actors; None: as many as the cluster's CPUs (and GPUs) hold
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_retries: int = 2  # times an item whose actor died is tried again
    # Extra ray.init arguments for a local instance (tests: num_cpus=2).
    init_args: dict = field(default_factory=dict)


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError('--ray needs Ray: pip install "siamtrack[ray]"') from None
    return ray


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


def parse_test_hook(text: str | None):
    if not text:
        return None
    kind, _, rest = text.partition(":")
    item_id, _, k = rest.rpartition(":")
    if kind not in ("exit", "hold") or not item_id or not k.isdigit():
        raise UserError(f"{TEST_HOOK_ENV}={text!r}: expected exit:ITEM:K or hold:ITEM:K")
    return kind, item_id, int(k)


# ----------------------------------------------------------------------------------------------- actor


class BatchWorker:
    """One Ray actor: a tracker built and warmed up once, then runner.process_item for each item it is given.
    Threaded (max_concurrency 3): `track` runs while `poll` hands over progress and `stop` sets the flag
    the running item checks at every frame."""

    def __init__(self, opts: BatchOptions, threads: int, cwd: str | None, hook=None):
        # Ctrl-C reaches every process of the terminal's group, Ray's included: the driver alone decides.
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass
        if cwd and os.path.isdir(cwd):
            os.chdir(cwd)  # relative --weights / --config as the driver meant them
        from ..runtime import configure_worker_threads

        configure_worker_threads(threads, uses_torch(opts))
        self.opts, self.threads, self.hook = opts, threads, hook
        self.stop_event = threading.Event()
        self.cond = threading.Condition()
        self.events: list = []
        self.current: str | None = None
        self.attempt = 0
        self.frames = 0
        self.error = None
        try:
            tracker = make_tracker(opts)  # the model and its optimised graphs, once per actor
        except Exception as exc:  # noqa: BLE001 - reported by ready() in one line (Ray's text is a traceback)
            self.error = str(exc).strip() if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            return
        if hook is not None and opts.tracker_factory is None:
            self._arm(tracker)

    def _arm(self, tracker) -> None:
        kind, item_id, k = self.hook
        real = tracker.update

        def update(frame):
            self.frames += 1
            if self.current == item_id and self.frames + 1 >= k:  # the init frame is frame 1
                if kind == "exit" and self.attempt == 0:
                    os._exit(17)
                if kind == "hold":
                    self.stop_event.wait()
            return real(frame)

        tracker.update = update

    def ready(self) -> dict:
        return {"host": host(), "pid": os.getpid(), "threads": self.threads, "error": self.error}

    def track(self, item: BatchItem, attempt: int) -> dict | None:
        """The item's summary, or None when stopped (nothing of it under a final name)."""
        self.current, self.attempt, self.frames = item.item_id, attempt, 0
        try:
            s = process_item(item, self.opts, report=self._report, stop=self.stop_event)
        except KeyboardInterrupt:
            return None
        finally:
            self.current = None
        s["threads"] = self.threads
        s["attempts"] = attempt + 1
        return s

    def _report(self, kind, item_id, **data) -> None:
        with self.cond:
            self.events.append((kind, item_id, data))
            self.cond.notify_all()

    def poll(self, timeout: float = POLL_S) -> list:
        with self.cond:
            if not self.events:
                self.cond.wait(timeout)
            events, self.events = self.events, []
        return events

    def stop(self) -> None:
        self.stop_event.set()


# ---------------------------------------------------------------------------------------------- driver


def connect(ray, ropts: RayOptions) -> None:
    """Join the cluster, or start a local instance (the caller shuts it down at the end). A process
    already connected (a library user's ray.init) keeps its connection."""
    if ray.is_initialized():
        return
    kwargs: dict[str, object] = dict(
        include_dashboard=False, log_to_driver=False, configure_logging=True, logging_level=logging.ERROR
    )
    if ropts.address and ropts.address != "local":
        _probe(ropts.address)
        kwargs["address"] = ropts.address
    else:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no prompt, no report from a local instance
        kwargs.update(address="local", object_store_memory=128 * 1024 * 1024)  # results are small dicts
        kwargs.update(ropts.init_args)
    # Ray installs its own SIGINT/SIGTERM handlers in the driver; ours (Ctrl-C and a scheduler's SIGTERM
    # stop the batch cleanly) stay in force.
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    log = Path(tempfile.gettempdir()) / "siamtrack-ray.log"
    try:
        with _signals_held(), _native_stderr_to(log):
            ray.init(**kwargs)
    except ConnectionError as exc:
        raise UserError(
            f"--ray {ropts.address}: cannot connect to the Ray cluster ({_cause(exc)}; Ray's messages: {log})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - Ray's start-up errors are many types; say it in one line
        where = f"the Ray cluster at {ropts.address}" if kwargs.get("address") != "local" else "a local Ray instance"
        raise UserError(
            f"cannot start or join {where}: {type(exc).__name__}: {_cause(exc)} (Ray's messages: {log})"
        ) from None
    finally:
        for s, h in saved.items():
            try:
                if h is not None:
                    signal.signal(s, h)
            except ValueError:  # not the main thread
                pass


@contextlib.contextmanager
def _signals_held():
    """SIGINT blocked while Ray starts its processes. They inherit the mask, so a Ctrl-C sent to the whole
    process group reaches only the driver, which stops the batch cleanly and shuts Ray down; and one sent
    during start-up is delivered when Ray is up (a Ctrl-C in the middle of ray.init left some of Ray's
    processes running without a parent). SIGTERM stays open: Ray's shutdown stops its processes with it
    (blocked, each waited seconds for SIGKILL)."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def _native_stderr_to(path: Path):
    """Ray's C++ parts write their warnings (each failed connection attempt, its log level ...) straight to
    file descriptor 2, and the local instance's processes inherit it: while Ray starts, that goes to `path`."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        with open(path, "ab") as f:
            os.dup2(f.fileno(), 2)
    except OSError:  # no file descriptor 2 to redirect, or the file cannot be written: leave it
        yield
        return
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _probe(address: str) -> None:
    """A HOST:PORT address where nothing listens fails now, in one line (Ray itself retries for minutes)."""
    import socket

    text = address[len("ray://") :] if address.startswith("ray://") else address
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return  # "auto" and other forms: Ray resolves them
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise UserError(f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


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
        connect(ray, ropts)
        if not was_connected:
            restore = _quiet_ray_errors()
        return _Scheduler(ray, queue, opts, ropts, results, progress, hook).run()
    except KeyboardInterrupt:
        return True  # before any item was sent (the scheduler handles a Ctrl-C once items run)
    finally:
        if not was_connected and ray.is_initialized():
            ray.shutdown()
        if restore:
            restore()


def _quiet_ray_errors():
    """Ray's driver prints the cluster's error notices (e.g. "(raylet) A worker died ...", a paragraph
    about the OOM killer) on stdout even with log_to_driver=False; the batch reports those events in its
    own words, so while it owns the connection they go to the debug log instead. Ray keeps that printer
    in a private module: if it is not where expected, nothing is changed."""
    try:
        from ray._private import worker as ray_worker
    except ImportError:
        return None
    real = getattr(ray_worker, "print_to_stdstream", None)
    if real is None:
        return None
    log = logging.getLogger("tracker.batch.ray")

    def to_log(data, ignore_prefix=False):
        for line in data.get("lines", []):
            log.debug("%s: %s", data.get("pid"), line)

    ray_worker.print_to_stdstream = to_log

    def restore():
        ray_worker.print_to_stdstream = real

    return restore


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
            info, error = {}, _cause(exc)
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
            self.actor_died(it, _cause(exc))
            return
        except self.ray.exceptions.RayError as exc:  # e.g. the item or its result could not be sent
            s = failed_summary(it, self.opts, f"{it.video}: Ray worker error: {_cause(exc)}")
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


def _cause(exc: BaseException) -> str:
    """Ray's error text in one line (the first line says what happened; the rest is Ray's context)."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:  # the creation task's own exception, when there is one
        if ln.startswith(("tracker.errors.", "UserError", "ImportError", "ModuleNotFoundError")):
            return ln
    return (lines[0] if lines else type(exc).__name__)[:300]
