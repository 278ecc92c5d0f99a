"""Running trackers over a dataset under a protocol: one-pass (OTB, GOT-10k) or VOT supervised
(re-initialised 5 frames after each failure), resumable, optionally in a process pool."""

from __future__ import annotations

import functools
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config.presets import DEFAULT_ALIAS, DEFAULT_PRESET
from ..errors import UserError
from ..progress import Progress
from .metrics import jitter_box
from .polygons import polygon_overlap
from .results import ResultsLayout, safe_label
from .sequences import DatasetError, Sequence
from .vot_metrics import VOT_FAILURE, VOT_INIT, VOT_SKIP

VOT_SKIP_FRAMES = 5


@dataclass(frozen=True)
class TrackerSpec:
    """A tracker to benchmark: what `tracker.build_tracker` gets, and the folder name of its results."""

    name: str
    label: str
    weights: str | None = None
    overrides: tuple = ()  # (key, value) pairs passed to build_tracker

    @property
    def is_opencv(self) -> bool:
        return self.name.lower().startswith("opencv:")


def parse_tracker_spec(text: str, default_weights: str | None = None, opencv_dirs: dict | None = None) -> TrackerSpec:
    """`NAME[@WEIGHTS][=LABEL]`: a preset name, a YAML config path or `opencv:KIND`; optional weights file;
    optional results-folder label (default: the name with ':' made '-', `default` as the preset it names, plus
    '@<weights stem>')."""
    text = text.strip()
    label = None
    if "=" in text:
        text, label = text.rsplit("=", 1)
        label = label.strip() or None
    name, _, weights_text = text.partition("@")
    name, weights = name.strip(), (weights_text.strip() or None)
    if not name:
        raise UserError(f"--tracker '{text}': no tracker name")
    overrides: tuple = ()
    if name.lower().startswith("opencv:"):
        if weights:
            raise UserError(
                f"--tracker {name}: OpenCV trackers take no weights; give their model folder "
                f"with --opencv-models / --nano-dir / --vit-dir / --dasiamrpn-dir"
            )
        from ..trackers.opencv import model_dir_overrides

        overrides = tuple(model_dir_overrides(name, opencv_dirs or {}).items())
    else:
        weights = weights or default_weights
    if label is None:
        if name.endswith((".yaml", ".yml")):
            base = Path(name).stem
        else:  # `default` as the preset it stands for: the tables and plot legends say which model ran
            base = DEFAULT_PRESET if name == DEFAULT_ALIAS else name
        label = base + (f"@{Path(weights).stem}" if weights and not name.lower().startswith("opencv:") else "")
    return TrackerSpec(name=name, label=safe_label(label), weights=weights, overrides=overrides)


def build_from_spec(spec: TrackerSpec, device: str = "cpu", xcorr: str = "torch"):
    from .. import build_tracker

    kwargs = dict(spec.overrides)
    if spec.is_opencv:
        return build_tracker(spec.name, **kwargs)
    return build_tracker(spec.name, weights=spec.weights, device=device, xcorr=xcorr, **kwargs)


# ---------------------------------------------------------------------------------- one sequence


def _read(path: Path):
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f"{path}: cannot read the image")
    return img


def _first_box(seq: Sequence, i: int = 0):
    b = seq.gt[i]
    if not (np.isfinite(b).all() and b[2] > 0 and b[3] > 0):
        raise DatasetError(
            f"{seq.gt_file}:{i + 1}: the first frame's box is missing or empty; the one-pass protocol starts from it"
        )
    return tuple(float(v) for v in b)


def track_one_pass(tracker, seq: Sequence, on_frame=None, box0=None):
    """(boxes, seconds per frame, lost flags): the first box is the ground truth (or `box0`), the rest the
    tracker's. The frame loop and its timing are tracker.sequence's (frame 0's time is the initialisation)."""
    box0 = _first_box(seq) if box0 is None else tuple(float(v) for v in box0)
    boxes, times, lost = [], [], []
    for r in tracker.track((_read(path) for path in seq.frames), box0):
        boxes.append(r.box)
        times.append(r.seconds)
        lost.append(bool(r.lost))
        if on_frame:
            on_frame()
    return boxes, times, lost


