"""`siamtrack models`: the presets, their family, backbone, input convention and weights."""

from __future__ import annotations


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print as JSON")


def run(args) -> int:
    import json

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
