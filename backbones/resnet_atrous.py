"""The atrous ResNet of SiamRPN++ (pysot ``resnet_atrous``) — not torchvision's ResNet.

Differences from the classification ResNet, all needed to load pysot checkpoints and get their map sizes:
the 7x7 stem convolution has no padding; a stride-2 3x3 convolution has no padding (``2 - stride``);
the downsample branch of layer2..4 is a 3x3 convolution; layer3 and layer4 keep stride 8 and use
dilation 2 and 4 instead (the first block of a dilated layer uses half the dilation).
"""

from __future__ import annotations

import torch.nn as nn

from .alexnet import BGR_0_255
from .base import Backbone, check_used_layers, conv_out


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, dilation=1):
        super().__init__()
        padding = dilation if dilation > 1 else 2 - stride
        first_dilation, first_padding = dilation, padding
        if downsample is not None and dilation > 1:
            # the block that enters a dilated layer still uses the previous layer's dilation
            first_dilation = first_padding = dilation // 2
        self.conv1 = nn.Conv2d(
            inplanes, planes, 3, stride=stride, padding=first_padding, dilation=first_dilation, bias=False
        )
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, dilation=1):
        super().__init__()
        if stride != 1 and dilation != 1:
            raise ValueError("a block cannot both stride and dilate")
        padding = 2 - stride
        if downsample is not None and dilation > 1:
            dilation = dilation // 2  # the block that enters a dilated layer uses half the dilation
        if dilation > 1:
            padding = dilation
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=padding, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNetAtrous(Backbone):
    """Atrous ResNet (pysot ``resnet_atrous``): resnet18 / resnet34 (BasicBlock), resnet50 (Bottleneck).

    - Stem: ``conv1`` 7x7/2 3->64 no padding no bias, ``bn1``, ReLU, maxpool 3/2 padding 1.
      layer1 (64 planes, stride 1), layer2 (128, stride 2), layer3 (256, stride 1, dilation 2),
      layer4 (512, stride 1, dilation 4). Downsample branches: 1x1 when the layer neither strides nor
      dilates (layer1 of resnet50), otherwise 3x3 (padding 0 at stride 2; padding = dilation = half the
      layer's dilation in layer3/4). layer3 / layer4 exist only when 3 / 4 is in ``used_layers`` (as in pysot,
      whose checkpoints then lack those keys).
    - ``used_layers`` index the maps [stem after ReLU (before maxpool), layer1, layer2, layer3, layer4]:
      0 -> 64 ch stride 2; 1 -> 64e stride 4; 2 -> 128e stride 8; 3 -> 256e stride 8; 4 -> 512e stride 8,
      e = 4 for resnet50, 1 for resnet18/34. resnet50 with [2, 3, 4] returns 512/1024/2048 channels;
      127 -> 15x15, 255 -> 31x31, 271 -> 33x33, 287 -> 35x35 at layers 2-4.
    - Input: BGR, float 0..255, no mean/std (pysot convention).
    - Checkpoint keys (after ``backbone.``): ``conv1.weight``, ``bn1.*``,
      ``layerN.i.{conv1,conv2,conv3,bn1,bn2,bn3}.*`` (conv3/bn3 only in resnet50),
      ``layerN.0.downsample.{0,1}.*``; BN = ``weight, bias, running_mean, running_var, num_batches_tracked``.
    - No ImageNet weights are shipped: random init as pysot (He normal, fan-out; BN weight 1 bias 0).
    """

    input_convention = BGR_0_255

    def __init__(self, block, layers, used_layers=(2, 3, 4)):
        super().__init__()
        self.used_layers = check_used_layers(used_layers, range(5), type(self).__name__)
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], dilation=2) if 3 in self.used_layers else None
        self.layer4 = self._make_layer(block, 512, layers[3], dilation=4) if 4 in self.used_layers else None

        channels = [64, 64 * block.expansion, 128 * block.expansion, 256 * block.expansion, 512 * block.expansion]
        strides = [2, 4, 8, 8, 8]
        self.out_channels = [channels[i] for i in self.used_layers]
        self.strides = [strides[i] for i in self.used_layers]

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block, planes, blocks, stride=1, dilation=1):
        downsample = None
        outplanes = planes * block.expansion
        if stride != 1 or self.inplanes != outplanes:
            if stride == 1 and dilation == 1:
                conv = nn.Conv2d(self.inplanes, outplanes, kernel_size=1, stride=stride, bias=False)
            else:
                dd = dilation // 2 if dilation > 1 else 1
                padding = dd if dilation > 1 else 0
                conv = nn.Conv2d(
                    self.inplanes, outplanes, kernel_size=3, stride=stride, padding=padding, dilation=dd, bias=False
                )
            downsample = nn.Sequential(conv, nn.BatchNorm2d(outplanes))
        layers = [block(self.inplanes, planes, stride, downsample, dilation=dilation)]
        self.inplanes = outplanes
        layers += [block(self.inplanes, planes, dilation=dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        stem = self.relu(self.bn1(self.conv1(x)))
        p1 = self.layer1(self.maxpool(stem))
        p2 = self.layer2(p1)
        p3 = p2 if self.layer3 is None else self.layer3(p2)
        p4 = p3 if self.layer4 is None else self.layer4(p3)
        maps = (stem, p1, p2, p3, p4)
        return [maps[i] for i in self.used_layers]

    def _map_sizes(self, input_size):
        stem = conv_out(input_size, 7, 2)
        p1 = conv_out(stem, 3, 2, 1)
        p2 = conv_out(p1, 3, 2)  # layer3/4 keep the size: padding equals dilation for their 3x3 convs
        sizes = [stem, p1, p2, p2, p2]
        return [sizes[i] for i in self.used_layers]


def resnet18(used_layers=(2, 3, 4)):
    """Atrous ResNet-18 (BasicBlock, 64/128/256/512 channels at layers 1-4); see :class:`ResNetAtrous`."""
    return ResNetAtrous(BasicBlock, [2, 2, 2, 2], used_layers=used_layers)


def resnet34(used_layers=(2, 3, 4)):
    """Atrous ResNet-34 (BasicBlock, 64/128/256/512 channels at layers 1-4); see :class:`ResNetAtrous`."""
    return ResNetAtrous(BasicBlock, [3, 4, 6, 3], used_layers=used_layers)


def resnet50(used_layers=(2, 3, 4)):
    """Atrous ResNet-50 of SiamRPN++ (Bottleneck, 256/512/1024/2048 channels at layers 1-4);
    see :class:`ResNetAtrous`."""
    return ResNetAtrous(Bottleneck, [3, 4, 6, 3], used_layers=used_layers)
