"""The training loop: one process (CPU or CUDA, mixed precision on CUDA) or many under `torchrun`
(DistributedDataParallel; gloo on CPU, NCCL on CUDA), each rank sampling its own slice of every step.

Exact resume: a sample is a pure function of (seed, epoch, index) (see pairs.py), the learning rate a pure
function of the step, and a checkpoint carries model, optimiser, schedule, grad scaler, the random states
of python / numpy / torch (per rank) and the sampler position (epoch, step). A run resumed from step t
computes, step for step, the losses of the run that was never interrupted.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import cast

import numpy as np
import torch

from ..errors import UserError
from .checkpoint import (
    link_or_copy,
    load_training_checkpoint,
    prune_checkpoints,
    restore_rng,
    save_training_checkpoint,
    unwrap,
)
from .config import TrainConfig
from .distributed import all_mean, barrier, gather_rng, init_distributed
from .metrics_log import EpochProgress, LogWindow, MetricsLog
from .model import ModelGeometry, build_pair_dataset, build_preset_model, checkpoint_meta
from .pairs import StepBatchSampler, collate
from .schedule import LRSchedule, param_groups, set_backbone_trainable, set_frozen_bn_eval
from .step import loss_step


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _worker_init(_):
    # no cv2.setNumThreads here: in a forked child whose parent has used OpenCV's thread pool it deadlocks
    torch.set_num_threads(1)


def _quiet(*_a, **_k) -> None:
    pass


class Trainer:
    """One training run: the model and its pairs, optimiser, schedule and grad scaler, and where the run
    stands (epoch, step in the epoch, global step). `fit` runs it; `resume`, `run_epoch`, `save`,
    `end_epoch` and `validate` are its parts."""

    def __init__(self, cfg: TrainConfig, model=None, preset=None, log=print):
        self.cfg = cfg
        self.info = info = init_distributed(cfg.device)
        self.say = log if info.main else _quiet
        seed_everything(cfg.seed + info.rank)
        if model is None:
            preset, model = build_preset_model(cfg)
        self.model, self.preset = model, preset
        self.geom = ModelGeometry(preset)
        self.out_dir = Path(cfg.out)
        if info.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        model.to(info.device)
        self.dataset, self.score_size = build_pair_dataset(cfg, model, self.geom, info.device)
        self._describe()
        self.optimizer = torch.optim.SGD(
            param_groups(model, cfg.backbone_lr_mult, cfg.weight_decay),
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
        )
        self.schedule = LRSchedule(
            cfg.lr,
            cfg.end_lr,
            cfg.epochs,
            cfg.steps_per_epoch,
            cfg.warmup_epochs,
            cfg.warmup_lr if cfg.warmup_epochs > 0 else None,
        )
        self.use_amp = bool(cfg.amp and info.device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.meta = checkpoint_meta(self.geom, cfg)
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.history: list[dict] = []
        self.last_path: Path | None = None
        self.metrics: MetricsLog | None = None
        self.t_start = time.perf_counter()
        self._ddp: torch.nn.Module | None = None
        self._ddp_frozen: bool | None = None

    def _describe(self) -> None:
        geom, info, mix = self.geom, self.info, self.dataset.mix
        self.say(
            f"training {geom.name} ({geom.family}) on {info.device}"
            + (f", {info.world} processes" if info.world > 1 else "")
            + f"; score map {self.score_size}x{self.score_size}, input {geom.describe_input()}"
        )
        for line in mix.describe():
            self.say(f"  source {line}")
        if mix.validation:
            self.say(f"  validation (never sampled): {', '.join(t.name for t in mix.validation)}")

    @property
    def stopped(self) -> bool:
        """The run reached cfg.max_steps."""
        return self.cfg.max_steps is not None and self.global_step >= self.cfg.max_steps

    # ---- resume / save ------------------------------------------------------------------------------------
    def resume(self, path: str) -> None:
        """Take up the run saved in `path`: weights, optimiser, schedule, scaler, position and random state."""
        ckpt = load_training_checkpoint(path)
        meta_preset = ckpt.get("meta", {}).get("preset")
        if meta_preset and meta_preset != self.geom.name:
            raise UserError(f"{path}: a checkpoint of {meta_preset}, not {self.geom.name}")
        unwrap(self.model).load_state_dict(ckpt["state_dict"])
        tr = ckpt["training"]
        self.optimizer.load_state_dict(tr["optimizer"])
        self.schedule.load_state_dict(tr["schedule"])
        if tr.get("scaler"):
            self.scaler.load_state_dict(tr["scaler"])
        self.epoch, self.step_in_epoch = int(tr["sampler"]["epoch"]), int(tr["sampler"]["step"])
        self.global_step = int(tr["step"])
        rngs = tr["rng"]
        restore_rng(rngs[self.info.rank] if len(rngs) == self.info.world else rngs[0])
        self.say(f"resumed from {path}: epoch {self.epoch + 1}, step {self.global_step}")

    def save(self, path: Path) -> None:
        """A checkpoint of the run where it stands (every rank takes part; rank 0 writes it and last.pth)."""
        rng = gather_rng(self.info)
        if self.info.main:
            cfg = self.cfg
            done = self.step_in_epoch >= cfg.steps_per_epoch
            ep_next, s_next = (self.epoch + 1, 0) if done else (self.epoch, self.step_in_epoch)
            training = {
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(),
                "scaler": self.scaler.state_dict() if self.use_amp else {},
                "rng": rng,
                "sampler": {"epoch": ep_next, "step": s_next, "seed": cfg.seed},
                "step": self.global_step,
                "epoch": ep_next,
            }
            save_training_checkpoint(path, self.model, dict(self.meta, epoch=ep_next, step=self.global_step), training)
            link_or_copy(path, self.out_dir / "last.pth")
        barrier(self.info)
        self.last_path = path

    # ---- the run ------------------------------------------------------------------------------------------
    def fit(self, resume: str | None = None) -> dict:
        """Train from the start (or from the checkpoint `resume`) to cfg.epochs or cfg.max_steps; returns
        {"history": [per-step dicts of this rank], "checkpoint": last path, "steps": n, "score_size": s}."""
        if resume:
            self.resume(resume)
        if self.info.main:
            self.metrics = MetricsLog(
                self.out_dir / "metrics.csv", resume_step=self.global_step if resume else None, tensorboard=True
            )
        self.t_start = time.perf_counter()
        try:
            while self.epoch < self.cfg.epochs:
                self.run_epoch()
                if self.step_in_epoch >= self.cfg.steps_per_epoch:
                    self.end_epoch()
                if self.stopped:
                    break
        finally:
            if self.metrics is not None:
                self.metrics.close()
        return {
            "history": self.history,
            "checkpoint": str(self.last_path) if self.last_path else None,
            "steps": self.global_step,
            "score_size": self.score_size,
        }

    def _network(self):
        """The model set up for this epoch (backbone frozen or not), wrapped for DDP when there are ranks."""
        cfg, info, model = self.cfg, self.info, self.model
        frozen = self.epoch < cfg.freeze_epochs
        set_backbone_trainable(model, not frozen, None if frozen else cfg.train_layers)
        if info.world > 1 and (self._ddp is None or self._ddp_frozen != frozen):
            from torch.nn.parallel import DistributedDataParallel as DDP

            self._ddp = DDP(model, device_ids=[info.device.index] if info.device.type == "cuda" else None)
            self._ddp_frozen = frozen
        return self._ddp if self._ddp is not None else model

    def _loader(self):
        """The batches of this rank from the run's position to the end of the epoch."""
        cfg, info = self.cfg, self.info
        sampler = StepBatchSampler(
            self.epoch, cfg.steps_per_epoch, cfg.batch_size, info.rank, info.world, start=self.step_in_epoch
        )
        return torch.utils.data.DataLoader(
            cast(torch.utils.data.Dataset, self.dataset),  # a map-style dataset: len() and [index]
            batch_sampler=sampler,
            num_workers=cfg.workers,
            collate_fn=collate,
            pin_memory=info.device.type == "cuda",
            worker_init_fn=_worker_init if cfg.workers else None,
        )

    def run_epoch(self) -> None:
        """The steps of the current epoch from where the run stands, up to its end or cfg.max_steps, with
        the mid-epoch checkpoints (cfg.save_every, and one where max_steps stops it)."""
        cfg = self.cfg
        net = self._network()
        loader = self._loader()
        net.train()
        set_frozen_bn_eval(self.model)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        bar = EpochProgress(
            len(loader.batch_sampler), f"epoch {self.epoch + 1}/{cfg.epochs}", cfg.progress and self.info.main
        )
        window = LogWindow()
        for batch in loader:
            rec = self.train_step(net, batch, trainable)
            window.add(rec, float((batch["label"] == 1).float().sum()) / batch["label"].shape[0])
            bar.update(f"loss {rec['loss']:.4f} lr {rec['lr']:.2e}")
            if self.global_step % cfg.log_every == 0 or self.step_in_epoch == cfg.steps_per_epoch:
                self._log_train(window, rec["lr"])
                window = LogWindow()
            if self.step_in_epoch < cfg.steps_per_epoch and (
                self.stopped or (cfg.save_every and self.step_in_epoch % cfg.save_every == 0)
            ):
                self.save(self.out_dir / f"checkpoint_e{self.epoch + 1:03d}_s{self.step_in_epoch:06d}.pth")
            if self.stopped:
                break
        bar.close()

    def train_step(self, net, batch: dict, trainable: list) -> dict:
        """One optimiser step on `batch` (skipped when the loss is not finite); returns its history record."""
        cfg = self.cfg
        lr = self.schedule.apply(self.optimizer, self.global_step)
        losses = loss_step(net, batch, cfg, self.geom, self.info.device, self.use_amp)
        loss = losses["loss"]
        self.optimizer.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(loss))
        if finite:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            if cfg.clip and cfg.clip > 0:
                torch.nn.utils.clip_grad_norm_(trainable, cfg.clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.global_step += 1
        self.step_in_epoch += 1
        rec = {
            "step": self.global_step,
            "epoch": self.epoch + 1,
            "lr": lr,
            "loss": float(loss.detach()),
            "cls": float(losses["cls"].detach()),
            "loc": float(losses["loc"].detach()),
            "finite": finite,
        }
        self.history.append(rec)
        return rec

    def _log_train(self, window: LogWindow, lr: float) -> None:
        vals = all_mean(window.means(), self.info)
        dt = time.perf_counter() - window.t0
        if self.metrics is not None:
            self.metrics.write(
                kind="train",
                epoch=self.epoch + 1,
                step=self.global_step,
                lr=lr,
                loss=vals[0],
                cls=vals[1],
                loc=vals[2],
                pos_per_pair=vals[3],
                samples_per_s=window.n * self.cfg.batch_size * self.info.world / max(dt, 1e-9),
                elapsed_s=time.perf_counter() - self.t_start,
            )

    def end_epoch(self) -> None:
        """The epoch is complete: its checkpoint (older ones pruned), its mean loss, validation when due;
        then the run moves to the next epoch."""
        cfg, info = self.cfg, self.info
        self.save(self.out_dir / f"checkpoint_e{self.epoch + 1:03d}.pth")
        if info.main:
            prune_checkpoints(self.out_dir, cfg.keep)
        if info.main:
            ep_losses = [h["loss"] for h in self.history if h["epoch"] == self.epoch + 1 and h["finite"]]
            self.say(
                f"epoch {self.epoch + 1}: mean loss {np.mean(ep_losses) if ep_losses else float('nan'):.4f}"
                f", checkpoint {self.last_path}"
            )
        if self.dataset.mix.validation and cfg.val_every and (self.epoch + 1) % cfg.val_every == 0:
            if info.main:
                self.validate()
            barrier(info)
        self.epoch += 1
        self.step_in_epoch = 0

    def validate(self) -> dict:
        """Track the validation sequences with the last checkpoint; reports and logs AUC and precision."""
        from .validate import validate_checkpoint

        res = validate_checkpoint(
            self.preset, self.last_path, self.dataset.mix.validation, self.info.device, self.cfg.val_frames
        )
        self.say(
            f"  validation: AUC {res['auc']:.3f}, P@20 {res['precision']:.3f} "
            f"({res['frames']} frames, {res['fps']:.1f} fps)"
        )
        if self.metrics is not None:
            self.metrics.write(
                kind="val",
                epoch=self.epoch + 1,
                step=self.global_step,
                val_auc=res["auc"],
                val_precision=res["precision"],
                elapsed_s=time.perf_counter() - self.t_start,
            )
        return res


def train(cfg: TrainConfig, resume: str | None = None, model=None, preset=None, log=print) -> dict:
    """Train; returns {"history": [per-step dicts of this rank], "checkpoint": last path, "steps": n}.
    `model` / `preset` may be given directly (tests, custom architectures); otherwise built from cfg.preset.
    Changes no process-wide state: `siamtrack train` calls tracker.runtime.configure_process() first."""
    return Trainer(cfg, model, preset, log).fit(resume)
