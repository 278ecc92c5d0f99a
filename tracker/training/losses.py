"""Training losses (computed in float32 even under mixed precision).

- SiamFC: balanced logistic loss, sum over the map of weight · BCE-with-logits, averaged over the batch
  (the weights of one sample sum to 1).
- RPN: cross-entropy on the 2-class scores as 0.5 · mean over all positives + 0.5 · mean over all
  negatives of the batch (pysot), and L1 over the 4 regression targets weighted 1/n_pos per sample,
  summed and divided by the batch size. Total = cls_weight · cls + loc_weight · loc (1.0 / 1.2).
- Anchor-free: binary cross-entropy of the point logits against their targets (centre-ness on
  positives, 0 on negatives, ignored points left out) as 0.5 · mean over positives + 0.5 · mean over
  negatives, and the GIoU loss (1 − GIoU) of each positive point's (l, t, r, b) box against the target's,
  averaged over the positives of the batch. Total = cls_weight · cls + loc_weight · loc.
The cls map is (B, 2k, S, S) class-major ([2][k]), loc (B, 4k, S, S) coordinate-major ([4][k]); the
anchor-free head's cls (B, 1, S, S) and loc (B, 4, S, S) = (l, t, r, b) in crop pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def balanced_logistic_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    logits = logits.float().reshape(labels.shape)
    per = F.binary_cross_entropy_with_logits(logits, labels.float(), weights.float(), reduction="none")
    return per.flatten(1).sum(1).mean()


def rpn_cls_loss(cls: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    b, c, h, w = cls.shape
    k = c // 2
    logp = F.log_softmax(cls.float().view(b, 2, k, h, w), dim=1)  # (B, 2, k, S, S)
    pos = label == 1
    neg = label == 0
    zero = cls.float().sum() * 0.0  # keeps the graph (and DDP's gradient hooks) when a class is empty
    loss_pos = -logp[:, 1][pos].mean() if pos.any() else zero
    loss_neg = -logp[:, 0][neg].mean() if neg.any() else zero
    return 0.5 * loss_pos + 0.5 * loss_neg


def rpn_loc_loss(loc: torch.Tensor, delta: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    b, c, h, w = loc.shape
    diff = (loc.float().view(b, 4, c // 4, h, w) - delta.float()).abs().sum(dim=1)
    return (diff * weight.float()).sum() / b


def giou_ltrb(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """GIoU of boxes given as distances (l, t, r, b) from one point, (N, 4) each: the box is
    (-l, -t) .. (r, b) around the point (a target's distances may be negative)."""
    px1, py1, px2, py2 = -pred[:, 0], -pred[:, 1], pred[:, 2], pred[:, 3]
    tx1, ty1, tx2, ty2 = -target[:, 0], -target[:, 1], target[:, 2], target[:, 3]
    area_p = (px2 - px1).clamp(min=0) * (py2 - py1).clamp(min=0)
    area_t = (tx2 - tx1).clamp(min=0) * (ty2 - ty1).clamp(min=0)
    iw = (torch.minimum(px2, tx2) - torch.maximum(px1, tx1)).clamp(min=0)
    ih = (torch.minimum(py2, ty2) - torch.maximum(py1, ty1)).clamp(min=0)
    inter = iw * ih
    union = (area_p + area_t - inter).clamp(min=1e-6)
    enclose = (
        (torch.maximum(px2, tx2) - torch.minimum(px1, tx1)) * (torch.maximum(py2, ty2) - torch.minimum(py1, ty1))
    ).clamp(min=1e-6)
    return inter / union - (enclose - union) / enclose


def anchor_free_loss(
    cls: torch.Tensor, loc: torch.Tensor, label: torch.Tensor, cls_target: torch.Tensor, ltrb: torch.Tensor
):
    # one target logit per point, or (NanoTrack's heads) background and target logits, whose softmax share is
    # the sigmoid of their difference: the same score the tracker reads (tracker.trackers.anchor_free)
    logits = cls.float()[:, -1] - cls.float()[:, 0] if cls.shape[1] == 2 else cls.float()[:, 0]  # (B, S, S)
    per = F.binary_cross_entropy_with_logits(logits, cls_target.float(), reduction="none")
    pos, neg = label == 1, label == 0
    zero = logits.sum() * 0.0
    cls_loss = 0.5 * (per[pos].mean() if pos.any() else zero) + 0.5 * (per[neg].mean() if neg.any() else zero)
    if pos.any():
        pred = loc.float().permute(0, 2, 3, 1)[pos]  # (P, 4)
        tgt = ltrb.float().permute(0, 2, 3, 1)[pos]
        loc_loss = (1.0 - giou_ltrb(pred, tgt)).mean()
    else:
        loc_loss = loc.float().sum() * 0.0
    return cls_loss, loc_loss


def siamese_loss(outputs: dict, batch: dict, family: str, cls_weight: float = 1.0, loc_weight: float = 1.2):
    """Loss dict {'loss', 'cls', 'loc'} for a model output dict and a batch of targets."""
    if family == "anchor_free":
        cls, loc = anchor_free_loss(outputs["cls"], outputs["loc"], batch["label"], batch["cls_target"], batch["ltrb"])
        return {"loss": cls_weight * cls + loc_weight * loc, "cls": cls, "loc": loc}
    if family == "siamfc":
        cls = balanced_logistic_loss(outputs["cls"], batch["label"], batch["label_weight"])
        loc = cls.new_zeros(())
        total = cls
    else:
        cls = rpn_cls_loss(outputs["cls"], batch["label"])
        loc = rpn_loc_loss(outputs["loc"], batch["delta"], batch["delta_weight"])
        total = cls_weight * cls + loc_weight * loc
    return {"loss": total, "cls": cls, "loc": loc}
