"""`siamtrack export`: a model as ONNX graphs plus a sidecar, trackable on its own (`--model DIR`)."""

from __future__ import annotations

from pathlib import Path


def add_arguments(p):
    p.add_argument(
        "model",
        nargs="?",
        default=None,
        help="preset name (see `siamtrack models`); default: the shipped default model",
    )
    p.add_argument("--config", help="a pysot config.yaml (or a siamtrack preset YAML) instead of MODEL")
    p.add_argument(
        "--weights",
        help="checkpoint file (pysot, siamfc-pytorch, NanoTrack or siamtrack format); default: the preset's "
        "shipped weights",
    )
    p.add_argument("--out-dir", dest="out", metavar="DIR", help="folder to write (created if missing); required")
    from .args import add_deprecated

    add_deprecated(p, "--out", "--out-dir", "out", metavar="DIR")
    p.add_argument("--long-term", action="store_true", help="also export the long-term re-detection search graph")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="tracking value stored in the sidecar instead of the preset's; repeatable",
    )
    p.add_argument(
        "--int8",
        action="store_true",
        help="quantize the search graph to int8 (static, calibrated "
        "on --calibration); offered for the presets whose accuracy it keeps (weights/README.md)",
    )
    p.add_argument(
        "--calibration",
        metavar="DATA",
        help="folder of sequences with ground truth to calibrate int8 on (any layout `siamtrack bench` reads)",
    )
    p.add_argument(
        "--calibration-frames", type=int, default=96, metavar="N", help="search crops to calibrate on (default 96)"
    )
    p.add_argument(
        "--format",
        choices=["siamtrack", "opencv-nano"],
        default="siamtrack",
        help="siamtrack (default): template and search graphs plus the sidecar, for --model DIR; "
        "opencv-nano: backbone.onnx and neckhead.onnx for OpenCV's cv2.TrackerNano (anchor-free "
        "stride-16 models)",
    )


def run(args) -> int:
    from .._torch import require_torch
    from ..config.presets import INT8_CHECKED, int8_validated

    require_torch("exporting a model")
    from ..config.presets import DEFAULT_PRESET
    from ..errors import UserError
    from .track import parse_params

    if args.config and args.model:
        raise UserError("give MODEL or --config, not both")
    spec = args.config or args.model or DEFAULT_PRESET
    if str(spec).startswith("opencv:"):
        raise UserError(f"{spec} is OpenCV's own tracker; export takes a Siamese model preset or config")
    if args.calibration and not args.int8:
        raise UserError("--calibration is for --int8")
    if args.calibration_frames < 1:
        raise UserError("--calibration-frames must be at least 1")
    if not getattr(args, "out", None):
        raise UserError("give the folder to write with --out-dir DIR")
    from ..io.sinks import check_output_folder

    check_output_folder(args.out, "--out-dir")
    from ..build import resolve_preset
    from ..models import load_model

    preset = resolve_preset(spec)
    if args.param:
        preset = preset.replace_track(**parse_params(args.param))
    if args.int8:
        if args.calibration is None:
            raise UserError("--int8 needs --calibration DATA (a folder of sequences with ground truth)")
        if args.weights is None and not int8_validated(preset.name):
            delta = INT8_CHECKED.get(preset.name)
            why = "not validated" if delta is None else f"validation AUC {delta:+.3f} against float32"
            raise UserError(f"int8 is not offered for {preset.name} ({why}; weights/README.md, int8)")
    if args.format == "opencv-nano":
        if args.int8 or args.long_term:
            raise UserError("--format opencv-nano takes neither --int8 nor --long-term (cv2.TrackerNano runs float32)")
        from ..export.nano import check_nano_compatible

        check_nano_compatible(preset)
    from ..prepare.auto import weights_sha256

    model, _ = load_model(preset, args.weights, "cpu")
    if args.format == "opencv-nano":
        from ..export.nano import export_opencv_nano

        notes = export_opencv_nano(preset, model, args.out, weights_sha256(preset, args.weights))
        for name in ("backbone.onnx", "neckhead.onnx"):
            print(f"{Path(args.out) / name}  float32  {(Path(args.out) / name).stat().st_size / 1e6:.1f} MB")
        for note in notes:
            print(note)
        print(
            f"load with: params = cv2.TrackerNano_Params(); params.backbone = '{Path(args.out) / 'backbone.onnx'}'; "
            f"params.neckhead = '{Path(args.out) / 'neckhead.onnx'}'"
        )
        return 0
    from ..export.onnx import export_model

    calibration = None
    if args.int8:  # read before the export: a folder that holds no sequences fails before the slow steps
        from ..bench.datasets import load_dataset
        from ..export.quantize import Calibration

        calibration = Calibration(str(args.calibration), load_dataset(Path(args.calibration))[1])
    export = export_model(
        preset,
        model,
        args.out,
        weights_sha256(preset, args.weights),
        long_term=args.long_term,
        int8=args.int8,
        calibration=calibration,
        calibration_frames=args.calibration_frames,
    )
    for g in [export.template, *export.search]:
        print(f"{g.path}  {g.precision}  {g.path.stat().st_size / 1e6:.1f} MB")
    print(f"{export.root / 'siamtrack.json'}  sidecar")
    if args.int8 and args.weights is not None:
        print(
            "note: int8 is unvalidated for these weights: compare it with float32 on your data "
            "(siamtrack bench --model DIR)"
        )
    print(f"track with: siamtrack track VIDEO --model {export.root}")
    return 0
