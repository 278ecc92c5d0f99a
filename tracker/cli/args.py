"""Command-line helpers shared by the `siamtrack` commands: the one vocabulary of flags, old spellings kept for
one release with a deprecation note, and values argparse would otherwise take for options.

The vocabulary (every command that has the idea uses the same flag for it):
  --init X,Y,W,H      the initial box (track, gui); train starts from weights with --init-weights FILE
  --output FILE       the box file, one x,y,w,h line per frame (track, gui); batch's summary CSV is --summary
  --save-video FILE   the annotated video (track, gui; batch: a switch, one video per item)
  --out-dir DIR       a folder of results (batch, train)
  --workers N         processes working in parallel, 0 = one per core (batch, bench); train's DataLoader
                      processes are --data-workers
  --threads N         CPU threads per process
  --quiet             no progress output
Sources come first, positionally: `siamtrack track SOURCE`, `siamtrack gui [SOURCE]`, `siamtrack batch INPUT`.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn

# The release in which the old spellings stop working.
REMOVED_IN = "0.3"

# A comma-separated list of numbers whose first one is negative ("-100,-100,20,20"): argparse reads such a
# value as an option, so `--init -100,-100,20,20` would fail with "expected one argument".
_NEGATIVE_LIST = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(\s*,\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)+$")


def join_negative_values(argv: list[str]) -> list[str]:
    """`--flag -1,2,3,4` -> `--flag=-1,2,3,4`, so that a box (or any number list) starting with a negative
    number is read as the option's value. Nothing else changes; everything after `--` is left alone."""
    out: list[str] = []
    for i, tok in enumerate(argv):
        if "--" in argv[:i]:
            out.append(tok)
            continue
        prev = out[-1] if out else ""
        if (
            _NEGATIVE_LIST.match(tok)
            and prev.startswith("-")
            and len(prev) > 1
            and "=" not in prev
            and not _NEGATIVE_LIST.match(prev)
        ):
            out[-1] = f"{prev}={tok}"
        else:
            out.append(tok)
    return out


class Parser(argparse.ArgumentParser):
    """argparse's parser (and its subcommands' parsers), with a bad option value reported in one line: the
    message names the option and what it expects (`argument --init: expected X,Y,W,H ...`), so the usage
    printed above it would only bury it. A missing or unknown argument keeps argparse's usage, where the
    usage is what helps. Exit status 2 either way."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("argument "):
            self.exit(2, f"{self.prog}: error: {message}\n")
        super().error(message)


def deprecation_note(old: str, new: str) -> None:
    print(f"siamtrack: note: {old} is deprecated, use {new} ({old} goes in {REMOVED_IN})", file=sys.stderr)


class _Deprecated(argparse.Action):
    """Stores like the new flag, after one line on stderr naming the new spelling."""

    def __init__(self, option_strings, dest, new_flag: str, store_true: bool = False, **kwargs):
        self.new_flag = new_flag
        self.store_true = store_true
        if store_true:
            kwargs["nargs"] = 0
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        deprecation_note(option_string, self.new_flag)
        setattr(namespace, self.dest, True if self.store_true else values)


def add_deprecated(parser, old: str, new: str, dest: str, store_true: bool = False, **kwargs) -> None:
    """Keep the old spelling `old` of the flag `new` (dest `dest`) working, hidden from --help."""
    parser.add_argument(
        old,
        dest=dest,
        action=_Deprecated,
        new_flag=new,
        store_true=store_true,
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
        **kwargs,
    )


def int_at_least(minimum: int, note: str = ""):
    """An argparse type: a whole number >= `minimum` (`note` says what the smallest value means)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(
                f"must be {minimum}{note} or more" if note else f"must be at least {minimum}"
            )
        return v

    return parse


workers_arg = int_at_least(0, " (one per core)")  # --workers: 0 means one per core


def add_model_dir_arguments(p) -> None:
    """The command-line flags naming the folders of the DNN trackers' ONNX files (track, batch, bench)."""
    p.add_argument(
        "--opencv-models",
        default=None,
        metavar="DIR",
        help="folder with the ONNX files of OpenCV's DNN trackers (Nano, Vit, DaSiamRPN)",
    )
    p.add_argument(
        "--nano-dir",
        default=None,
        metavar="DIR",
        help="folder with NanoTrack's backbone and neck/head ONNX files (for opencv:nano)",
    )
    p.add_argument("--vit-dir", default=None, metavar="DIR", help="folder with the ViT tracker's ONNX (opencv:vit)")
    p.add_argument(
        "--dasiamrpn-dir",
        default=None,
        metavar="DIR",
        help="folder with DaSiamRPN's model / kernel_cls1 / kernel_r1 ONNX files (opencv:dasiamrpn)",
    )


def model_dirs(args) -> dict[str, str | None]:
    """Each DNN tracker's model folder from those flags: its own flag, else --opencv-models."""
    shared = args.opencv_models
    return {"nano": args.nano_dir or shared, "vit": args.vit_dir or shared, "dasiamrpn": args.dasiamrpn_dir or shared}


def parse_init_box(text: str) -> tuple[float, float, float, float]:
    """--init X,Y,W,H (track, gui): four numbers, separated as every box text is (tracker.io.boxes: commas,
    spaces, tabs or semicolons); ValueError otherwise. Whether the box fits the frame is the tracker's check."""
    from ..io.boxes import parse_values

    try:
        values = tuple(parse_values(text))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise ValueError(f"expected X,Y,W,H (four numbers), got {text!r}")
    return values


def box_arg(text: str) -> tuple[float, float, float, float]:
    """argparse type of --init (parse_init_box)."""
    try:
        return parse_init_box(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def model_uses_torch(model) -> bool:
    """Whether building `model` loads a torch network: a preset or YAML, not `opencv:NAME`, `opencv-nano:DIR`
    or an export folder. Such a command calls tracker.runtime.configure_process() first (the builder leaves the process
    alone)."""
    if str(model).lower().startswith(("opencv:", "opencv-nano:")):
        return False
    from ..engines.exported import is_export

    return not is_export(model)
