"""AlexNet variants used by SiamFC (siamfc-pytorch) and SiamRPN (pysot)."""

from __future__ import annotations

import torch.nn as nn

from .base import Backbone, conv_out

# Channel widths of the five convolutions (input first); pysot scales all but the input by width_mult.
ALEXNET_CHANNELS = (3, 96, 256, 384, 384, 256)

BGR_0_255 = {"channel_order": "BGR", "scale": 1.0, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
RGB_0_255 = {"channel_order": "RGB", "scale": 1.0, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


def _alexnet_size(n: int) -> list[int]:
    """Map size shared by all three variants: conv11/2, pool3/2, conv5, pool3/2, conv3 x3 (no padding)."""
    n = conv_out(n, 11, 2)
    n = conv_out(n, 3, 2)
    n = conv_out(n, 5)
    n = conv_out(n, 3, 2)
    for _ in range(3):
        n = conv_out(n, 3)
    return [n]


def _scaled_channels(width_mult: float) -> list:
    width_mult = float(width_mult)
    if not width_mult > 0:
        raise ValueError(f"width_mult must be positive, got {width_mult}")
    # The input stays 3; the others are truncated to int as pysot does (0.5 -> 48,128,192,192,128).
    return [ALEXNET_CHANNELS[0]] + [int(c * width_mult) for c in ALEXNET_CHANNELS[1:]]


class AlexNetSiamFC(Backbone):
    """The SiamFC AlexNet in siamfc-pytorch's ``AlexNetV1`` layout.

    - conv1 11x11/2 3->96, BN, ReLU, maxpool 3/2; conv2 5x5 96->256 groups=2, BN, ReLU, maxpool 3/2;
      conv3 3x3 256->384, BN, ReLU; conv4 3x3 384->384 groups=2, BN, ReLU; conv5 3x3 384->256 groups=2
      (with bias, no BN, no ReLU). No padding anywhere. BatchNorm eps 1e-6, momentum 0.05.
    - One map: 256 channels, total stride 8. 127 -> 6x6, 255 -> 22x22, 271 -> 24x24, 287 -> 26x26.
    - Input: RGB, float 0..255, no mean/std.
    - Checkpoint keys (after ``backbone.``): ``conv{1..4}.0.{weight,bias}`` (conv),
      ``conv{1..4}.1.{weight,bias,running_mean,running_var,num_batches_tracked}`` (BN),
      ``conv5.0.{weight,bias}``.
    """

    input_convention = RGB_0_255

    def __init__(self):
        super().__init__()

        def bn(c):
            return nn.BatchNorm2d(c, eps=1e-6, momentum=0.05)

        self.conv1 = nn.Sequential(nn.Conv2d(3, 96, 11, 2), bn(96), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
        self.conv2 = nn.Sequential(
            nn.Conv2d(96, 256, 5, 1, groups=2), bn(256), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2)
        )
        self.conv3 = nn.Sequential(nn.Conv2d(256, 384, 3, 1), bn(384), nn.ReLU(inplace=True))
        self.conv4 = nn.Sequential(nn.Conv2d(384, 384, 3, 1, groups=2), bn(384), nn.ReLU(inplace=True))
        self.conv5 = nn.Sequential(nn.Conv2d(384, 256, 3, 1, groups=2))
        self.out_channels = [256]
        self.strides = [8]

    def forward(self, x):
        for layer in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
            x = layer(x)
        return [x]

    def _map_sizes(self, input_size):
        return _alexnet_size(input_size)


class AlexNetLegacy(Backbone):
    """pysot's ``AlexNetLegacy`` (SiamRPN / DaSiamRPN, siamrpn_alex_dwxcorr).

    - One ``features`` Sequential, order Conv-BN-MaxPool-ReLU for the first two stages:
      0 conv 11x11/2 3->96w, 1 BN, 2 maxpool 3/2, 3 ReLU, 4 conv 5x5 ->256w, 5 BN, 6 maxpool 3/2, 7 ReLU,
      8 conv 3x3 ->384w, 9 BN, 10 ReLU, 11 conv 3x3 ->384w, 12 BN, 13 ReLU, 14 conv 3x3 ->256w, 15 BN.
      No groups, no padding, BatchNorm with PyTorch defaults (eps 1e-5). ``w`` = ``width_mult``; channel
      counts are ``int(c * width_mult)``.
    - One map: ``int(256 * width_mult)`` channels, total stride 8.
      127 -> 6x6, 255 -> 22x22, 271 -> 24x24, 287 -> 26x26.
    - Input: BGR, float 0..255, no mean/std.
    - Checkpoint keys (after ``backbone.``): ``features.{0,4,8,11,14}.{weight,bias}`` (convs),
      ``features.{1,5,9,12,15}.{weight,bias,running_mean,running_var,num_batches_tracked}`` (BN).
    """

    input_convention = BGR_0_255

    def __init__(self, width_mult: float = 1.0):
        super().__init__()
        c = _scaled_channels(width_mult)
        self.width_mult = float(width_mult)
        self.features = nn.Sequential(
            nn.Conv2d(c[0], c[1], kernel_size=11, stride=2),
            nn.BatchNorm2d(c[1]),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(c[1], c[2], kernel_size=5),
            nn.BatchNorm2d(c[2]),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(c[2], c[3], kernel_size=3),
            nn.BatchNorm2d(c[3]),
            nn.ReLU(inplace=True),
            nn.Conv2d(c[3], c[4], kernel_size=3),
            nn.BatchNorm2d(c[4]),
            nn.ReLU(inplace=True),
            nn.Conv2d(c[4], c[5], kernel_size=3),
            nn.BatchNorm2d(c[5]),
        )
        self.out_channels = [c[5]]
        self.strides = [8]

    def forward(self, x):
        return [self.features(x)]

    def _map_sizes(self, input_size):
        return _alexnet_size(input_size)


class AlexNet(Backbone):
    """pysot's ``AlexNet`` (the non-legacy one): the same network as :class:`AlexNetLegacy`, split in stages.

    - ``layer1`` = [conv 11x11/2 3->96w, BN, maxpool 3/2, ReLU], ``layer2`` = [conv 5x5 ->256w, BN,
      maxpool 3/2, ReLU], ``layer3`` = [conv 3x3 ->384w, BN, ReLU], ``layer4`` = [conv 3x3 ->384w, BN, ReLU],
      ``layer5`` = [conv 3x3 ->256w, BN]. BatchNorm eps 1e-5.
    - One map: ``int(256 * width_mult)`` channels, total stride 8; same sizes as AlexNetLegacy.
    - Input: BGR, float 0..255, no mean/std.
    - Checkpoint keys (after ``backbone.``): ``layer{1..5}.0.{weight,bias}`` (convs),
      ``layer{1..5}.1.{weight,bias,running_mean,running_var,num_batches_tracked}`` (BN).
    """

    input_convention = BGR_0_255

    def __init__(self, width_mult: float = 1.0):
        super().__init__()
        c = _scaled_channels(width_mult)
        self.width_mult = float(width_mult)
        self.layer1 = nn.Sequential(
            nn.Conv2d(c[0], c[1], kernel_size=11, stride=2),
            nn.BatchNorm2d(c[1]),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
        )
        self.layer2 = nn.Sequential(
            nn.Conv2d(c[1], c[2], kernel_size=5),
            nn.BatchNorm2d(c[2]),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
        )
        self.layer3 = nn.Sequential(nn.Conv2d(c[2], c[3], kernel_size=3), nn.BatchNorm2d(c[3]), nn.ReLU(inplace=True))
        self.layer4 = nn.Sequential(nn.Conv2d(c[3], c[4], kernel_size=3), nn.BatchNorm2d(c[4]), nn.ReLU(inplace=True))
        self.layer5 = nn.Sequential(nn.Conv2d(c[4], c[5], kernel_size=3), nn.BatchNorm2d(c[5]))
        self.out_channels = [c[5]]
        self.strides = [8]

    def forward(self, x):
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4, self.layer5):
            x = layer(x)
        return [x]

    def _map_sizes(self, input_size):
        return _alexnet_size(input_size)
