"""The anchor-free head: targets, losses, the head on every backbone, decoding in the tracker, training steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracker.config.presets import PYSOT_INPUT, AnchorFreeParams, HeadSpec, ModelSpec, NeckSpec, Preset, get_preset
from tracker.training.losses import anchor_free_loss, giou_ltrb
from tracker.training.targets import anchor_free_targets, grid_positions


def test_targets_follow_the_ellipses_and_the_edges():
    box = (100.0, 110.0, 180.0, 150.0)  # 80 x 40, centre (140, 130)
    label, ctr, ltrb = anchor_free_targets(box, 16, 16, 255)
    pos = grid_positions(16, 16, 255)
    px, py = np.meshgrid(pos, pos)
    r2 = ((px - 140) / 40) ** 2 + ((py - 130) / 20) ** 2
    assert ((label == 1) == (r2 <= 0.25)).all()
    assert ((label == 0) == (r2 > 1)).all()
    assert ((label == -1) == ((r2 > 0.25) & (r2 <= 1))).all()
    i, j = np.argwhere(label == 1)[0]
    np.testing.assert_allclose(ltrb[:, i, j], [px[i, j] - 100, py[i, j] - 110, 180 - px[i, j], 150 - py[i, j]])
    assert (ctr[label == 1] >= 0.25).all() and (ctr[label != 1] == 0).all() and ctr.max() <= 1


def test_a_target_smaller_than_the_stride_still_has_one_positive():
    label, ctr, ltrb = anchor_free_targets((126.0, 126.0, 130.0, 131.0), 16, 16, 255)
    assert (label == 1).sum() == 1
    i, j = np.argwhere(label == 1)[0]
    pos = grid_positions(16, 16, 255)
    assert abs(pos[j] - 128) <= 8 and abs(pos[i] - 128.5) <= 8  # the point nearest the centre


def test_a_negative_pair_has_only_negatives():
    label, ctr, _ = anchor_free_targets((100, 100, 150, 150), 16, 16, 255, negative=True)
    assert (label == 0).all() and (ctr == 0).all()


def test_giou_of_boxes_around_a_point():
    t = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    assert torch.allclose(giou_ltrb(t, t), torch.ones(1))
    # half the width: IoU 0.5, enclosing box = the target's, GIoU 0.5
    half = torch.tensor([[10.0, 20.0, 10.0, 40.0]])
    assert torch.allclose(giou_ltrb(half, t), torch.tensor([0.5]))
    # disjoint boxes: GIoU below 0
    assert giou_ltrb(torch.tensor([[-50.0, 1.0, 60.0, 1.0]]), t).item() < 0


def test_loss_prefers_the_right_box_and_the_right_score():
    label, ctr, ltrb = anchor_free_targets((100.0, 110.0, 180.0, 150.0), 16, 16, 255)
    label, ctr, ltrb = (torch.from_numpy(a)[None] for a in (label, ctr, ltrb))
    good_loc = ltrb.clamp(min=1.0).clone()
    bad_loc = good_loc * 2
    cls_good = torch.where(label == 1, 3.0, -3.0)[:, None]
    cls_bad = -cls_good
    c1, l1 = anchor_free_loss(cls_good, good_loc, label, ctr, ltrb)
    c2, l2 = anchor_free_loss(cls_bad, bad_loc, label, ctr, ltrb)
    assert l1.item() < 1e-5 < l2.item() and c1.item() < c2.item()
    loc = good_loc.clone().requires_grad_()
    cls = cls_good.clone().requires_grad_()
    sum(anchor_free_loss(cls, loc * 1.5, label, ctr, ltrb)).backward()
    assert loc.grad.abs().sum() > 0 and cls.grad.abs().sum() > 0


BACKBONES = [
    ("alexnet_legacy", {}),
    ("alexnet", {}),
    ("resnet50", {"used_layers": [2, 3, 4]}),
    ("efficientnet_lite0", {"pretrained": False, "used_layers": [4, 5], "output_stride": 16}),
]


@pytest.mark.parametrize("backbone,kw", BACKBONES, ids=lambda v: str(v))
def test_the_head_works_on_any_backbone(backbone, kw):
    """The score map keeps the search feature map's size (pixel-wise correlation, padded towers)."""
    from backbones import build_backbone
    from tracker.models import build_model

    bb = build_backbone(backbone, **kw)
    levels = len(bb.out_channels)
    neck = NeckSpec([32] * levels, center_size=6, template_only=True) if backbone != "alexnet_legacy" else None
    preset = Preset(
        "af",
        "anchor_free",
        ModelSpec(backbone, dict(kw), neck, HeadSpec("anchor_free", hidden=32, template_size=6)),
        AnchorFreeParams(),
        PYSOT_INPUT,
        "siamtrack",
    )
    with torch.device("meta"):
        model = build_model(preset).eval()
        with torch.no_grad():
            out = model(torch.empty(1, 3, 127, 127), torch.empty(2, 3, 255, 255))
    s = bb.feature_size(255)[0]
    assert tuple(out["cls"].shape) == (2, 1, s, s) and tuple(out["loc"].shape) == (2, 4, s, s)


