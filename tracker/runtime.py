"""CPU thread policy for inference.

torch defaults to one thread per core. On a machine whose cores are already busy (another tracker, a
training run, a benchmark), its OpenMP threads spin-wait on each other, and a frame takes several times
longer than on fewer threads (measured: docs/speed.md, "Implementation choices"). So unless told otherwise we
use only the cores that are free at start-up (at least one), and commands running several worker
processes (bench, batch) split those free cores among the workers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_BYTES = 1 << 30
_heap_kept: bool | None = None

# Thread-pool sizes read by OpenMP / MKL / OpenBLAS / Numba when they start in a fresh worker process.
_POOL_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under taskset or a batch scheduler)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int]:
    """(idle, total) CPU time of the whole machine so far, in clock ticks, from /proc/stat (Linux)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    if not fields or fields[0] != "cpu":
        raise ValueError("/proc/stat: no cpu line")
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return idle + iowait, user + nice + system + idle + iowait + irq + softirq + steal


def busy_cores(interval: float = 0.1) -> float:
    """How many cores' worth of CPU other work is using right now: the machine's non-idle share over the
    next `interval` seconds (time stolen by the hypervisor counts as busy), times its core count. Where
    /proc/stat is missing, the 1-minute load average, which lags: right after a long `pip install` it still
    reads about 1 on an idle machine, which used to leave the README's first command on one thread."""
    try:
        idle0, total0 = _cpu_times()
        time.sleep(interval)
        idle1, total1 = _cpu_times()
        if total1 > total0:
            return (1.0 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1)
    except (OSError, ValueError):
        pass
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def free_cores() -> int:
    cores = usable_cores()
    return max(1, min(cores, int(cores - busy_cores() + 0.5)))


def threads_per_worker(workers: int = 1, requested: int | None = None) -> int:
    """Threads for each of `workers` processes: `requested` (--threads) when given, otherwise the cores
    free now divided evenly among the workers, never fewer than one."""
    if requested is not None and requested > 0:
        return int(requested)
    return max(1, free_cores() // max(1, workers))


_configured_threads: int | None = None


def configure_threads(requested: int | None = None) -> int:
    """Set the inference threads to `requested`, or to the free cores; returns the number used. The ONNX
    engines read the number (engine_threads); torch's intra-op threads follow it once torch is imported
    (apply_to_torch)."""
    global _configured_threads
    n = _configured_threads = threads_per_worker(1, requested)
    _torch_threads()
    return n


def engine_threads() -> int:
    """Threads for an ONNX engine's session: the number configure_threads set, else the free cores now."""
    return _configured_threads or threads_per_worker(1)


def configure_worker_threads(threads: int, uses_torch: bool) -> None:
    """First thing in a freshly spawned worker process, before any tracker exists: size every thread pool
    (OpenMP and friends, OpenCV, and torch when the worker uses it) to `threads`; a worker that uses torch
    also gets the commands' process settings (configure_process)."""
    global _configured_threads
    _configured_threads = threads
    for var in _POOL_VARS:
        os.environ[var] = str(threads)
    if uses_torch:
        _torch_threads()
        configure_process()
    try:
        import cv2

        cv2.setNumThreads(threads)
    except Exception:  # noqa: BLE001 - OpenCV's threading is an optimisation only
        pass


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for reuse instead of handing it back to the kernel.

    By default glibc serves every large block (a 128x128x96 float activation is 6 MB) with its own mmap and
    returns it on free, so each inference frame touches fresh pages: thousands of minor page faults per
    search-branch call, which then takes about half as long again as with the memory kept (measured:
    docs/speed.md, "Implementation choices"). Raising the mmap and trim
    thresholds makes the blocks come from the heap, which keeps its peak size (the model's working set, some
    tens of MB). Process-wide and idempotent; a no-op (False) where the C library has no mallopt, or where
    the user set glibc's own MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ (their choice stands)."""
    global _heap_kept
    if _heap_kept is not None:
        return _heap_kept
    _heap_kept = False
    if not sys.platform.startswith("linux") or any(
        v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
    ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _heap_kept = bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))
    return _heap_kept


_pending: set[str] = set()  # torch settings asked for before torch was imported ("threads", "tf32")


def configure_process() -> None:
    """The process-wide settings every `siamtrack` command makes before it builds a tracker or trains.
    Building a tracker changes none of them (a library leaves the process alone); call this once, early, to
    get the commands' speed and numbers from Python:

    - freed memory is kept for reuse (`keep_freed_memory`: glibc's mmap and trim thresholds), so per-frame
      activations reuse the heap instead of page-faulting fresh memory in (a fifth of the search branch's
      time on the CPU, docs/speed.md);
    - TF32 is off for CUDA convolutions and matmuls (full float32): TF32 rounds the mantissa to 10 bits,
      enough to change a reference tracker's trajectory on Ampere and later GPUs (CUDA parity moved 64 px by
      frame 20 with it). It changes nothing on the CPU.

    Does not import torch (seconds, and the default model tracks without it): the torch settings, TF32 and
    configure_threads' thread count, are applied now if torch is already imported, else by apply_to_torch
    where a torch model is first built. Idempotent."""
    keep_freed_memory()
    _torch_tf32()


def apply_to_torch() -> None:
    """Apply the torch settings that configure_process / configure_threads asked for before torch was
    imported; tracker.models.resolve_device calls it after importing torch, so the settings hold before a
    torch model runs (the training CLI imports torch before it calls configure_process). Each is applied
    once: what was set directly, or has been applied already, is not set again (a later
    torch.set_num_threads of the caller's stands)."""
    if "torch" not in sys.modules:
        return
    pending = set(_pending)
    _pending.clear()
    if "threads" in pending:
        _torch_threads()
    if "tf32" in pending:
        _torch_tf32()


def _torch_threads() -> None:
    torch = sys.modules.get("torch")
    if torch is None:
        _pending.add("threads")
    elif _configured_threads is not None:
        _pending.discard("threads")  # set now: a request from before torch was imported is superseded
        torch.set_num_threads(_configured_threads)


def _torch_tf32() -> None:
    torch = sys.modules.get("torch")
    if torch is None:
        _pending.add("tf32")
    else:
        _pending.discard("tf32")
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
