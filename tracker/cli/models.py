"""`siamtrack models`: the presets, their family, backbone, input convention and weights; with `--speed`, what
`auto` runs each shipped export on here and why."""

from __future__ import annotations


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.add_argument(
        "--speed",
        action="store_true",
        help="for the models that ship an export: the engine (and precision) `auto` runs each on here and why, "
        "the search graph's best time on each candidate (timed the first time the model ran on this machine, "
        "then remembered, so every run computes the same boxes)",
    )
    p.add_argument("--retime", action="store_true", help="with --speed: forget the remembered choices and time again")
    p.add_argument("--threads", type=int, help="with --speed: engine threads (default: the cores free at start-up)")


def run(args) -> int:
    import json

    from ..errors import UserError

    if (args.retime or args.threads is not None) and not args.speed:
        raise UserError(("--retime" if args.retime else "--threads") + " goes with --speed")
    if args.speed:
        return _speed(args)

    from .._torch import torch_installed
    from ..config.presets import DEFAULT_PRESET, list_presets
    from ..engines.shipped import shipped_export_dir

    have_torch = torch_installed()
    rows: list[dict] = []
    for pr in list_presets():
        # without torch a preset runs only through a shipped ONNX export (today the default's)
        needs_torch = not have_torch and shipped_export_dir(pr) is None
        weights = "shipped" if pr.weights_available else "--weights FILE"
        rows.append(
            {
                "name": pr.name,
                "family": pr.family,
                "backbone": pr.backbone,
                "head": pr.model.head.type,
                "input": pr.input.describe(),
                "checkpoint": pr.checkpoint_format,
                "weights": weights + (" (needs torch)" if needs_torch else ""),
                "needs_torch": needs_torch,
                "default": pr.name == DEFAULT_PRESET,
                "description": pr.description,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = ["name", "family", "backbone", "head", "input", "checkpoint", "weights"]
    widths = {c: max(len(c), *(len(str(r[c])) + (2 if c == "name" else 0) for r in rows)) for c in cols}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols))
    for r in rows:
        vals = dict(r, name=r["name"] + (" *" if r["default"] else ""))
        print("  ".join(str(vals[c]).ljust(widths[c]) for c in cols))
    print(
        "\n* the default model (also `--model default`). Input: the model's channel order and pixel scaling "
        "(p = pixel value 0..255).\nOpenCV baselines: opencv:csrt, opencv:kcf, opencv:mil, opencv:nano, "
        "opencv:vit, opencv:dasiamrpn (see `siamtrack track --help`)."
    )
    if any(r["needs_torch"] for r in rows):
        from .._torch import INSTALL

        print(f"PyTorch is not installed: the models marked (needs torch) run after {INSTALL}.")
    return 0


DEMO_FRAMES = 60  # frames of the demo clip `--speed` tracks each model on


def _speed(args) -> int:
    """`--speed`: each shipped export's `auto` tracker built here (timing its candidates on the first run on this
    machine, reading the remembered choice after), and what it chose among what."""
    import json

    from ..build import build_tracker
    from ..config.presets import DEFAULT_PRESET, DEMO_GROUNDTRUTH, DEMO_VIDEO
    from ..engines import engine_text
    from ..engines.choice import CHOICES, cache_dir, forget_choices
    from ..engines.shipped import shipped_presets
    from ..io import open_source
    from ..io.boxes import read_box_file
    from ..runtime import configure_process, configure_threads

    configure_process()
    threads = configure_threads(args.threads)  # one count for every model, fixed before the first one times
    if args.retime:
        forget_choices()
    # the updates timed on the shipped demo clip's first frames, from its first ground-truth box
    with open_source(DEMO_VIDEO) as source:
        frames = [frame for _, (_, frame) in zip(range(DEMO_FRAMES), source)]
    box = read_box_file(DEMO_GROUNDTRUTH)[0]
    rows: list[dict] = []
    for name in shipped_presets():
        tracker = build_tracker(name, engine="auto")
        timed = getattr(tracker, "engine_choice", None) or {}
        run = tracker.track(frames, box)
        for _ in run:
            pass
        rows.append(
            {
                "name": name,
                "default": name == DEFAULT_PRESET,
                "runs_on": engine_text(tracker),
                "threads": threads,
                "update_ms": round(1000 / run.fps, 3),
                "search_graph_ms": dict(sorted(timed.items(), key=lambda kv: kv[1])),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    names = [r["name"] + (" *" if r["default"] else "") for r in rows]
    width = max(len("MODEL"), *map(len, names))
    on_width = max(len("RUNS ON"), *(len(r["runs_on"]) for r in rows))
    updates = [f"{r['update_ms']:.1f} ms ({1000 / r['update_ms']:.0f} fps)" for r in rows]
    up_width = max(len("UPDATE"), *map(len, updates))
    print(
        f"{'MODEL'.ljust(width)}  {'RUNS ON'.ljust(on_width)}  {'UPDATE'.ljust(up_width)}  "
        "SEARCH GRAPH, BEST OF THE TIMING THE CHOICE WAS MADE ON"
    )
    for label, update, r in zip(names, updates, rows):
        ms = r["search_graph_ms"]
        why = ", ".join(f"{k} {v:.2f} ms" for k, v in ms.items()) if ms else "one candidate here (nothing to time)"
        print(f"{label.ljust(width)}  {r['runs_on'].ljust(on_width)}  {update.ljust(up_width)}  {why}")
    print(
        f"\n* the default model. Update: the median time of one update on the demo clip's first {DEMO_FRAMES} "
        f"frames, now, on {threads} engine thread(s). Each choice was timed the first time its model ran on this "
        f"machine at that thread count and is remembered in {cache_dir() / CHOICES}, so later runs compute the "
        "same boxes; --retime times again."
    )
    return 0
