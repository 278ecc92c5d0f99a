"""What a preset is made of, as plain data: the model's architecture (ModelSpec: backbone, neck, head), the
convention of its input crops (InputConvention), and the tracking hyper-parameters of each family (SiamFC;
SiamRPN and anchor-free, both search-region trackers). The named presets that put them together are
tracker.config.presets'."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class InputConvention:
    """How a model expects its crops: channel order, then value = (pixel * scale - mean) / std."""

    channel_order: str = "BGR"  # "BGR" or "RGB"
    scale: float = 1.0  # 1.0 for 0..255 inputs, 1/255 for 0..1
    mean: tuple[float, float, float] | None = None  # per channel, in the model's channel order
    std: tuple[float, float, float] | None = None

    def describe(self) -> str:
        """'RGB 0..255', 'BGR 0..255', 'RGB (p-127)/128' (p: the pixel, 0..255): `siamtrack models`' input
        column and the README's models table."""
        p = "p" if self.scale == 1.0 else "p/255"
        if self.mean is None and self.std is None:
            return f"{self.channel_order} {'0..255' if self.scale == 1.0 else '0..1'}"

        def one(values, default):
            values = tuple(values) if values is not None else (default,) * 3
            return f"{values[0]:g}" if len(set(values)) == 1 else "(" + ",".join(f"{v:g}" for v in values) + ")"

        return f"{self.channel_order} ({p}-{one(self.mean, 0.0)})/{one(self.std, 1.0)}"


@dataclass
class NeckSpec:
    """AdjustAllLayer: 1x1 conv + BN per level to `out_channels`; template maps narrower than 20 keep the
    centre `center_size` cells. `resize_to_first` upsamples every level to the first level's size (for
    backbones whose levels have different strides)."""

    out_channels: list[int]
    center_size: int = 7
    resize_to_first: bool = False
    template_only: bool = False  # crop the template's maps only, whatever the search map's size
    # "adjust_all" (the above) or "unused": NanoTrack's neck, whose weights its checkpoints hold but its
    # tracker never applies (tracker.models.necks.UnusedAdjust; out_channels: its one width)
    kind: str = "adjust_all"


@dataclass
class HeadSpec:
    type: str  # "siamfc" | "upchannel" | "depthwise" | "multi" | "anchor_free" | "ban_v2" | "ban_v3"
    anchor_num: int = 5
    out_scale: float = 0.001  # siamfc
    weighted: bool = False  # multi
    hidden: int | None = None  # depthwise hidden channels (pysot: = in_channels); anchor_free / ban tower width
    stride: int = 16  # anchor_free: score-map stride in search-crop pixels
    template_size: int = 6  # anchor_free / ban: side of the template feature map (cells correlated)
    tower: int = 2  # anchor_free / ban: depthwise-separable blocks in each of the two towers


@dataclass
class ModelSpec:
    backbone: str
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    neck: NeckSpec | None = None
    head: HeadSpec = field(default_factory=lambda: HeadSpec("depthwise"))


@dataclass
class SearchParams:
    """Tracking values shared by the search-region trackers (SiamRPN / SiamRPN++ and the anchor-free head):
    crop sizes and context, the scale/ratio penalty, the cosine window, the size update rate, pysot's
    long-term re-detection and our lost flag."""

    exemplar_size: int = 127
    instance_size: int = 255
    context_amount: float = 0.5
    penalty_k: float = 0.04
    window_influence: float = 0.44
    lr: float = 0.4
    # long-term re-detection (pysot SiamRPNLTTracker)
    long_term: bool = False
    lost_instance_size: int = 831
    confidence_low: float = 0.85
    confidence_high: float = 0.998
    # Our `lost` flag. The classification logit margin (cls positive minus negative) of the chosen anchor,
    # relative to its median over the first `lost_ref_frames` updates, falls below `lost_threshold`.
    # The softmax score itself saturates near 1 whether or not the target is there; the margin relative
    # to the target's own start does not, and one threshold then fits every target of a model (each model's
    # is calibrated: the shipped siamrpn_alex_dwxcorr uses 0).
    # 0.4 was calibrated with scripts/calibrate_lost.py on the shipped siamrpn_effnet_lite0 (model card,
    # "Lost flag"). Presets whose shipped file needed another value set it.
    lost_threshold: float = 0.4
    lost_ref_frames: int = 5
    # Template update (off at 0): every `template_interval` frames, when the chosen box's score is at least
    # `template_confidence` and the target is not flagged lost, the template is made again from the current
    # frame and the kernel becomes (1 - template_update) x the first frame's + template_update x that one
    # (anchored to the first frame's, so a bad update cannot accumulate).
    template_update: float = 0.0
    template_interval: int = 10
    template_confidence: float = 0.95
    # Motion prior (off at 0): the search crop is centred this fraction of the last frame's displacement
    # ahead of the target (constant-velocity prediction); decoding stays relative to the crop's centre.
    motion_prior: float = 0.0


@dataclass
class SiamRPNParams(SearchParams):
    base_size: int = 8
    anchor_stride: int = 8
    anchor_ratios: tuple[float, ...] = (0.33, 0.5, 1, 2, 3)
    anchor_scales: tuple[float, ...] = (8,)


@dataclass
class AnchorFreeParams(SearchParams):
    """The anchor-free head's values. Defaults: the fixed ones OpenCV's TrackerNano uses (penalty_k 0.055,
    window 0.455, lr 0.37). The score map's stride in search-crop pixels is the head's (HeadSpec.stride)."""

    penalty_k: float = 0.055
    window_influence: float = 0.455
    lr: float = 0.37


@dataclass
class SiamFCParams:
    exemplar_size: int = 127
    instance_size: int = 255
    context_amount: float = 0.5
    scale_num: int = 3
    scale_step: float = 1.0375
    scale_lr: float = 0.59
    scale_penalty: float = 0.9745
    window_influence: float = 0.176
    response_up: int = 16
    total_stride: int = 8
    clamp_search: bool = False  # the original MATLAB clamp of s_x to [0.2, 5] x initial
    # lost when the response peak falls below this fraction of the first frame's peak (see tracker/trackers/siamfc.py).
    # Measured with scripts/calibrate_lost.py on the shipped weights over all eleven shared sequences: flags
    # 0.1% of tracked frames, 39% of the frames where the target was wiped out, all 12 out-of-view frames.
    lost_threshold: float = 0.27
