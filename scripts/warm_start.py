#!/usr/bin/env python
"""Make a starting checkpoint for a preset from another model's weights: every tensor whose name and
shape match is copied, the rest keep the preset's fresh initialisation (ImageNet backbone where it has
one). Prints what was copied and what was not; the result is for `siamtrack train --init`.

    python scripts/warm_start.py --preset siamrpn_effnet_lite0_fast --source weights/siamrpn_effnet_lite0.pth \
        --out runs/lite0_fast_init.pth
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.config.presets import get_preset
from tracker.errors import UserError
from tracker.models import build_model, save_checkpoint
from tracker.models.checkpoint import read_checkpoint


def warm_start(preset_name: str, source: str, seed: int = 0):
    """The preset's model with every same-named, same-shaped tensor of `source` copied in; returns
    (model, copied keys, keys left at their initialisation)."""
    torch.manual_seed(seed)
    preset = get_preset(preset_name)
    model = build_model(preset, pretrained_backbone=True)
    src, _ = read_checkpoint(source)
    state = model.state_dict()
    copied, kept = [], []
    for k, v in state.items():
        s = src.get(k)
        if s is not None and s.shape == v.shape:
            state[k] = s.to(v.dtype)
            copied.append(k)
        else:
            kept.append(k)
    model.load_state_dict(state)
    return model, copied, kept


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", required=True)
    ap.add_argument("--source", required=True, help="checkpoint to copy matching tensors from")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        model, copied, kept = warm_start(a.preset, a.source, a.seed)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    save_checkpoint(a.out, model, {"preset": a.preset, "warm_start_from": str(a.source)})
    groups = sorted({".".join(k.split(".")[:3]) for k in kept})
    print(f"copied {len(copied)} tensors, {len(kept)} left at initialisation: {', '.join(groups)}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
