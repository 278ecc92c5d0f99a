"""torch backend: grouped conv2d (one call, no Python loop over the batch). Differentiable."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def plain(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    B, C, H, W = x.shape
    Bk, K, _, h, w = kernel.shape
    if K == 1 and x.device.type == "cpu":
        # SiamFC: a single output plane. oneDNN's conv with one output channel is slow on the CPU; a
        # depthwise conv summed over channels is the same sum in a different order and an order of
        # magnitude faster (measured: docs/speed.md, "Implementation choices").
        return depthwise(x, kernel[:, 0]).sum(1, keepdim=True)
    if Bk == 1:
        # one template for the whole batch: an ordinary conv with K output channels
        return F.conv2d(x, kernel[0])
    # per-sample kernels: fold the batch into channels, one group per sample
    out = F.conv2d(x.reshape(1, B * C, H, W), kernel.reshape(B * K, C, h, w), groups=B)
    return out.reshape(B, K, out.shape[-2], out.shape[-1])


def depthwise(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    B, C, H, W = x.shape
    Bk, _, h, w = kernel.shape
    if Bk == 1:
        return F.conv2d(x, kernel.reshape(C, 1, h, w), groups=C)
    out = F.conv2d(x.reshape(1, B * C, H, W), kernel.reshape(B * C, 1, h, w), groups=B * C)
    return out.reshape(B, C, out.shape[-2], out.shape[-1])


def pixelwise(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    B, C, H, W = x.shape
    Bk, _, h, w = kernel.shape
    k = kernel.reshape(Bk, C, h * w).transpose(1, 2)  # (Bk, h*w, C)
    return torch.matmul(k, x.reshape(B, C, H * W)).reshape(B, h * w, H, W)
