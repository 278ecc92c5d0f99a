"""Joining Ray for `siamtrack batch --ray`: `import_ray` (the optional dependency, with the one-line message
without it), `connect` (a cluster, or a local instance: Ctrl-C, SIGTERM and Ray's own chatter kept where the
batch wants them) and `ray_error_line` (Ray's error text in one line).

`ray` is an optional dependency (pip install "siamtrack[ray]"), imported only through `import_ray`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from ..errors import UserError


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError('--ray needs Ray: pip install "siamtrack[ray]"') from None
    return ray


def connect(ray, address: str | None = None, init_args: dict | None = None) -> None:
    """Join the cluster at `address`, or start a local instance (None or "local"; `init_args`: more ray.init
    arguments for it) that the caller shuts down at the end. A process already connected (a library user's
    ray.init) keeps its connection."""
    if ray.is_initialized():
        return
    kwargs: dict[str, object] = dict(
        include_dashboard=False, log_to_driver=False, configure_logging=True, logging_level=logging.ERROR
    )
    if address and address != "local":
        _probe(address)
        kwargs["address"] = address
    else:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no prompt, no report from a local instance
        kwargs.update(address="local", object_store_memory=128 * 1024 * 1024)  # results are small dicts
        kwargs.update(init_args or {})
    # Ray installs its own SIGINT/SIGTERM handlers in the driver; ours (Ctrl-C and a scheduler's SIGTERM
    # stop the batch cleanly) stay in force.
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    log = Path(tempfile.gettempdir()) / "siamtrack-ray.log"
    try:
        with _signals_held(), _native_stderr_to(log):
            ray.init(**kwargs)
    except ConnectionError as exc:
        raise UserError(
            f"--ray {address}: cannot connect to the Ray cluster ({ray_error_line(exc)}; Ray's messages: {log})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - Ray's start-up errors are many types; say it in one line
        where = f"the Ray cluster at {address}" if kwargs.get("address") != "local" else "a local Ray instance"
        raise UserError(
            f"cannot start or join {where}: {type(exc).__name__}: {ray_error_line(exc)} (Ray's messages: {log})"
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


def quiet_ray_errors():
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


def ray_error_line(exc: BaseException) -> str:
    """Ray's error text in one line (the first line says what happened; the rest is Ray's context)."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:  # the creation task's own exception, when there is one
        if ln.startswith(("tracker.errors.", "UserError", "ImportError", "ModuleNotFoundError")):
            return ln
    return (lines[0] if lines else type(exc).__name__)[:300]
