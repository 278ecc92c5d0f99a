"""Assembly of a Siamese model from a preset: backbone → neck → head, shapes read off the backbone.

Parameter names follow the reference checkpoints: `backbone.*`, `neck.*`, `rpn_head.*` / `ban_head.*` (SiamFC's head
has no parameters), so pysot, siamfc-pytorch and NanoTrack state_dicts load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from backbones import BackboneError, build_backbone
from backbones.base import Backbone

from ..config.presets import InputConvention, Preset, PresetError
from ..errors import UserError
from .ban import NanoBANHead
from .heads import AnchorFreeHead, DepthwiseRPN, Head, MultiRPN, SiamFCHead, UPChannelRPN
from .necks import AdjustAllLayer, UnusedAdjust

if TYPE_CHECKING:
    from .fast import FastCorrelate, ShapeSpecialised


@dataclass
class FastPath:
    """A SiameseModel's CPU fast path (tracker.models.fast): `search`, the search branch (backbone, neck and
    the head's search convs) through transformed eager copies (BatchNorms folded, 1x1 convolutions as matrix
    products, channels-last; one per input shape), `correlate`, the head's correlation transformed likewise
    (None for SiamFC, whose correlation is one conv), and `template`, the template branch likewise (None:
    the eager modules)."""

    search: ShapeSpecialised
    correlate: FastCorrelate | None = None
    template: ShapeSpecialised | None = None


class SiameseModel(nn.Module):
    def __init__(self, backbone: Backbone, neck: nn.Module | None, head: Head, family: str):
        super().__init__()
        self.family = family
        self.backbone: Backbone = backbone
        self.neck = neck
        # the head's own key prefix: pysot's RPN heads `rpn_head`, NanoTrack's `ban_head`, the others `head`
        self._head_name = head.checkpoint_name
        self.add_module(self._head_name, head)
        self._fast_path: FastPath | None = None  # a plain attribute (not a Module): see `fast_path`

    @property
    def head_module(self) -> Head:
        return getattr(self, self._head_name)

    def set_xcorr_backend(self, backend: str) -> None:
        for m in self.modules():
            if isinstance(m, Head):
                m.xcorr_backend = backend

    @property
    def fast_path(self) -> FastPath | None:
        """The CPU fast path made by `enable_fast_inference()`, or None (eager modules only).

        It holds transformed copies of the modules with their own folded copies of the weights, so it is a
        plain attribute, not a submodule: it is not in `state_dict()`, `parameters()` or `modules()`, `.to()`
        does not move it, and export sets it to None first. Used only in eval mode without autograd; set it to
        None to run the eager modules again (e.g. after changing the weights), or back to a saved one."""
        return self._fast_path

    @fast_path.setter
    def fast_path(self, value: FastPath | None) -> None:
        if value is not None and not isinstance(value, FastPath):
            raise TypeError(f"fast_path is a FastPath or None, not {type(value).__name__}")
        self._fast_path = value

    def enable_fast_inference(self) -> None:
        """Run the template, search and correlation branches through BN-folded, channels-last eager copies
        in inference (CPU inference only): `fast_path`."""
        from .fast import FastCorrelate, ShapeSpecialised

        # SiamFC's correlation is one conv: nothing to fold
        self.fast_path = FastPath(
            ShapeSpecialised(SearchBranch(self).eval()),
            FastCorrelate(self.head_module) if self.family != "siamfc" else None,
            ShapeSpecialised(TemplateBranch(self).eval()),
        )

    def _fast_path_in_use(self) -> FastPath | None:
        """The fast path where it applies: set, in eval mode, without autograd (inference)."""
        fast = self.fast_path
        return fast if fast is not None and not self.training and not torch.is_grad_enabled() else None

    def features(self, images: torch.Tensor, template: bool = False) -> list[torch.Tensor]:
        f = self.backbone(images)
        return self.neck(f, template) if self.neck is not None else f

    def search_features(self, x: torch.Tensor):
        """Everything computed from the search crop alone: backbone, neck and the head's search convs."""
        fast = self._fast_path_in_use()
        if fast is not None:
            return list(fast.search(x))
        return self.head_module.search_features(self.features(x))

    def template(self, z: torch.Tensor):
        """Template features, prepared once per target (e.g. the UP-channel kernels)."""
        fast = self._fast_path_in_use()
        if fast is not None and fast.template is not None:
            return fast.template(z)
        return self.head_module.prepare_template(self.features(z, template=True))

    def track(self, x: torch.Tensor, prepared) -> dict:
        head = self.head_module
        fast = self._fast_path_in_use()
        if fast is not None and fast.correlate is not None and head.xcorr_backend == "torch":
            cls, loc = fast.correlate(prepared, self.search_features(x))
        else:
            cls, loc = head.correlate(prepared, self.search_features(x))
        return {"cls": cls, "loc": loc}

    def forward(self, z: torch.Tensor, x: torch.Tensor, with_features: bool = False) -> dict:
        """Head outputs {'cls', 'loc'}; with `with_features` (training with an embedding loss) also the
        neck's template and search features {'zf', 'xf'} (lists, one map per level)."""
        if not with_features:
            return self.track(x, self.template(z))
        head = self.head_module
        zf, xf = self.features(z, template=True), self.features(x)
        cls, loc = head.correlate(head.prepare_template(zf), head.search_features(xf))
        return {"cls": cls, "loc": loc, "zf": zf, "xf": xf}


