"""Recipes: the defaults of a preset's family, a YAML recipe file, and command-line overrides → TrainConfig.

A recipe file is flat YAML with the command-line option names (underscores or dashes), plus
`preset`, `sources` (a list of {kind, path, weight, range, images, min_size}) and `val` (names).
The effective recipe of a run is written to OUT/recipe.yaml, so a run can be repeated with --recipe.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError
from .augment import CropAugment
from .config import TrainConfig
from .pairs import PairConfig
from .source_spec import parse_source_spec, spec_from_dict

# option name -> type; everything a recipe or the command line may set
OPTIONS = {
    "epochs": int,
    "steps_per_epoch": int,
    "batch_size": int,
    "workers": int,
    "lr": float,
    "end_lr": float,
    "warmup_epochs": float,
    "warmup_lr": float,
    "momentum": float,
    "weight_decay": float,
    "clip": float,
    "freeze_epochs": int,
    "backbone_lr_mult": float,
    "train_layers": str,
    "cls_weight": float,
    "loc_weight": float,
    "radius": float,
    "neg": float,
    "gray": float,
    "paste": float,
    "distractor": float,
    "metric_loss": str,
    "metric_weight": float,
    "metric_margin": float,
    "shift": float,
    "scale": float,
    "blur": float,
    "color": float,
    "flip": float,
    "template_shift": float,
    "template_scale": float,
    "search_size": int,
    "device": str,
    "amp": bool,
    "seed": int,
    "init": str,
    "pretrained": bool,
    "save_every": int,
    "keep": int,
    "val_every": int,
    "val_frames": int,
    "log_every": int,
    "max_steps": int,
    "out": str,
}

PRETRAINED_BACKBONES = ("efficientnet_lite0",)


def family_defaults(preset) -> dict:
    """Numbers from the references: siamfc-pytorch (SiamFC) and pysot (SiamRPN / SiamRPN++)."""
    d = {
        "epochs": 20,
        "steps_per_epoch": 500,
        "batch_size": 16,
        "workers": 2,
        "momentum": 0.9,
        "clip": 10.0,
        "cls_weight": 1.0,
        "loc_weight": 1.2,
        "radius": 16.0,
        "neg": 0.2,
        "gray": 0.0,
        "paste": 0.0,
        "distractor": 0.0,
        "metric_loss": "none",
        "metric_weight": 0.1,
        "metric_margin": 0.5,
        "shift": 64.0,
        "scale": 0.18,
        "blur": 0.2,
        "color": 1.0,
        "flip": 0.0,
        "template_shift": 4.0,
        "template_scale": 0.05,
        "search_size": 255,
        "device": "auto",
        "amp": True,
        "seed": 0,
        "pretrained": True,
        "save_every": 0,
        "keep": 0,
        "val_every": 1,
        "val_frames": 0,
        "log_every": 10,
    }
    if preset.family == "siamfc":
        d.update(lr=1e-2, end_lr=1e-5, weight_decay=5e-4, warmup_epochs=0.0, warmup_lr=1e-2)
    else:
        d.update(lr=0.005, end_lr=0.0005, weight_decay=1e-4, warmup_lr=0.001)
    return d


def _epoch_dependent(d: dict, preset) -> None:
    """Warm-up and freezing scale with the run length (pysot: 5 of 20 epochs warm-up, backbone frozen
    for the first 10) unless set explicitly."""
    e = d["epochs"]
    if "warmup_epochs" not in d:
        d["warmup_epochs"] = min(5.0, e / 4) if e >= 4 else 0.0
    pretrained = preset.model.backbone in PRETRAINED_BACKBONES and d.get("pretrained", True)
    if "freeze_epochs" not in d:
        d["freeze_epochs"] = e // 2 if pretrained else 0
    if "backbone_lr_mult" not in d:
        d["backbone_lr_mult"] = 0.1 if pretrained else 1.0


def _coerce(key: str, value, where: str):
    typ = OPTIONS[key]
    if typ is bool and isinstance(value, bool):
        return value
    try:
        if typ is bool:
            return str(value).lower() in ("1", "true", "yes", "on")
        return typ(value)
    except (TypeError, ValueError):
        raise UserError(f"{where}: {key}={value!r} is not a valid {typ.__name__}") from None


def read_recipe(path) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: recipe file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a recipe must be a mapping of option: value")
    out = {}
    for k, v in data.items():
        key = str(k).replace("-", "_")
        if key in ("preset", "sources", "val"):
            out[key] = v
        elif key in OPTIONS:
            out[key] = None if v is None else _coerce(key, v, str(path))
        else:
            raise UserError(f"{path}: unknown recipe option {k!r}")
    return out


def config_from_args(args):
    """(TrainConfig, resume path or None) from parsed `siamtrack train` arguments."""
    from ..build import resolve_preset

    rec = read_recipe(args.recipe) if getattr(args, "recipe", None) else {}
    where = args.recipe or "recipe"
    preset_name = args.preset or rec.get("preset")
    if not preset_name:
        raise UserError("train: name a preset (e.g. siamrpn_alex_dwxcorr) or give a recipe with 'preset:'")
    preset = resolve_preset(preset_name)

    values = {k: v for k, v in rec.items() if k in OPTIONS and v is not None}
    for key in OPTIONS:
        v = getattr(args, key, None)
        if v is not None and key not in ("amp", "pretrained"):
            values[key] = v
    if getattr(args, "no_amp", False):
        values["amp"] = False
    if getattr(args, "no_pretrained", False):
        values["pretrained"] = False
    d = family_defaults(preset)
    explicit = set(values)
    d.update(values)
    for k in ("warmup_epochs", "freeze_epochs", "backbone_lr_mult"):
        if k not in explicit:
            d.pop(k, None)
    _epoch_dependent(d, preset)

    if args.data:
        specs = [parse_source_spec(s) for s in args.data]
    else:
        raw = rec.get("sources") or []
        if not isinstance(raw, list):
            raise UserError(f"{where}: 'sources' must be a list")
        specs = [spec_from_dict(s, where) if isinstance(s, dict) else parse_source_spec(str(s)) for s in raw]
    if not specs:
        raise UserError("train: no training data; give --data KIND=PATH (see --help) or 'sources' in a recipe")
    val = args.val.split(",") if args.val else rec.get("val") or []
    if isinstance(val, str):
        val = val.split(",")
    val = [v.strip() for v in val if str(v).strip()]

    out = d.get("out") or f"runs/train_{preset.name}"
    pairs = PairConfig(
        exemplar_size=int(preset.track.exemplar_size),
        search_size=int(d["search_size"]),
        context=float(preset.track.context_amount),
        neg=d["neg"],
        gray=d["gray"],
        paste=d["paste"],
        distractor=d["distractor"],
        template=CropAugment(
            shift=d["template_shift"], scale=d["template_scale"], blur=0.0, color=d["color"], flip=0.0
        ),
        search=CropAugment(shift=d["shift"], scale=d["scale"], blur=d["blur"], color=d["color"], flip=d["flip"]),
    )
    from .metric import METRIC_LOSSES

    if d["metric_loss"] not in METRIC_LOSSES:
        raise UserError(f"train: --metric-loss {d['metric_loss']!r}: choose one of {', '.join(METRIC_LOSSES)}")
    for name in ("neg", "gray", "paste", "distractor", "blur", "color", "flip"):
        if not 0.0 <= d[name] <= 1.0:
            raise UserError(f"train: --{name} is a probability (0..1), got {d[name]}")
    for name in ("epochs", "steps_per_epoch", "batch_size"):
        if d[name] < 1:
            raise UserError(f"train: --{name.replace('_', '-')} must be at least 1")
    cfg = TrainConfig(
        preset=preset_name,
        sources=specs,
        val=val,
        out=out,
        epochs=d["epochs"],
        steps_per_epoch=d["steps_per_epoch"],
        batch_size=d["batch_size"],
        workers=d["workers"],
        lr=d["lr"],
        end_lr=d["end_lr"],
        warmup_epochs=d["warmup_epochs"],
        warmup_lr=d["warmup_lr"],
        momentum=d["momentum"],
        weight_decay=d["weight_decay"],
        clip=d["clip"],
        freeze_epochs=d["freeze_epochs"],
        backbone_lr_mult=d["backbone_lr_mult"],
        train_layers=[s.strip() for s in d["train_layers"].split(",")] if d.get("train_layers") else None,
        cls_weight=d["cls_weight"],
        loc_weight=d["loc_weight"],
        radius=d["radius"],
        pairs=pairs,
        seed=d["seed"],
        metric_loss=d["metric_loss"],
        metric_weight=d["metric_weight"],
        metric_margin=d["metric_margin"],
        device=d["device"],
        amp=d["amp"],
        init=d.get("init"),
        pretrained_backbone=d["pretrained"],
        save_every=d["save_every"],
        keep=d["keep"],
        val_every=d["val_every"],
        val_frames=d["val_frames"],
        log_every=d["log_every"],
        max_steps=d.get("max_steps"),
        progress=not getattr(args, "no_progress", False),
    )

    resume = getattr(args, "resume", None)
    if resume == "auto":
        last = Path(out) / "last.pth"
        resume = str(last) if last.is_file() else None
        if resume is None:
            print(f"no checkpoint in {out}: starting a new run")
    elif resume and not Path(resume).is_file():
        raise UserError(f"--resume {resume}: checkpoint not found")
    if int(os.environ.get("RANK", "0")) == 0:
        write_recipe(Path(out) / "recipe.yaml", preset_name, d, specs, val)
    return cfg, resume


def write_recipe(path: Path, preset_name: str, d: dict, specs, val) -> None:
    import yaml

    from ..io.sinks import atomic_write_text

    rec: dict = {"preset": preset_name}
    rec.update({k: d[k] for k in OPTIONS if k in d and d[k] is not None})
    rec["sources"] = [s.to_dict() for s in specs]
    rec["val"] = list(val)
    atomic_write_text(path, yaml.safe_dump(rec, sort_keys=False))
