"""Named presets: architecture + tracking hyper-parameters + input convention + checkpoint format.

A preset is plain data (dataclasses; its parts are tracker.config.preset_parts'). Numbers that define a
model live here, once. Presets can be written to and read from YAML; a pysot experiment YAML is translated
by `tracker.config.pysot`.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .preset_parts import (
    AnchorFreeParams,
    HeadSpec,
    InputConvention,
    ModelSpec,
    NeckSpec,
    SiamFCParams,
    SiamRPNParams,
)

# The shipped weights and demo clip: the package's data folder in a wheel or non-editable install
# (setup.py maps the repository's weights/ there), the repository's weights/ in a checkout or editable install.
_PACKAGE = Path(__file__).resolve().parent.parent  # tracker/
_PACKAGE_WEIGHTS = _PACKAGE / "_weights"
WEIGHTS_DIR = _PACKAGE_WEIGHTS if _PACKAGE_WEIGHTS.is_dir() else _PACKAGE.parent / "weights"
# the demo clip (`siamtrack track --demo`, `siamtrack models --speed`) and its ground truth
DEMO_VIDEO = WEIGHTS_DIR / "demo" / "demo.mp4"
DEMO_GROUNDTRUTH = WEIGHTS_DIR / "demo" / "groundtruth.txt"


class PresetError(UserError):
    pass


@dataclass
class Preset:
    name: str
    family: str  # "siamfc" | "siamrpn" | "anchor_free"
    model: ModelSpec
    track: SiamRPNParams | SiamFCParams | AnchorFreeParams
    input: InputConvention
    checkpoint_format: str  # "pysot" | "siamfc" | "siamtrack"
    description: str = ""
    weights: str | None = None  # file name in weights/ shipped with the project
    weights_sha256: str | None = None

    @property
    def backbone(self) -> str:
        return self.model.backbone

    @property
    def weights_path(self) -> Path | None:
        return WEIGHTS_DIR / self.weights if self.weights else None

    @property
    def weights_available(self) -> bool:
        p = self.weights_path
        return p is not None and p.is_file()

    def replace_track(self, **overrides) -> Preset:
        """A copy with tracking hyper-parameters overridden (unknown names raise a clear error)."""
        names = {f.name for f in dataclasses.fields(self.track)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise PresetError(
                f"preset {self.name}: unknown tracking parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(names))}"
            )
        typed: dict[str, Any] = {}
        for key, value in overrides.items():
            current = getattr(self.track, key)
            try:
                if isinstance(current, bool):
                    if not isinstance(value, bool):
                        raise TypeError
                    typed[key] = value
                elif isinstance(current, tuple):
                    typed[key] = tuple(float(v) for v in value)
                else:
                    typed[key] = type(current)(value)
            except (TypeError, ValueError):
                raise PresetError(
                    f"preset {self.name}: {key} must be a {type(current).__name__}, got {value!r}"
                ) from None
        new = copy.deepcopy(self)
        new.track = dataclasses.replace(new.track, **typed)
        return new

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict) -> Preset:
        d = copy.deepcopy(d)
        model = d["model"]
        neck = NeckSpec(**model["neck"]) if model.get("neck") else None
        ms = ModelSpec(model["backbone"], model.get("backbone_kwargs", {}), neck, HeadSpec(**model["head"]))
        params_cls: type[SiamRPNParams | SiamFCParams | AnchorFreeParams] = SiamRPNParams
        if d["family"] == "siamfc":
            params_cls = SiamFCParams
        elif d["family"] == "anchor_free":
            params_cls = AnchorFreeParams
        track = d["track"]
        for k in ("anchor_ratios", "anchor_scales"):
            if k in track:
                track[k] = tuple(track[k])
        inp = d["input"]
        for k in ("mean", "std"):
            if inp.get(k) is not None:
                inp[k] = tuple(inp[k])
        return Preset(
            name=d["name"],
            family=d["family"],
            model=ms,
            track=params_cls(**track),
            input=InputConvention(**inp),
            checkpoint_format=d["checkpoint_format"],
            description=d.get("description", ""),
            weights=d.get("weights"),
            weights_sha256=d.get("weights_sha256"),
        )


PYSOT_INPUT = InputConvention("BGR", 1.0)
SIAMFC_INPUT = InputConvention("RGB", 1.0)
# EfficientNet-Lite0 ImageNet weights expect RGB (pixel - 127) / 128 (see backbones/efficientnet_lite.py)
LITE_INPUT = InputConvention("RGB", 1.0, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0))

R50_NECK = NeckSpec(out_channels=[256, 256, 256])

_PRESETS: dict[str, Preset] = {}


def _register(p: Preset) -> None:
    _PRESETS[p.name] = p


_register(
    Preset(
        "siamfc_alexnet",
        "siamfc",
        ModelSpec("alexnet_siamfc", head=HeadSpec("siamfc", out_scale=0.001)),
        SiamFCParams(),
        SIAMFC_INPUT,
        "siamfc",
        "SiamFC (siamfc-pytorch AlexNetV1), 3 scales",
        weights="siamfc_alexnet.pth",
        weights_sha256="2e5efd6aefdbf01589ffedd8109651f7fae83dca8932afbcd3e55a48fbb404c4",
    )
)
_register(
    Preset(
        "siamfc_alexnet_5scale",
        "siamfc",
        ModelSpec("alexnet_siamfc", head=HeadSpec("siamfc", out_scale=0.001)),
        SiamFCParams(scale_num=5, scale_step=1.0255, scale_penalty=0.962, scale_lr=0.34, window_influence=0.168),
        SIAMFC_INPUT,
        "siamfc",
        "SiamFC with the 5-scale search (same weights as siamfc_alexnet)",
        weights="siamfc_alexnet.pth",
        weights_sha256="2e5efd6aefdbf01589ffedd8109651f7fae83dca8932afbcd3e55a48fbb404c4",
    )
)
_register(
    Preset(
        "siamrpn_alex_upxcorr",
        "siamrpn",
        ModelSpec("alexnet_legacy", head=HeadSpec("upchannel")),
        SiamRPNParams(instance_size=271, base_size=0, penalty_k=0.055, window_influence=0.42, lr=0.295),
        PYSOT_INPUT,
        "pysot",
        "original SiamRPN (UP-channel) with DaSiamRPN tracking values",
    )
)
_register(
    Preset(
        "siamrpn_alex_dwxcorr",
        "siamrpn",
        ModelSpec("alexnet_legacy", head=HeadSpec("depthwise")),
        # lost_threshold 0 (the chosen anchor more likely background than target): calibrated for the shipped
        # from-scratch file, whose margins swing more while tracking than the default model's (README, lost flag)
        SiamRPNParams(
            instance_size=287, base_size=0, penalty_k=0.16, window_influence=0.40, lr=0.30, lost_threshold=0.0
        ),
        PYSOT_INPUT,
        "pysot",
        "pysot siamrpn_alex_dwxcorr (AlexNetLegacy + DepthwiseRPN)",
        weights="siamrpn_alex_dwxcorr.pth",
        weights_sha256="72b17362fc863a2db4be2019d8f096528ddf72161a47728dd8b885d53a83a8b7",
    )
)
_register(
    Preset(
        "siamrpn_r50_l234_dwxcorr",
        "siamrpn",
        ModelSpec("resnet50", {"used_layers": [2, 3, 4]}, R50_NECK, HeadSpec("multi", weighted=True)),
        SiamRPNParams(instance_size=255, base_size=8, penalty_k=0.05, window_influence=0.42, lr=0.38),
        PYSOT_INPUT,
        "pysot",
        "SiamRPN++ ResNet-50 layers 2-4, weighted fusion (pysot VOT config)",
    )
)
_register(
    Preset(
        "siamrpn_r50_l234_dwxcorr_otb",
        "siamrpn",
        ModelSpec("resnet50", {"used_layers": [2, 3, 4]}, R50_NECK, HeadSpec("multi", weighted=False)),
        SiamRPNParams(instance_size=255, base_size=8, penalty_k=0.24, window_influence=0.50, lr=0.25),
        PYSOT_INPUT,
        "pysot",
        "SiamRPN++ ResNet-50 layers 2-4, mean fusion (pysot OTB config)",
    )
)
_register(
    Preset(
        "siamrpn_effnet_lite0",
        "siamrpn",
        ModelSpec(
            "efficientnet_lite0",
            {"output_stride": 16},
            NeckSpec(out_channels=[64, 64], resize_to_first=True),
            HeadSpec("multi", weighted=True, hidden=64),
        ),
        SiamRPNParams(instance_size=255, base_size=8, penalty_k=0.1, window_influence=0.35, lr=0.3),
        LITE_INPUT,
        "siamtrack",
        "the project's own, stride 8: SiamRPN++-style depthwise heads on ImageNet EfficientNet-Lite0 stages 3 and 5",
        weights="siamrpn_effnet_lite0.pth",
        weights_sha256="08cb99daece27b9c566a156f46d67f52c3fbfd51635e72dd710095071eaa2072",
    )
)

_register(
    Preset(
        "siamrpn_effnet_lite0_fast",
        "siamrpn",
        ModelSpec(
            "efficientnet_lite0",
            {"used_layers": [4, 5], "output_stride": 16},
            NeckSpec(out_channels=[64, 64], center_size=6, template_only=True),
            HeadSpec("multi", weighted=True, hidden=64),
        ),
        # lost_threshold calibrated on person9, car1, BMX3, person11 (README, "The lost flag")
        SiamRPNParams(
            instance_size=255,
            base_size=8,
            anchor_stride=16,
            anchor_scales=(4,),
            penalty_k=0.1,
            window_influence=0.35,
            lr=0.3,
            lost_threshold=0.07,
        ),
        LITE_INPUT,
        "siamtrack",
        "the project's own (the default until NanoTrack v3): SiamRPN++-style depthwise heads on ImageNet "
        "EfficientNet-Lite0 stages 4 and 5, both stride 16",
        weights="siamrpn_effnet_lite0_fast.pth",
        weights_sha256="cd0ec2794ac4b8db4fd5c67f846b7086f789da4e3fbce0aa151c52022d228e38",
    )
)

_register(
    Preset(
        "anchorfree_effnet_lite0",
        "anchor_free",
        ModelSpec(
            "efficientnet_lite0",
            {"used_layers": [4, 5], "output_stride": 16},
            NeckSpec(out_channels=[64, 64], center_size=6, template_only=True),
            HeadSpec("anchor_free", hidden=64, stride=16, template_size=6, tower=2),
        ),
        # lost_threshold from scripts/calibrate_lost.py on the seven training sequences (model card)
        AnchorFreeParams(instance_size=255, lost_threshold=0.28),
        LITE_INPUT,
        "siamtrack",
        "the project's anchor-free model (experimental, below the default on the validation split): pixel-wise "
        "correlation and (l, t, r, b) regression on ImageNet EfficientNet-Lite0 stages 4 and 5 (stride 16, 16x16 "
        "score map at 255 px)",
        weights="anchorfree_effnet_lite0.pth",
        weights_sha256="2a9308e2823cc9f15c7bb48c341db63571467fb9960ec603c7d5d38fbe1b419c",
    )
)

# NanoTrack v2 and v3 with their authors' published weights (Apache-2.0, weights/README.md) and tracking values
# (configv2.yaml / configv3.yaml). The input is BGR 0..255 as the authors' tracker feeds it.
_register(
    Preset(
        "nanotrack_v2",
        "anchor_free",
        ModelSpec(
            "mobilenetv3_small",
            {"used_layers": [4]},
            NeckSpec(out_channels=[64], kind="unused"),
            HeadSpec("ban_v2", hidden=96, stride=16, template_size=8, tower=6),
        ),
        # lost_threshold from scripts/calibrate_lost.py on the seven training sequences (docs/lost-flag.md)
        AnchorFreeParams(window_influence=0.490, penalty_k=0.150, lr=0.385, lost_threshold=0.28),
        PYSOT_INPUT,
        "nanotrack",
        "NanoTrack v2 (HonglinChu/SiamTrackers), the authors' weights: MobileNetV3-Small, pixel-wise BAN head, "
        "16x16 score map",
        weights="nanotrack_v2.pth",
        weights_sha256="82e05f96fcc32a07beab6103f3b845a386e798d78f7e7d0202f4baad9189fd47",
    )
)
_register(
    Preset(
        "nanotrack_v3",
        "anchor_free",
        ModelSpec(
            "mobilenetv3_small_v3",
            {"used_layers": [4]},
            NeckSpec(out_channels=[96], kind="unused"),
            HeadSpec("ban_v3", hidden=96, stride=16, template_size=8, tower=6),
        ),
        # lost_threshold from scripts/calibrate_lost.py on the seven training sequences (docs/lost-flag.md)
        AnchorFreeParams(window_influence=0.455, penalty_k=0.138, lr=0.348, lost_threshold=0.25),
        PYSOT_INPUT,
        "nanotrack",
        "the default: NanoTrack v3 (HonglinChu/SiamTrackers), the authors' weights: MobileNetV3-Small to 96 "
        "channels, pixel-wise and depthwise BAN head, 15x15 score map",
        weights="nanotrack_v3.pth",
        weights_sha256="af675b9d6d3a736e99681148790221b407306bed974466b497a4c10acc729360",
    )
)

# int8 validation (weights/README.md, "int8"): preset -> validation AUC of int8 minus float32, measured with
# `siamtrack bench` on the validation split; offered only within PRECISION_TOLERANCE
INT8_CHECKED: dict[str, float] = {
    "siamrpn_effnet_lite0_fast": -0.002,
    "siamrpn_alex_dwxcorr": -0.001,
    "siamfc_alexnet": +0.004,
    "siamrpn_effnet_lite0": +0.029,
}
# a lower precision is offered (by `auto`, and `siamtrack export --int8`) only where its validation AUC is
# within this of float32's
PRECISION_TOLERANCE = 0.005


def precision_validated(name: str, precision: str) -> bool:
    """Whether the model card shows the preset's shipped weights in a lower `precision` ("int8": its quantized
    graph) within PRECISION_TOLERANCE of float32: what `auto` times (and `siamtrack export --int8` offers);
    float32 always is."""
    if precision == "float32":
        return True
    delta = INT8_CHECKED.get(name) if precision == "int8" else None
    return delta is not None and abs(delta) <= PRECISION_TOLERANCE


def int8_validated(name: str) -> bool:
    return precision_validated(name, "int8")


DEFAULT_PRESET = "nanotrack_v3"
# `--model default` (and get_preset("default")) names whichever preset is the default.
DEFAULT_ALIAS = "default"


def list_presets() -> list[Preset]:
    return list(_PRESETS.values())


def get_preset(name: str) -> Preset:
    if name == DEFAULT_ALIAS:
        name = DEFAULT_PRESET
    try:
        return copy.deepcopy(_PRESETS[name])
    except KeyError:
        raise PresetError(
            f"unknown model preset {name!r}; available: {', '.join(_PRESETS)} ({DEFAULT_ALIAS!r} = {DEFAULT_PRESET})"
        ) from None
