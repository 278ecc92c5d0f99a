"""What runs on a Ray worker for `siamtrack batch --ray`: `BatchWorker`, an actor holding one tracker, built and
warmed up once, that tracks each item it is given with tracker.batch.item's process_item (the local pool's
work) while the driver polls its progress and may tell it to stop; and the test hook that makes an actor die
or hold mid-item."""

from __future__ import annotations

import os
import signal
import threading

from ..errors import UserError
from .inputs import BatchItem
from .item import make_tracker, process_item
from .options import BatchOptions, uses_torch
from .summary import host

# Test hook, read by the driver and passed to the actors: "exit:ITEM:K" makes the actor tracking ITEM end
# its process (os._exit, as a kill or a lost node would) at frame K of the item's first attempt; "hold:ITEM:K"
# holds the item at frame K until the batch is stopped (an item surely still running when a test presses
# Ctrl-C).
TEST_HOOK_ENV = "SIAMTRACK_BATCH_TEST_HOOK"

POLL_S = 0.5  # how long an actor's progress call waits for news


def parse_test_hook(text: str | None):
    if not text:
        return None
    kind, _, rest = text.partition(":")
    item_id, _, k = rest.rpartition(":")
    if kind not in ("exit", "hold") or not item_id or not k.isdigit():
        raise UserError(f"{TEST_HOOK_ENV}={text!r}: expected exit:ITEM:K or hold:ITEM:K")
    return kind, item_id, int(k)


class BatchWorker:
    """One Ray actor: a tracker built and warmed up once, then process_item for each item it is given.
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
