"""Training losses (computed in float32 even under mixed precision).

- SiamFC: balanced logistic loss, sum over the map of weight · BCE-with-logits, averaged over the batch
  (the weights of one sample sum to 1).
- RPN: cross-entropy on the 2-class scores as 0.5 · mean over all positives + 0.5 · mean over all
  negatives of the batch (pysot), and L1 over the 4 regression targets weighted 1/n_pos per sample,
  summed and divided by the batch size. Total = cls_weight · cls + loc_weight · loc (1.0 / 1.2).
The cls map is (B, 2k, S, S) class-major ([2][k]), loc (B, 4k, S, S) coordinate-major ([4][k]).
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
    logp = F.log_softmax(cls.float().view(b, 2, k, h, w), dim=1)      # (B, 2, k, S, S)
    pos = label == 1
    neg = label == 0
    zero = cls.float().sum() * 0.0       # keeps the graph (and DDP's gradient hooks) when a class is empty
    loss_pos = -logp[:, 1][pos].mean() if pos.any() else zero
    loss_neg = -logp[:, 0][neg].mean() if neg.any() else zero
    return 0.5 * loss_pos + 0.5 * loss_neg


def rpn_loc_loss(loc: torch.Tensor, delta: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    b, c, h, w = loc.shape
    diff = (loc.float().view(b, 4, c // 4, h, w) - delta.float()).abs().sum(dim=1)
    return (diff * weight.float()).sum() / b


def siamese_loss(outputs: dict, batch: dict, family: str, cls_weight: float = 1.0, loc_weight: float = 1.2):
    """Loss dict {'loss', 'cls', 'loc'} for a model output dict and a batch of targets."""
    if family == "siamfc":
        cls = balanced_logistic_loss(outputs["cls"], batch["label"], batch["label_weight"])
        loc = cls.new_zeros(())
        total = cls
    else:
        cls = rpn_cls_loss(outputs["cls"], batch["label"])
        loc = rpn_loc_loss(outputs["loc"], batch["delta"], batch["delta_weight"])
        total = cls_weight * cls + loc_weight * loc
    return {"loss": total, "cls": cls, "loc": loc}
