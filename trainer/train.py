"""Train a segmentation network from a :class:`~trainer.config.TrainConfig`.

One process, or several under ``torchrun`` (DistributedDataParallel; rank 0
logs, shows progress and writes files). A run folder holds:

``run.json``         resolved config, command line, git commit, dataset fingerprints
``last.pt``          checkpoint after every epoch (``--resume`` continues from it)
``best.pt``          the best checkpoint by validation mIoU, or by slag thickness error
                   (``[run] best_by``)
``steps.csv``        one row per optimizer step: loss and its parts, lr, images/s
``epochs.csv``       one row per epoch: mean loss, validation mIoU and mPA, validation slag
                   thickness error (sets with thickness truth), time
``curves.png``       loss and validation mIoU curves
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm import tqdm

from edge.config_loader import from_mapping
from trainer.checkpoint import load_checkpoint, save_checkpoint
from trainer.config import TrainConfig
from trainer.curves import plot_curves
from trainer.data.augment import AugmentConfig
from trainer.data.factory import DatasetConfig, open_dataset
from trainer.data.fingerprint import dataset_fingerprint, image_content_groups
from trainer.data.sample import DatasetError, SegmentationDataset
from trainer.data.slag_truth import slag_truth
from trainer.data.split import holdout_split
from trainer.data.training_set import TrainingSet
from trainer.distributed import DistributedContext
from trainer.evaluate import Validation, validate
from trainer.losses import make_loss
from trainer.models import build_model
from trainer.schedule import learning_rate

log = logging.getLogger(__name__)

STEP_FIELDS = ["stage", "epoch", "step", "lr", "loss", "parts", "images_per_s"]
EPOCH_FIELDS = [
    "stage",
    "epoch",
    "step",
    "train_loss",
    "val_miou",
    "val_mpa",
    "val_thickness_percent",
    "val_thickness_measured",
    "seconds",
]


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced."""

    out_dir: Path
    best_miou: float | None
    global_step: int
    best_checkpoint: Path | None
    last_checkpoint: Path
    finished: bool
    model: nn.Module
    best_validation: dict[str, Any] | None = None
    """What the validation of ``best.pt`` measured: ``miou``, ``thickness_percent``,
    ``thickness_measured``, ``stage`` and ``epoch`` (the epoch within its stage, from 0)."""


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip()


def open_datasets(config: TrainConfig) -> tuple[SegmentationDataset, SegmentationDataset | None]:
    """The training and validation datasets the config names (validation carved if asked)."""
    num_classes = len(config.data.class_names)

    def with_classes(dataset_config: DatasetConfig) -> DatasetConfig:
        # Masks are checked against the class list unless the dataset section says otherwise.
        if dataset_config.num_classes is None:
            return dataclasses.replace(dataset_config, num_classes=num_classes)
        return dataset_config

    train = open_dataset(with_classes(config.data.train))
    if train.num_classes is not None and train.num_classes != num_classes:
        raise DatasetError(
            f"data.train declares {train.num_classes} classes but data.class_names has {num_classes}"
        )
    val = open_dataset(with_classes(config.data.val)) if config.data.val is not None else None
    if val is None and config.data.val_fraction > 0:
        # Byte-identical images (NEU-Seg has some) stay on one side of the split.
        groups = image_content_groups(train)
        kept, held = holdout_split(train.names, config.data.val_fraction, seed=config.run.seed, groups=groups)
        train, val = train.subset(kept), train.subset(held)
    return train, val


