"""Turn a training checkpoint into a model bundle (contract 1 of DESIGN.md).

:func:`export_bundle` writes, into one folder:

``model.onnx``        FP32, opset 17, checked against PyTorch on real images (parity)
``model.fp16.onnx``   FP16 weights and compute, float32 input and output (:mod:`trainer.export.fp16`)
``model.int8.onnx``   symmetric INT8 Q/DQ, calibrated on training images (:mod:`trainer.export.int8`)
``manifest.json``     classes, input spec, file hashes, post-processing, metrics, provenance

Everything is written into a hidden staging folder beside ``out_dir`` and moved
into place only when every step has passed, so a failed export never leaves a
half-written bundle (and never destroys the previous one).

Images for parity, calibration and evaluation are prepared as the camera will
see them: resized (bilinear) to the bundle's input size and normalized with the
training mean and std. Evaluation reuses :func:`trainer.evaluate.evaluate` for
PyTorch and for ONNX Runtime alike (:class:`OnnxRuntimeModel` puts a session
behind the ``nn.Module`` interface it calls).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
import torch
from torch import nn
from tqdm import tqdm

from edge.bundle.loader import load_bundle
from edge.bundle.manifest import (
    FILE_NAMES,
    PRECISIONS,
    BundleError,
    ClassInfo,
    InputSpec,
    Manifest,
    PostprocessSpec,
    file_entry,
    write_manifest,
)
from edge.config_loader import ConfigError, from_mapping
from trainer import __version__
from trainer.checkpoint import load_model
from trainer.config import TrainConfig
from trainer.data.augment import normalize
from trainer.data.factory import DatasetConfig, open_dataset
from trainer.data.fingerprint import fingerprint_details
from trainer.data.sample import DatasetError, SegmentationDataset
from trainer.evaluate import EvaluationReport, evaluate
from trainer.export.fp16 import Fp16ConversionError, convert_fp16, fp32_op_types
from trainer.export.int8 import METHODS, Int8QuantizationError, quantize_int8
from trainer.export.onnx_graph import INPUT_NAME, OnnxExportError, export_onnx
from trainer.export.parity import parity
from trainer.export.recipe import recipe
from trainer.models import REGISTRY
from trainer.train import open_datasets

log = logging.getLogger(__name__)

PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
)
"""Display colours of classes 0, 1, 2, ... (background black; repeats after ten classes)."""

WELD_THRESHOLD = 0.5
"""Weld probability threshold without matting refinement."""
WELD_MATTING = {"foreground": 0.46, "background": 0.38, "alpha": 0.5}
"""Trimap thresholds of SHDM-Net's closed-form matting refinement (DESIGN.md, weld network)."""
CALIBRATION_SEED = 0
"""Seed of the draw of calibration images from the training split (fixed: bundles are reproducible)."""
EXPORTER = f"steelsight-trainer {__version__}"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_MIN_SIZE = 32


class ExportError(RuntimeError):
    """The bundle could not be exported: bad arguments, bad data, or a check the graphs failed."""


class OnnxRuntimeModel(nn.Module):
    """An ONNX Runtime session behind the ``nn.Module`` call that :func:`trainer.evaluate.evaluate` makes.

    Parameters
    ----------
    path
        An ONNX model with input ``image`` ``[N, 3, H, W]`` float32 and float32 logits.
    providers
        ONNX Runtime execution providers, in order of preference.
    """

    def __init__(self, path: str | Path, providers: Sequence[str] = ("CPUExecutionProvider",)) -> None:
        super().__init__()
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), providers=list(providers))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(onnx_logits(self.session, image.detach().cpu().numpy()))


def onnx_logits(session: ort.InferenceSession, images: np.ndarray) -> np.ndarray:
    """Logits ``[N, C, H, W]`` of a session for normalized images ``[N, 3, H, W]``."""
    return session.run(None, {INPUT_NAME: np.ascontiguousarray(images, dtype=np.float32)})[0]


