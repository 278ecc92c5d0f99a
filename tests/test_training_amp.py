"""Mixed precision: the training step's forward under autocast, as the trainer runs it on CUDA (float16).

No GPU here, so the same code path runs under the CPU's autocast (bfloat16): every convolution, the
correlation of each head and the losses see half-precision tensors exactly as on a GPU. (The first GPU run
failed on this: the depthwise correlation refused float16 inputs.)"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tracker.config.presets import get_preset
from tracker.models import build_model
from tracker.training.config import TrainConfig
from tracker.training.losses import siamese_loss
from tracker.training.model import ModelGeometry, make_targets, probe_score_size
from tracker.training.pairs import collate


def step_inputs(name, device, search, size=48.0):
    """A model of preset `name` in training mode on `device`, and a batch of two pairs as the trainer feeds
    it: random crops, targets for a box of `size` px in the middle of the search crop, the second pair a
    negative. Returns (model, geometry, z, x, targets)."""
    torch.manual_seed(0)
    preset = get_preset(name)
    model = build_model(preset).to(device).train()
    geom = ModelGeometry(preset)
    cfg = TrainConfig(preset=name)
    cfg.pairs = dataclasses.replace(cfg.pairs, search_size=search)
    score = probe_score_size(model, geom, search, torch.device(device))
    targets = make_targets(geom, score, cfg)
    rng = np.random.default_rng(0)
    c, s = search / 2, size
    samples = [targets(np.array([c - s / 2, c - s / 2, s, s]), neg, rng) for neg in (False, True)]
    batch = collate([dict(t, z=np.zeros((1,), np.uint8), x=np.zeros((1,), np.uint8)) for t in samples])
    tgt = {k: v.to(device) for k, v in batch.items() if k in ("label", "label_weight", "delta", "delta_weight")}
    z = torch.randn(2, 3, geom.exemplar_size, geom.exemplar_size, device=device)
    x = torch.randn(2, 3, search, search, device=device)
    return model, geom, z, x, tgt


@pytest.mark.parametrize(
    "name", ["siamfc_alexnet", "siamrpn_alex_dwxcorr", "siamrpn_alex_upxcorr", "siamrpn_effnet_lite0"]
)
def test_training_step_under_autocast_gives_finite_loss_and_gradients(name):
    model, geom, z, x, tgt = step_inputs(name, "cpu", 167)  # small crops: bf16 on this CPU is slow
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = model(z, x)
    assert out["cls"].dtype == torch.bfloat16  # autocast really ran the network in half precision
    losses = siamese_loss(out, tgt, geom.family)
    assert torch.isfinite(losses["loss"]) and losses["loss"].dtype == torch.float32
    losses["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (scripts/train_gpu.sh runs it)")
@pytest.mark.parametrize("name", ["siamrpn_alex_dwxcorr", "siamrpn_effnet_lite0_fast"])
def test_gpu_float16_training_step_of_a_real_model(name):
    # the shipped models' training step as the trainer runs it on CUDA: float16 autocast, GradScaler
    model, geom, z, x, tgt = step_inputs(name, "cuda", TrainConfig(preset=name).pairs.search_size, 64.0)
    scaler = torch.amp.GradScaler("cuda")
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        out = model(z, x)
    assert out["cls"].dtype == torch.float16
    loss = siamese_loss(out, tgt, geom.family)["loss"]
    assert torch.isfinite(loss)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() > 0
