"""Necks: AdjustLayer / AdjustAllLayer (pysot key layout: neck.downsample{2,3,4}.downsample.{0,1}.*,
or neck.downsample.downsample.* for a single level)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AdjustLayer(nn.Module):
    """1x1 conv (no bias) + BN; a template-sized map (narrower than 20) keeps its centre
    `center_size` x `center_size` cells (pysot's rule). With `template_only` the crop goes by what the map
    is, not its size: the template's map is cropped and the search map never is (a stride-16 backbone's
    16x16 search map would count as a template by size)."""

    def __init__(self, in_channels: int, out_channels: int, center_size: int = 7, template_only: bool = False):
        super().__init__()
        self.downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
        )
        self.center_size = center_size
        self.template_only = template_only

    def forward(self, x: torch.Tensor, template: bool = False) -> torch.Tensor:
        x = self.downsample(x)
        # (a map already no larger than the crop, e.g. AlexNet's 6x6 template, is kept whole)
        crop = template if self.template_only else x.size(3) < 20
        if crop and self.center_size < x.size(3):
            left = (x.size(3) - self.center_size) // 2
            x = x[:, :, left : left + self.center_size, left : left + self.center_size]
        return x


class AdjustAllLayer(nn.Module):
    """One AdjustLayer per level; takes and returns a list of maps."""

    def __init__(
        self,
        in_channels: list[int],
        out_channels: list[int],
        center_size: int = 7,
        resize_to_first: bool = False,
        template_only: bool = False,
    ):
        super().__init__()
        if len(in_channels) != len(out_channels):
            raise ValueError(f"neck: {len(in_channels)} input levels but {len(out_channels)} output widths")
        self.num = len(in_channels)
        self.resize_to_first = resize_to_first
        if self.num == 1:
            self.downsample = AdjustLayer(in_channels[0], out_channels[0], center_size, template_only)
        else:
            for i, (cin, cout) in enumerate(zip(in_channels, out_channels)):
                self.add_module(f"downsample{i + 2}", AdjustLayer(cin, cout, center_size, template_only))

    def forward(self, features: list[torch.Tensor], template: bool = False) -> list[torch.Tensor]:
        if self.resize_to_first and len(features) > 1:
            size = features[0].shape[-2:]
            features = [features[0]] + [
                f if f.shape[-2:] == size else F.interpolate(f, size=size, mode="bilinear", align_corners=False)
                for f in features[1:]
            ]
        if self.num == 1:
            return [self.downsample(features[0], template)]
        return [getattr(self, f"downsample{i + 2}")(f, template) for i, f in enumerate(features)]


class UnusedAdjust(nn.Module):
    """NanoTrack's neck as its checkpoints hold it (`neck.downsample.{0,1}.*`: a 1x1 conv and BN from C to C
    channels) and as its tracker runs it: not at all. The authors' model builder makes the neck but its
    template and track steps feed the backbone's map straight to the head (and v2's stored neck is 64 -> 64
    wide where its backbone gives 48 channels). The weights are kept so that the authors' files load strictly
    and save back unchanged; the features pass through as they are."""

    def __init__(self, channels: int):
        super().__init__()
        self.downsample = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))
        for param in self.downsample.parameters():
            param.requires_grad_(False)  # never in the computation: nothing to train

    def forward(self, features: list[torch.Tensor], template: bool = False) -> list[torch.Tensor]:
        return features
