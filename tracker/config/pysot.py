"""Translate a pysot experiment YAML (the config.yaml beside a model-zoo file) into a Preset.

BACKBONE, ADJUST, RPN, ANCHOR and TRACK are honoured; anything we cannot honour (a mask or refine head,
an unsupported backbone or tracker type, an unknown key in those sections) fails naming the key.
Defaults are pysot's own (pysot/core/config.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from .preset_parts import HeadSpec, ModelSpec, NeckSpec, SiamRPNParams
from .presets import PYSOT_INPUT, Preset, PresetError

BACKBONES = {
    "alexnetlegacy": "alexnet_legacy",
    "alexnet": "alexnet",
    "resnet50": "resnet50",
    "resnet18": "resnet18",
    "resnet34": "resnet34",
}
TRACK_KEYS = {
    "TYPE": None,
    "PENALTY_K": "penalty_k",
    "WINDOW_INFLUENCE": "window_influence",
    "LR": "lr",
    "EXEMPLAR_SIZE": "exemplar_size",
    "INSTANCE_SIZE": "instance_size",
    "BASE_SIZE": "base_size",
    "CONTEXT_AMOUNT": "context_amount",
    "LOST_INSTANCE_SIZE": "lost_instance_size",
    "CONFIDENCE_LOW": "confidence_low",
    "CONFIDENCE_HIGH": "confidence_high",
    "MASK_THERSHOLD": None,
    "MASK_OUTPUT_SIZE": None,
}
IGNORED_SECTIONS = {"META_ARC", "CUDA", "TRAIN", "DATASET", "BACKBONE_TRAIN"}


class ConfigError(PresetError):
    pass


def _section(cfg: dict, name: str, allowed: set[str], source: str) -> dict:
    sec = cfg.get(name) or {}
    if not isinstance(sec, dict):
        raise ConfigError(f"{source}: {name} must be a mapping")
    unknown = sorted(set(sec) - allowed)
    if unknown:
        raise ConfigError(f"{source}: {name}.{unknown[0]} is not supported by siamtrack")
    return sec


def read_yaml(path: str | os.PathLike):
    """The parsed YAML file, or a ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a YAML config (not a text file)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None


