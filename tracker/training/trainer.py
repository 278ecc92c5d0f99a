"""The training loop: one process (CPU or CUDA, mixed precision on CUDA) or many under `torchrun`
(DistributedDataParallel; gloo on CPU, NCCL on CUDA), each rank sampling its own slice of every step.

Exact resume: a sample is a pure function of (seed, epoch, index) (see pairs.py), the learning rate a pure
function of the step, and a checkpoint carries model, optimiser, schedule, grad scaler, the random states
of python / numpy / torch (per rank) and the sampler position (epoch, step). A run resumed from step t
computes, step for step, the losses of the run that was never interrupted.
"""
from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .checkpoint import (capture_rng, link_or_copy, load_training_checkpoint, plain, restore_rng,
                         save_training_checkpoint, unwrap)
from .losses import siamese_loss
from .metrics_log import MetricsLog
from .pairs import (AnchorFreeTargetMaker, PairConfig, PairDataset, RPNTargetMaker, SiamFCTargetMaker,
                    StepBatchSampler, collate)
from .schedule import LRSchedule, param_groups, set_backbone_trainable, set_frozen_bn_eval
from .sources import SourceSpec, build_mix
from .targets import RPNRule, RPNTargets


@dataclass
class TrainConfig:
    preset: str
    sources: list[SourceSpec] = field(default_factory=list)
    val: list[str] = field(default_factory=list)
    out: str = "runs/train"
    epochs: int = 20
    steps_per_epoch: int = 500
    batch_size: int = 16                 # per process
    workers: int = 2
    lr: float = 0.005
    end_lr: float = 0.0005
    warmup_epochs: float = 0.0
    warmup_lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 1e-4
    clip: float = 10.0
    freeze_epochs: int = 0               # backbone frozen (BN in eval) for the first epochs
    backbone_lr_mult: float = 0.1        # backbone lr factor once unfrozen
    train_layers: list[str] | None = None  # backbone sub-modules unfrozen (None: all)
    cls_weight: float = 1.0
    loc_weight: float = 1.2
    radius: float = 16.0                 # SiamFC positive radius, search-crop pixels
    metric_loss: str = "none"            # an embedding loss added to the head's (tracker.training.metric)
    metric_weight: float = 0.1
    metric_margin: float = 0.5
    rpn: RPNRule = field(default_factory=RPNRule)
    pairs: PairConfig = field(default_factory=PairConfig)
    seed: int = 0
    device: str = "auto"
    amp: bool = True                     # mixed precision (CUDA only)
    init: str | None = None              # weights to start from (any format the model loader reads)
    pretrained_backbone: bool = True     # ImageNet backbone weights where the preset has them
    save_every: int = 0                  # extra checkpoint every N steps inside an epoch (0: per epoch only)
    keep: int = 0                        # keep the last K epoch checkpoints (0: all)
    val_every: int = 1                   # validate every N epochs when validation sequences exist (0: never)
    val_frames: int = 0                  # frames per validation sequence (0: all)
    log_every: int = 10
    max_steps: int | None = None         # stop (with a checkpoint) after this global step; resume continues
    progress: bool = True

    def recipe(self) -> dict:
        d = asdict(self)
        d["sources"] = [s.to_dict() for s in self.sources]
        return plain(d)


# ----------------------------------------------------------------------------------------- helpers

class ModelGeometry:
    """What training needs from a preset: family, crop sizes, context, score-map stride, anchors."""

    def __init__(self, preset):
        t = preset.track
        self.name = preset.name
        self.family = preset.family
        self.exemplar_size = int(t.exemplar_size)
        self.context = float(t.context_amount)
        if self.family == "siamfc":
            self.stride = float(t.total_stride)
            self.ratios, self.scales = (), ()
        elif self.family == "anchor_free":
            self.stride = float(preset.model.head.stride)
            self.ratios, self.scales = (), ()
        else:
            self.stride = float(t.anchor_stride)
            self.ratios, self.scales = tuple(t.anchor_ratios), tuple(t.anchor_scales)
        self.anchor_num = len(self.ratios) * len(self.scales)
        self.input = preset.input

    def describe_input(self) -> str:
        d = getattr(self.input, "describe", None)
        return d() if d else str(self.input)


