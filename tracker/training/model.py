"""The model a run trains and what training needs to know of it: the preset's model (with the weights to
start from), its geometry (family, crop sizes, score-map stride, anchors), the size of its score map and the
targets for it, the pair dataset made for that map, and what each checkpoint says about the model."""

from __future__ import annotations

import torch

from ..errors import UserError
from .checkpoint import unwrap
from .config import TrainConfig
from .pairs import AnchorFreeTargetMaker, PairDataset, RPNTargetMaker, SiamFCTargetMaker
from .sources import build_mix
from .targets import RPNTargets


def build_preset_model(cfg: TrainConfig):
    """(preset, model) of cfg.preset: ImageNet backbone weights where cfg asks for them, cfg.init's loaded in."""
    from ..build import resolve_preset
    from ..models import build_model, load_into, read_checkpoint

    preset = resolve_preset(cfg.preset)
    model = build_model(preset, pretrained_backbone=cfg.pretrained_backbone)
    if cfg.init:
        state, _ = read_checkpoint(cfg.init)
        load_into(model, state, cfg.init, preset.name)
    return preset, model


class ModelGeometry:
    """What training needs from a preset: family, crop sizes, context, score-map stride, anchors."""

    def __init__(self, preset):
        t = preset.track
        self.name = preset.name
        self.family = preset.family
        self.exemplar_size = int(t.exemplar_size)
        self.context = float(t.context_amount)
        if self.family == "siamfc":
            self.stride = float(t.total_stride)
            self.ratios, self.scales = (), ()
        elif self.family == "anchor_free":
            self.stride = float(preset.model.head.stride)
            self.ratios, self.scales = (), ()
        else:
            self.stride = float(t.anchor_stride)
            self.ratios, self.scales = tuple(t.anchor_ratios), tuple(t.anchor_scales)
        self.anchor_num = len(self.ratios) * len(self.scales)
        self.input = preset.input

    def describe_input(self) -> str:
        d = getattr(self.input, "describe", None)
        return d() if d else str(self.input)


def probe_score_size(model, geom: ModelGeometry, search_size: int, device) -> int:
    m = unwrap(model)
    was = m.training
    m.eval()
    with torch.no_grad():
        z = torch.zeros(1, 3, geom.exemplar_size, geom.exemplar_size, device=device)
        x = torch.zeros(1, 3, search_size, search_size, device=device)
        out = m(z, x)
    m.train(was)
    cls = out["cls"]
    if cls.shape[-1] != cls.shape[-2]:
        raise UserError(f"model {geom.name}: non-square score map {tuple(cls.shape)}")
    # anchor-free heads give one target logit per point, or background and target logits (NanoTrack's)
    expect = {"siamfc": (1,), "anchor_free": (1, 2)}.get(geom.family, (2 * geom.anchor_num,))
    if cls.shape[1] not in expect:
        raise UserError(
            f"model {geom.name}: score map has {cls.shape[1]} channels, expected {' or '.join(map(str, expect))}"
        )
    return int(cls.shape[-1])


def make_targets(geom: ModelGeometry, score_size: int, cfg: TrainConfig):
    if geom.family == "siamfc":
        return SiamFCTargetMaker(score_size, geom.stride, cfg.pairs.search_size, cfg.radius)
    if geom.family == "anchor_free":
        return AnchorFreeTargetMaker(score_size, geom.stride, cfg.pairs.search_size)
    from ..geometry import anchor_boxes

    anchors = anchor_boxes(int(geom.stride), geom.ratios, geom.scales, score_size)
    return RPNTargetMaker(RPNTargets(anchors, geom.anchor_num, score_size, geom.stride, cfg.pairs.search_size, cfg.rpn))


def build_pair_dataset(cfg: TrainConfig, model, geom: ModelGeometry, device) -> tuple[PairDataset, int]:
    """The training pairs of `cfg` with the targets of this model's score map; also the map's size."""
    score_size = probe_score_size(model, geom, cfg.pairs.search_size, device)
    dataset = PairDataset(build_mix(cfg.sources, cfg.val), cfg.pairs, make_targets(geom, score_size, cfg), cfg.seed)
    return dataset, score_size


def checkpoint_meta(geom: ModelGeometry, cfg: TrainConfig) -> dict:
    """What every checkpoint of this run says about itself: preset, family, input convention, recipe."""
    conv = geom.input
    return {
        "preset": geom.name,
        "family": geom.family,
        "input_convention": {
            "channel_order": str(conv.channel_order),
            "scale": float(conv.scale),
            "mean": list(conv.mean) if conv.mean is not None else None,
            "std": list(conv.std) if conv.std is not None else None,
            "description": geom.describe_input(),
        },
        "recipe": cfg.recipe(),
    }
