"""`siamtrack bench`: run trackers over a dataset under the OTB, VOT or GOT-10k protocol and report.

Light module: only argparse and the standard library at import time.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..engines import ENGINES

TRACKER_HELP = """\
a tracker to benchmark; give it several times. Forms: NAME, NAME@WEIGHTS, NAME@WEIGHTS=LABEL or NAME=LABEL.
NAME is a preset (see `siamtrack models`), a folder written by `siamtrack export`, a YAML config file, or an
OpenCV baseline: opencv:csrt, opencv:kcf, opencv:mil, opencv:nano, opencv:vit, opencv:dasiamrpn (the last
three need their ONNX files: --opencv-models / --nano-dir / --vit-dir / --dasiamrpn-dir). WEIGHTS is a
checkpoint file. LABEL names the results folder and the tracker in the tables and plots (default: NAME with
':' as '-', `default` as the preset it stands for, plus '@<weights file stem>' when weights are given)."""

EPILOG = """\
results layout (the community's): RESULTS/DATASET/TRACKER/SEQ.txt (OTB), RESULTS/DATASET/TRACKER/baseline/SEQ/
SEQ_001.txt (VOT, codes 1 init / 2 failure / 0 skipped), RESULTS/DATASET/TRACKER/SEQ/SEQ_001.txt (GOT-10k).
Tracker folders found there without a matching --tracker (e.g. published raw results) are ranked too.
Finished sequences are skipped on re-runs (--force redoes them); --report-only scores what is there.
Every frame is scored with the box the tracker returns, also when it reports the target lost (OpenCV's
trackers then hold their last good box rather than OpenCV's 0,0,0,0).

example:
  siamtrack bench ~/data/OTB100 --tracker opencv:csrt --tracker opencv:kcf --tracker default \\
      --tracker opencv:nano --nano-dir ~/models/nanotrack --tracker siamrpn_alex_dwxcorr@model.pth
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .args import add_model_dir_arguments

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument(
        "dataset",
        metavar="DATASET_DIR",
        help="the dataset folder, or a split file (.txt: one dataset folder per line, relative to the "
        "file, optionally followed by ': A,B,C' to take only those sequences)",
    )
    p.add_argument(
        "--protocol",
        choices=["otb", "vot", "got10k"],
        default=None,
        help="evaluation protocol (default: from the dataset format: vot -> vot, got10k -> got10k, "
        "otherwise otb one-pass)",
    )
    p.add_argument(
        "--gt-base",
        choices=["auto", "0", "1"],
        default="auto",
        help="where the box files put the first pixel (default auto: 1 for OTB and GOT-10k, 0 for VOT, "
        "for other layouts and for sequence folders with an origin.json); results files are "
        "written in the same convention, siamtrack's trackers always see 0-based boxes",
    )
    p.add_argument(
        "--format",
        dest="fmt",
        choices=["auto", "otb", "vot", "got10k", "generic"],
        default="auto",
        help="dataset layout (default: auto-detect)",
    )
    p.add_argument("--tracker", "-t", action="append", default=[], metavar="SPEC", help=TRACKER_HELP)
    p.add_argument("--weights", default=None, help="checkpoint for every non-OpenCV --tracker given without @WEIGHTS")
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="YAML",
        help="a preset YAML (ours or pysot's) to benchmark like a --tracker, with --weights",
    )
    add_model_dir_arguments(p)
    p.add_argument("--results", default="results", metavar="DIR", help="raw results folder (default: results)")
    p.add_argument(
        "--dataset-name",
        default=None,
        help="name of the dataset's folder under --results (default: the dataset folder's name)",
    )
    p.add_argument(
        "--report-dir",
        default=None,
        metavar="DIR",
        help="where the report goes (default: reports/DATASET beside the results folder)",
    )
    p.add_argument("--sequences", default=None, metavar="A,B,...", help="only these sequences")
    p.add_argument(
        "--max-frames",
        type=int,
        default=None,
        metavar="N",
        help="only the first N frames of each sequence (quick checks; scores then differ)",
    )
    from .args import workers_arg

    p.add_argument(
        "--workers",
        type=workers_arg,
        default=1,
        metavar="N",
        help="sequences run in parallel in N processes, 0 = one per core (each gets free cores/N threads; default 1)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads per process (default: the cores free at start-up, split among the workers)",
    )
    p.add_argument(
        "--jitter",
        type=int,
        default=0,
        metavar="N",
        help="OTB: also run each sequence N more times from a first box jittered by up to "
        "--jitter-px on each of x, y, w, h (the same jitter on every machine), and report the "
        "spread (max - min) of their AUCs (default 0: no extra runs)",
    )
    p.add_argument("--jitter-px", type=float, default=2.0, metavar="PX", help="jitter size (default 2 px)")
    p.add_argument("--force", action="store_true", help="re-run sequences that already have results")
    p.add_argument("--report-only", action="store_true", help="run nothing; score the results folder")
    p.add_argument("--device", default="cpu", help="torch device for our trackers (default cpu)")
    p.add_argument("--xcorr", default="torch", help="cross-correlation backend for our trackers (default torch)")
    p.add_argument(
        "--engine",
        default="auto",
        choices=ENGINES,
        help="what runs our trackers' networks (default auto: the faster ONNX engine on the CPU)",
    )
    p.add_argument(
        "--vot-year",
        type=int,
        default=2018,
        choices=[2016, 2017, 2018, 2019],
        help="VOT year whose sequence-length interval the EAO uses (default 2018)",
    )
    p.add_argument("--no-plots", action="store_true", help="tables only, no PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    from ..bench.datasets import load_dataset
    from ..bench.report import write_report
    from ..bench.results import ResultsLayout, safe_label
    from ..bench.runner import build_from_spec, parse_tracker_spec, plan_jobs, run_jobs
    from ..bench.scoring import score_all
    from ..errors import UserError
    from ..progress import Progress
    from .args import model_dirs, model_uses_torch

    if args.workers == 0:
        args.workers = os.cpu_count() or 1
    if args.threads is not None and args.threads < 1:
        raise UserError("--threads must be at least 1")
    if args.jitter < 0 or args.jitter_px < 0:
        raise UserError("--jitter and --jitter-px must not be negative")
    if args.max_frames is not None and args.max_frames < 2:
        raise UserError("--max-frames must be at least 2")
    seq_filter = [s.strip() for s in args.sequences.split(",") if s.strip()] if args.sequences else None
    fmt, seqs = load_dataset(args.dataset, args.fmt, seq_filter, gt_base=args.gt_base)
    protocol = args.protocol or {"vot": "vot", "got10k": "got10k"}.get(fmt, "otb")
    seqs = [s.truncated(args.max_frames) for s in seqs]
    given = Path(args.dataset).resolve()
    dataset_name = safe_label(args.dataset_name or (given.stem if given.is_file() else given.name))
    layout = ResultsLayout(args.results, dataset_name, protocol)
    layout.bases = {s.name: s.gt_base for s in seqs}
    report_dir = (
        Path(args.report_dir) if args.report_dir else Path(args.results).resolve().parent / "reports" / dataset_name
    )
    from ..io.sinks import check_output_folder

    check_output_folder(args.results, "--results")
    check_output_folder(report_dir, "--report-dir")

    opencv_dirs = model_dirs(args)
    texts = list(args.tracker) + list(args.config)
    specs = [parse_tracker_spec(t, args.weights, opencv_dirs) for t in texts]
    if args.engine != "auto":
        import dataclasses

        specs = [
            s if s.is_opencv else dataclasses.replace(s, overrides=s.overrides + (("engine", args.engine),))
            for s in specs
        ]
    labels = [s.label for s in specs]
    dup = {lab for lab in labels if labels.count(lab) > 1}
    if dup:
        raise UserError(
            f"two --tracker entries share the results folder {', '.join(sorted(dup))}; "
            f"give one a label with NAME...=LABEL"
        )
    if not specs and not args.report_only and not layout.trackers([s.name for s in seqs]):
        raise UserError(f"nothing to do: give --tracker (or --report-only with results in the folder {layout.root})")

    failed = []
    if specs and not args.report_only:
        jobs, finished = plan_jobs(
            specs,
            seqs,
            layout,
            force=args.force,
            truncated=args.max_frames is not None,
            jitter=args.jitter if protocol == "otb" else 0,
            jitter_px=args.jitter_px,
        )
        if any(model_uses_torch(s.name) for s in specs):
            from ..runtime import configure_process

            configure_process()  # this process; workers: runtime.configure_worker_threads
        # Build every tracker once before anything runs: a bad name or missing weights fails now, clearly.
        built = {
            spec: build_from_spec(spec, args.device, args.xcorr) for spec in specs if any(j.spec == spec for j in jobs)
        }
        if args.workers > 1:
            built = {}  # workers build their own
        total = sum(len(j.seq) for j in jobs)
        progress = Progress(total, "bench", enabled=not args.quiet)
        if finished and not args.quiet:
            print(
                f"siamtrack bench: {len(finished)} tracker/sequence result(s) already in {layout.root}, "
                f"skipped (--force redoes them)",
                file=sys.stderr,
            )
        summary = run_jobs(
            jobs,
            layout,
            workers=args.workers,
            device=args.device,
            xcorr=args.xcorr,
            trackers=built,
            progress=progress,
            debug=getattr(args, "debug", False),
            threads=args.threads,
        )
        progress.close()
        failed = summary.failed

    found = layout.trackers([s.name for s in seqs])
    order = labels + [lab for lab in found if lab not in labels]
    scores = score_all(layout, order, seqs, protocol, truncated=args.max_frames is not None, vot_year=args.vot_year)
    meta = {
        "dataset": dataset_name,
        "dataset_dir": str(Path(args.dataset).resolve()),
        "format": fmt,
        "protocol": protocol,
        "sequences": [s.name for s in seqs],
        "max_frames": args.max_frames,
        "vot_year": args.vot_year if protocol == "vot" else None,
        "workers": args.workers,
        "trackers": {s.label: {"name": s.name, "weights": s.weights} for s in specs},
    }
    files = write_report(report_dir, scores, protocol, meta, seqs, plots=not args.no_plots)
    print((report_dir / "report.md").read_text().split("\n## ")[0].rstrip())
    print(f"\nreport: {files['md']}  (csv, json and plots beside it)")
    if failed:
        for f in failed:
            print(f"siamtrack bench: error: {f.label}/{f.seq}: {f.error.splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    """`python -m tracker.cli.bench ...`: the same as `siamtrack bench ...`."""
    from ..errors import UserError
    from .args import Parser

    parser = Parser(prog="siamtrack bench", description="benchmark trackers")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        print("siamtrack bench: interrupted", file=sys.stderr)
        return 130
    except (UserError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        if args.debug:
            raise
        print(f"siamtrack bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