def to_input(crops: torch.Tensor, conv, device) -> torch.Tensor:
    """uint8 BGR crops (N, H, W, 3) → float (N, 3, H, W) in the model's input convention (channel order,
    scale, mean / std), converted on `device` (uint8 travels, not float)."""
    t = crops.to(device, non_blocking=True)
    if str(conv.channel_order).upper() == "RGB":
        t = t.flip(-1)
    t = t.permute(0, 3, 1, 2).float()
    if conv.scale != 1.0:
        t = t * conv.scale
    if conv.mean is not None:
        mean = torch.tensor(conv.mean, device=t.device).view(1, 3, 1, 1)
        std = torch.tensor(conv.std, device=t.device).view(1, 3, 1, 1)
        t = (t - mean) / std
    return t.contiguous()


def probe_score_size(model, geom: ModelGeometry, search_size: int, device) -> int:
    m = unwrap(model)
    was = m.training
    m.eval()
    with torch.no_grad():
        z = torch.zeros(1, 3, geom.exemplar_size, geom.exemplar_size, device=device)
        x = torch.zeros(1, 3, search_size, search_size, device=device)
        out = m(z, x)
    m.train(was)
    cls = out["cls"]
    if cls.shape[-1] != cls.shape[-2]:
        raise UserError(f"model {geom.name}: non-square score map {tuple(cls.shape)}")
    expect = 1 if geom.family in ("siamfc", "anchor_free") else 2 * geom.anchor_num
    if cls.shape[1] != expect:
        raise UserError(f"model {geom.name}: score map has {cls.shape[1]} channels, expected {expect}")
    return int(cls.shape[-1])


def make_targets(geom: ModelGeometry, score_size: int, cfg: TrainConfig):
    if geom.family == "siamfc":
        return SiamFCTargetMaker(score_size, geom.stride, cfg.pairs.search_size, cfg.radius)
    if geom.family == "anchor_free":
        return AnchorFreeTargetMaker(score_size, geom.stride, cfg.pairs.search_size)
    from ..geometry import anchor_boxes
    anchors = anchor_boxes(int(geom.stride), geom.ratios, geom.scales, score_size)
    return RPNTargetMaker(RPNTargets(anchors, geom.anchor_num, score_size, geom.stride,
                                     cfg.pairs.search_size, cfg.rpn))


def build_pair_dataset(cfg: TrainConfig, model, geom: ModelGeometry, device) -> tuple[PairDataset, int]:
    """The training pairs of `cfg` with the targets of this model's score map; also the map's size."""
    score_size = probe_score_size(model, geom, cfg.pairs.search_size, device)
    dataset = PairDataset(build_mix(cfg.sources, cfg.val), cfg.pairs, make_targets(geom, score_size, cfg), cfg.seed)
    return dataset, score_size


def add_metric_loss(losses: dict, outputs: dict, batch: dict, cfg: TrainConfig, geom: ModelGeometry, device) -> dict:
    """`losses` with cfg.metric_loss on the batch's embeddings added to the total (and reported as 'metric')."""
    from .metric import metric_loss, search_embedding, template_embedding
    xb = batch["x_box"].to(device).float()
    centres = torch.stack([(xb[:, 0] + xb[:, 2]) / 2, (xb[:, 1] + xb[:, 3]) / 2], dim=1)
    za = template_embedding(outputs["zf"])
    xs = search_embedding(outputs["xf"], centres, cfg.pairs.search_size, geom.stride)
    m = metric_loss(cfg.metric_loss, za, xs, batch["z_id"].to(device), batch["x_id"].to(device), cfg.metric_margin)
    return dict(losses, loss=losses["loss"] + cfg.metric_weight * m, metric=m)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def _worker_init(_):
    # no cv2.setNumThreads here: in a forked child whose parent has used OpenCV's thread pool it deadlocks
    torch.set_num_threads(1)


