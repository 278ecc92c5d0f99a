"""The settings of one training run: what `siamtrack train` makes of a preset family's defaults, a recipe
file and the command line (tracker.training.recipe), and writes back as the run's recipe."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .checkpoint import plain
from .pairs import PairConfig
from .source_spec import SourceSpec
from .targets import RPNRule


@dataclass
class TrainConfig:
    preset: str
    sources: list[SourceSpec] = field(default_factory=list)
    val: list[str] = field(default_factory=list)
    out: str = "runs/train"
    epochs: int = 20
    steps_per_epoch: int = 500
    batch_size: int = 16  # per process
    workers: int = 2
    lr: float = 0.005
    end_lr: float = 0.0005
    warmup_epochs: float = 0.0
    warmup_lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 1e-4
    clip: float = 10.0
    freeze_epochs: int = 0  # backbone frozen (BN in eval) for the first epochs
    backbone_lr_mult: float = 0.1  # backbone lr factor once unfrozen
    train_layers: list[str] | None = None  # backbone sub-modules unfrozen (None: all)
    cls_weight: float = 1.0
    loc_weight: float = 1.2
    radius: float = 16.0  # SiamFC positive radius, search-crop pixels
    metric_loss: str = "none"  # an embedding loss added to the head's (tracker.training.metric)
    metric_weight: float = 0.1
    metric_margin: float = 0.5
    rpn: RPNRule = field(default_factory=RPNRule)
    pairs: PairConfig = field(default_factory=PairConfig)
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision (CUDA only)
    init: str | None = None  # weights to start from (any format the model loader reads)
    pretrained_backbone: bool = True  # ImageNet backbone weights where the preset has them
    save_every: int = 0  # extra checkpoint every N steps inside an epoch (0: per epoch only)
    keep: int = 0  # keep the last K epoch checkpoints (0: all)
    val_every: int = 1  # validate every N epochs when validation sequences exist (0: never)
    val_frames: int = 0  # frames per validation sequence (0: all)
    log_every: int = 10
    max_steps: int | None = None  # stop (with a checkpoint) after this global step; resume continues
    progress: bool = True

    def recipe(self) -> dict:
        d = asdict(self)
        d["sources"] = [s.to_dict() for s in self.sources]
        return plain(d)
