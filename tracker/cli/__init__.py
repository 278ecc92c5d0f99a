"""The `siamtrack` command: argument parsing only; each command's work lives in the library.

Each subcommand is a module of this package (`track`, `models`, `export`, `batch`, `bench`, `gui`, `train`)
with add_arguments(parser) and run(args); `args` holds the flags they share. Only this package parses
arguments: the library below it takes plain values."""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> module exposing add_arguments(parser) and run(args) -> int
COMMANDS = {
    "models": ("tracker.cli.models", "list the model presets and whether weights are available"),
    "track": ("tracker.cli.track", "track one object in a video, image folder or camera"),
    "bench": ("tracker.cli.bench", "benchmark trackers on OTB / VOT / GOT-10k style datasets"),
    "batch": ("tracker.cli.batch", "track many videos unattended (resumable, parallel, shardable)"),
    "gui": ("tracker.cli.gui", "the desktop application"),
    "train": ("tracker.cli.train", "train a preset on your data"),
    "export": ("tracker.cli.export", "export a model as ONNX graphs (template, search + head) with a sidecar"),
}


def build_parser() -> argparse.ArgumentParser:
    from ..version import __version__
    from .args import Parser

    parser = Parser(prog="siamtrack", description="Siamese single-object tracking")
    parser.add_argument("--version", action="version", version=f"siamtrack {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..errors import UserError
    from .args import join_negative_values

    parser = build_parser()
    args = parser.parse_args(join_negative_values(list(sys.argv[1:] if argv is None else argv)))
    from ..progress import show_notices

    # what the library says before a slow step (a first run's export), unless the command is asked to be quiet
    show_notices(None if getattr(args, "quiet", False) or getattr(args, "no_progress", False) else sys.stderr)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except KeyboardInterrupt:
        print("siamtrack: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`siamtrack models | head`): stop quietly, as other command-line tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (UserError, FileNotFoundError, PermissionError, IsADirectoryError, ImportError) as exc:
        from .._torch import is_torch_import_error, torch_missing

        if getattr(args, "debug", False) or (isinstance(exc, ImportError) and not is_torch_import_error(exc)):
            raise
        if isinstance(exc, ImportError):  # a path not guarded by tracker._torch: still one line
            exc = torch_missing(f"siamtrack {args.command} with these options")
        print(f"siamtrack {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        show_notices(None)