class _NetworkInputs(Sequence[np.ndarray]):
    """Dataset samples as network inputs ``[1, 3, H, W]``, loaded when indexed."""

    def __init__(
        self,
        dataset: SegmentationDataset,
        indices: Sequence[int],
        size: tuple[int, int],
        mean: Sequence[float],
        std: Sequence[float],
        bar: tqdm | None = None,
    ) -> None:
        self.dataset, self.indices, self.size = dataset, list(indices), size
        self.mean, self.std, self.bar = tuple(mean), tuple(std), bar

    @property
    def names(self) -> list[str]:
        return [self.dataset.names[index] for index in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> np.ndarray:  # type: ignore[override]
        image = self.dataset[self.indices[position]].image
        if image.shape[:2] != self.size:
            image = cv2.resize(image, (self.size[1], self.size[0]), interpolation=cv2.INTER_LINEAR)
        if self.bar is not None:
            self.bar.update(1)
        return normalize(image, self.mean, self.std)[None]


def export_bundle(
    checkpoint: str | Path,
    out_dir: str | Path,
    eval_data: DatasetConfig | None = None,
    calibration_count: int = 200,
    calibration_method: str = "entropy",
    name: str | None = None,
    version: str = "1.0.0",
    input_size: tuple[int, int] | None = None,
    parity_images: int = 8,
    max_abs_diff: float = 1e-3,
    min_argmax_agreement: float = 0.999,
    precisions: Iterable[str] = PRECISIONS,
    int8_exclude_nodes: Iterable[str] = (),
    progress: bool = True,
    command: Sequence[str] | None = None,
) -> Manifest:
    """Export a training checkpoint as a model bundle folder.

    Parameters
    ----------
    checkpoint
        A checkpoint written by :func:`trainer.train.train` (``best.pt`` or ``last.pt``).
        Its run folder's ``run.json``, when present, adds the git commit, the command
        line and the dataset fingerprints to the manifest, and ``training.recipe`` the
        commands of every run it descends from (see :mod:`trainer.export.recipe`).
    out_dir
        The bundle folder: new, empty, or an earlier bundle (which is replaced).
    eval_data
        A labelled dataset to measure PyTorch FP32 and every ONNX model on; the
        figures go into ``manifest.metrics``. ``None`` skips evaluation.
    calibration_count
        Training images drawn (seeded, without repeats) for INT8 calibration; all of
        them when the training split is smaller.
    calibration_method
        ``"entropy"``, ``"percentile"`` or ``"minmax"``.
    name
        Model name (letters, digits, ``.``, ``_``, ``-``; it becomes part of engine file
        names); default: the network's registry name.
    version
        The model version written to the manifest.
    input_size
        ``(height, width)`` of the network input; default: the run's ``eval_size``, else
        the crop size of its last training stage.
    parity_images
        Validation images (training images when the run has no validation split) on
        which the FP32 graph must match PyTorch.
    max_abs_diff, min_argmax_agreement
        Parity limits: largest absolute logit difference, smallest fraction of pixels
        with the same class.
    precisions
        Model files to write; must include ``"fp32"``.
    int8_exclude_nodes
        Node names of ``model.onnx`` to keep in float in the INT8 model (e.g. from
        :func:`trainer.export.int8.sensitivity_sweep`).
    progress
        Show progress bars.

    Returns
    -------
    Manifest
        The manifest written to ``out_dir/manifest.json``.

    Raises
    ------
    ExportError
        For bad arguments, an ``out_dir`` that holds something other than a bundle,
        unreadable training or evaluation data, a parity failure (naming both
        figures and their limits), or a conversion that fails its checks.
    trainer.checkpoint.CheckpointError
        If the checkpoint cannot be read or its network rebuilt.
    """
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    precisions = _check_precisions(precisions)
    _check_limits(calibration_count, parity_images, max_abs_diff, min_argmax_agreement)
    if calibration_method not in METHODS:
        raise ExportError(
            f"unknown calibration_method {calibration_method!r}; use one of {', '.join(METHODS)}"
        )
    _check_out_dir(out_dir)
    model, state = load_model(checkpoint)
    arch = state["arch"]
    task = REGISTRY[arch].task
    name = _check_name(name if name is not None else arch)
    if not isinstance(version, str) or not version.strip():
        raise ExportError(f"version must be a non-empty string, got {version!r}")
    size = _input_size(input_size, state, checkpoint)
    class_names = list(state["class_names"])
    mean, std = tuple(state["mean"]), tuple(state["std"])
    train_set, val_set = _training_datasets(state, checkpoint)
    log.info("exporting %s (%s, %s) at %dx%d to %s", checkpoint, arch, task, size[0], size[1], out_dir)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    # Steps: one per model file, parity, evaluation (optional), manifest.
    steps = tqdm(total=2 + len(precisions) + (eval_data is not None), desc="export", disable=not progress)
    try:
        steps.set_postfix_str("fp32")
        _export_fp32(model, staging / FILE_NAMES["fp32"], size)
        steps.update(1)

        steps.set_postfix_str("parity")
        parity_set = val_set if val_set is not None and len(val_set) else train_set
        parity_figures = _check_parity(
            model,
            staging / FILE_NAMES["fp32"],
            _NetworkInputs(parity_set, _spread(len(parity_set), parity_images), size, mean, std),
            max_abs_diff,
            min_argmax_agreement,
        )
        steps.update(1)

        quantization: dict[str, Any] | None = None
        fp16_ops: list[str] = []
        if "fp16" in precisions:
            steps.set_postfix_str("fp16")
            fp16_ops = _export_fp16(staging)
            steps.update(1)
        if "int8" in precisions:
            steps.set_postfix_str("int8")
            quantization = _export_int8(
                staging,
                train_set,
                calibration_count,
                calibration_method,
                tuple(int8_exclude_nodes),
                size,
                mean,
                std,
                progress,
            )
            steps.update(1)
        if "fp16" in precisions:
            quantization = {**(quantization or {}), "fp16": {"float32_ops": fp16_ops}}

        metrics: dict[str, Any] = {"parity": parity_figures}
        if eval_data is not None:
            steps.set_postfix_str("evaluate")
            metrics.update(
                _evaluate_all(model, staging, precisions, eval_data, class_names, size, mean, std, progress)
            )
            steps.update(1)

        steps.set_postfix_str("manifest")
        manifest = Manifest(
            name=name,
            version=version,
            task=task,
            arch=arch,
            classes=tuple(
                ClassInfo(id=i, name=class_name, color=PALETTE[i % len(PALETTE)])
                for i, class_name in enumerate(class_names)
            ),
            input=InputSpec(height=size[0], width=size[1], mean=mean, std=std),
            files={precision: file_entry(staging, precision) for precision in precisions},
            postprocess=_postprocess(task),
            metrics=_json_ready(metrics),
            training=_json_ready(_training_info(checkpoint, state, train_set, val_set, command, eval_data)),
            quantization=None if quantization is None else _json_ready(quantization),
            created_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            exporter=EXPORTER,
        )
        try:
            write_manifest(manifest, staging)
            load_bundle(staging)  # the camera's own checks: schema, hashes, graph signatures
        except BundleError as exc:
            raise ExportError(f"the exported bundle fails the runtime's checks: {exc}") from exc
        steps.update(1)
        _install(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        steps.close()
    log.info("bundle %s %s written to %s (%s)", name, version, out_dir, ", ".join(precisions))
    return manifest


# ------------------------------------------------------------------------------------- arguments


def _check_precisions(precisions: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(precisions))
    unknown = [p for p in chosen if p not in PRECISIONS]
    if unknown:
        raise ExportError(f"unknown precisions {unknown}; choose from {', '.join(PRECISIONS)}")
    if "fp32" not in chosen:
        raise ExportError(
            f"precisions must include 'fp32' (the bundle's reference model), got {list(chosen)}"
        )
    return tuple(p for p in PRECISIONS if p in chosen)


def _check_limits(
    calibration_count: int, parity_images: int, max_abs_diff: float, min_agreement: float
) -> None:
    if calibration_count < 1:
        raise ExportError(f"calibration_count must be >= 1, got {calibration_count}")
    if parity_images < 1:
        raise ExportError(f"parity_images must be >= 1, got {parity_images}")
    if not max_abs_diff >= 0:
        raise ExportError(f"max_abs_diff must be >= 0, got {max_abs_diff}")
    if not 0 <= min_agreement <= 1:
        raise ExportError(f"min_argmax_agreement must be in [0, 1], got {min_agreement}")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ExportError(
            f"bundle name {name!r} is not usable in engine file names; use letters, digits, '.', '_' "
            "and '-', starting with a letter or digit"
        )
    return name


def _is_bundle(folder: Path) -> bool:
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("schema", "")).startswith("steelsight.bundle/")


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} is a file; choose a folder path for the bundle")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not _is_bundle(out_dir):
        raise ExportError(
            f"{out_dir} is not empty and holds no model bundle (no SteelSight manifest.json); "
            "choose a new or empty folder, the bundle would replace what is there"
        )