class FakeEngine:
    """Hands the tracker a score map with one peak and fixed (l, t, r, b) distances."""

    model = None
    name = "fake"

    def __init__(self, S, peak, ltrb):
        self.S, self.peak, self.ltrb = S, peak, ltrb

    def template(self, crop):
        return None

    def search(self, crops, kernel):
        cls = np.full((1, 1, self.S, self.S), -5.0, np.float32)
        cls[0, 0, self.peak[0], self.peak[1]] = 5.0
        loc = np.broadcast_to(np.asarray(self.ltrb, np.float32)[None, :, None, None], (1, 4, self.S, self.S))
        return cls, loc.copy()


def test_tracker_decodes_points_and_distances():
    from tracker.geometry import score_grid
    from tracker.trackers.anchor_free import AnchorFreeTracker

    preset = get_preset("anchorfree_effnet_lite0").replace_track(window_influence=0.0, penalty_k=0.0, lr=1.0)
    # peak two cells right and one up of the grid's centre cell; distances give a 40 x 60 box whose
    # centre is 5 px right and 10 px down of the point
    tr = AnchorFreeTracker(preset, FakeEngine(16, (7, 10), (15.0, 20.0, 25.0, 40.0)))
    frame = np.zeros((600, 800, 3), np.uint8)
    tr.init(frame, (300.0, 200.0, 64.0, 64.0))
    cx0, cy0 = 300 + 63 / 2, 200 + 63 / 2
    r = tr.update(frame)
    off = score_grid(16, 16)
    scale = 127 / np.sqrt((64 + 64) * (64 + 64))  # exemplar / context size of a 64 x 64 box
    cx = cx0 + (off[10] + 5) / scale
    cy = cy0 + (off[7] + 10) / scale
    score = 1 / (1 + np.exp(-5.0))
    # the size moves to the new one at rate lr * score (pysot's smoothing; penalty 1 here)
    w, h = 64 * (1 - score) + 40 / scale * score, 64 * (1 - score) + 60 / scale * score
    np.testing.assert_allclose(r.box, (cx - w / 2, cy - h / 2, w, h), rtol=1e-6)
    assert r.score == pytest.approx(score, rel=1e-6)


@pytest.mark.slow
def test_training_steps_reduce_the_loss_on_one_batch():
    """A few optimiser steps on one fixed batch of real-looking pairs lower the anchor-free loss (the
    gradients reach the head and the neck)."""
    from tracker.models import build_model
    from tracker.training.pairs import AnchorFreeTargetMaker

    torch.manual_seed(0)
    preset = get_preset("anchorfree_effnet_lite0")
    model = build_model(preset).train()
    maker = AnchorFreeTargetMaker(16, 16, 255)
    rng = np.random.default_rng(0)
    boxes = [(100, 110, 160, 150), (90, 90, 170, 170)]
    tg = [maker(b, False, rng) for b in boxes]
    batch = {k: torch.from_numpy(np.stack([t[k] for t in tg])) for k in tg[0]}
    g = torch.Generator().manual_seed(1)
    z, x = torch.randn(2, 3, 127, 127, generator=g), torch.randn(2, 3, 255, 255, generator=g)
    params = [p for n, p in model.named_parameters() if not n.startswith("backbone")]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    from tracker.training.losses import siamese_loss

    losses = []
    for _ in range(6):
        out = model(z, x)
        loss = siamese_loss(out, batch, "anchor_free", 1.0, 1.0)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("channels", [1, 2])
def test_the_choice_is_finite_on_wild_outputs(channels):
    """AnchorFreeTracker._choose on random head outputs and on outputs with NaN and infinite values: a finite
    box, score and penalty every time (a broken or untrained head must not put inf/NaN into the state)."""
    from tracker.trackers.anchor_free import AnchorFreeTracker

    S = 15
    tr = AnchorFreeTracker(get_preset("nanotrack_v3"), FakeEngine(S, (7, 7), (20.0, 20.0, 20.0, 20.0)))
    tr.init(np.zeros((480, 640, 3), np.uint8), (300.0, 200.0, 64.0, 48.0))
    rng = np.random.default_rng(channels)
    checked = 0
    for trial in range(40):
        cls = rng.normal(0, 4, (channels, S, S)).astype(np.float32)
        loc = rng.gamma(2.0, 20.0, (4, S, S)).astype(np.float32) - np.float32(3.0)  # a few negative distances
        if trial % 4 == 1:
            loc.reshape(-1)[rng.integers(0, loc.size, 3)] = [np.nan, np.inf, -np.inf]
        if trial % 4 == 2:
            cls.reshape(-1)[rng.integers(0, cls.size, 2)] = [np.inf, -np.inf] if trial % 8 == 2 else [np.nan, 500.0]
        tr.redetecting = trial % 5 == 0  # the window's other influence
        tr.size = np.array([rng.uniform(20, 200), rng.uniform(20, 200)])
        scale_z = float(rng.uniform(0.3, 2.0))
        box, score, penalty, _ = tr._choose(cls, loc, scale_z)
        assert all(np.isfinite(v) for v in (*box, score, penalty)), (trial, box, score, penalty)
        checked += 1
    assert checked == 40