class SearchBranch(nn.Module):
    """The search crop's whole template-independent path (backbone → neck → the head's search convs) as
    one module, so that its BatchNorms are folded, and its layout changed, as a whole."""

    def __init__(self, model: SiameseModel):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.head_module.search_features(self.model.features(x))


class TemplateBranch(nn.Module):
    """The template crop's path (backbone → neck's template crop → the head's template preparation) as one
    module, transformed like the search branch: it runs once per target, so this is not for speed but so
    that the template behaves as the search branch does across thread counts (module docstring)."""

    def __init__(self, model: SiameseModel):
        super().__init__()
        self.model = model

    def forward(self, z):
        return self.model.head_module.prepare_template(self.model.features(z, template=True))


# the head types of the anchor-free family: the project's own and NanoTrack v2's and v3's
ANCHOR_FREE_HEADS = ("anchor_free", "ban_v2", "ban_v3")


def build_head(preset: Preset, in_channels: list[int]) -> Head:
    spec = preset.model.head
    t = spec.type
    if t == "siamfc":
        if len(in_channels) != 1:
            raise PresetError(
                f"preset {preset.name}: the SiamFC head takes one feature level, the backbone "
                f"gives {len(in_channels)} (set its used_layers to one layer)"
            )
        return SiamFCHead(spec.out_scale)
    if t == "upchannel":
        if len(in_channels) != 1:
            raise PresetError(
                f"preset {preset.name}: the UP-channel head takes one feature level, got {len(in_channels)}"
            )
        return UPChannelRPN(spec.anchor_num, in_channels[0])
    if t == "depthwise":
        if len(in_channels) != 1:
            raise PresetError(
                f"preset {preset.name}: DepthwiseRPN takes one feature level, got "
                f"{len(in_channels)}; use the 'multi' head"
            )
        return DepthwiseRPN(spec.anchor_num, in_channels[0], spec.hidden or in_channels[0])
    if t == "multi":
        hidden = [spec.hidden] * len(in_channels) if spec.hidden else None
        return MultiRPN(spec.anchor_num, in_channels, spec.weighted, hidden)
    if t == "anchor_free":
        return AnchorFreeHead(in_channels, spec.hidden or 64, spec.stride, spec.template_size, spec.tower)
    if t in ("ban_v2", "ban_v3"):
        if len(in_channels) != 1:
            raise PresetError(f"preset {preset.name}: NanoTrack's head takes one feature level, got {len(in_channels)}")
        return NanoBANHead(int(t[-1]), in_channels[0], spec.template_size, spec.hidden or 96, spec.tower)
    raise PresetError(
        f"preset {preset.name}: unknown head type {t!r} "
        f"({', '.join(('siamfc', 'upchannel', 'depthwise', 'multi', *ANCHOR_FREE_HEADS))})"
    )


