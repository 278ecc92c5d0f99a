#!/usr/bin/env python
"""Render a grid of sampled training pairs to a PNG: template crop with its box, search crop with the target
box (green; red for a negative pair's distractor), positive anchors (RPN: yellow boxes) or positive cells
(SiamFC: yellow dots), negative anchors' centres (small blue dots), the crop centre (white cross) and the
spatially aware shift.

    python scripts/render_pairs.py siamrpn_alex_dwxcorr --data sequences=../shared/data/sequences \
        --data yolo=../shared/data/still/coco8 --data video=../shared/data/videos -n 12 -o pairs.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.errors import UserError


def draw_pair(sample: dict, family: str, targets) -> np.ndarray:
    z = np.ascontiguousarray(sample["z"]).copy()
    x = np.ascontiguousarray(sample["x"]).copy()
    neg = sample["negative"]
    zb = sample["z_box"]
    cv2.rectangle(z, (int(round(zb[0])), int(round(zb[1]))), (int(round(zb[2])), int(round(zb[3]))), (0, 255, 0), 1)
    n = x.shape[0]
    if family == "siamfc":
        pos = (n - 1) / 2 + (np.arange(targets.score_size) - targets.score_size // 2) * targets.stride
        lab = sample["label"]
        for i in range(targets.score_size):
            for j in range(targets.score_size):
                c = (int(round(pos[j])), int(round(pos[i])))
                if lab[i, j] > 0:
                    cv2.circle(x, c, 3, (0, 255, 255), -1)
                else:
                    cv2.circle(x, c, 1, (255, 128, 0), -1)
    else:
        rpn = targets.rpn
        lab = sample["label"].reshape(-1)
        for a in np.flatnonzero(lab == 0):
            cx, cy = rpn.center[a, :2]
            cv2.circle(x, (int(round(cx)), int(round(cy))), 2, (255, 128, 0), -1)
        for a in np.flatnonzero(lab == 1):
            x1, y1, x2, y2 = rpn.corners[a]
            cv2.rectangle(x, (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2))), (0, 255, 255), 1)
    xb = sample["x_box"]
    colour = (0, 0, 255) if neg else (0, 255, 0)
    cv2.rectangle(x, (int(round(xb[0])), int(round(xb[1]))), (int(round(xb[2])), int(round(xb[3]))), colour, 2)
    c = (n - 1) // 2
    cv2.drawMarker(x, (c, c), (255, 255, 255), cv2.MARKER_CROSS, 12, 1)
    h = max(z.shape[0], x.shape[0]) + 18
    tile = np.full((h, z.shape[1] + x.shape[1] + 6, 3), 40, np.uint8)
    tile[: z.shape[0], : z.shape[1]] = z
    tile[: x.shape[0], z.shape[1] + 6 :] = x
    npos = int((sample["label"] > 0).sum())
    text = (
        f"{'NEG ' if neg else ''}shift {sample['shift'][0]:+.0f},{sample['shift'][1]:+.0f} "
        f"scale {sample['jitter'][0]:.2f},{sample['jitter'][1]:.2f} pos {npos}"
    )
    cv2.putText(tile, text, (4, h - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("preset")
    p.add_argument("--data", action="append", required=True, metavar="KIND=PATH[,OPT=V]")
    p.add_argument("--val", default="", help="held-out sequence names (not sampled)")
    p.add_argument("-n", type=int, default=12, help="number of pairs")
    p.add_argument("--cols", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epoch", type=int, default=0)
    p.add_argument("--neg", type=float, default=0.2)
    p.add_argument("--paste", type=float, default=0.0, help="probability of a pasted-target pair (train --paste)")
    p.add_argument("--shift", type=float, default=64)
    p.add_argument("--search-size", type=int, default=255)
    p.add_argument("-o", "--out", default="pairs.png")
    args = p.parse_args(argv)
    try:
        import torch

        from tracker.build import resolve_preset
        from tracker.models import build_model
        from tracker.training.augment import CropAugment
        from tracker.training.config import TrainConfig
        from tracker.training.model import ModelGeometry, make_targets, probe_score_size
        from tracker.training.pairs import PairConfig, PairDataset
        from tracker.training.source_spec import parse_source_spec
        from tracker.training.sources import build_mix

        preset = resolve_preset(args.preset)
        geom = ModelGeometry(preset)
        with torch.no_grad():
            model = build_model(preset)
        pairs = PairConfig(
            exemplar_size=geom.exemplar_size,
            search_size=args.search_size,
            context=geom.context,
            neg=args.neg,
            paste=args.paste,
            search=CropAugment.search_default(args.shift),
        )
        cfg = TrainConfig(preset=preset.name, pairs=pairs)
        s = probe_score_size(model, geom, args.search_size, torch.device("cpu"))
        targets = make_targets(geom, s, cfg)
        mix = build_mix([parse_source_spec(d) for d in args.data], [v for v in args.val.split(",") if v])
        ds = PairDataset(mix, pairs, targets, args.seed)
        tiles = [draw_pair(ds.sample(args.epoch, i), geom.family, targets) for i in range(args.n)]
    except UserError as exc:
        print(f"render_pairs: error: {exc}", file=sys.stderr)
        return 2
    cols = max(1, args.cols)
    th, tw = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    grid = np.full((rows * (th + 4), cols * (tw + 4), 3), 20, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        grid[r * (th + 4) : r * (th + 4) + th, c * (tw + 4) : c * (tw + 4) + tw] = t
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), grid):
        print(f"render_pairs: error: cannot write {out}", file=sys.stderr)
        return 2
    print(f"{len(tiles)} pairs ({geom.family}, score map {s}x{s}) written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
