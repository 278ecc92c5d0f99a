"""`siamtrack train`: argument parsing only (imports stay light; the work is in tracker.training)."""

from __future__ import annotations

import argparse

EPILOG = """\
data sources (--data, repeatable): KIND=PATH[,weight=W][,range=R][,images=DIR][,min_size=PX]
  sequences  OTB / VOT / GOT-10k folder of sequence folders (alias: otb, vot, got10k)
  coco       COCO detection JSON (images=DIR for the image root)
  yolo       YOLO folder (images/**, labels/**)
  video      unlabeled video file or folder (self-supervised pairs)

examples:
  siamtrack train siamfc_alexnet --data sequences=../shared/data/sequences \\
      --data yolo=../shared/data/still/coco8,weight=0.5 --val car1,BMX3,person11,Human3 --out-dir runs/fc
  torchrun --nproc_per_node 2 -m tracker.cli train siamrpn_alex_dwxcorr --recipe recipe.yaml
  siamtrack train siamrpn_alex_dwxcorr --recipe runs/rpn/recipe.yaml --resume auto
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("preset", nargs="?", help="model preset to train (see `siamtrack models`), or a preset YAML")
    g = p.add_argument_group("data")
    g.add_argument("--data", action="append", metavar="KIND=PATH[,OPT=V]", help="a training source (repeatable)")
    g.add_argument(
        "--recipe",
        metavar="YAML",
        help="recipe file (any option below; 'sources' as a list of "
        "{kind, path, weight, range}); command-line options override it",
    )
    g.add_argument(
        "--val",
        metavar="NAMES",
        help="comma-separated sequence names held out for validation (never sampled for training)",
    )
    g.add_argument(
        "--out-dir",
        dest="out",
        metavar="DIR",
        help="output folder (checkpoints, metrics.csv, recipe.yaml); default runs/train_PRESET",
    )
    from .args import add_deprecated

    add_deprecated(g, "--out", "--out-dir", "out", metavar="DIR")
    s = p.add_argument_group("schedule")
    s.add_argument("--epochs", type=int)
    s.add_argument("--steps-per-epoch", type=int, help="optimiser steps per epoch")
    s.add_argument("--batch-size", type=int, help="pairs per step and process")
    s.add_argument(
        "--data-workers",
        dest="workers",
        type=int,
        metavar="N",
        help="DataLoader worker processes per training process (recipe key: workers)",
    )
    add_deprecated(s, "--workers", "--data-workers", "workers", type=int, metavar="N")
    s.add_argument("--lr", type=float, help="peak learning rate")
    s.add_argument("--end-lr", type=float, help="final learning rate (log decay)")
    s.add_argument("--warmup-epochs", type=float)
    s.add_argument("--warmup-lr", type=float, help="learning rate at the start of the warm-up")
    s.add_argument("--momentum", type=float)
    s.add_argument("--weight-decay", type=float)
    s.add_argument("--clip", type=float, help="gradient-norm clip (0: off)")
    s.add_argument("--freeze-epochs", type=int, help="epochs with the backbone frozen (BatchNorm in eval)")
    s.add_argument("--backbone-lr-mult", type=float, help="backbone learning-rate factor once unfrozen")
    s.add_argument("--train-layers", metavar="NAMES", help="backbone sub-modules to unfreeze (comma list)")
    s.add_argument("--cls-weight", type=float)
    s.add_argument("--loc-weight", type=float)
    s.add_argument("--radius", type=float, help="SiamFC positive radius in search-crop pixels")
    s.add_argument(
        "--metric-loss",
        choices=["none", "contrastive", "triplet", "triplet_semi", "quadruplet"],
        help="add a metric-learning loss on the template and search embeddings (triplet: batch-hard "
        "mining, triplet_semi: semi-hard; default none)",
    )
    s.add_argument("--metric-weight", type=float, help="weight of --metric-loss in the total (default 0.1)")
    s.add_argument("--metric-margin", type=float, help="margin of --metric-loss on unit embeddings (default 0.5)")
    a = p.add_argument_group("pairs and augmentation")
    a.add_argument("--neg", type=float, help="probability of a negative pair")
    a.add_argument("--gray", type=float, help="probability of a grayscale pair")
    a.add_argument(
        "--paste",
        type=float,
        help="probability that a positive pair's search image is its target "
        "pasted onto another image of the mix at a random place (the template's context is then "
        "no help: teaches matching the target, not its surroundings)",
    )
    a.add_argument(
        "--distractor",
        type=float,
        help="probability that a positive pair's search image also shows a "
        "similar object (same category, else same source) pasted beside the target (DaSiamRPN's "
        "distractor-aware training)",
    )
    a.add_argument("--shift", type=float, help="search crop shift, ± pixels (spatially aware sampling)")
    a.add_argument("--scale", type=float, help="search crop scale jitter, ± fraction per axis")
    a.add_argument("--blur", type=float, help="probability of blurring the search crop")
    a.add_argument("--color", type=float, help="probability of a colour offset")
    a.add_argument("--flip", type=float, help="probability of flipping the search crop")
    a.add_argument("--template-shift", type=float)
    a.add_argument("--template-scale", type=float)
    a.add_argument("--search-size", type=int, help="training search crop size (default 255)")
    r = p.add_argument_group("run")
    r.add_argument("--device", help="auto, cpu or cuda")
    r.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    r.add_argument("--seed", type=int)
    r.add_argument(
        "--init-weights",
        dest="init",
        metavar="FILE",
        help="start from these weights (pysot / siamfc / own format; recipe key: init)",
    )
    add_deprecated(r, "--init", "--init-weights", "init", metavar="FILE")
    r.add_argument("--no-pretrained", action="store_true", help="do not load ImageNet backbone weights")
    r.add_argument("--resume", metavar="CKPT", help="resume a run from a training checkpoint ('auto': OUT/last.pth)")
    r.add_argument("--save-every", type=int, help="also checkpoint every N steps inside an epoch")
    r.add_argument("--keep", type=int, help="keep only the last K epoch checkpoints")
    r.add_argument("--val-every", type=int, help="validate every N epochs (0: never)")
    r.add_argument("--val-frames", type=int, help="frames per validation sequence (0: all)")
    r.add_argument("--log-every", type=int, help="metrics row every N steps")
    r.add_argument("--max-steps", type=int, help="stop after this global step (with a checkpoint)")
    r.add_argument("--export", metavar="FILE", help="also write the final weights (no training state) here")
    r.add_argument("--half", action="store_true", help="with --export: store weights as float16")
    r.add_argument("--quiet", dest="no_progress", action="store_true", help="no progress output")
    add_deprecated(r, "--no-progress", "--quiet", "no_progress", store_true=True)


def run(args) -> int:
    from .._torch import require_torch

    require_torch("training", extra="train")
    from ..runtime import configure_process
    from ..training.recipe import config_from_args
    from ..training.trainer import train

    cfg, resume = config_from_args(args)
    import torch  # noqa: F401 - training runs in torch; imported here so that configure_process applies to it

    configure_process()  # freed memory kept, TF32 off (full float32), as for tracking
    result = train(cfg, resume=resume)
    if getattr(args, "export", None) and result["checkpoint"]:
        import os

        if int(os.environ.get("RANK", "0")) == 0:
            from ..models.checkpoint import sha256_file
            from ..training.checkpoint import export_weights

            out = export_weights(result["checkpoint"], args.export, half=args.half)
            print(f"weights written to {out} (sha256 {sha256_file(out)})")
    return 0
