# size: over 400 lines as one room: the help text and the flags with their checks are two thirds of it
"""`siamtrack batch`: track many videos unattended — resumable, parallel, shardable across machines.

Argument parsing only (stdlib imports); the work is in tracker.batch (runner.run_batch).
"""

from __future__ import annotations

import argparse
import sys

from ..engines import ENGINES
from .args import int_at_least

EPILOG = """\
input: a manifest, CSV with a header (columns video,x,y,w,h[,start][,id]; or one 'box' column "x,y,w,h")
  or JSON lines ({"video": "a.mp4", "box": [x, y, w, h], "start": 0, "id": "a"}); relative video paths are
  relative to the manifest's folder. Or a folder of videos, each with a sidecar STEM.txt / STEM.box
  holding x,y,w,h.

several targets in one video (tracked together, as `siamtrack track --init A --init B` does): in a CSV a
  'target' column (ids 1, 2, ...) and a row per target, the rows of one video sharing its id (or, without
  an id column, its path) and start; in JSON lines "boxes": [[x, y, w, h], ...] (ids 1, 2, ...) or
  {"ID": [x, y, w, h], ...} instead of "box"; in a folder a sidecar of id,x,y,w,h lines.

output (in --out-dir), per item: ITEM.boxes.txt (one x,y,w,h per frame, first line the initial box; for
  several targets the MOT layout frame,id,x,y,w,h,score,-1,-1,-1 as `siamtrack track` writes it),
  ITEM.summary.json (written last), ITEM.annotated.mp4 with --save-video (each target in its colour);
  and summary.csv for the run.

exit status: 0 all items ok; 1 some item failed, the others tracked: a video that cannot be read, a box
  outside the frame, or a row whose values are bad (a box that is not four numbers, a negative start frame;
  the item's error in summary.csv names the manifest line); 2 bad arguments or a manifest that cannot be
  read as a whole (no header or video column, a line that is not JSON, two items with one id) or a bad
  value in a target's row (a target id given twice for a video or not a whole number from 1, a zero-size
  box): one line naming the row, before any item runs; 130 interrupted.

examples:
  siamtrack batch clips.csv -o results --workers 2
  siamtrack batch clips.csv -o results --shard $SLURM_ARRAY_TASK_ID/8      # one of 8 machines
  siamtrack batch --merge results-0 results-1 --summary summary.csv [--manifest clips.csv]
  siamtrack batch clips.csv -o /shared/results --ray                  # a local Ray instance
  siamtrack batch clips.csv -o /shared/results --ray auto --gpus-per-worker 1   # the Ray cluster of this node

with --ray (pip install "siamtrack[ray]"), every worker writes its items' files itself: the output folder,
  the videos and any --weights must be reachable at the same path from every node (a shared filesystem).
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .args import add_model_dir_arguments

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("input", nargs="?", help="manifest (.csv / .jsonl) or a folder of videos with sidecar box files")
    p.add_argument("-o", "--out-dir", help="output folder for the per-item results (created if needed)")
    p.add_argument(
        "--summary",
        dest="output",
        metavar="CSV",
        help="the batch summary CSV (default OUT_DIR/summary.csv, or summary.shard-I-of-N.csv "
        "for a shard; with --merge: required)",
    )
    from .args import add_deprecated

    add_deprecated(p, "--output", "--summary", "output", metavar="CSV")
    g = p.add_argument_group("tracker")
    g.add_argument(
        "--model",
        default=None,
        help="a preset name, a folder written by `siamtrack export`, opencv-nano:DIR or opencv:NAME "
        "(default: the default preset)",
    )
    g.add_argument("--weights", default=None, help="checkpoint for the model")
    g.add_argument("--config", default=None, help="a pysot-style YAML config instead of --model")
    g.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (on a GPU one process feeds it)")
    g.add_argument(
        "--engine",
        default="auto",
        choices=ENGINES,
        help="what runs the network (default auto: the faster ONNX engine on the CPU, torch on a GPU)",
    )
    g.add_argument(
        "--xcorr", default="torch", choices=["torch", "numba", "cuda"], help="cross-correlation backend (default torch)"
    )
    add_model_dir_arguments(g)
    g = p.add_argument_group("what to do")
    g.add_argument(
        "--max-frames",
        type=_positive_int,
        default=None,
        metavar="N",
        help="track at most N frames per item (counting the first)",
    )
    g.add_argument("--save-video", action="store_true", help="also write ITEM.annotated.mp4")
    g.add_argument("--force", action="store_true", help="redo items that are already finished")
    g.add_argument(
        "--workers",
        type=_workers,
        default=None,
        metavar="N",
        help="worker processes (0 = one per core); the free cores' threads are split among them. "
        "With --ray: Ray workers (default: as many as the cluster holds)",
    )
    g.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        metavar="N",
        help="CPU threads per process (default: the cores free at start-up divided by the workers)",
    )
    g.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="process only shard I of N (0 <= I < N), a deterministic part of the input",
    )
    g.add_argument(
        "--shard-by",
        choices=("id", "index"),
        default="id",
        help="split shards by a stable hash of the item id (default) or by manifest position",
    )
    g.add_argument("--dry-run", action="store_true", help="list this run's items and whether they are finished")
    g.add_argument("--quiet", action="store_true", help="no progress output")
    g = p.add_argument_group("on a Ray cluster")
    g.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run the items on Ray workers, each holding one tracker: on the cluster at ADDRESS "
        "(auto, HOST:PORT, ray://HOST:10001), or without ADDRESS on a local Ray instance. "
        "The output folder must be reachable by every node (shared filesystem)",
    )
    g.add_argument(
        "--cpus-per-worker",
        type=_positive_float,
        default=1.0,
        metavar="C",
        help="with --ray: CPUs each worker reserves (and its thread count; default 1)",
    )
    g.add_argument(
        "--gpus-per-worker",
        type=_non_negative_float,
        default=0.0,
        metavar="G",
        help="with --ray: GPUs each worker reserves (e.g. 1, or 0.5 to share one); "
        "more than 0 tracks on the worker's GPU (--device cuda)",
    )
    g.add_argument(
        "--retries",
        type=_non_negative_int,
        default=2,
        metavar="N",
        help="with --ray: times an item is tried again when its worker dies (default 2)",
    )
    p.add_argument(
        "--merge",
        nargs="+",
        metavar="DIR",
        help="build the summary CSV from the item summaries in these output folders (e.g. one "
        "per shard); INPUT or --manifest, if given, also reports items with no result",
    )
    p.add_argument("--manifest", default=None, help="with --merge: the batch's input, to report missing items")


_positive_int = int_at_least(1)
_non_negative_int = int_at_least(0)


def _float(text: str) -> float:
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return v


def _positive_float(text: str) -> float:
    v = _float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return v


def _non_negative_float(text: str) -> float:
    v = _float(text)
    if v < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return v


def _workers(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError("must be 0 (one per core) or more")
    return v


def default_model() -> str:
    try:
        from ..config.presets import DEFAULT_PRESET

        return DEFAULT_PRESET
    except Exception:  # noqa: BLE001 - presets not importable yet: fall back to a named preset
        return "siamrpn_alex_dwxcorr"


def run(args) -> int:
    from pathlib import Path

    from ..errors import UserError

    if args.merge:
        return _run_merge(args)
    if not args.input:
        if args.ray and args.ray != "local" and Path(args.ray).exists():
            raise UserError(
                f"--ray took {args.ray!r} as the cluster address; put INPUT before --ray, or write --ray=ADDRESS"
            )
        raise UserError("give a manifest or a folder of videos (or --merge DIR...)")
    if not args.out_dir:
        raise UserError("give the output folder with -o/--out-dir")
    if args.manifest:
        raise UserError("--manifest goes with --merge; for a run, give the manifest as INPUT")
    return _run_batch(args)


def _run_batch(args) -> int:
    import dataclasses
    import signal
    from pathlib import Path

    from ..batch.item import make_tracker
    from ..batch.manifest import load_items
    from ..batch.options import BatchOptions
    from ..batch.pool import cpu_count
    from ..batch.progress import Progress
    from ..batch.runner import run_batch
    from ..batch.shards import parse_shard, select_shard
    from ..batch.summary import finished_summary, write_summary_csv
    from ..errors import UserError
    from ..runtime import configure_process
    from ..trackers.opencv import model_dir_overrides
    from .args import model_dirs, model_uses_torch

    out_dir = Path(args.out_dir)
    src = Path(args.input)
    if src.is_dir() and out_dir.exists() and out_dir.resolve() == src.resolve():
        raise UserError(f"{out_dir}: the output folder must not be the input folder (its videos are the input)")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a folder")
    from ..io.sinks import check_output_file, check_output_folder

    check_output_folder(out_dir, "-o/--out-dir")
    if args.output:
        check_output_file(args.output, "--summary")
    items = load_items(src)
    total_items = len(items)
    shard = None
    if args.shard:
        shard = parse_shard(args.shard)
        items = select_shard(items, shard[0], shard[1], by=args.shard_by)
    if args.config and args.model:
        raise UserError("give either --model or --config, not both")
    opts = BatchOptions(
        out_dir=str(out_dir),
        model=args.model or ("" if args.config else default_model()),
        weights=args.weights,
        config=args.config,
        device=args.device,
        xcorr=args.xcorr,
        engine=args.engine,
        max_frames=args.max_frames,
        save_video=args.save_video,
        force=args.force,
        threads=args.threads,
        model_dir=model_dir_overrides(args.model or "", model_dirs(args)).get("model_dir"),
    )
    quiet = args.quiet
    ray_opts = _ray_options(args, opts) if args.ray else None
    workers = 1 if args.workers is None else (args.workers or cpu_count())
    if ray_opts is None and opts.device.startswith("cuda") and workers > 1:
        if not quiet:
            print("batch: with a GPU one process feeds the device; --workers ignored", file=sys.stderr)
        workers = 1
    summary_csv = (
        Path(args.output)
        if args.output
        else out_dir / (f"summary.shard-{shard[0]}-of-{shard[1]}.csv" if shard and shard[1] > 1 else "summary.csv")
    )

    if args.dry_run:
        where = f" (shard {shard[0]}/{shard[1]}: {len(items)} of {total_items})" if shard else ""
        print(f"{len(items)} items{where}, output {out_dir}")
        for it in items:
            state = "error" if it.error else ("finished" if finished_summary(it, opts) and not opts.force else "todo")
            print(f"{state:9s} {it.item_id}\t{it.path}\t{it.origin}" + (f"\t{it.error}" if it.error else ""))
        return 0

    if not items:
        if not quiet:
            print(f"batch: shard {args.shard} has no items (of {total_items})", file=sys.stderr)
        write_summary_csv(summary_csv, [])
        return 0

    # Fail fast, before any item, on what would fail every item: an unknown model, missing weights.
    needs_tracker = any(not it.error for it in items) and (
        opts.force or any(finished_summary(it, opts) is None for it in items if not it.error)
    )
    if needs_tracker:
        if model_uses_torch(opts.config or opts.model):
            configure_process()  # this process; workers: runtime.configure_worker_threads
        try:
            # builds (and checks) it; the first item warms it up. For --ray on the CPU: the driver may
            # have no GPU, and its tracker is only a check.
            make_tracker(dataclasses.replace(opts, device="cpu") if ray_opts else opts, warm=False)
        except UserError:
            raise
        except (ImportError, ModuleNotFoundError) as exc:
            raise UserError(f"cannot build the tracker {opts.model_label!r}: {exc}") from None

    progress = Progress(enabled=not quiet)
    old_term = None
    try:
        # A scheduler stopping the job (SIGTERM) is handled like Ctrl-C: finish cleanly, write nothing partial.
        old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread
        pass
    try:
        result = run_batch(items, opts, workers=workers, progress=progress, ray=ray_opts)
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    if result.interrupted:
        if not quiet:
            print("batch: interrupted; finished items are kept, rerun to complete the rest", file=sys.stderr)
        return 130
    write_summary_csv(summary_csv, result.summaries)
    if getattr(args, "debug", False):
        for s in result.failed:
            if s.get("traceback"):
                print(f"--- {s['item_id']}:\n{s['traceback']}", file=sys.stderr)
    if not quiet:
        print(f"batch: summary in {summary_csv}", file=sys.stderr)
    return 1 if result.failed else 0


def _ray_options(args, opts):
    """--ray and its flags as a RayOptions; sets opts.device to the worker's GPU when workers get one."""
    from ..batch.ray_connect import import_ray
    from ..batch.ray_pool import RayOptions
    from ..errors import UserError

    import_ray()  # a clear message now when the extra is not installed
    if args.threads is not None and args.threads > args.cpus_per_worker and not args.quiet:
        print(
            f"batch: --threads {args.threads} in workers of {args.cpus_per_worker:g} CPUs "
            "(--cpus-per-worker) oversubscribes their share",
            file=sys.stderr,
        )
    dev = opts.device
    if args.gpus_per_worker > 0:
        if dev == "cpu":
            opts.device = "cuda"
        elif dev not in ("cuda", "cuda:0"):
            raise UserError(f"--device {dev}: with --ray each worker sees only the GPU Ray gives it; use --device cuda")
    elif dev.startswith("cuda"):
        raise UserError(
            f"--device {dev} with --ray needs --gpus-per-worker (e.g. 1): Ray hides the GPUs "
            "from workers that reserve none"
        )
    return RayOptions(
        address=None if args.ray == "local" else args.ray,
        workers=args.workers or None,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        max_retries=args.retries,
    )


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _run_merge(args) -> int:
    from pathlib import Path

    from ..batch.manifest import load_items
    from ..batch.summary import collect_summaries, missing_summaries, write_summary_csv
    from ..errors import UserError

    if not args.output:
        raise UserError("--merge needs --summary SUMMARY.csv")
    from ..io.sinks import check_output_file

    check_output_file(args.output, "--summary")
    manifest = args.manifest or args.input
    summaries = collect_summaries(args.merge)
    missing: list[dict] = []
    if manifest:
        missing, extra = missing_summaries(summaries, load_items(manifest))
        summaries += missing
        if extra and not args.quiet:
            print(
                f"batch merge: {len(extra)} results are not in {manifest}: {', '.join(extra[:5])}"
                + (" ..." if len(extra) > 5 else ""),
                file=sys.stderr,
            )
    write_summary_csv(Path(args.output), summaries)
    failed = [s for s in summaries if s.get("status") == "failed"]
    if not args.quiet:
        print(
            f"batch merge: {len(summaries)} items, {len(summaries) - len(failed) - len(missing)} ok, "
            f"{len(failed)} failed, {len(missing)} missing -> {args.output}",
            file=sys.stderr,
        )
    return 1 if failed or missing else 0
