"""`siamtrack gui`: argument parsing only (light imports; Qt is imported inside run)."""

from __future__ import annotations

import argparse
import importlib
import os

from ..engines import ENGINES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .args import add_deprecated

    parser.add_argument(
        "source", nargs="?", metavar="SOURCE", help="video file, image folder or camera index to open at start"
    )
    add_deprecated(parser, "--source", "SOURCE (positional)", "source_opt", metavar="SPEC")
    parser.add_argument(
        "--model",
        metavar="NAME",
        help="preset name, a folder written by `siamtrack export`, opencv:csrt|kcf|mil..., or a pysot config YAML",
    )
    parser.add_argument("--weights", metavar="PATH", help="checkpoint for --model (default: the preset's own)")
    parser.add_argument("--device", metavar="DEV", help="cpu, cuda, cuda:1 ...")
    parser.add_argument("--xcorr", metavar="BACKEND", help="cross-correlation backend: torch, numba, cuda")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="what runs the Siamese models' networks (default auto: the faster ONNX engine on the CPU)",
    )
    parser.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads for the model (default: the cores free at start-up)"
    )
    parser.add_argument(
        "--init",
        metavar="X,Y,W,H",
        action="append",
        help="start tracking this box on the first frame (repeat it for several targets)",
    )
    parser.add_argument("--trail", action="store_true", help="draw the target's trail")
    parser.add_argument(
        "--settings", metavar="INI", help="settings file to use instead of the user's (also $SIAMTRACK_GUI_SETTINGS)"
    )
    smoke = parser.add_argument_group(
        "headless smoke mode", "run the real window offscreen for N frames, save a screenshot of it and exit"
    )
    smoke.add_argument("--frames", type=int, metavar="N", help="frames to run (with --screenshot)")
    smoke.add_argument("--screenshot", metavar="PNG", help="save the whole window here and exit")
    parser.add_argument(
        "--save-video",
        dest="record",
        metavar="VIDEO",
        help="record the annotated video from the start (.mp4 or .avi); finalised on exit",
    )
    parser.add_argument(
        "--output",
        dest="export",
        metavar="TXT",
        help="write the boxes (x,y,w,h per frame, the initial box first) on exit",
    )
    add_deprecated(parser, "--record", "--save-video", "record", metavar="VIDEO")
    add_deprecated(parser, "--export", "--output", "export", metavar="TXT")
    smoke.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="give up after this many seconds (default 300)"
    )


def parse_box(text: str) -> tuple[float, float, float, float]:
    from ..errors import UserError
    from .args import parse_init_box

    try:
        values = parse_init_box(text)
    except ValueError:
        raise UserError(f"--init {text!r}: expected four numbers X,Y,W,H") from None
    if values[2] <= 0 or values[3] <= 0:
        raise UserError(f"--init {text!r}: width and height must be positive")
    return values


def run(args) -> int:
    from ..errors import UserError

    old_source = getattr(args, "source_opt", None)
    if old_source is not None:
        if args.source is not None:
            raise UserError("give the source once (SOURCE, not also --source)")
        args.source = old_source
    headless = args.screenshot is not None or args.frames is not None
    if headless:
        if not args.source:
            raise UserError("the smoke mode (--frames/--screenshot) needs a SOURCE")
        if args.frames is None or args.frames < 1:
            raise UserError("--frames N (N >= 1) is needed with --screenshot")
    elif (args.record or args.export) and not args.source:
        raise UserError("--save-video and --output need a SOURCE")
    if args.init and not args.source:
        raise UserError("--init needs a SOURCE (the box is drawn on its first frame)")
    # output paths are checked before the window opens or a model loads
    from ..io.sinks import check_output_file, check_video_output

    if args.export:
        check_output_file(args.export, "--output")
    if args.record:
        check_video_output(args.record, "--save-video")
    if args.threads is not None and args.threads < 1:
        raise UserError("--threads must be at least 1")
    inits = [parse_box(text) for text in args.init or []]
    # a file or folder that cannot be read fails here, in one line, before a window (and its threads) exists
    if args.source is not None and not (str(args.source).isdigit() and not os.path.exists(args.source)):
        from ..io.sources import open_source

        open_source(args.source).close()
    from ..runtime import configure_process, configure_threads

    configure_threads(args.threads)  # before any tracker exists (tracker.runtime explains the default)
    configure_process()  # freed memory kept, TF32 off, for whichever model the window loads
    from ..engines import set_default_engine

    set_default_engine(args.engine)  # every model the window builds runs on it
    try:
        importlib.import_module("PyQt6.QtWidgets")
    except ImportError as exc:
        raise UserError(
            f"the GUI needs PyQt6, which cannot be imported ({exc}): pip install 'siamtrack[gui]'"
        ) from None
    from ..gui.app import run_headless, run_interactive

    if headless:
        return run_headless(args, inits)
    return run_interactive(args, inits)