def _input_size(
    input_size: tuple[int, int] | None, state: dict[str, Any], checkpoint: Path
) -> tuple[int, int]:
    if input_size is not None:
        source, value = "input_size", input_size
    elif state.get("eval_size"):
        source, value = "the run's data.eval_size", state["eval_size"]
    else:
        try:
            source, value = "the last stage's crop_size", state["config"]["stages"][-1]["crop_size"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ExportError(
                f"{checkpoint} records no eval_size and no stage crop size; pass input_size=(height, width)"
            ) from exc
    try:
        height, width = (int(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ExportError(f"{source} must be (height, width), got {value!r}") from exc
    if min(height, width) < _MIN_SIZE:
        raise ExportError(f"{source} must be at least {_MIN_SIZE}x{_MIN_SIZE}, got {height}x{width}")
    log.info("input size %dx%d from %s", height, width, source)
    return height, width


def _spread(total: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(total)`` (all of them when there are fewer)."""
    if count >= total:
        return list(range(total))
    return sorted({int(i) for i in np.linspace(0, total - 1, count).round()})


# ------------------------------------------------------------------------------------- data


def _training_datasets(
    state: dict[str, Any], checkpoint: Path
) -> tuple[SegmentationDataset, SegmentationDataset | None]:
    """The run's training and validation datasets, split exactly as training split them."""
    try:
        config = from_mapping(TrainConfig, state["config"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise ExportError(
            f"{checkpoint} holds no usable run configuration ({exc}); export a checkpoint written by "
            "trainer.train with this version of the trainer"
        ) from exc
    try:
        train_set, val_set = open_datasets(config)
    except (DatasetError, OSError) as exc:
        where = state.get("config", {}).get("data", {}).get("train", {}).get("root")
        raise ExportError(
            f"cannot open the training data of {checkpoint} (data.train.root {where}): {exc}; the export "
            "needs it for parity and INT8 calibration: make it available at that path"
        ) from exc
    if len(train_set) == 0:
        raise ExportError(f"the training split of {checkpoint} at {train_set.root} has no images")
    return train_set, val_set


# ------------------------------------------------------------------------------------- steps


def _export_fp32(model: nn.Module, path: Path, size: tuple[int, int]) -> None:
    try:
        export_onnx(model, path, sample_size=size)
    except OnnxExportError as exc:
        raise ExportError(f"FP32 ONNX export failed: {exc}") from exc


def _check_parity(
    model: nn.Module,
    path: Path,
    inputs: _NetworkInputs,
    max_abs_diff: float,
    min_agreement: float,
) -> dict[str, Any]:
    report = parity(model, path, [inputs[i] for i in range(len(inputs))])
    figures = {
        "max_abs_diff": report.max_abs_diff,
        "argmax_agreement": report.argmax_agreement,
        "images": report.images,
        "dataset": str(inputs.dataset.root),
    }
    log.info(
        "parity on %d images: max |diff| %.3g, argmax agreement %.6f",
        report.images,
        report.max_abs_diff,
        report.argmax_agreement,
    )
    if not report.max_abs_diff <= max_abs_diff or not report.argmax_agreement >= min_agreement:
        raise ExportError(
            f"ONNX Runtime FP32 output of {path.name} does not match PyTorch on {report.images} images "
            f"of {inputs.dataset.root}: max |logit diff| {report.max_abs_diff:.3g} (limit {max_abs_diff:g}), "
            f"argmax agreement {report.argmax_agreement:.6f} (limit {min_agreement:g}); look for ops that "
            "export differently (interpolation, pooling) before shipping this model"
        )
    return figures


def _export_fp16(staging: Path) -> list[str]:
    try:
        model = convert_fp16(staging / FILE_NAMES["fp32"], staging / FILE_NAMES["fp16"])
    except Fp16ConversionError as exc:
        raise ExportError(f"FP16 conversion failed: {exc}") from exc
    return fp32_op_types(model)


def _export_int8(
    staging: Path,
    train_set: SegmentationDataset,
    count: int,
    method: str,
    exclude_nodes: tuple[str, ...],
    size: tuple[int, int],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    progress: bool,
) -> dict[str, Any]:
    total = len(train_set)
    if count > total:
        log.warning("only %d training images for INT8 calibration (%d asked); using all", total, count)
    order = np.random.default_rng(CALIBRATION_SEED).permutation(total)[: min(count, total)]
    with tqdm(total=len(order), desc="calibration images", disable=not progress, leave=False) as bar:
        images = _NetworkInputs(train_set, [int(i) for i in order], size, mean, std, bar)
        try:
            report = quantize_int8(
                staging / FILE_NAMES["fp32"],
                staging / FILE_NAMES["int8"],
                images,
                method=method,
                exclude_nodes=exclude_nodes,
            )
        except (Int8QuantizationError, ValueError) as exc:
            raise ExportError(f"INT8 quantization failed: {exc}") from exc
    return {
        **report.as_dict(),
        "calibration_seed": CALIBRATION_SEED,
        "calibration_dataset": str(train_set.root),
        "calibration_images": images.names,
    }


def _evaluate_all(
    model: nn.Module,
    staging: Path,
    precisions: tuple[str, ...],
    eval_data: DatasetConfig,
    class_names: list[str],
    size: tuple[int, int],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    progress: bool,
) -> dict[str, Any]:
    if eval_data.num_classes is None:
        eval_data = dataclasses.replace(eval_data, num_classes=len(class_names))
    try:
        dataset = open_dataset(eval_data)
        fingerprint = fingerprint_details(dataset)
    except DatasetError as exc:
        raise ExportError(f"cannot open the evaluation data {eval_data.root}: {exc}") from exc
    if len(dataset) == 0:
        raise ExportError(f"the evaluation data {eval_data.root} (split {eval_data.split!r}) has no images")
    split = (
        eval_data.split
        if isinstance(eval_data.split, str) or eval_data.split is None
        else "+".join(eval_data.split)
    )
    results: dict[str, Any] = {
        "eval_set": {
            "name": eval_data.root.name + (f"/{split}" if split else ""),
            "root": str(eval_data.root),
            "format": eval_data.format,
            "split": eval_data.split,
            "images": len(dataset),
            "fingerprint": fingerprint.value,
        },
        "input_size": list(size),
    }

    def measure(label: str, network: nn.Module) -> None:
        try:
            report = evaluate(network, dataset, class_names, size, mean, std, progress=progress)
        except DatasetError as exc:
            raise ExportError(f"evaluating on {eval_data.root} failed: {exc}") from exc
        results[label] = _figures(report)
        log.info(
            "%s on %s: mIoU %.4f", label, results["eval_set"]["name"], results[label]["miou"] or math.nan
        )

    measure("pytorch_fp32", model)
    for precision in precisions:
        measure(precision, OnnxRuntimeModel(staging / FILE_NAMES[precision]))
    if "int8" in precisions and results["fp32"]["miou"] is not None and results["int8"]["miou"] is not None:
        results["int8_miou_drop"] = results["fp32"]["miou"] - results["int8"]["miou"]
    return results


def _figures(report: EvaluationReport) -> dict[str, Any]:
    summary = report.summary
    figures: dict[str, Any] = {
        "miou": summary["miou"],
        "mpa": summary["mpa"],
        "pixel_accuracy": summary["pixel_accuracy"],
        "mean_dice": summary.get("mean_dice"),
        "per_class_iou": {name: row["iou"] for name, row in summary["per_class"].items()},
        "boundary_f1": report.boundary.get("f1"),
    }
    if report.aprf is not None:
        figures["best_threshold"] = report.aprf["threshold"]
        figures["f1_at_threshold"] = report.aprf["f1_at_threshold"]
    if report.thickness is not None:
        figures["thickness_mae_mm"] = report.thickness["mae_mm"]
        figures["thickness_max_abs_error_mm"] = report.thickness["max_abs_error_mm"]
    return figures


# ------------------------------------------------------------------------------------- manifest


def _postprocess(task: str) -> PostprocessSpec:
    if task == "weld":
        return PostprocessSpec(kind="threshold", threshold=WELD_THRESHOLD, matting=dict(WELD_MATTING))
    return PostprocessSpec(kind="argmax")


def _training_info(
    checkpoint: Path,
    state: dict[str, Any],
    train_set: SegmentationDataset,
    val_set: SegmentationDataset | None,
    command: Sequence[str] | None = None,
    eval_data: DatasetConfig | None = None,
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "checkpoint": {
            "file": checkpoint.name,
            "global_step": state.get("global_step"),
            "stage": state.get("stage"),
            "epoch": state.get("epoch"),
            "best_val_miou": state.get("best_miou"),
            # What chose this checkpoint (run.best_by) measured on validation; absent before best_by.
            "best_validation": state.get("best_validation"),
        },
        "arch": state["arch"],
        "model_config": dict(state["model_config"]),
        "class_names": list(state["class_names"]),
        "config": state["config"],
    }
    run_file = checkpoint.parent / "run.json"
    run: dict[str, Any] = {}
    if run_file.is_file():
        try:
            run = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", run_file, exc)
    info["git_commit"] = run.get("git_commit")
    info["command"] = run.get("command")
    info["started"] = run.get("started")
    datasets = run.get("datasets")
    if not datasets:
        log.info("no run.json beside %s; fingerprinting the training data", checkpoint)
        datasets = {
            name: None
            if dataset is None
            else {"count": len(dataset), "fingerprint": fingerprint_details(dataset).value}
            for name, dataset in (("train", train_set), ("val", val_set))
        }
    info["datasets"] = datasets
    info["recipe"] = recipe(
        checkpoint.parent,
        list(command) if command else None,
        [str(eval_data.root)] if eval_data is not None else None,
    )
    return info


def _json_ready(value: Any) -> Any:
    """Strict-JSON copy: tuples and paths converted, NaN and infinities written as ``None``."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _install(staging: Path, out_dir: Path) -> None:
    """Move the finished staging folder to ``out_dir``, replacing an earlier bundle there."""
    backup = None
    if out_dir.exists():
        backup = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(out_dir, backup)
        log.info("replacing the earlier bundle in %s", out_dir)
    try:
        os.replace(staging, out_dir)
    except OSError:
        if backup is not None:
            os.replace(backup, out_dir)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
