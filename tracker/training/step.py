"""One batch through the network: the trackers' input conversion, the forward pass (float16 autocast with
mixed precision) and the losses: the head's, plus the embedding loss a run asks for."""

from __future__ import annotations

import torch

from ..models import InputAdapter
from .config import TrainConfig
from .losses import siamese_loss
from .model import ModelGeometry

TARGET_KEYS = ("label", "label_weight", "delta", "delta_weight", "cls_target", "ltrb")


def loss_step(net, batch: dict, cfg: TrainConfig, geom: ModelGeometry, device, use_amp: bool) -> dict:
    """The forward pass of one batch (under float16 autocast with `use_amp`) and its losses:
    {"loss": total, "cls": ..., "loc": ..., and "metric" with cfg.metric_loss}."""
    to_input = InputAdapter(geom.input, torch.device(device)).tensor  # the trackers' conversion, on `device`
    z = to_input(batch["z"])
    x = to_input(batch["x"])
    tgt = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k in TARGET_KEYS}
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
        outputs = net(z, x, with_features=True) if cfg.metric_loss != "none" else net(z, x)
    losses = siamese_loss(outputs, tgt, geom.family, cfg.cls_weight, cfg.loc_weight)
    if cfg.metric_loss != "none":
        losses = add_metric_loss(losses, outputs, batch, cfg, geom, device)
    return losses


def add_metric_loss(losses: dict, outputs: dict, batch: dict, cfg: TrainConfig, geom: ModelGeometry, device) -> dict:
    """`losses` with cfg.metric_loss on the batch's embeddings added to the total (and reported as 'metric')."""
    from .metric import metric_loss, search_embedding, template_embedding

    xb = batch["x_box"].to(device).float()
    centres = torch.stack([(xb[:, 0] + xb[:, 2]) / 2, (xb[:, 1] + xb[:, 3]) / 2], dim=1)
    za = template_embedding(outputs["zf"])
    xs = search_embedding(outputs["xf"], centres, cfg.pairs.search_size, geom.stride)
    m = metric_loss(cfg.metric_loss, za, xs, batch["z_id"].to(device), batch["x_id"].to(device), cfg.metric_margin)
    return dict(losses, loss=losses["loss"] + cfg.metric_weight * m, metric=m)