def track_supervised(tracker, seq: Sequence, skip: int = VOT_SKIP_FRAMES, on_frame=None):
    """VOT supervised: fail at zero overlap with the ground-truth region (both clipped to the image),
    re-initialise `skip` frames later. Returns (trajectory with codes 1/2/0 or boxes, seconds per frame).
    Each stretch from a (re)initialisation to a failure is one tracker.sequence run; frames skipped after a
    failure are not read."""
    traj, times = [], []
    n = len(seq.frames)

    def skipped():
        traj.append(VOT_SKIP)
        times.append(0.0)
        if on_frame:
            on_frame()

    bound = None
    i = 0
    while i < n:
        b = seq.gt[i]
        if not (np.isfinite(b).all() and b[2] > 0 and b[3] > 0):
            skipped()  # nothing to initialise on: try the next frame
            i += 1
            continue
        failed_at = None
        with tracker.track((_read(path) for path in seq.frames[i:]), tuple(float(v) for v in b)) as run:
            for r in run:
                if r.initial:
                    if bound is None:
                        bound = (r.frame.shape[1], r.frame.shape[0])
                    traj.append(VOT_INIT)
                else:
                    overlap = polygon_overlap(r.box, seq.region(i + r.index), bound)
                    if overlap > 0 or np.isnan(overlap):
                        traj.append(r.box)
                    else:
                        traj.append(VOT_FAILURE)
                        failed_at = i + r.index
                times.append(r.seconds)
                if on_frame:
                    on_frame()
                if failed_at is not None:
                    break
        if failed_at is None:
            break  # tracked to the end
        i = min(failed_at + skip, n)
        for _ in range(failed_at + 1, i):
            skipped()
    return traj, times


def run_sequence(tracker, seq: Sequence, protocol: str, on_frame=None, box0=None):
    """(rows, seconds per frame, lost flags or None): one run of `seq` under `protocol`."""
    if protocol == "vot":
        return (*track_supervised(tracker, seq, on_frame=on_frame), None)
    return track_one_pass(tracker, seq, on_frame=on_frame, box0=box0)


def jitter_label(label: str, run: int) -> str:
    """Where jittered run `run` of a tracker goes: a sub-folder of its results folder."""
    return label if run == 0 else f"{label}/jitter{run}"


# ---------------------------------------------------------------------------------- many sequences


@dataclass
class Job:
    spec: TrackerSpec
    seq: Sequence
    jitter: int = 0  # 0: the protocol's run; k > 0: run k with the initial box jittered
    jitter_px: float = 2.0

    @property
    def label(self) -> str:
        return jitter_label(self.spec.label, self.jitter)


@dataclass
class JobOutcome:
    label: str
    seq: str
    frames: int
    ms_per_frame: float
    error: str | None = None


@dataclass
class RunSummary:
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)


def plan_jobs(
    specs,
    seqs,
    layout: ResultsLayout,
    force: bool = False,
    truncated: bool = False,
    jitter: int = 0,
    jitter_px: float = 2.0,
):
    """(jobs to run, (label, seq) pairs already finished). A result file counts as finished when it has
    one line per frame of the sequence; with `truncated` (--max-frames) a longer file counts too, since its
    first lines are that run (trackers are causal), so a quick check never overwrites a full result."""
    jobs, finished = [], []
    for spec in specs:
        for seq in seqs:
            for run in range(jitter + 1):
                label = jitter_label(spec.label, run)
                n = layout.line_count(label, seq.name)
                if not force and n is not None and (n == len(seq) or (truncated and n > len(seq))):
                    finished.append((label, seq.name))
                else:
                    jobs.append(Job(spec, seq, run, jitter_px))
    return jobs, finished


def _median_ms(times, rows) -> float:
    t = [dt for dt, r in zip(times[1:], rows[1:]) if np.ndim(r) != 0 or int(r) == VOT_FAILURE]
    t = [x for x in t if x > 0]
    return float(np.median(t) * 1000.0) if t else float("nan")


