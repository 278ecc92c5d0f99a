"""`siamtrack track`: one target, or several at once (`--init` repeated, or `--init-file`), through one source
(video file, image folder, camera index)."""

from __future__ import annotations

from ..engines import ENGINES


def parse_params(items: list[str]) -> dict:
    """NAME=VALUE strings → values typed by YAML rules (numbers, true/false, lists)."""
    import yaml

    from ..errors import UserError

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UserError(f"--param expects NAME=VALUE, got {item!r}")
        out[name.strip()] = yaml.safe_load(value)
    return out


def add_arguments(p):
    from .args import add_model_dir_arguments, box_arg

    p.add_argument("source", nargs="?", help="video file, folder of images (sorted by name), or camera index")
    p.add_argument(
        "--demo",
        action="store_true",
        help="track the shipped demo clip with its ground truth and "
        "write the annotated video to the temporary folder (siamtrack-demo/demo_tracked.mp4 there; the "
        "path is printed) or to --save-video FILE",
    )
    p.add_argument(
        "--model",
        default=None,
        help="a preset name (see `siamtrack models`), a folder written by `siamtrack export`, opencv-nano:DIR "
        "(the backbone/head ONNX pair of cv2.TrackerNano, run by siamtrack), or opencv:csrt|kcf|mil|nano...; "
        "default: the shipped default model",
    )
    p.add_argument("--config", help="a pysot config.yaml (or a siamtrack preset YAML) instead of --model")
    p.add_argument("--weights", help="checkpoint file (pysot, siamfc-pytorch, NanoTrack or siamtrack format)")
    p.add_argument(
        "--init",
        type=box_arg,
        action="append",
        metavar="X,Y,W,H",
        help="initial box X,Y,W,H (0-based pixels); default: the first line of --groundtruth. Repeat it to "
        "track several targets at once (ids 1, 2, ... in order)",
    )
    p.add_argument(
        "--init-file",
        metavar="FILE",
        help="several targets at once: one line id,x,y,w,h per target (ids whole numbers from 1)",
    )
    p.add_argument(
        "--per-target",
        action="store_true",
        help="with several targets and --output FILE: also one x,y,w,h file per target beside it, "
        "FILE_ID (a line per frame, NaN where the target is not tracked)",
    )
    p.add_argument(
        "--gt-base",
        choices=["auto", "0", "1"],
        default="auto",
        help="where --groundtruth puts the first pixel (default auto: 1 for OTB's groundtruth_rect*.txt, "
        "0 for other files and beside an origin.json); boxes are read 0-based from it",
    )
    p.add_argument(
        "--groundtruth",
        help="ground-truth boxes file: the first box initialises, and the "
        "success AUC and precision@20 are printed at the end",
    )
    p.add_argument(
        "--output",
        help="write one x,y,w,h line per frame (line 1 = the initial box); with several targets the MOT "
        "challenge layout frame,id,x,y,w,h,score,-1,-1,-1 (frames from 1, boxes 0-based)",
    )
    p.add_argument("--save-video", help="write the annotated video (.mp4: mp4v, .avi: MJPG)")
    p.add_argument("--max-frames", type=int, help="stop after N frames (the initial frame included)")
    p.add_argument("--start", type=int, default=0, help="first frame index (default 0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--xcorr", default="torch", choices=["torch", "numba", "cuda"], help="cross-correlation backend")
    p.add_argument(
        "--engine",
        default="auto",
        choices=ENGINES,
        help="what runs the network (default auto: the faster ONNX engine on the CPU, torch on a GPU)",
    )
    p.add_argument(
        "--long-term", action="store_true", help="re-detect with an enlarged search when unsure (SiamRPN models only)"
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a tracking hyper-parameter of the preset, e.g. --param window_influence=0.3 "
        "or --param clamp_search=true (SiamFC's original search-size clamp); repeatable",
    )
    add_model_dir_arguments(p)
    p.add_argument("--threads", type=int, help="CPU threads for the model (default: the cores free at start-up)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import sys

    from .. import build_tracker
    from ..config.presets import DEFAULT_PRESET
    from ..errors import UserError
    from ..io import BoxWriter, VideoSink, draw_result, open_source
    from ..progress import Progress

    if args.demo:
        from ..config.presets import DEMO_GROUNDTRUTH, DEMO_VIDEO

        if args.source is not None:
            raise UserError("--demo tracks the shipped demo clip: give either --demo or a SOURCE")
        args.source = str(DEMO_VIDEO)
        args.groundtruth = args.groundtruth or str(DEMO_GROUNDTRUTH)
        args.save_video = args.save_video or str(demo_video_path())
    elif args.source is None:
        raise UserError("give a SOURCE (video file, image folder or camera index), or --demo")
    check_outputs(args)
    model = args.config or args.model or DEFAULT_PRESET
    gt = None
    if args.groundtruth:
        from ..io.boxes import read_box_file

        gt = read_box_file(args.groundtruth, args.gt_base)  # 0-based, whatever the file's origin
    targets = initial_boxes(args)
    if targets is not None and len(targets) == 1 and not args.init_file:
        init, targets = targets[1], None
    elif targets is not None:
        if gt is not None:
            raise UserError("--groundtruth scores one target: give one --init (or leave it out)")
        init = None
    else:
        if gt is None:
            raise UserError("give the initial box with --init X,Y,W,H (or --groundtruth FILE)")
        init = tuple(gt[0])
    if args.per_target and (targets is None or not args.output):
        raise UserError("--per-target writes a file per target: it needs several targets and --output FILE")
    if args.max_frames is not None and args.max_frames < 1:
        raise UserError("--max-frames must be at least 1")

    # the source first: a file that is not a video fails before a model is loaded
    source = open_source(args.source, start=args.start)
    from ..runtime import configure_process, configure_threads
    from .args import model_uses_torch

    configure_threads(args.threads)
    if model_uses_torch(model):
        configure_process()  # freed memory kept, TF32 off: what the builder leaves to the application
    if model.startswith("opencv:"):
        from ..trackers.opencv import model_dir_overrides
        from .args import model_dirs

        tracker = build_tracker(model, **model_dir_overrides(model, model_dirs(args)))
    else:
        tracker = build_tracker(
            model,
            weights=args.weights,
            device=args.device,
            xcorr=args.xcorr,
            engine=args.engine,
            long_term=args.long_term,
            **parse_params(args.param),
        )

    source.on_skip = lambda i, why: print(f"\nwarning: frame {i} skipped: {why}", file=sys.stderr)
    if targets is not None:
        return run_targets(args, tracker, source, targets)
    writer = BoxWriter(args.output) if args.output else None
    video = None
    run = tracker.track(source, init, max_frames=args.max_frames)  # tracker.sequence: the one frame loop
    progress = Progress(run.total or 0, "track", enabled=not args.quiet)
    boxes = []
    try:
        for r in run:
            boxes.append(r.box)  # a frame the source skipped repeats the previous box: line n is frame n
            if writer:
                writer.write(r.box)
            if args.save_video and not r.skipped:
                assert r.frame is not None  # a tracked (not skipped) result carries its frame
                if video is None:
                    video = VideoSink(args.save_video, source.fps or 25.0, (r.frame.shape[1], r.frame.shape[0]))
                video.write(draw_result(r.frame, r, tracker.name))
            progress.advance(1, f"{_rate(run):5.1f} fps" if run.frames % 10 == 1 else None)
    finally:
        source.close()
        if writer and boxes:
            writer.close()
        if video:
            video.close()
    progress.close()
    line = f"frames {len(boxes)}  fps {_rate(run):.1f}  lost {run.lost}"
    if source.skipped:
        line += f"  skipped {len(source.skipped)}"
    if gt is not None:
        from ..bench.metrics import otb_scores

        n = min(len(boxes), len(gt))
        scores = otb_scores(boxes[:n], gt[:n])
        line += f"  AUC {scores.auc:.3f}  P@20 {scores.precision20:.3f}"
    print(line)
    if args.demo:
        print(f"annotated video: {args.save_video}")
    return 0


def initial_boxes(args) -> dict | None:
    """{id: box} of --init (ids 1, 2, ... in order) or --init-file; None when neither is given."""
    from ..errors import UserError

    if args.init_file:
        if args.init:
            raise UserError("give the boxes with --init or with --init-file, not both")
        from ..io.boxes import read_init_file

        return read_init_file(args.init_file)
    if not args.init:
        return None
    return {i: box for i, box in enumerate(args.init, 1)}


def run_targets(args, tracker, source, boxes: dict) -> int:
    """Several targets at once (tracker.trackers.multi): one batched search per frame; the MOT layout to
    --output (and a file per target with --per-target), each id in its colour on the annotated video."""
    from ..io import MotWriter, VideoSink, draw_results
    from ..progress import Progress
    from ..trackers.multi import MultiTracker

    multi = MultiTracker(tracker)
    writer = MotWriter(args.output, args.per_target) if args.output else None
    video = None
    run = multi.track(source, boxes, max_frames=args.max_frames)
    progress = Progress(run.total or 0, "track", enabled=not args.quiet)
    try:
        for r in run:
            if writer:
                writer.write(r.index, r.targets)
            if args.save_video and not r.skipped:
                assert r.frame is not None
                if video is None:
                    video = VideoSink(args.save_video, source.fps or 25.0, (r.frame.shape[1], r.frame.shape[0]))
                video.write(draw_results(r.frame, r.targets))
            progress.advance(1, f"{_rate(run):5.1f} fps" if run.frames % 10 == 1 else None)
    finally:
        source.close()
        if writer and writer.frames:
            writer.close()
        if video:
            video.close()
    progress.close()
    lost = " ".join(f"#{i}:{n}" for i, n in run.lost.items()) or "0"
    line = f"frames {run.frames}  targets {len(boxes)}  fps {_rate(run):.1f}  lost {lost}"
    if source.skipped:
        line += f"  skipped {len(source.skipped)}"
    print(line)
    return 0


def demo_video_path():
    """Where `--demo` writes its annotated video unless --save-video says: the temporary folder, never the
    current one (the user did not ask for a file there)."""
    import tempfile
    from pathlib import Path

    return Path(tempfile.gettempdir()) / "siamtrack-demo" / "demo_tracked.mp4"


def check_outputs(args) -> None:
    """Every output path is checked before any work: one clear line (exit 2) instead of a failure after the
    model has loaded or the video has been tracked; an output that is one of the inputs is refused."""
    from pathlib import Path

    from ..errors import UserError
    from ..io.sinks import check_output_file, check_video_output

    outputs = []
    if args.output:
        outputs.append(("--output", check_output_file(args.output, "--output")))
    if args.save_video:
        outputs.append(("--save-video", check_video_output(args.save_video, "--save-video")))
    inputs = [Path(p) for p in (args.source, args.groundtruth, args.weights, args.config, args.init_file) if p]
    for flag, out in outputs:
        for inp in inputs:
            if out.exists() and inp.exists() and out.resolve() == inp.resolve():
                raise UserError(f"{flag} {out}: is one of the inputs; give another file name")
    if len(outputs) == 2 and outputs[0][1].resolve() == outputs[1][1].resolve():
        raise UserError("--output and --save-video name the same file")


def _rate(run) -> float:
    """The run's tracking rate (tracker.sequence.fps_from_times: 1 / median update time), 0 before any update."""
    fps = run.fps
    return fps if fps == fps else 0.0
