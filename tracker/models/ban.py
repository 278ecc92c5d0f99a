"""NanoTrack's box-adaptive heads (v2 and v3 `DepthwiseBAN`), as members of the anchor-free head family.

Both give what the anchor-free tracker reads: `cls` (B, 2, S, S), background and target logits per point
(the tracker takes the softmax's target share), and `loc` (B, 4, S, S), the distances (l, t, r, b) in
search-crop pixels from each point to the box's edges (the exponential of the regression; unlike the
project's AnchorFreeHead, not scaled by the stride). Module names follow the authors' checkpoints after
`ban_head.`, so their files load strictly.

Split as every Head is: everything that depends on the template alone (the kernel-side 1x1 convolutions and
BatchNorms, v3's centre crop) runs once per target in `prepare_template`, the search-side 1x1 convolutions
in `search_features`, the correlations and towers in `correlate`.

- v2: per branch (box, score) a pixel-wise correlation of 1x1-projected template and search maps (every one
  of the template's h*w cells a channel), channel attention over those cells, then a tower of six
  depthwise-separable layers (3x3 depthwise, 1x1 to 96, BN, ReLU6) and a 1x1 prediction. S = the search map's
  size (16 at 255 px).
- v3: per branch the same pixel-wise correlation followed by a 2x2 depthwise and a 1x1 layer, and a depthwise
  correlation of the template's centre 4x4 cells with the search map (padded by one), concatenated and reduced
  by a 1x1 convolution to C channels; towers of six (3x3 depthwise, BN, ReLU6, 1x1, BN) layers. S = 15 at 255 px.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..xcorr import xcorr_depthwise, xcorr_pixelwise
from .heads import Head


def conv_bn(cin: int, cout: int) -> nn.Sequential:
    """1x1 convolution (with bias) and BatchNorm: the projection before each correlation."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout))


class ChannelAttention(nn.Module):
    """Gates per channel from the map's global average: 1x1, ReLU, 1x1, sigmoid (the authors' CA_layer)."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels, 1)
        self.fc2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        gates = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))
        return x * gates


class PixelwiseBranch(nn.Module):
    """The projections of one pixel-wise correlation, its channel attention over the template's `cells`
    and, in v3, the layers after it (`post`: 2x2 depthwise, BN, ReLU6, 1x1, BN)."""

    def __init__(self, channels: int, cells: int, post: bool):
        super().__init__()
        self.conv_kernel = conv_bn(channels, channels)
        self.conv_search = conv_bn(channels, channels)
        self.CA_layer = ChannelAttention(cells)
        if post:
            self.conv = nn.Sequential(
                nn.Conv2d(cells, cells, 2, groups=cells, bias=False),
                nn.BatchNorm2d(cells),
                nn.ReLU6(inplace=True),
                nn.Conv2d(cells, cells, 1),
                nn.BatchNorm2d(cells),
            )

    def correlate(self, kernel, search, backend: str):
        out = self.CA_layer(xcorr_pixelwise(search, kernel, backend))
        return self.conv(out) if hasattr(self, "conv") else out


class DepthwiseBranch(nn.Module):
    """v3's depthwise correlation: 1x1-projected template centre and search map; the search map padded by one
    cell of zeros, so a 4x4 kernel on a 16x16 map gives 15x15, the pixel-wise branch's size."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv_kernel = conv_bn(channels, channels)
        self.conv_search = conv_bn(channels, channels)

    @staticmethod
    def correlate(kernel, search, backend: str):
        return xcorr_depthwise(F.pad(search, (1, 1, 1, 1)), kernel, backend)


def separable_tower(cin: int, width: int, layers: int, v3: bool) -> nn.Sequential:
    """Six depthwise-separable layers in the authors' module order (it fixes the key indices): v2
    (3x3 depthwise, 1x1 to `width`, BN, ReLU6), v3 (3x3 depthwise, BN, ReLU6, 1x1, BN)."""
    modules: list[nn.Module] = []
    for i in range(layers):
        c = cin if i == 0 else width
        dw = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        pw = nn.Conv2d(c, width, 1, bias=False)
        if v3:
            modules += [dw, nn.BatchNorm2d(c), nn.ReLU6(inplace=True), pw, nn.BatchNorm2d(width)]
        else:
            modules += [dw, pw, nn.BatchNorm2d(width), nn.ReLU6(inplace=True)]
    return nn.Sequential(*modules)