def load_pysot_config(path: str | os.PathLike, cfg=None) -> Preset:
    """A Preset from a pysot config file (`cfg`: its already parsed content, if the caller has it)."""
    path = Path(path)
    source = str(path)
    if cfg is None:
        cfg = read_yaml(path)
    if not isinstance(cfg, dict):
        raise ConfigError(f"{source}: not a pysot config (expected a mapping at the top level)")
    known = {"BACKBONE", "ADJUST", "RPN", "ANCHOR", "TRACK", "MASK", "REFINE"} | IGNORED_SECTIONS
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ConfigError(f"{source}: top-level key {unknown[0]} is not a pysot section siamtrack knows")

    for flag in ("MASK", "REFINE"):
        sec = cfg.get(flag) or {}
        if sec.get(flag):
            raise ConfigError(f"{source}: {flag}.{flag} is true — {flag.lower()} heads (SiamMask) are not supported")

    bb = _section(cfg, "BACKBONE", {"TYPE", "KWARGS", "PRETRAINED", "TRAIN_LAYERS", "LAYERS_LR", "TRAIN_EPOCH"}, source)
    bb_type = str(bb.get("TYPE", "res50")).lower()
    if bb_type not in BACKBONES:
        raise ConfigError(f"{source}: BACKBONE.TYPE {bb_type!r} is not supported (supported: {', '.join(BACKBONES)})")
    bb_kwargs = dict(bb.get("KWARGS") or {})

    adj = _section(cfg, "ADJUST", {"ADJUST", "TYPE", "KWARGS"}, source)
    neck = None
    if adj.get("ADJUST", True):
        adj_type = adj.get("TYPE", "AdjustAllLayer")
        if adj_type not in ("AdjustLayer", "AdjustAllLayer"):
            raise ConfigError(f"{source}: ADJUST.TYPE {adj_type!r} is not supported")
        kw = adj.get("KWARGS") or {}
        out = kw.get("out_channels", 256)
        out = list(out) if isinstance(out, (list, tuple)) else [int(out)]
        neck = NeckSpec(out_channels=out, center_size=int(kw.get("center_size", 7)))
        neck_in = kw.get("in_channels")
        neck_in = list(neck_in) if isinstance(neck_in, (list, tuple)) else ([neck_in] if neck_in is not None else None)
    else:
        neck_in = None

    rpn = _section(cfg, "RPN", {"TYPE", "KWARGS"}, source)
    rpn_type = rpn.get("TYPE", "DepthwiseRPN")
    rkw = dict(rpn.get("KWARGS") or {})
    anchor = _section(cfg, "ANCHOR", {"STRIDE", "RATIOS", "SCALES", "ANCHOR_NUM"}, source)
    ratios = tuple(anchor.get("RATIOS", (0.33, 0.5, 1, 2, 3)))
    scales = tuple(anchor.get("SCALES", (8,)))
    anchor_num = int(rkw.get("anchor_num", anchor.get("ANCHOR_NUM", 5)))
    if anchor_num != len(ratios) * len(scales):
        raise ConfigError(
            f"{source}: RPN.KWARGS.anchor_num {anchor_num} but ANCHOR gives {len(ratios)} ratios x {len(scales)} scales"
        )
    if rpn_type == "DepthwiseRPN":
        head = HeadSpec("depthwise", anchor_num=anchor_num, hidden=rkw.get("out_channels"))
        head_in = [rkw.get("in_channels", 256)]
    elif rpn_type == "UPChannelRPN":
        head = HeadSpec("upchannel", anchor_num=anchor_num)
        head_in = [rkw.get("feature_in", 256)]
    elif rpn_type == "MultiRPN":
        head = HeadSpec("multi", anchor_num=anchor_num, weighted=bool(rkw.get("weighted", False)))
        head_in = list(rkw.get("in_channels", [256, 256, 256]))
    else:
        raise ConfigError(f"{source}: RPN.TYPE {rpn_type!r} is not supported (DepthwiseRPN, UPChannelRPN, MultiRPN)")
    extra = sorted(set(rkw) - {"anchor_num", "in_channels", "out_channels", "feature_in", "weighted"})
    if extra:
        raise ConfigError(f"{source}: RPN.KWARGS.{extra[0]} is not supported")

    track = _section(cfg, "TRACK", set(TRACK_KEYS), source)
    ttype = track.get("TYPE", "SiamRPNTracker")
    if ttype not in ("SiamRPNTracker", "SiamRPNLTTracker"):
        raise ConfigError(f"{source}: TRACK.TYPE {ttype!r} is not supported (SiamRPNTracker, SiamRPNLTTracker)")
    params = SiamRPNParams(
        anchor_stride=int(anchor.get("STRIDE", 8)),
        anchor_ratios=ratios,
        anchor_scales=scales,
        long_term=ttype == "SiamRPNLTTracker",
    )
    for key, field_name in TRACK_KEYS.items():
        if field_name and key in track:
            setattr(params, field_name, type(getattr(params, field_name))(track[key]))

    name = str(cfg.get("META_ARC") or path.stem)
    preset = Preset(
        name=name,
        family="siamrpn",
        model=ModelSpec(BACKBONES[bb_type], bb_kwargs, neck, head),
        track=params,
        input=PYSOT_INPUT,
        checkpoint_format="pysot",
        description=f"from pysot config {path.name}",
    )
    _check_channels(preset, neck_in, head_in, source)
    return preset


def _check_channels(preset: Preset, neck_in, head_in, source: str) -> None:
    """The YAML states channel counts that our builder derives from the backbone; they must agree."""
    import torch

    from backbones import BackboneError, build_backbone

    try:
        with torch.device("meta"):
            backbone = build_backbone(preset.model.backbone, **preset.model.backbone_kwargs)
    except BackboneError as exc:  # backbones knows nothing of tracker: its user errors become ours here
        raise ConfigError(f"{source}: {exc}") from None
    bb_out = list(backbone.out_channels)
    if neck_in is not None and list(neck_in) != bb_out:
        raise ConfigError(
            f"{source}: ADJUST.KWARGS.in_channels {neck_in} but backbone {preset.model.backbone} gives {bb_out}"
        )
    feat = list(preset.model.neck.out_channels) if preset.model.neck else bb_out
    if [int(c) for c in head_in] != feat:
        raise ConfigError(f"{source}: RPN input channels {head_in} but the features have {feat} channels")
