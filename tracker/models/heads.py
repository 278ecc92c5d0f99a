"""Heads. Each takes template features and search features (lists, one map per level) and returns
(cls, loc): SiamFC returns its response as `cls` and no `loc`.

Key names follow pysot (rpn_head.*) and siamfc-pytorch (the SiamFC head has no parameters).
The correlation itself is delegated to tracker.xcorr, so the backend is a runtime choice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..xcorr import xcorr_depthwise, xcorr_pixelwise, xcorr_plain


class Head(nn.Module):
    """A head splits into three steps so each runs as rarely as it can:
    `prepare_template(zf)` — everything that depends only on the template (once per target);
    `search_features(xf)` — everything that depends only on the search crop (part of the optimised
    feature branch at inference); `correlate(prepared, sf)` — the correlation and what follows it.
    The xcorr backend name is set by the tracker; `checkpoint_name` is the attribute the model keeps the head
    under, which fixes its key prefix in checkpoints (pysot's RPN heads: `rpn_head`)."""

    xcorr_backend: str = "torch"
    checkpoint_name: str = "head"

    def prepare_template(self, zf: list[torch.Tensor]):
        return zf

    def search_features(self, xf: list[torch.Tensor]):
        return xf

    def forward(self, zf, xf):
        return self.correlate(self.prepare_template(zf), self.search_features(xf))

    def correlate(self, prepared, sf):
        raise NotImplementedError


class SiamFCHead(Head):
    """Per-sample correlation of search by template, times out_scale. One level."""

    def __init__(self, out_scale: float = 0.001):
        super().__init__()
        self.out_scale = out_scale

    def correlate(self, zf, sf):
        kernel = zf[0].unsqueeze(1)  # (Bz, 1, C, h, w)
        return xcorr_plain(sf[0], kernel, self.xcorr_backend) * self.out_scale, None


class UPChannelRPN(Head):
    """Original SiamRPN: the template is turned into 2k + 4k correlation kernels of C channels each."""

    checkpoint_name = "rpn_head"

    def __init__(self, anchor_num: int = 5, feature_in: int = 256):
        super().__init__()
        self.anchor_num = anchor_num
        cls_out, loc_out = 2 * anchor_num, 4 * anchor_num
        self.template_cls_conv = nn.Conv2d(feature_in, feature_in * cls_out, 3)
        self.template_loc_conv = nn.Conv2d(feature_in, feature_in * loc_out, 3)
        self.search_cls_conv = nn.Conv2d(feature_in, feature_in, 3)
        self.search_loc_conv = nn.Conv2d(feature_in, feature_in, 3)
        self.loc_adjust = nn.Conv2d(loc_out, loc_out, 1)

    def prepare_template(self, zf):
        z = zf[0]
        b, c = z.size(0), z.size(1)
        cls_k = self.template_cls_conv(z)
        loc_k = self.template_loc_conv(z)
        return (cls_k.view(b, -1, c, cls_k.size(2), cls_k.size(3)), loc_k.view(b, -1, c, loc_k.size(2), loc_k.size(3)))

    def search_features(self, xf):
        return [self.search_cls_conv(xf[0]), self.search_loc_conv(xf[0])]

    def correlate(self, prepared, sf):
        cls_k, loc_k = prepared
        cls = xcorr_plain(sf[0], cls_k, self.xcorr_backend)
        loc = self.loc_adjust(xcorr_plain(sf[1], loc_k, self.xcorr_backend))
        return cls, loc


class DepthwiseXCorr(nn.Module):
    def __init__(self, in_channels: int, hidden: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv_kernel = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True)
        )
        self.conv_search = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True)
        )
        self.head = nn.Sequential(
            nn.Conv2d(hidden, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, 1),
        )

    def forward(self, kernel, search, backend="torch"):
        return self.head(xcorr_depthwise(self.conv_search(search), self.conv_kernel(kernel), backend))


class DepthwiseRPN(Head):
    """SiamRPN++'s depthwise head on one level: separate cls and loc branches."""

    checkpoint_name = "rpn_head"

    def __init__(self, anchor_num: int = 5, in_channels: int = 256, out_channels: int = 256):
        super().__init__()
        self.cls = DepthwiseXCorr(in_channels, out_channels, 2 * anchor_num)
        self.loc = DepthwiseXCorr(in_channels, out_channels, 4 * anchor_num)

    def prepare_template(self, zf):
        z = zf[0]
        return self.cls.conv_kernel(z), self.loc.conv_kernel(z)

    def search_features(self, xf):
        x = xf[0]
        return [self.cls.conv_search(x), self.loc.conv_search(x)]

    def correlate(self, prepared, sf):
        (kc, kl), (sc, sl) = prepared, sf
        return (
            self.cls.head(xcorr_depthwise(sc, kc, self.xcorr_backend)),
            self.loc.head(xcorr_depthwise(sl, kl, self.xcorr_backend)),
        )


