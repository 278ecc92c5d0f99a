"""MobileNetV3-Small as NanoTrack uses it: the stem and the inverted-residual blocks, no classifier, one
stride-16 map.

Two variants, named as in NanoTrack's configs: ``mobilenetv3_small`` (NanoTrack v2: eight blocks, 48 output
channels) and ``mobilenetv3_small_v3`` (NanoTrack v3: a ninth block at stride 1 to 96 channels). Module names
follow the authors' checkpoints after ``backbone.``: ``features.0`` is the stem (conv, BN, h-swish),
``features.N`` (N >= 1) an inverted residual whose layers sit in ``features.N.conv.K``, the squeeze-excitation
block's two linear layers in ``...conv.K.fc.0`` and ``...conv.K.fc.2``. So the authors' state_dicts load
strictly, unchanged. A 127-px template gives an 8x8 map, a 255-px search crop 16x16.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .base import Backbone, check_used_layers, conv_out

# (kernel, expansion, output channels, squeeze-excitation, h-swish, stride) per block, after the 16-channel
# 3x3/2 stem. v2's are the ImageNet MobileNetV3-Small's first eight; v3 adds a stride-1 block to 96 channels.
BLOCKS_V2 = (
    (3, 1.0, 16, True, False, 2),
    (3, 4.5, 24, False, False, 2),
    (3, 3.67, 24, False, False, 1),
    (5, 4.0, 40, True, True, 2),
    (5, 6.0, 40, True, True, 1),
    (5, 6.0, 40, True, True, 1),
    (5, 3.0, 48, True, True, 1),
    (5, 3.0, 48, True, True, 1),
)
BLOCKS_V3 = (*BLOCKS_V2, (5, 6.0, 96, True, True, 1))
STEM_CHANNELS = 16


def make_divisible(value: float, divisor: int = 8) -> int:
    """The nearest multiple of `divisor` (at least `divisor`), raised by one step if rounding lost over 10%:
    MobileNet's channel rounding, which fixes the expanded widths the checkpoints were trained with."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class SqueezeExcite(nn.Module):
    """Channel gates from the global average: linear to a quarter (rounded to 8), ReLU, linear back,
    hard sigmoid; the input scaled by them."""

    def __init__(self, channels: int):
        super().__init__()
        squeezed = make_divisible(channels / 4)
        self.fc = nn.Sequential(
            nn.Linear(channels, squeezed), nn.ReLU(inplace=True), nn.Linear(squeezed, channels), nn.Hardsigmoid()
        )

    def forward(self, x):
        gates = self.fc(x.mean(dim=(2, 3)))
        return x * gates[:, :, None, None]


def _activation(hswish: bool) -> nn.Module:
    return nn.Hardswish() if hswish else nn.ReLU(inplace=True)


class InvertedResidual(nn.Module):
    """Expansion 1x1 (left out where the expansion is 1), depthwise kxk, optional squeeze-excitation,
    projection 1x1; the input added back where the shape is kept. The layer order inside `conv` is the
    authors' (it fixes the key indices): with an expansion the SE block sits between the depthwise BN and
    its activation, without one after the activation."""

    def __init__(self, cin: int, hidden: int, cout: int, kernel: int, stride: int, se: bool, hswish: bool):
        super().__init__()
        self.residual = stride == 1 and cin == cout
        depthwise = [
            nn.Conv2d(hidden, hidden, kernel, stride, (kernel - 1) // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
        ]
        excite = SqueezeExcite(hidden) if se else nn.Identity()
        project = [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        if cin == hidden:
            layers = [*depthwise, _activation(hswish), excite, *project]
        else:
            expand = [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), _activation(hswish)]
            layers = [*expand, *depthwise, excite, _activation(hswish), *project]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV3Small(Backbone):
    """NanoTrack's MobileNetV3-Small (see the module docstring). ``used_layers`` is [4], the one map the
    authors' configs name: the output of the last block, stride 16."""

    input_convention = {"channel_order": "BGR", "scale": 1.0, "mean": None, "std": None}

    def __init__(self, blocks=BLOCKS_V2, used_layers=(4,)):
        super().__init__()
        check_used_layers(used_layers, {4}, type(self).__name__)
        layers: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(3, STEM_CHANNELS, 3, 2, 1, bias=False), nn.BatchNorm2d(STEM_CHANNELS), nn.Hardswish()
            )
        ]
        cin = STEM_CHANNELS
        for kernel, expansion, cout, se, hswish, stride in blocks:
            layers.append(InvertedResidual(cin, make_divisible(cin * expansion), cout, kernel, stride, se, hswish))
            cin = cout
        self.features = nn.Sequential(*layers)
        self._blocks = tuple(blocks)
        self.out_channels = [cin]
        self.strides = [16]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.features(x)]

    def _map_sizes(self, input_size: int) -> list:
        size = conv_out(input_size, 3, 2, 1)
        for kernel, *_, stride in self._blocks:
            size = conv_out(size, kernel, stride, (kernel - 1) // 2)
        return [size]


def mobilenetv3_small(used_layers=(4,)) -> MobileNetV3Small:
    """NanoTrack v2's backbone: 48 channels at stride 16."""
    return MobileNetV3Small(BLOCKS_V2, used_layers)


def mobilenetv3_small_v3(used_layers=(4,)) -> MobileNetV3Small:
    """NanoTrack v3's backbone: v2's and a stride-1 block to 96 channels."""
    return MobileNetV3Small(BLOCKS_V3, used_layers)