class _Progress:
    def __init__(self, total, desc, enabled):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.n, self.t0, self.last = 0, time.perf_counter(), 0.0
        self.tty = sys.stderr.isatty()

    def update(self, suffix=""):
        self.n += 1
        if not self.enabled:
            return
        now = time.perf_counter()
        done = self.n >= self.total
        if self.tty and (now - self.last > 0.2 or done):
            frac = self.n / max(1, self.total)
            sys.stderr.write(f"\r{self.desc} [{'#' * int(frac * 20):<20}] {self.n}/{self.total} {suffix}".ljust(100))
            sys.stderr.flush()
            self.last = now
        elif not self.tty and (now - self.last > 30 or done):
            sys.stderr.write(f"{self.desc} {self.n}/{self.total} {suffix}\n")
            self.last = now

    def close(self):
        if self.enabled and self.tty:
            sys.stderr.write("\n")


# ------------------------------------------------------------------------------------ distributed

@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    want = device
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: CUDA is not available (torch {torch.__version__})")
        dev = torch.device("cuda", local if world > 1 else (torch.device(want).index or 0))
        torch.cuda.set_device(dev)
    elif want == "cpu":
        dev = torch.device("cpu")
    else:
        raise UserError(f"unknown device {device!r} (auto, cpu, cuda)")
    if world > 1:
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, local, dev)


def _all_mean(values: list[float], info: DistInfo) -> list[float]:
    if info.world == 1:
        return values
    import torch.distributed as dist
    t = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return (t / info.world).tolist()


def _gather_rng(info: DistInfo) -> list:
    state = capture_rng()
    if info.world == 1:
        return [state]
    import torch.distributed as dist
    out = [None] * info.world
    dist.all_gather_object(out, state)
    return out


def _barrier(info: DistInfo) -> None:
    if info.world > 1:
        import torch.distributed as dist
        dist.barrier()


# ------------------------------------------------------------------------------------------ train

def build_preset_model(cfg: TrainConfig):
    from ..models import build_model, load_into, read_checkpoint
    from ..build import resolve_preset
    preset = resolve_preset(cfg.preset)
    model = build_model(preset, pretrained_backbone=cfg.pretrained_backbone)
    if cfg.init:
        state, _ = read_checkpoint(cfg.init)
        load_into(model, state, cfg.init, preset.name)
    return preset, model