def _write_run_info(
    out_dir: Path, config: TrainConfig, command: list[str], train: SegmentationDataset, val: Any
) -> None:
    info = {
        "config": config.to_dict(),
        "command": command,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "host": platform.node(),
        "datasets": {
            "train": {"count": len(train), "fingerprint": dataset_fingerprint(train)},
            "val": None if val is None else {"count": len(val), "fingerprint": dataset_fingerprint(val)},
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out_dir / "run.json").write_text(json.dumps(info, indent=2) + "\n")


def _append_csv(path: Path, fields: list[str], row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow(row)


def _init_from_checkpoint(model: nn.Module, path: Path, arch: str, announce: bool) -> None:
    """Load the whole network of an earlier run's checkpoint into ``model`` (fine-tuning)."""
    state = load_checkpoint(path)
    if state.get("arch") != arch:
        raise ValueError(
            f"model.init_from {path} holds a {state.get('arch')!r} network, the config builds "
            f"{arch!r}; fine-tune from a checkpoint of the same architecture"
        )
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise ValueError(
            f"model.init_from {path} does not fit this network (class count or options differ): {exc}"
        ) from exc
    if announce:
        log.info("network initialised from %s (step %s of its run)", path, state.get("global_step"))


def _truncate_csv(path: Path, last_step: int, fields: list[str]) -> None:
    """Drop rows past ``last_step`` (written after the checkpoint a resume starts from).

    The kept rows are written under ``fields``, so a log from an older version that lacks a
    column gains it (empty) before :func:`_append_csv` adds rows with it.
    """
    if not path.exists():
        return
    with path.open(newline="") as handle:
        kept = [row for row in csv.DictReader(handle) if int(row["step"]) <= last_step]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)


def _improves(current: Validation, best: dict[str, Any] | None, best_by: str) -> bool:
    """Whether ``current`` makes a better ``best.pt`` than the one described by ``best``."""
    if best is None:
        return True
    if best_by == "miou":
        return float(current.confusion.miou()) > best["miou"]
    if current.thickness_percent is None:
        return False
    if best.get("thickness_percent") is None:
        return True
    if current.thickness_measured != best["thickness_measured"]:
        return current.thickness_measured > best["thickness_measured"]
    return current.thickness_percent < best["thickness_percent"]


def _validation_columns(validation: Validation | None) -> dict[str, str]:
    """The validation columns of an ``epochs.csv`` row (empty where not measured)."""
    columns = dict.fromkeys(("val_miou", "val_mpa", "val_thickness_percent", "val_thickness_measured"), "")
    if validation is not None:
        columns["val_miou"] = f"{float(validation.confusion.miou()):.6f}"
        columns["val_mpa"] = f"{float(validation.confusion.mpa()):.6f}"
        if validation.thickness_scenes:
            columns["val_thickness_measured"] = str(validation.thickness_measured)
        if validation.thickness_percent is not None:
            columns["val_thickness_percent"] = f"{validation.thickness_percent:.4f}"
    return columns


def _describe(validation: Validation | None) -> str:
    if validation is None:
        return "not validated"
    text = f"val mIoU {float(validation.confusion.miou()):.4f}"
    if validation.thickness_scenes:
        percent = validation.thickness_percent
        text += (
            f", thickness error {'-' if percent is None else f'{percent:.2f}'} % "
            f"({validation.thickness_measured}/{validation.thickness_scenes} scenes measured)"
        )
    return text


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def train(
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    command: list[str] | None = None,
    progress: bool = True,
    stop_after_epochs: int | None = None,
) -> TrainResult:
    """Train the network of ``config`` and write the run folder ``out_dir``.

    Parameters
    ----------
    config
        The resolved run configuration.
    out_dir
        Run folder. Refused when it already holds a run, unless ``resume``.
    resume
        Continue from ``out_dir/last.pt``: same weights, optimizer, schedule
        position, random state and logs, so the run goes on exactly as if it
        had not stopped.
    command
        The command line to record in ``run.json``.
    progress
        Show a progress bar on rank 0.
    stop_after_epochs
        Stop after this many epochs of this invocation (the schedule is the
        whole run's; continue later with ``resume``). ``None`` runs to the end.
    """
    ctx = DistributedContext.from_env()
    out_dir = Path(out_dir)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    try:
        problem = None
        if ctx.is_main:
            if resume and not last_path.is_file():
                problem = f"cannot resume: {last_path} does not exist (start without --resume)"
            elif not resume and last_path.exists():
                problem = f"{out_dir} already holds a run; pass --resume or choose another --out"
            else:
                out_dir.mkdir(parents=True, exist_ok=True)
        problem = ctx.broadcast_object(problem)  # every rank stops, not only rank 0
        if problem:
            raise FileExistsError(problem) if "already holds" in problem else FileNotFoundError(problem)
        return _train(
            config,
            out_dir,
            resume,
            command or sys.argv,
            progress,
            stop_after_epochs,
            ctx,
            last_path,
            best_path,
        )
    finally:
        ctx.close()


def _train(
    config: TrainConfig,
    out_dir: Path,
    resume: bool,
    command: list[str],
    progress: bool,
    stop_after_epochs: int | None,
    ctx: DistributedContext,
    last_path: Path,
    best_path: Path,
) -> TrainResult:
    run = config.run
    torch.manual_seed(run.seed)
    if ctx.device.type == "cuda":
        torch.backends.cudnn.benchmark = run.cudnn_benchmark
    num_classes = len(config.data.class_names)
    train_set, val_set = open_datasets(config)
    problems: list[str] = []
    if ctx.is_main:
        problems = train_set.check(progress=progress) + ([] if val_set is None else val_set.check())
    problems = ctx.broadcast_object(problems)  # every rank stops on bad data, not only rank 0
    if problems:
        listed = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DatasetError(f"{len(problems)} bad image/mask pairs:\n  {listed}{more}")
    truth = {} if val_set is None else slag_truth(val_set.root)
    if run.best_by == "thickness" and not truth:
        where = "there is no validation set" if val_set is None else f"{val_set.root} has no slag truth.csv"
        raise DatasetError(
            f'run.best_by = "thickness" needs validation scenes with slag thickness truth, but {where}; '
            'validate on a set written by steelsight-train synth --task slag, or use best_by = "miou"'
        )
    if ctx.is_main and not resume:
        _write_run_info(out_dir, config, command, train_set, val_set)

    model = build_model(
        config.model.arch,
        pretrained=config.model.pretrained,
        num_classes=num_classes,
        **config.model.options,
    )
    if config.model.init_from is not None and not resume:
        _init_from_checkpoint(model, config.model.init_from, config.model.arch, ctx.is_main)
    model.to(ctx.device)
    is_shdm = getattr(model, "detail_head", None) is not None
    if run.sync_bn and ctx.distributed:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net: nn.Module = model
    if ctx.distributed:
        device_ids = [ctx.local_rank] if ctx.device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=device_ids)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.stages[0].lr,
        momentum=config.optim.momentum,
        weight_decay=config.optim.weight_decay,
        nesterov=config.optim.nesterov,
    )
    use_amp = run.amp and ctx.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    loss_fn = make_loss(config.loss)

    stage_index, epoch_in_stage, global_step = 0, 0, 0
    best: dict[str, Any] | None = None  # what the validation of best.pt measured
    if resume:
        state = load_checkpoint(last_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        stage_index, epoch_in_stage = state["stage"], state["epoch"]
        global_step = state["global_step"]
        best = state.get("best_validation")
        if best is None and state.get("best_miou") is not None:  # a checkpoint from before best_by
            best = {"miou": state["best_miou"]}
        torch.set_rng_state(state["torch_rng"])
        if ctx.is_main:
            for name, fields in (("steps.csv", STEP_FIELDS), ("epochs.csv", EPOCH_FIELDS)):
                _truncate_csv(out_dir / name, global_step, fields)
            log.info(
                "resumed %s at stage %d epoch %d step %d", out_dir, stage_index, epoch_in_stage, global_step
            )

    def checkpoint_state(stage: int, epoch: int) -> dict[str, Any]:
        return {
            "arch": model.arch,
            "model_config": model.config.__dict__,
            "class_names": list(config.data.class_names),
            "mean": list(config.data.mean),
            "std": list(config.data.std),
            "eval_size": config.data.eval_size,
            "config": config.to_dict(),
            "model": _unwrap(net).state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "stage": stage,
            "epoch": epoch,
            "global_step": global_step,
            "best_miou": None if best is None else best["miou"],
            "best_validation": best,
            "torch_rng": torch.get_rng_state(),
        }

    epochs_done = 0
    finished = True
    for stage_no in range(stage_index, len(config.stages)):
        if stop_after_epochs is not None and epochs_done >= stop_after_epochs:
            finished = False
            break
        stage = config.stages[stage_no]
        augment = from_mapping(
            AugmentConfig, {**config.data.augment, "crop_size": list(stage.crop_size)}, "data.augment"
        )
        dataset = TrainingSet(
            train_set,
            augment,
            config.data.mean,
            config.data.std,
            scale=stage.scale,
            heatmap_sigma=config.data.heatmap_sigma if is_shdm else None,
            seed=run.seed,
            stage=stage_no,
        )
        if ctx.distributed:
            sampler = DistributedSampler(
                dataset, seed=run.seed + 1000 * stage_no, shuffle=True, drop_last=True
            )
        else:
            sampler = RandomSampler(dataset, generator=torch.Generator())
        loader = DataLoader(
            dataset,
            batch_size=stage.batch_size,
            sampler=sampler,
            drop_last=True,
            num_workers=config.data.workers,
            pin_memory=ctx.device.type == "cuda",
            persistent_workers=False,
        )
        steps_per_epoch = len(loader)
        if run.max_steps_per_epoch is not None:
            steps_per_epoch = min(steps_per_epoch, run.max_steps_per_epoch)
        if steps_per_epoch < 1:
            raise DatasetError(
                f"stage {stage_no}: {len(train_set)} training images give no full batch of "
                f"{stage.batch_size} per process; lower batch_size or add images"
            )
        total_steps = stage.epochs * steps_per_epoch
        warmup_steps = round(stage.warmup_epochs * steps_per_epoch)
        first_epoch = epoch_in_stage if stage_no == stage_index else 0
        for epoch in range(first_epoch, stage.epochs):
            if stop_after_epochs is not None and epochs_done >= stop_after_epochs:
                finished = False
                break
            epochs_done += 1
            dataset.set_epoch(epoch)
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            else:
                sampler.generator.manual_seed(run.seed * 1_000_003 + stage_no * 10_007 + epoch)
            net.train()
            started = time.perf_counter()
            losses: list[float] = []
            bar = tqdm(
                total=steps_per_epoch,
                desc=f"stage {stage_no + 1}/{len(config.stages)} epoch {epoch + 1}/{stage.epochs}",
                disable=not (progress and ctx.is_main),
                leave=False,
            )
            step_start = time.perf_counter()
            for step_in_epoch, batch in enumerate(loader):
                if step_in_epoch >= steps_per_epoch:
                    break
                lr = learning_rate(
                    epoch * steps_per_epoch + step_in_epoch,
                    total_steps,
                    stage.lr,
                    stage.min_lr,
                    warmup_steps,
                    stage.policy,
                    stage.power,
                )
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images = batch["image"].to(ctx.device, non_blocking=True)
                masks = batch["mask"].to(ctx.device, non_blocking=True)
                heatmaps = batch["heatmap"].to(ctx.device, non_blocking=True) if "heatmap" in batch else None
                with torch.autocast(ctx.device.type, dtype=torch.float16, enabled=use_amp):
                    output = net(images)
                    loss, parts = loss_fn(output, masks, heatmaps)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"loss became {loss.item()} at step {global_step}; lower the learning rate "
                        f"(stage {stage_no} lr {stage.lr})"
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                global_step += 1
                now = time.perf_counter()
                images_per_s = images.shape[0] * ctx.world_size / max(now - step_start, 1e-9)
                step_start = now
                losses.append(loss.item())
                bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{lr:.2e}", img_s=f"{images_per_s:.1f}")
                bar.update()
                if ctx.is_main:
                    _append_csv(
                        out_dir / "steps.csv",
                        STEP_FIELDS,
                        {
                            "stage": stage_no,
                            "epoch": epoch,
                            "step": global_step,
                            "lr": f"{lr:.6g}",
                            "loss": f"{losses[-1]:.6f}",
                            "parts": json.dumps({k: round(float(v), 6) for k, v in parts.items()}),
                            "images_per_s": f"{images_per_s:.2f}",
                        },
                    )
            bar.close()
            # One set of BatchNorm statistics for validation and the checkpoint.
            ctx.broadcast_buffers(_unwrap(net))
            last_epoch = stage_no == len(config.stages) - 1 and epoch == stage.epochs - 1
            validation = None
            if val_set is not None and ((epoch + 1) % run.val_every == 0 or last_epoch):
                validation = validate(
                    _unwrap(net),
                    val_set,
                    num_classes,
                    config.data.eval_size,
                    config.data.mean,
                    config.data.std,
                    ctx,
                    max_images=run.max_val_images,
                    truth=truth,
                )
            improved = validation is not None and _improves(validation, best, run.best_by)
            if improved:
                best = {
                    "miou": float(validation.confusion.miou()),
                    "thickness_percent": validation.thickness_percent,
                    "thickness_measured": validation.thickness_measured,
                    "stage": stage_no,
                    "epoch": epoch,
                }
            if ctx.is_main:
                next_stage, next_epoch = (stage_no, epoch + 1)
                if next_epoch == stage.epochs:
                    next_stage, next_epoch = stage_no + 1, 0
                state = checkpoint_state(next_stage, next_epoch)
                save_checkpoint(state, last_path)
                if improved:
                    save_checkpoint(state, best_path)
                _append_csv(
                    out_dir / "epochs.csv",
                    EPOCH_FIELDS,
                    {
                        "stage": stage_no,
                        "epoch": epoch,
                        "step": global_step,
                        "train_loss": f"{np.mean(losses):.6f}",
                        **_validation_columns(validation),
                        "seconds": f"{time.perf_counter() - started:.1f}",
                    },
                )
                plot_curves(out_dir / "steps.csv", out_dir / "epochs.csv", out_dir / "curves.png")
                log.info(
                    "stage %d epoch %d: loss %.4f, %s%s",
                    stage_no,
                    epoch,
                    float(np.mean(losses)),
                    _describe(validation),
                    " (new best)" if improved else "",
                )
    ctx.barrier()
    if finished and ctx.is_main:
        log.info("run %s finished after %d steps", out_dir, global_step)
    return TrainResult(
        out_dir,
        None if best is None else best["miou"],
        global_step,
        best_path if best_path.exists() else None,
        last_path,
        finished,
        model,
        best,
    )
