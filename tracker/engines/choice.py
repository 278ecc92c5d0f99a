"""Choices made by timing (which engine `auto` runs), made once per machine, model and thread count and
remembered, so that every later run computes exactly the same numbers. The thread count is part of the key
because which engine is faster can change with it (docs/speed.md, "Determinism").

Timing alone is not reproducible: the candidates give results that differ by about 1e-6, and which one
times fastest changes from run to run on a busy machine; a flipped near-tie in the tracker's argmax then
sends a track elsewhere, which moves a benchmark's mean AUC (docs/speed.md, "Determinism"). The
first run measures and writes its choice to `choices.json` in the cache folder ($SIAMTRACK_CACHE, else
$XDG_CACHE_HOME/siamtrack, else ~/.cache/siamtrack); later runs on the same machine read it. `siamtrack models
--speed` shows the choices; `--retime` (forget_choices) deletes the file to measure again (after a hardware or
library change the key differs anyway).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

CHOICES = "choices.json"


def cache_dir() -> Path:
    if os.environ.get("SIAMTRACK_CACHE"):
        return Path(os.environ["SIAMTRACK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "siamtrack"


_announced: set[str] = set()  # the models announce_preparation has shown a line for in this process


def announce_preparation(name: str, steps: str) -> None:
    """The one line (tracker.progress.notice) a model's first run on a machine shows before `steps` (its ONNX
    export, the engines' timing: seconds, done once and kept in the cache folder); one per model and process,
    so the timing after an export adds none."""
    from ..progress import notice

    if name not in _announced and notice(f"preparing {name} for this machine ({steps}, once; cached in {cache_dir()})"):
        _announced.add(name)


def machine() -> str:
    """The processor model, the cores this process may use, and the OS architecture."""
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from ..runtime import usable_cores

    return f"{model}|{usable_cores()} cores|{platform.machine()}"


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _choice_name(kind: str, key, options: list[str]) -> str:
    return f"{kind}:{digest([key, machine(), sorted(options)])}"


def cached_choice(kind: str, key, options: list[str], measure) -> tuple[str, dict[str, float] | None]:
    """The remembered choice among `options` for (`kind`, `key`, this machine), else the fastest of
    `measure()`'s best times (option -> seconds), remembered with those times. Returns (the choice, the best
    ms of each option behind it: measured now, or as remembered; None with one option, where there is nothing
    to choose). An unwritable cache folder only means the next run measures again."""
    if len(options) == 1:
        return options[0], None
    name = _choice_name(kind, key, options)
    path = cache_dir() / CHOICES
    data = _read(path)
    value = data.get(name)
    if value in options:
        ms = data.get(name + ":ms")
        return value, ms if isinstance(ms, dict) else None
    timings = measure()
    value = min(options, key=lambda o: timings[o])
    ms = {k: round(v * 1000, 3) for k, v in timings.items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read(path)
        data[name] = value
        data[name + ":ms"] = ms  # why, beside the choice
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".choices")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass
    return value, ms


def forget_choices() -> bool:
    """Forgets every choice remembered on this machine (each model times again on its next run); whether there
    was any."""
    try:
        (cache_dir() / CHOICES).unlink()
        return True
    except FileNotFoundError:
        return False


def best_times(calls: dict, budget_s: float = 1.0, max_rounds: int = 7) -> dict[str, float]:
    """The best seconds of each of `calls` (name -> zero-argument function). Each runs twice first (graphs
    optimise on their first calls), then they run in turns, best of up to `max_rounds` rounds within about
    `budget_s`: turns and minima keep a busy machine from deciding by accident."""
    names = list(calls)
    one_round = 0.0
    for n in names:
        calls[n]()
        t = time.perf_counter()
        calls[n]()
        one_round += time.perf_counter() - t
    rounds = max(1, min(max_rounds, int(budget_s / max(one_round, 1e-6))))
    best = dict.fromkeys(names, float("inf"))
    for _ in range(rounds):
        for n in names:
            t = time.perf_counter()
            calls[n]()
            best[n] = min(best[n], time.perf_counter() - t)
    return best


def _timed_after_a_first_run(workloads: dict, model: str, steps: str) -> dict[str, float]:
    """`best_times` of `workloads`, each loaded and run once first, so that a graph an engine cannot load is
    refused in its one line before the notice of the timing (which then takes the seconds)."""
    for run in workloads.values():
        run()
    announce_preparation(model, steps)
    return best_times(workloads)


def engine_workload(engine, preset):
    """One tracking step's network work for `engine`: the template branch once, then the search branch
    on the preset's search crops, on fixed synthetic crops. Returns a zero-argument function timing-ready."""
    import numpy as np

    p = preset.track
    rng = np.random.default_rng(0)
    z = rng.integers(0, 256, (p.exemplar_size, p.exemplar_size, 3), dtype=np.uint8)
    n = getattr(p, "scale_num", 1)
    x = rng.integers(0, 256, (n, p.instance_size, p.instance_size, 3), dtype=np.uint8)
    kernel = engine.template(z)
    return lambda: engine.search(x, kernel)


def fastest_engine(export, names: list[str], threads: int) -> tuple[str, dict[str, float] | None]:
    """The ONNX engine (of `names`) that runs this export's search graph fastest here; remembered. Returns
    (engine, the best ms of each engine where kept: why that one)."""
    from .onnx_engines import make_onnx_engine

    def measure():
        workloads = {n: engine_workload(make_onnx_engine(n, export, threads), export.preset) for n in names}
        return _timed_after_a_first_run(workloads, export.preset.name, "engine timing")

    key = [
        "export",
        export.weights_sha256,
        export.template.path.name,
        export.precision,
        digest(export.preset.to_dict()["model"]),
        [g.size for g in export.search],
        f"{threads} threads",  # which engine is faster depends on it (docs/speed.md, "Determinism")
    ]
    return cached_choice("engine", key, names, measure)


def precision_key(export, threads: int) -> list:
    return [
        "precision",
        export.weights_sha256,
        digest(export.preset.to_dict()["model"]),
        [g.size for g in export.search],
        f"{threads} threads",
    ]


def fastest_precision(
    exports: dict, engines: dict[str, list[str]], threads: int
) -> tuple[str, str, dict[str, float] | None]:
    """`auto`'s engine *and* precision: the fastest (precision, engine) of `exports` (precision -> Export whose
    accuracy in that precision was checked: an int8 graph, or the float32 graph for "float32") on their
    `engines` (precision -> the engines that may run it), timed here once and
    remembered like the engine choice. Returns (precision, engine, the best ms of each "precision/engine"
    option where kept: why that one)."""
    from .onnx_engines import make_onnx_engine

    options = [f"{p}/{e}" for p in exports for e in engines[p]]
    first = next(iter(exports.values()))
    key = precision_key(first, threads)

    def measure():
        workloads = {}
        for option in options:
            p, e = option.split("/")
            workloads[option] = engine_workload(make_onnx_engine(e, exports[p], threads, p), exports[p].preset)
        return _timed_after_a_first_run(workloads, first.preset.name, "engine and precision timing")

    chosen, timings = cached_choice("precision", key, options, measure)
    precision, engine = chosen.split("/")
    return precision, engine, timings
