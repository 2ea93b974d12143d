"""The training configuration: one TOML file per run, resolved into frozen dataclasses.

Sections: ``[model]``, ``[data]`` (with ``[data.train]``, ``[data.val]`` and
``[data.augment]``), ``[optim]``, ``[loss]``, ``[run]`` and one or more
``[[stages]]`` (the SHDM recipe trains at 1/4 resolution, then at full
resolution). ``configs/`` holds the papers' recipes and our CPU budgets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.config_loader import ConfigError, apply_overrides, from_mapping, read_toml
from trainer.data.factory import DatasetConfig
from trainer.losses import LossConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSection:
    """Which network: a registry name, its options, where its starting weights come from.

    ``pretrained`` is a local torchvision ImageNet state dict for the backbone; ``init_from`` is a
    SteelSight checkpoint (``best.pt``/``last.pt`` of an earlier run) whose whole network is the
    starting point, for fine-tuning at another input size or on new data (same architecture and
    class count). The optimizer, schedule and step count start fresh.
    """

    arch: str
    options: dict[str, Any] = field(default_factory=dict)
    pretrained: Path | None = None
    init_from: Path | None = None

    def __post_init__(self) -> None:
        if self.pretrained is not None and self.init_from is not None:
            raise ValueError(
                "model.pretrained and model.init_from exclude each other: init_from already holds "
                "the whole network's weights; keep one"
            )


@dataclass(frozen=True)
class DataSection:
    """Datasets and the input pipeline.

    ``val`` may be omitted and carved from ``train`` instead with
    ``val_fraction`` (deterministic by name). ``augment`` holds
    :class:`trainer.data.augment.AugmentConfig` fields except ``crop_size``,
    which each stage sets. ``eval_size`` is the network input size used for
    validation (images are resized to it and the logits back to the mask's
    size); ``None`` evaluates at the native size.
    """

    train: DatasetConfig
    class_names: list[str]
    val: DatasetConfig | None = None
    val_fraction: float = 0.0
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    augment: dict[str, Any] = field(default_factory=dict)
    heatmap_sigma: float = 2.0
    workers: int = 0
    eval_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if len(self.class_names) < 2:
            raise ValueError(f"class_names needs at least 2 names, got {self.class_names!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.heatmap_sigma <= 0:
            raise ValueError(f"heatmap_sigma must be > 0, got {self.heatmap_sigma}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std values must be > 0, got {self.std}")


@dataclass(frozen=True)
class OptimSection:
    """SGD settings shared by all stages (the learning rate is per stage)."""

    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False


@dataclass(frozen=True)
class StageSection:
    """One training stage: its length, batch, learning-rate schedule and input scale.

    ``scale`` resizes every training image and mask before augmentation (0.25
    for SHDM's first stage); ``crop_size`` is the (height, width) fed to the net.
    ``batch_size`` is per process; it must be at least 2 because ASPP's image
    pooling normalizes a 1x1 map with BatchNorm, which needs two values.
    """

    epochs: int
    batch_size: int
    lr: float
    crop_size: tuple[int, int]
    min_lr: float = 0.0
    scale: float = 1.0
    warmup_epochs: float = 0.0
    policy: str = "cosine"
    power: float = 0.9
    name: str = ""

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(
                f"batch_size must be >= 2 per process, got {self.batch_size} (BatchNorm in ASPP's "
                "image pooling needs two samples)"
            )
        if self.lr <= 0 or not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr and lr > 0, got lr={self.lr}, min_lr={self.min_lr}")
        if not 0 < self.scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {self.scale}")
        if min(self.crop_size) < 32:
            raise ValueError(f"crop_size must be at least 32x32, got {self.crop_size}")


BEST_BY = ("miou", "thickness")
"""What ``[run] best_by`` may name."""


@dataclass(frozen=True)
class RunSection:
    """Run-wide switches.

    ``max_steps_per_epoch`` caps an epoch (for budgets and tests; ``None`` is
    the whole dataset). ``val_every`` validates every N epochs and at the end.
    ``best_by`` is what makes an epoch's checkpoint the new ``best.pt``: ``"miou"``
    (higher validation mIoU) or ``"thickness"`` (for slag validation sets with thickness
    truth: more scenes measured, then a lower mean per-scene thickness error).
    """

    seed: int = 0
    amp: bool = True
    cudnn_benchmark: bool = True
    sync_bn: bool = False
    val_every: int = 1
    max_steps_per_epoch: int | None = None
    max_val_images: int | None = None
    best_by: str = "miou"

    def __post_init__(self) -> None:
        if self.best_by not in BEST_BY:
            raise ValueError(f"best_by must be one of {', '.join(BEST_BY)}, got {self.best_by!r}")
        if self.val_every < 1:
            raise ValueError(f"val_every must be >= 1, got {self.val_every}")


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run."""

    model: ModelSection
    data: DataSection
    stages: list[StageSection]
    optim: OptimSection = field(default_factory=OptimSection)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunSection = field(default_factory=RunSection)

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("at least one [[stages]] table is required")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (paths as strings)."""

        def plain(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        return plain(dataclasses.asdict(self))


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a TOML training config, apply ``section.key=value`` overrides, validate.

    Raises
    ------
    ConfigError
        Naming the file or the dotted key that is wrong.
    """
    raw = apply_overrides(read_toml(path), overrides or [])
    try:
        return from_mapping(TrainConfig, raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