class NanoBANHead(Head):
    """NanoTrack's DepthwiseBAN, v2 (`version=2`) or v3 (`version=3`); see the module docstring.
    `channels`: the backbone's (48 for v2, 96 for v3); `template_size`: the template map's side (8 at
    127 px), whose cells the pixel-wise correlation turns into channels."""

    checkpoint_name = "ban_head"

    def __init__(self, version: int, channels: int, template_size: int = 8, width: int = 96, layers: int = 6):
        super().__init__()
        if version not in (2, 3):
            raise ValueError(f"NanoTrack head version is 2 or 3, got {version}")
        self.version = version
        self.template_size = int(template_size)
        cells = self.template_size**2
        v3 = version == 3
        self.corr_pw_reg = PixelwiseBranch(channels, cells, post=v3)
        self.corr_pw_cls = PixelwiseBranch(channels, cells, post=v3)
        if v3:
            self.corr_dw_reg = DepthwiseBranch(channels)
            self.corr_dw_cls = DepthwiseBranch(channels)
            self.down_reg = nn.Sequential(nn.Conv2d(cells + channels, channels, 1))
            self.down_cls = nn.Sequential(nn.Conv2d(cells + channels, channels, 1))
            self.cls_tower = separable_tower(channels, channels, layers, v3=True)
            self.bbox_tower = separable_tower(channels, channels, layers, v3=True)
            self.cls_logits = nn.Sequential(nn.Conv2d(channels, 2, 1))
            self.bbox_pred = nn.Sequential(nn.Conv2d(channels, 4, 1))
        else:
            self.cls_pw_tower = separable_tower(cells, width, layers, v3=False)
            self.bbox_pw_tower = separable_tower(cells, width, layers, v3=False)
            self.cls_pred = nn.Sequential(nn.Conv2d(width, 2, 1))
            self.bbox_pred = nn.Sequential(nn.Conv2d(width, 4, 1))

    def _branches(self) -> list:
        """The correlation branches in the order of the prepared template and the search features."""
        names = ["corr_pw_reg", "corr_pw_cls"] + (["corr_dw_reg", "corr_dw_cls"] if self.version == 3 else [])
        return [getattr(self, n) for n in names]

    def prepare_template(self, zf):
        z = zf[0]
        if z.shape[-2:] != (self.template_size, self.template_size):
            raise ValueError(
                f"NanoTrack head: template map is {tuple(z.shape[-2:])}, the head was built for "
                f"{self.template_size}x{self.template_size} (HeadSpec.template_size)"
            )
        kernels = []
        for branch in self._branches():
            k = branch.conv_kernel(z)
            if isinstance(branch, DepthwiseBranch) and k.size(3) > 4:  # the centre 4x4 cells
                left = (k.size(3) - 4) // 2
                k = k[:, :, left : left + 4, left : left + 4]
            kernels.append(k)
        return kernels

    def search_features(self, xf):
        x = xf[0]
        return [branch.conv_search(x) for branch in self._branches()]

    def correlate(self, prepared, sf):
        b = self.xcorr_backend
        corr = [branch.correlate(k, s, b) for branch, k, s in zip(self._branches(), prepared, sf)]
        if self.version == 3:
            reg = self.down_reg(torch.cat((corr[0], corr[2]), 1))
            cls = self.down_cls(torch.cat((corr[1], corr[3]), 1))
            return self.cls_logits(self.cls_tower(cls)), torch.exp(self.bbox_pred(self.bbox_tower(reg)))
        return self.cls_pred(self.cls_pw_tower(corr[1])), torch.exp(self.bbox_pred(self.bbox_pw_tower(corr[0])))
