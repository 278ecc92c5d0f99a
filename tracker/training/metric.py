"""Metric-learning losses on the Siamese embeddings (training options, `--metric-loss`).

Each pair of a batch gives two embeddings: the template's (its feature maps averaged over space, every level
concatenated) and the search crop's at the centre of the box it holds (the maps sampled bilinearly at that
point). Both are L2-normalised; distances are Euclidean. Identities: a template is its track; a search
embedding belongs to the track of the object at its box (the template's own for a positive pair, another
one for a negative pair). Anchors are the templates; positives the search embeddings of the same identity,
negatives those of other identities.

- contrastive: over all (template, search) combinations, d² for the same identity and max(0, m − d)² for
  different ones, each half averaged separately.
- triplet, batch-hard: per anchor max(0, d(hardest positive) − d(hardest negative) + m), averaged.
- triplet, semi-hard: the negative is the nearest one farther than the hardest positive (within the
  margin band); where there is none, the hardest negative.
- quadruplet: batch-hard triplet plus max(0, d(a, p) − d(n1, n2) + m/2) with (n1, n2) the closest pair of
  search embeddings of two identities both different from the anchor's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

METRIC_LOSSES = ("none", "contrastive", "triplet", "triplet_semi", "quadruplet")


def template_embedding(zf: list[torch.Tensor]) -> torch.Tensor:
    return F.normalize(torch.cat([z.float().mean(dim=(2, 3)) for z in zf], dim=1), dim=1)


def search_embedding(xf: list[torch.Tensor], centres: torch.Tensor, crop_size: int, stride: float) -> torch.Tensor:
    """(B, D): each level sampled at the box centre (B, 2) given in search-crop pixels. Map cell i sits at
    crop pixel (crop_size − 1)/2 + (i − S//2)·stride (the targets' grid)."""
    outs = []
    for x in xf:
        S = x.shape[-1]
        cell = (centres.float() - (crop_size - 1) / 2) / stride + S // 2  # fractional cell index
        grid = (2 * cell + 1) / S - 1  # align_corners=False
        g = grid.view(-1, 1, 1, 2).to(x.dtype)
        outs.append(
            F.grid_sample(x.float(), g.float(), mode="bilinear", padding_mode="border", align_corners=False).flatten(1)
        )
    return F.normalize(torch.cat(outs, dim=1), dim=1)


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (2 - 2 * (a @ b.t())).clamp(min=1e-12).sqrt()  # unit vectors


def metric_loss(
    kind: str, za: torch.Tensor, xs: torch.Tensor, z_id: torch.Tensor, x_id: torch.Tensor, margin: float = 0.5
) -> torch.Tensor:
    """The loss of `kind` for template embeddings `za` (B, D) and search embeddings `xs` (B, D) with
    integer identities `z_id`, `x_id` (B,). Anchors without a positive or a negative in the batch are left
    out; a batch with none left gives 0 (with a graph)."""
    if kind not in METRIC_LOSSES or kind == "none":
        raise ValueError(f"unknown metric loss {kind!r} ({', '.join(METRIC_LOSSES[1:])})")
    d = _distances(za, xs)  # (B anchors, B search)
    same = z_id[:, None] == x_id[None, :]
    zero = d.sum() * 0.0
    if kind == "contrastive":
        pos = d[same].pow(2)
        neg = F.relu(margin - d[~same]).pow(2)
        return (pos.mean() if pos.numel() else zero) + (neg.mean() if neg.numel() else zero)
    valid = same.any(1) & (~same).any(1)
    if not valid.any():
        return zero
    inf = torch.finfo(d.dtype).max
    d_ap = torch.where(same, d, torch.full_like(d, -inf)).max(1).values
    d_an_hard = torch.where(same, torch.full_like(d, inf), d).min(1).values
    if kind == "triplet_semi":
        band = (~same) & (d > d_ap[:, None])
        semi = torch.where(band, d, torch.full_like(d, inf)).min(1).values
        d_an = torch.where(band.any(1), semi, d_an_hard)
    else:
        d_an = d_an_hard
    loss = F.relu(d_ap - d_an + margin)[valid].mean()
    if kind == "quadruplet":
        dxx = _distances(xs, xs)
        diff = x_id[:, None] != x_id[None, :]
        terms = []
        for i in torch.nonzero(valid).flatten().tolist():
            other = x_id != z_id[i]
            pair_ok = diff & other[:, None] & other[None, :]
            if pair_ok.any():
                terms.append(F.relu(d_ap[i] - dxx[pair_ok].min() + margin / 2))
        if terms:
            loss = loss + torch.stack(terms).mean()
    return loss
