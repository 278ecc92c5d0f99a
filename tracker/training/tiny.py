"""A tiny Siamese model and preset-like description, for smoke tests of the training pipeline (seconds
on a CPU, including under torchrun). Not a tracker anyone should use.

Input 31 (template) / 63 (search) px, stride 4, a 9x9 score map; RPN: 3 anchors (ratios 0.5, 1, 2 at
16 px); SiamFC: the channel sum of the depthwise correlation.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch.nn as nn
import torch.nn.functional as F

EXEMPLAR, SEARCH = 31, 63


class TinySiamese(nn.Module):
    def __init__(self, family: str = "siamrpn", anchors: int = 3):
        super().__init__()
        self.family = family
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2)
        )
        if family == "siamrpn":
            self.cls = nn.Conv2d(16, 2 * anchors, 1)
            self.loc = nn.Conv2d(16, 4 * anchors, 1)
        else:
            self.adjust = nn.Conv2d(16, 1, 1)

    def forward(self, z, x):
        fz, fx = self.backbone(z), self.backbone(x)
        b, c, h, w = fz.shape
        r = F.conv2d(fx.reshape(1, b * c, *fx.shape[2:]), fz.reshape(b * c, 1, h, w), groups=b * c)
        r = r.reshape(b, c, *r.shape[2:]) / (h * w)
        if self.family == "siamfc":
            return {"cls": self.adjust(r), "loc": None}
        return {"cls": self.cls(r), "loc": self.loc(r)}


def tiny_preset(family: str = "siamrpn"):
    track = SimpleNamespace(
        exemplar_size=EXEMPLAR,
        instance_size=SEARCH,
        context_amount=0.5,
        anchor_stride=4,
        anchor_ratios=(0.5, 1, 2),
        anchor_scales=(4,),
        total_stride=4,
    )
    conv = SimpleNamespace(channel_order="BGR", scale=1 / 255, mean=None, std=None, describe=lambda: "BGR 0..1")
    return SimpleNamespace(name=f"tiny_{family}", family=family, track=track, input=conv)