def train(cfg: TrainConfig, resume: str | None = None, model=None, preset=None, log=print) -> dict:
    """Train; returns {"history": [per-step dicts of this rank], "checkpoint": last path, "steps": n}.
    `model` / `preset` may be given directly (tests, custom architectures); otherwise built from cfg.preset."""
    from ..runtime import keep_freed_memory
    keep_freed_memory()  # activations and gradients reuse memory instead of page-faulting it in (tracker.runtime)
    info = init_distributed(cfg.device)
    say = log if info.main else (lambda *a, **k: None)
    seed_everything(cfg.seed + info.rank)
    if model is None:
        preset, model = build_preset_model(cfg)
    geom = ModelGeometry(preset)
    out_dir = Path(cfg.out)
    if info.main:
        out_dir.mkdir(parents=True, exist_ok=True)
    model.to(info.device)
    dataset, score_size = build_pair_dataset(cfg, model, geom, info.device)
    mix = dataset.mix
    say(f"training {geom.name} ({geom.family}) on {info.device}"
        + (f", {info.world} processes" if info.world > 1 else "")
        + f"; score map {score_size}x{score_size}, input {geom.describe_input()}")
    for line in mix.describe():
        say(f"  source {line}")
    if mix.validation:
        say(f"  validation (never sampled): {', '.join(t.name for t in mix.validation)}")

    optimizer = torch.optim.SGD(param_groups(model, cfg.backbone_lr_mult, cfg.weight_decay), lr=cfg.lr,
                                momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    schedule = LRSchedule(cfg.lr, cfg.end_lr, cfg.epochs, cfg.steps_per_epoch, cfg.warmup_epochs,
                          cfg.warmup_lr if cfg.warmup_epochs > 0 else None)
    use_amp = bool(cfg.amp and info.device.type == "cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    epoch, step_in_epoch, global_step = 0, 0, 0
    if resume:
        ckpt = load_training_checkpoint(resume)
        meta_preset = ckpt.get("meta", {}).get("preset")
        if meta_preset and meta_preset != geom.name:
            raise UserError(f"{resume}: a checkpoint of {meta_preset}, not {geom.name}")
        unwrap(model).load_state_dict(ckpt["state_dict"])
        tr = ckpt["training"]
        optimizer.load_state_dict(tr["optimizer"])
        schedule.load_state_dict(tr["schedule"])
        if tr.get("scaler"):
            scaler.load_state_dict(tr["scaler"])
        epoch, step_in_epoch = int(tr["sampler"]["epoch"]), int(tr["sampler"]["step"])
        global_step = int(tr["step"])
        rngs = tr["rng"]
        restore_rng(rngs[info.rank] if len(rngs) == info.world else rngs[0])
        say(f"resumed from {resume}: epoch {epoch + 1}, step {global_step}")

    metrics = MetricsLog(out_dir / "metrics.csv", resume_step=global_step if resume else None,
                         tensorboard=info.main) if info.main else None
    conv = geom.input
    meta = {"preset": geom.name, "family": geom.family,
            "input_convention": {"channel_order": str(conv.channel_order), "scale": float(conv.scale),
                                 "mean": list(conv.mean) if conv.mean is not None else None,
                                 "std": list(conv.std) if conv.std is not None else None,
                                 "description": geom.describe_input()},
            "recipe": cfg.recipe()}
    history: list[dict] = []
    last_path = None
    t_start = time.perf_counter()
    ddp_model, ddp_frozen = None, None

    def save(path, ep, s_in_ep, gstep):
        rng = _gather_rng(info)
        if info.main:
            ep_next, s_next = (ep + 1, 0) if s_in_ep >= cfg.steps_per_epoch else (ep, s_in_ep)
            training = {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                        "scaler": scaler.state_dict() if use_amp else {}, "rng": rng,
                        "sampler": {"epoch": ep_next, "step": s_next, "seed": cfg.seed}, "step": gstep,
                        "epoch": ep_next}
            save_training_checkpoint(path, model, dict(meta, epoch=ep_next, step=gstep), training)
            link_or_copy(path, out_dir / "last.pth")
        _barrier(info)

    try:
        while epoch < cfg.epochs:
            frozen = epoch < cfg.freeze_epochs
            set_backbone_trainable(model, not frozen, None if frozen else cfg.train_layers)
            if info.world > 1 and (ddp_model is None or ddp_frozen != frozen):
                from torch.nn.parallel import DistributedDataParallel as DDP
                ddp_model = DDP(model, device_ids=[info.device.index] if info.device.type == "cuda" else None)
                ddp_frozen = frozen
            net = ddp_model if ddp_model is not None else model
            sampler = StepBatchSampler(epoch, cfg.steps_per_epoch, cfg.batch_size, info.rank, info.world,
                                       start=step_in_epoch)
            loader = torch.utils.data.DataLoader(
                dataset, batch_sampler=sampler, num_workers=cfg.workers, collate_fn=collate,
                pin_memory=info.device.type == "cuda", worker_init_fn=_worker_init if cfg.workers else None)
            net.train()
            set_frozen_bn_eval(model)
            trainable = [p for p in model.parameters() if p.requires_grad]
            bar = _Progress(len(sampler), f"epoch {epoch + 1}/{cfg.epochs}", cfg.progress and info.main)
            acc = {"loss": 0.0, "cls": 0.0, "loc": 0.0, "pos": 0.0, "n": 0}
            t_log = time.perf_counter()
            for batch in loader:
                lr = schedule.apply(optimizer, global_step)
                z = to_input(batch["z"], geom.input, info.device)
                x = to_input(batch["x"], geom.input, info.device)
                tgt = {k: v.to(info.device, non_blocking=True) for k, v in batch.items()
                       if k in ("label", "label_weight", "delta", "delta_weight", "cls_target", "ltrb")}
                with torch.autocast(device_type=info.device.type, dtype=torch.float16, enabled=use_amp):
                    outputs = net(z, x, with_features=True) if cfg.metric_loss != "none" else net(z, x)
                losses = siamese_loss(outputs, tgt, geom.family, cfg.cls_weight, cfg.loc_weight)
                if cfg.metric_loss != "none":
                    losses = add_metric_loss(losses, outputs, batch, cfg, geom, info.device)
                loss = losses["loss"]
                optimizer.zero_grad(set_to_none=True)
                finite = bool(torch.isfinite(loss))
                if finite:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    if cfg.clip and cfg.clip > 0:
                        torch.nn.utils.clip_grad_norm_(trainable, cfg.clip)
                    scaler.step(optimizer)
                    scaler.update()
                global_step += 1
                step_in_epoch += 1
                pos = float((batch["label"] == 1).float().sum()) / batch["label"].shape[0]
                rec = {"step": global_step, "epoch": epoch + 1, "lr": lr, "loss": float(loss.detach()),
                       "cls": float(losses["cls"].detach()), "loc": float(losses["loc"].detach()),
                       "finite": finite}
                history.append(rec)
                for k in ("loss", "cls", "loc"):
                    acc[k] += rec[k] if finite else 0.0
                acc["pos"] += pos
                acc["n"] += 1
                bar.update(f"loss {rec['loss']:.4f} lr {lr:.2e}")
                if global_step % cfg.log_every == 0 or step_in_epoch == cfg.steps_per_epoch:
                    n = max(1, acc["n"])
                    vals = _all_mean([acc["loss"] / n, acc["cls"] / n, acc["loc"] / n, acc["pos"] / n], info)
                    dt = time.perf_counter() - t_log
                    if metrics is not None:
                        metrics.write(kind="train", epoch=epoch + 1, step=global_step, lr=lr, loss=vals[0],
                                      cls=vals[1], loc=vals[2], pos_per_pair=vals[3],
                                      samples_per_s=acc["n"] * cfg.batch_size * info.world / max(dt, 1e-9),
                                      elapsed_s=time.perf_counter() - t_start)
                    acc = {"loss": 0.0, "cls": 0.0, "loc": 0.0, "pos": 0.0, "n": 0}
                    t_log = time.perf_counter()
                stop = cfg.max_steps is not None and global_step >= cfg.max_steps
                if step_in_epoch < cfg.steps_per_epoch and (
                        stop or (cfg.save_every and step_in_epoch % cfg.save_every == 0)):
                    last_path = out_dir / f"checkpoint_e{epoch + 1:03d}_s{step_in_epoch:06d}.pth"
                    save(last_path, epoch, step_in_epoch, global_step)
                if stop:
                    break
            bar.close()
            if step_in_epoch >= cfg.steps_per_epoch:
                last_path = out_dir / f"checkpoint_e{epoch + 1:03d}.pth"
                save(last_path, epoch, step_in_epoch, global_step)
                _prune(out_dir, cfg.keep, info)
                if info.main:
                    ep_losses = [h["loss"] for h in history if h["epoch"] == epoch + 1 and h["finite"]]
                    say(f"epoch {epoch + 1}: mean loss {np.mean(ep_losses) if ep_losses else float('nan'):.4f}"
                        f", checkpoint {last_path}")
                if mix.validation and cfg.val_every and (epoch + 1) % cfg.val_every == 0:
                    if info.main:
                        from .validate import validate_checkpoint
                        res = validate_checkpoint(preset, last_path, mix.validation, info.device, cfg.val_frames)
                        say(f"  validation: AUC {res['auc']:.3f}, P@20 {res['precision']:.3f} "
                            f"({res['frames']} frames, {res['fps']:.1f} fps)")
                        metrics.write(kind="val", epoch=epoch + 1, step=global_step, val_auc=res["auc"],
                                      val_precision=res["precision"], elapsed_s=time.perf_counter() - t_start)
                    _barrier(info)
                epoch += 1
                step_in_epoch = 0
            if cfg.max_steps is not None and global_step >= cfg.max_steps:
                break
    finally:
        if metrics is not None:
            metrics.close()
    return {"history": history, "checkpoint": str(last_path) if last_path else None, "steps": global_step,
            "score_size": score_size}


def _prune(out_dir: Path, keep: int, info: DistInfo) -> None:
    """Drop mid-epoch checkpoints superseded by an epoch checkpoint; keep the last `keep` epoch files."""
    if not info.main:
        return
    epochs = sorted(out_dir.glob("checkpoint_e[0-9][0-9][0-9].pth"))
    if not epochs:
        return
    last_epoch = int(epochs[-1].name[12:15])
    for p in out_dir.glob("checkpoint_e[0-9][0-9][0-9]_s*.pth"):
        if int(p.name[12:15]) <= last_epoch:
            p.unlink(missing_ok=True)
    if keep:
        for p in epochs[:-keep]:
            p.unlink(missing_ok=True)
