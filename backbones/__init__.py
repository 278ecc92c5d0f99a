"""Feature extractors for the Siamese trackers, by name.

    from backbones import build_backbone, BACKBONES
    bb = build_backbone("alexnet_legacy", width_mult=0.5)
    maps = bb(x)                 # always a list of maps, in the order of used_layers
    bb.out_channels, bb.strides, bb.feature_size(255), bb.input_convention, bb.checkpoint_prefix

Every backbone's module names equal the reference checkpoints' key names after ``backbone.``
(siamfc-pytorch, pysot, the EfficientNet-Lite0 ImageNet file, NanoTrack), so their state_dicts load unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .alexnet import AlexNet, AlexNetLegacy, AlexNetSiamFC
from .base import Backbone
from .efficientnet_lite import EfficientNetLite0, efficientnet_lite0
from .errors import BackboneError
from .mobilenet_v3 import MobileNetV3Small, mobilenetv3_small, mobilenetv3_small_v3
from .resnet_atrous import ResNetAtrous, resnet18, resnet34, resnet50

BACKBONES: dict[str, Callable[..., Backbone]] = {
    "alexnet_siamfc": AlexNetSiamFC,
    "alexnet_legacy": AlexNetLegacy,
    "alexnet": AlexNet,
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "efficientnet_lite0": efficientnet_lite0,
    # NanoTrack v2 and v3 (their configs' BACKBONE.TYPE names)
    "mobilenetv3_small": mobilenetv3_small,
    "mobilenetv3_small_v3": mobilenetv3_small_v3,
}

# pysot's BACKBONE.TYPE names for the same constructors (so a pysot YAML can name them directly).
PYSOT_NAMES = {
    "alexnetlegacy": "alexnet_legacy",
    "alexnet": "alexnet",
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
}


def accepted_kwargs(name: str) -> list:
    """Keyword arguments the named backbone accepts."""
    return [p for p in inspect.signature(BACKBONES[name]).parameters]


def build_backbone(name: str, **kwargs) -> Backbone:
    """Build a backbone by registry name (see ``BACKBONES``).

    Unknown name -> ``BackboneError`` (backbones.errors) listing the available ones; unknown keyword -> TypeError
    naming it and the accepted ones.
    """
    if name not in BACKBONES:
        raise BackboneError(f"unknown backbone {name!r}; available: {', '.join(sorted(BACKBONES))}")
    accepted = accepted_kwargs(name)
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown:
        raise TypeError(
            f"backbone {name!r} does not accept {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(accepted) if accepted else 'no arguments'}"
        )
    return BACKBONES[name](**kwargs)


__all__ = [
    "BACKBONES",
    "PYSOT_NAMES",
    "Backbone",
    "BackboneError",
    "build_backbone",
    "accepted_kwargs",
    "AlexNet",
    "AlexNetLegacy",
    "AlexNetSiamFC",
    "ResNetAtrous",
    "EfficientNetLite0",
    "MobileNetV3Small",
]
