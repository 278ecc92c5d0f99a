"""Training targets and losses: RPN anchor assignment (IoU > 0.6 positive, < 0.3 negative, at most 16
positives of 64), regression targets that decode back to the target, SiamFC labels within the positive
radius of the (shifted) target, and the losses against hand computations."""

import numpy as np
import torch
import torch.nn.functional as F

from tracker.geometry import anchor_boxes, decode_deltas
from tracker.training.losses import balanced_logistic_loss, rpn_cls_loss, rpn_loc_loss, siamese_loss
from tracker.training.targets import RPNTargets, iou_corners, siamfc_labels

RATIOS, SCALES, STRIDE, S, CROP = (0.33, 0.5, 1, 2, 3), (8,), 8, 17, 255


def rpn():
    return RPNTargets(anchor_boxes(STRIDE, RATIOS, SCALES, S), 5, S, STRIDE, CROP)


def corners_of(cx, cy, w, h):
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def test_anchor_equal_to_the_target_is_positive_and_regresses_to_zero():
    t = rpn()
    c = (CROP - 1) / 2
    box = corners_of(c, c, 64, 64)  # exactly the ratio-1 anchor at the centre cell
    label, delta, weight = t(box, False, np.random.default_rng(0))
    assert label.shape == (5, S, S) and delta.shape == (4, 5, S, S)
    assert label[2, S // 2, S // 2] == 1
    assert np.allclose(delta[:, 2, S // 2, S // 2], 0, atol=1e-6)


def test_assignment_follows_iou_thresholds_and_counts():
    t = rpn()
    rng = np.random.default_rng(1)
    for _ in range(20):
        cx, cy = rng.uniform(60, 195, 2)
        w, h = rng.uniform(30, 140, 2)
        box = corners_of(cx, cy, w, h)
        label, delta, weight = t(box, False, rng)
        iou = iou_corners(t.corners, box).reshape(5, S, S)  # independent of the label code path
        pos, neg = label == 1, label == 0
        assert (iou[pos] > 0.6).all() and (iou[neg] < 0.3).all()
        assert pos.sum() == min(16, (iou > 0.6).sum())
        assert neg.sum() == 48 and pos.sum() + neg.sum() <= 64
        if pos.any():
            assert np.isclose(weight.sum(), 1.0) and (weight[~pos] == 0).all()
            # the regression targets of every positive anchor decode to the target box
            flat_pos = np.flatnonzero(pos.reshape(-1))
            anchors = anchor_boxes(STRIDE, RATIOS, SCALES, S)[flat_pos]
            dec = decode_deltas(delta.reshape(4, -1)[:, flat_pos], anchors)
            c = (CROP - 1) / 2
            assert np.allclose(dec[0], cx - c, atol=1e-3) and np.allclose(dec[2], w, rtol=1e-4)
            assert np.allclose(dec[1], cy - c, atol=1e-3) and np.allclose(dec[3], h, rtol=1e-4)


def test_large_target_keeps_exactly_sixteen_positives():
    # a dense anchor grid (stride 4) so that many anchors overlap the target by more than 0.6
    t = RPNTargets(anchor_boxes(4, (1,), (16,), 33), 1, 33, 4, 135)
    box = corners_of(67, 67, 64, 64)
    label, _, weight = t(box, False, np.random.default_rng(0))
    iou = iou_corners(t.corners, box)
    assert (iou > 0.6).sum() > 16 and (label == 1).sum() == 16
    assert np.allclose(weight[label == 1], 1 / 16)


def test_negative_pair_has_negatives_around_the_distractor_only():
    t = rpn()
    c = (CROP - 1) / 2
    box = corners_of(c + 40, c - 24, 50, 50)  # distractor 5 cells right, 3 cells up
    label, _, weight = t(box, True, np.random.default_rng(0))
    assert (label == 1).sum() == 0 and (label == 0).sum() == 16 and weight.sum() == 0
    _, ys, xs = np.nonzero(label == 0)
    assert (np.abs(xs - (S // 2 + 5)) <= 3).all() and (np.abs(ys - (S // 2 - 3)) <= 3).all()


def test_siamfc_labels_follow_the_target_within_the_radius():
    c = (CROP - 1) / 2
    lab, w = siamfc_labels(corners_of(c, c, 40, 40), S, STRIDE, CROP, radius=16)
    # cells within 2 cells (16 px / stride 8) of the centre: 13 lattice points with i^2 + j^2 <= 4
    assert lab.sum() == 13 and lab[S // 2, S // 2] == 1
    assert np.isclose(w.sum(), 1.0) and np.isclose(w[lab == 1].sum(), 0.5)
    shifted, _ = siamfc_labels(corners_of(c + 24, c - 16, 40, 40), S, STRIDE, CROP, radius=16)
    assert shifted[S // 2 - 2, S // 2 + 3] == 1 and shifted.sum() == 13 and shifted[S // 2, S // 2] == 0
    neg, wn = siamfc_labels(corners_of(c, c, 40, 40), S, STRIDE, CROP, radius=16, negative=True)
    assert neg.sum() == 0 and np.isclose(wn.sum(), 1.0)


def test_balanced_logistic_loss_matches_hand_computation():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 5, 5)
    labels = torch.zeros(2, 5, 5)
    labels[:, 2, 2] = 1
    weights = torch.where(labels == 1, torch.tensor(0.5), torch.tensor(0.5 / 24))
    p = torch.sigmoid(logits[:, 0])
    manual = -(weights * (labels * p.log() + (1 - labels) * (1 - p).log())).sum((1, 2)).mean()
    assert torch.allclose(balanced_logistic_loss(logits, labels, weights), manual, atol=1e-6)


def test_rpn_losses_match_hand_computation():
    torch.manual_seed(0)
    b, k, s = 2, 3, 4
    cls = torch.randn(b, 2 * k, s, s)
    loc = torch.randn(b, 4 * k, s, s)
    label = torch.full((b, k, s, s), -1, dtype=torch.long)
    label[0, 1, 2, 3] = 1
    label[1, 0, 0, 0] = 1
    label[0, 2, 1, 1] = 0
    label[1, 2, 3, 3] = 0
    label[1, 1, 0, 2] = 0
    delta = torch.randn(b, 4, k, s, s)
    weight = (label == 1).float()
    logp = F.log_softmax(cls.view(b, 2, k, s, s), dim=1)  # class-major channels [2][k]
    pos = -(logp[0, 1, 1, 2, 3] + logp[1, 1, 0, 0, 0]) / 2
    neg = -(logp[0, 0, 2, 1, 1] + logp[1, 0, 2, 3, 3] + logp[1, 0, 1, 0, 2]) / 3
    assert torch.allclose(rpn_cls_loss(cls, label), 0.5 * pos + 0.5 * neg, atol=1e-6)
    l1 = (
        (loc.view(b, 4, k, s, s)[0, :, 1, 2, 3] - delta[0, :, 1, 2, 3]).abs().sum()
        + (loc.view(b, 4, k, s, s)[1, :, 0, 0, 0] - delta[1, :, 0, 0, 0]).abs().sum()
    ) / b
    assert torch.allclose(rpn_loc_loss(loc, delta, weight), l1, atol=1e-5)
    total = siamese_loss({"cls": cls, "loc": loc}, {"label": label, "delta": delta, "delta_weight": weight}, "siamrpn")
    assert torch.allclose(total["loss"], 1.0 * total["cls"] + 1.2 * total["loc"])


def test_rpn_loss_without_positives_is_finite_and_differentiable():
    cls = torch.randn(1, 4, 3, 3, requires_grad=True)
    label = torch.zeros(1, 2, 3, 3, dtype=torch.long)
    loss = rpn_cls_loss(cls, label)
    loss.backward()
    assert torch.isfinite(loss) and cls.grad is not None