class MultiRPN(Head):
    """One DepthwiseRPN per level (rpn2, rpn3, ...), fused by a softmax over learned weights or averaged."""

    checkpoint_name = "rpn_head"

    def __init__(
        self, anchor_num: int, in_channels: list[int], weighted: bool = False, hidden: list[int] | None = None
    ):
        super().__init__()
        self.weighted = weighted
        self.levels = len(in_channels)
        hidden = hidden or in_channels
        for i, (cin, hid) in enumerate(zip(in_channels, hidden)):
            self.add_module(f"rpn{i + 2}", DepthwiseRPN(anchor_num, cin, hid))
        if weighted:
            self.cls_weight = nn.Parameter(torch.ones(self.levels))
            self.loc_weight = nn.Parameter(torch.ones(self.levels))

    def _rpn(self, i) -> DepthwiseRPN:
        return getattr(self, f"rpn{i + 2}")

    def prepare_template(self, zf):
        return [self._rpn(i).prepare_template([z]) for i, z in enumerate(zf)]

    def search_features(self, xf):
        return [s for i, x in enumerate(xf) for s in self._rpn(i).search_features([x])]

    def correlate(self, prepared, sf):
        outs = []
        for i, p in enumerate(prepared):
            rpn = self._rpn(i)
            rpn.xcorr_backend = self.xcorr_backend
            outs.append(rpn.correlate(p, sf[2 * i : 2 * i + 2]))
        cls = [o[0] for o in outs]
        loc = [o[1] for o in outs]
        if self.weighted:
            wc, wl = F.softmax(self.cls_weight, 0), F.softmax(self.loc_weight, 0)
            return (sum(c * wc[i] for i, c in enumerate(cls)), sum(lc * wl[i] for i, lc in enumerate(loc)))
        return sum(cls) / len(cls), sum(loc) / len(loc)


def separable_block(channels: int) -> nn.Sequential:
    """3x3 depthwise + 1x1 pointwise convolution, each with BatchNorm and ReLU; the map keeps its size."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
    )


class AnchorFreeHead(Head):
    """Anchor-free box head on any number of levels of equal map size (SiamBAN / SiamCAR / NanoTrack's
    shape): per level a pixel-wise correlation (every template cell a 1x1 kernel, so the search map keeps
    its size), concatenated with the search features themselves; a 1x1 fusion; then a classification and
    a regression tower of depthwise-separable blocks. Outputs: `cls` (B, 1, S, S), the score logit of each
    point, and `loc` (B, 4, S, S), the distances (l, t, r, b) in search-crop pixels from the point to the
    box's left, top, right and bottom edges (exp of the regression times the stride, so always > 0)."""

    def __init__(
        self, in_channels: list[int], hidden: int = 64, stride: int = 16, template_size: int = 6, tower: int = 2
    ):
        super().__init__()
        self.stride = float(stride)
        self.template_size = int(template_size)
        cells = self.template_size**2
        fused = len(in_channels) * cells + sum(in_channels)
        self.fuse = nn.Sequential(
            nn.Conv2d(fused, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True)
        )
        self.cls_tower = nn.Sequential(*[separable_block(hidden) for _ in range(tower)])
        self.loc_tower = nn.Sequential(*[separable_block(hidden) for _ in range(tower)])
        self.cls_out = nn.Conv2d(hidden, 1, 3, padding=1)
        self.loc_out = nn.Conv2d(hidden, 4, 3, padding=1)
        nn.init.normal_(self.cls_out.weight, std=0.01)
        assert self.cls_out.bias is not None and self.loc_out.bias is not None
        nn.init.constant_(self.cls_out.bias, -2.0)  # start near "background everywhere" (score 0.12)
        nn.init.normal_(self.loc_out.weight, std=0.01)
        nn.init.zeros_(self.loc_out.bias)  # start at one stride from the point on every side

    def prepare_template(self, zf):
        for z in zf:
            if z.shape[-2:] != (self.template_size, self.template_size):
                raise ValueError(
                    f"anchor-free head: template map is {tuple(z.shape[-2:])}, the head was built "
                    f"for {self.template_size}x{self.template_size} (HeadSpec.template_size)"
                )
        return zf

    def correlate(self, prepared, sf):
        pw = [xcorr_pixelwise(x, z, self.xcorr_backend) for z, x in zip(prepared, sf)]
        h = self.fuse(torch.cat(pw + list(sf), dim=1))
        cls = self.cls_out(self.cls_tower(h))
        loc = torch.exp(self.loc_out(self.loc_tower(h)).clamp(-6.0, 6.0)) * self.stride
        return cls, loc