def build_model(preset: Preset, pretrained_backbone: bool = False) -> SiameseModel:
    """Build the network of a preset. `pretrained_backbone` loads ImageNet weights where the backbone
    has them (EfficientNet-Lite0); checkpoints are loaded separately (tracker.models.checkpoint)."""
    kw = dict(preset.model.backbone_kwargs)
    if preset.model.backbone == "efficientnet_lite0":
        kw.setdefault("pretrained", pretrained_backbone)
    try:
        backbone = build_backbone(preset.model.backbone, **kw)
    except BackboneError as exc:  # backbones knows nothing of tracker: its user errors become ours here
        raise UserError(str(exc)) from None
    channels = list(backbone.out_channels)
    neck: nn.Module | None = None
    if preset.model.neck is not None and preset.model.neck.kind == "unused":
        if len(channels) != 1:
            raise PresetError(f"preset {preset.name}: the unused neck goes with a one-level backbone")
        neck = UnusedAdjust(preset.model.neck.out_channels[0])
    elif preset.model.neck is not None:
        n = preset.model.neck
        if len(n.out_channels) != len(channels):
            raise PresetError(
                f"preset {preset.name}: neck has {len(n.out_channels)} levels, backbone "
                f"{preset.model.backbone} gives {len(channels)}"
            )
        neck = AdjustAllLayer(channels, list(n.out_channels), n.center_size, n.resize_to_first, n.template_only)
        channels = list(n.out_channels)
    head = build_head(preset, channels)
    if preset.family == "siamfc" and preset.model.head.type != "siamfc":
        raise PresetError(f"preset {preset.name}: family siamfc needs the siamfc head")
    if preset.family == "siamrpn" and preset.model.head.type in ("siamfc", *ANCHOR_FREE_HEADS):
        raise PresetError(f"preset {preset.name}: family siamrpn needs an RPN head")
    if (preset.family == "anchor_free") != (preset.model.head.type in ANCHOR_FREE_HEADS):
        raise PresetError(
            f"preset {preset.name}: family anchor_free goes with an anchor-free head ({', '.join(ANCHOR_FREE_HEADS)})"
        )
    return SiameseModel(backbone, neck, head, preset.family)


class InputAdapter:
    """BGR uint8 crops (N, H, W, 3) → the model's input tensor (N, 3, H, W), per its InputConvention."""

    def __init__(self, conv: InputConvention, device: torch.device, dtype=torch.float32):
        self.flip = conv.channel_order.upper() == "RGB"
        self.scale = conv.scale
        self.device = device
        self.dtype = dtype
        self.mean = None if conv.mean is None else torch.tensor(conv.mean, dtype=dtype, device=device).view(1, 3, 1, 1)
        self.std = None if conv.std is None else torch.tensor(conv.std, dtype=dtype, device=device).view(1, 3, 1, 1)
        from ..preprocess import NumpyInput

        self._numpy = NumpyInput(conv)

    def __call__(self, crops: np.ndarray) -> torch.Tensor:
        if crops.ndim == 3:
            crops = crops[None]
        if self.device.type == "cpu" and self.dtype == torch.float32:
            return self._cpu(crops)
        return self.tensor(torch.from_numpy(np.ascontiguousarray(crops)))

    def tensor(self, crops: torch.Tensor) -> torch.Tensor:
        """The same conversion for uint8 BGR crops already in a tensor (N, H, W, 3) on any device: moved to
        `device` as uint8 (a quarter of float's bytes), then converted there (the training loop's path)."""
        t = crops.to(self.device, non_blocking=True)
        if self.flip:
            t = t.flip(-1)
        t = t.permute(0, 3, 1, 2).to(self.dtype)
        if self.scale != 1.0:
            t = t * self.scale
        if self.mean is not None:  # InputConvention allows a mean or a std alone
            t = t - self.mean
        if self.std is not None:
            t = t / self.std
        return t.contiguous()

    def _cpu(self, crops: np.ndarray) -> torch.Tensor:
        """The same float32 arithmetic in OpenCV/NumPy on the CPU (tracker.preprocess, shared with the
        ONNX engines): several times faster than through torch (docs/speed.md, "Implementation choices")."""
        return torch.from_numpy(self._numpy(crops))
