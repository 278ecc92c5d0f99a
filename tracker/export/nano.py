"""`siamtrack export --format opencv-nano`: an anchor-free, stride-16 model as the two ONNX files OpenCV's
cv2.TrackerNano loads, so C++, Java and JavaScript users can run it with OpenCV alone.

The contract (OpenCV 4.7+, tracker_nano.cpp): `backbone.onnx` takes one 1x3xSxS blob, RGB 0..255 (made by
blobFromImage with swapRB), and is run on the 127-px template and on each 255-px search crop, so it must work
at both sizes; `neckhead.onnx` takes `input1` (template features) and `input2` (search features) and gives
`output1`, 1x2x16x16 logits (softmax over the two channels, channel 1 the target) and `output2`, 1x4x16x16
distances (l, t, r, b) in search-crop pixels from each point of the stride-16 grid. Here the backbone graph
carries the model's own input convention (channel order, scale, mean/std) and concatenates the backbone's
levels into one output; the neck-head graph splits them again, applies the neck (the template crop
included) and the head, and writes a one-logit head's logit per point as the pair (0, logit), whose softmax
is the head's sigmoid score (NanoTrack's heads give the pair themselves). OpenCV's tracking values are fixed
in its code (window 0.455, lr 0.37, penalty_k 0.055, context 0.5): the AnchorFreeParams defaults.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..config.presets import Preset
from ..engines.exported import ExportError, file_sha256

if TYPE_CHECKING:
    from ..models.siamese import SiameseModel

OPENCV_VALUES = {
    "window_influence": 0.455,
    "lr": 0.37,
    "penalty_k": 0.055,
    "context_amount": 0.5,
    "exemplar_size": 127,
    "instance_size": 255,
}


class _Backbone(nn.Module):
    def __init__(self, model, preset: Preset):
        super().__init__()
        self.model = model
        conv = preset.input
        self.bgr = conv.channel_order.upper() == "BGR"  # OpenCV feeds RGB
        self.scale = float(conv.scale)
        mean = conv.mean if conv.mean is not None else (0.0, 0.0, 0.0)
        std = conv.std if conv.std is not None else (1.0, 1.0, 1.0)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x):
        if self.bgr:
            x = x.flip(1)
        x = (x * self.scale - self.mean) / self.std
        return torch.cat(list(self.model.backbone(x)), 1)


class _NeckHead(nn.Module):
    def __init__(self, model, channels: list[int]):
        super().__init__()
        self.model = model
        self.channels = channels

    def forward(self, input1, input2):
        zf = list(torch.split(input1, self.channels, 1))
        xf = list(torch.split(input2, self.channels, 1))
        if self.model.neck is not None:
            zf, xf = self.model.neck(zf, True), self.model.neck(xf)
        head = self.model.head_module
        cls, loc = head.correlate(head.prepare_template(zf), head.search_features(xf))
        if cls.shape[1] == 2:  # background and target logits already (NanoTrack's heads)
            return cls, loc
        return torch.cat([torch.zeros_like(cls), cls], 1), loc


def check_nano_compatible(preset: Preset) -> None:
    p, head = preset.track, preset.model.head
    why = None
    if preset.family != "anchor_free":
        why = f"it is a {preset.family} model; cv2.TrackerNano needs the anchor-free head"
    elif head.stride != 16:
        why = f"its head's stride is {head.stride}; cv2.TrackerNano's grid is stride 16"
    elif (p.exemplar_size, p.instance_size) != (127, 255):
        why = f"its crops are {p.exemplar_size}/{p.instance_size} px; cv2.TrackerNano's are 127/255"
    if why:
        raise ExportError(f"--format opencv-nano: {preset.name} cannot run in cv2.TrackerNano ({why})")


def export_opencv_nano(preset: Preset, model: SiameseModel, out_dir, weights_sha256: str | None = None) -> list[str]:
    """Writes backbone.onnx and neckhead.onnx (and opencv_nano.json, what they are) to `out_dir`, checked with
    onnx.checker and, through OpenCV's DNN module at both crop sizes, against torch. Returns notes to print."""
    from .onnx import export_graph, prepare_export

    check_nano_compatible(preset)
    out, model = prepare_export(model, out_dir)
    backbone = _Backbone(model, preset).eval()
    gen = torch.Generator().manual_seed(0)
    z = torch.rand(1, 3, 127, 127, generator=gen) * 255
    x = torch.rand(1, 3, 255, 255, generator=gen) * 255
    with torch.no_grad():
        fz, fx = backbone(z), backbone(x)
    if tuple(fx.shape[-2:]) != (16, 16):
        raise ExportError(
            f"--format opencv-nano: {preset.name}'s search map at 255 px is "
            f"{tuple(fx.shape[-2:])}, cv2.TrackerNano needs 16x16"
        )
    neckhead = _NeckHead(model, list(model.backbone.out_channels)).eval()
    with torch.no_grad():
        score_map = tuple(neckhead(fz, fx)[0].shape[-2:])
    if score_map != (16, 16):  # cv2.TrackerNano reshapes the outputs to (255 - 127) / 16 + 8 = 16 points a side
        raise ExportError(
            f"--format opencv-nano: {preset.name}'s score map is {score_map[0]}x{score_map[1]}, "
            f"cv2.TrackerNano needs 16x16"
        )
    export_graph(backbone, (x,), out / "backbone.onnx", ["input"], ["output"], "backbone", model)
    export_graph(
        neckhead, (fz, fx), out / "neckhead.onnx", ["input1", "input2"], ["output1", "output2"], "neck and head", model
    )
    _check_with_opencv(out, backbone, neckhead)
    info = {
        "format": "opencv-nano",
        "for": "cv2.TrackerNano (OpenCV 4.7+): params.backbone, params.neckhead",
        "preset": preset.name,
        "weights_sha256": weights_sha256,
        "files": {n: file_sha256(out / n) for n in ("backbone.onnx", "neckhead.onnx")},
        "opencv_tracking_values": OPENCV_VALUES,
    }
    (out / "opencv_nano.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    p = preset.track
    differ = [k for k, v in OPENCV_VALUES.items() if abs(float(getattr(p, k)) - v) > 1e-9]
    notes = []
    if differ:
        notes.append(
            "note: cv2.TrackerNano uses its own fixed tracking values ("
            + ", ".join(f"{k} {OPENCV_VALUES[k]:g} instead of {getattr(p, k):g}" for k in differ)
            + ")"
        )
    return notes


def _check_with_opencv(out: Path, backbone: nn.Module, neckhead: nn.Module) -> None:
    """OpenCV's DNN module runs both files as torch does: the backbone at 127 and 255 px."""
    import cv2

    gen = torch.Generator().manual_seed(1)
    net = cv2.dnn.readNet(str(out / "backbone.onnx"))
    feats = []
    for size in (127, 255):
        blob = torch.rand(1, 3, size, size, generator=gen) * 255
        net.setInput(blob.numpy())
        got = net.forward()
        with torch.no_grad():
            want = backbone(blob)
        _close(got, want.numpy(), f"backbone.onnx at {size} px")
        feats.append(want)
    head = cv2.dnn.readNet(str(out / "neckhead.onnx"))
    head.setInput(feats[0].numpy(), "input1")
    head.setInput(feats[1].numpy(), "input2")
    outs = head.forward(["output1", "output2"])
    with torch.no_grad():
        wants = neckhead(*feats)
    for g, w, name in zip(outs, wants, ("output1", "output2")):
        _close(g, w.numpy(), f"neckhead.onnx {name}")


def _close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    err = float(np.abs(got - want).max()) / max(1e-6, float(np.abs(want).max()))
    if got.shape != want.shape or not err <= 1e-4:
        raise ExportError(
            f"{what}: OpenCV's DNN module gives {got.shape} differing by {err:.2g} of the range "
            f"from torch's {want.shape}; cv2.TrackerNano would not run this model faithfully"
        )