def _execute(tracker, job: Job, layout: ResultsLayout, on_frame=None) -> JobOutcome:
    box0 = jitter_box(_first_box(job.seq), job.jitter, job.seq.name, job.jitter_px) if job.jitter else None
    rows, times, lost = run_sequence(tracker, job.seq, layout.protocol, on_frame=on_frame, box0=box0)
    if lost is not None:
        layout.write_lost(job.label, job.seq.name, lost)  # before the box file, which marks completion
    layout.write(job.label, job.seq.name, rows, times)
    return JobOutcome(job.label, job.seq.name, len(rows), _median_ms(times, rows))


# worker-process state
_WORKER_TRACKERS: dict = {}
_WORKER_CONF: dict = {}


def _worker_init(threads: int, device: str, xcorr: str, need_torch: bool) -> None:
    from ..runtime import configure_worker_threads

    _WORKER_CONF.update(device=device, xcorr=xcorr)
    configure_worker_threads(threads, need_torch)


def _worker_job(job: Job, results_dir: str, dataset: str, protocol: str) -> JobOutcome:
    layout = ResultsLayout(results_dir, dataset, protocol)
    try:
        tracker = _WORKER_TRACKERS.get(job.spec)
        if tracker is None:
            tracker = build_from_spec(job.spec, _WORKER_CONF.get("device", "cpu"), _WORKER_CONF.get("xcorr", "torch"))
            _WORKER_TRACKERS[job.spec] = tracker
        return _execute(tracker, job, layout)
    except UserError as exc:
        return JobOutcome(job.label, job.seq.name, 0, float("nan"), str(exc))
    except Exception as exc:  # noqa: BLE001 - a crash in one sequence must not lose the others
        return JobOutcome(
            job.label,
            job.seq.name,
            0,
            float("nan"),
            f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc(limit=3)}",
        )


def run_jobs(
    jobs,
    layout: ResultsLayout,
    workers: int = 1,
    device: str = "cpu",
    xcorr: str = "torch",
    trackers: dict | None = None,
    progress: Progress | None = None,
    debug: bool = False,
    threads: int | None = None,
) -> RunSummary:
    """Run the jobs; results are written as each sequence finishes. `trackers` maps spec -> built tracker
    (reused in-process when workers == 1). `threads`: CPU threads per process (--threads); default the
    cores free now, split among the workers (tracker.runtime)."""
    from ..runtime import configure_threads, threads_per_worker

    summary = RunSummary()
    need_torch = any(not j.spec.is_opencv for j in jobs)
    progress = progress or Progress(sum(len(j.seq) for j in jobs), "bench", enabled=False)

    def report(out: JobOutcome):
        if out.error:
            summary.failed.append(out)
            progress.note(f"{out.label}/{out.seq}: FAILED: {out.error.splitlines()[0]}")
        else:
            summary.done.append(out)
            fps = 1000.0 / out.ms_per_frame if out.ms_per_frame > 0 else float("nan")
            progress.note(f"{out.label}/{out.seq}: {out.frames} frames, {fps:.1f} fps")

    if workers <= 1 or len(jobs) <= 1:
        n_threads = threads_per_worker(1, threads)
        if need_torch:
            configure_threads(n_threads)
        trackers = trackers if trackers is not None else {}
        for job in jobs:
            info = f"{job.label}/{job.seq.name}"
            try:
                tracker = trackers.get(job.spec)
                if tracker is None:
                    tracker = trackers[job.spec] = build_from_spec(job.spec, device, xcorr)
                out = _execute(tracker, job, layout, on_frame=functools.partial(progress.advance, 1, info))
            except UserError as exc:
                if debug:
                    raise
                out = JobOutcome(job.label, job.seq.name, 0, float("nan"), str(exc))
            report(out)
        return summary

    workers = min(workers, len(jobs))  # idle workers would only take cores from the busy ones
    n_threads = threads_per_worker(workers, threads)
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # torch and OpenCV thread pools do not survive fork()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(n_threads, device, xcorr, need_torch)
    ) as pool:
        futures = {
            pool.submit(_worker_job, j, str(layout.root.parent), layout.dataset, layout.protocol): j for j in jobs
        }
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                out = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker died (out of memory, killed)
                out = JobOutcome(job.label, job.seq.name, 0, float("nan"), f"worker failed: {exc}")
            progress.advance(len(job.seq), f"{job.label}/{job.seq.name}")
            report(out)
    return summary
