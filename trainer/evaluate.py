"""Run a network over a dataset and measure it: validation during training and full evaluation.

Every image is predicted as the camera will see it: resized to the network's
input size (bilinear), normalized, and the logits resized back (bilinear) to
the image's own size, where they are compared with the untouched mask.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from trainer.data.augment import normalize
from trainer.data.sample import SegmentationDataset
from trainer.data.slag_truth import SlagScene, slag_truth
from trainer.distributed import DistributedContext
from trainer.metrics import (
    BoundaryAccumulator,
    ConfusionMatrix,
    aprf_curve,
    best_threshold,
    plot_aprf,
    thickness_error,
)
from trainer.metrics.thickness_rows import THICKNESS_FILE, relative_error_sum, write_thickness_rows

log = logging.getLogger(__name__)


def predict_logits(
    model: nn.Module,
    images: list[np.ndarray],
    input_size: tuple[int, int] | None,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    device: torch.device,
) -> torch.Tensor:
    """Logits ``[N, C, H, W]`` at the images' own size (all images the same size).

    Parameters
    ----------
    model
        The network (put in eval mode by this function).
    images
        uint8 RGB ``HxWx3`` arrays of one size.
    input_size
        ``(height, width)`` the network sees, or ``None`` for the native size.
    """
    height, width = images[0].shape[:2]
    inputs = []
    for image in images:
        if image.shape[:2] != (height, width):
            raise ValueError(
                f"predict_logits needs images of one size, got {image.shape} and {images[0].shape}"
            )
        resized = image
        if input_size is not None and input_size != (height, width):
            resized = cv2.resize(image, (input_size[1], input_size[0]), interpolation=cv2.INTER_LINEAR)
        inputs.append(normalize(resized, mean, std))
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(np.stack(inputs)).to(device))
        if logits.shape[-2:] != (height, width):
            logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
    return logits.float().cpu()


def _batches(dataset: SegmentationDataset, indices: list[int], batch_size: int):
    """Consecutive samples grouped into batches of one image size."""
    batch = []
    for index in indices:
        sample = dataset[index]
        if batch and (len(batch) == batch_size or sample.image.shape != batch[0].image.shape):
            yield batch
            batch = []
        batch.append(sample)
    if batch:
        yield batch


@dataclass(frozen=True)
class Validation:
    """What validation during training measured.

    Attributes
    ----------
    confusion
        The confusion matrix over the validation images (summed over ranks).
    thickness_scenes
        Validation scenes with slag thickness truth (0 for other sets).
    thickness_measured
        Those of them where the predicted mask gave a thickness.
    thickness_percent
        Mean over the measured scenes of ``|measured - true| / true`` in percent (the
        ``mae_percent`` of :func:`trainer.metrics.thickness_error`); ``None`` when none was measured.
    """

    confusion: ConfusionMatrix
    thickness_scenes: int = 0
    thickness_measured: int = 0
    thickness_percent: float | None = None


def validate(
    model: nn.Module,
    dataset: SegmentationDataset,
    num_classes: int,
    input_size: tuple[int, int] | None,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    ctx: DistributedContext,
    batch_size: int = 4,
    max_images: int | None = None,
    truth: Mapping[str, SlagScene] | None = None,
) -> Validation:
    """Measure ``model`` on ``dataset`` (each rank takes a share; the sums are gathered over ranks).

    With ``truth`` (from :func:`trainer.data.slag_truth.slag_truth`) the slag thickness of every
    scene it names is measured from the predicted mask, as :func:`evaluate` does.
    """
    count = len(dataset) if max_images is None else min(len(dataset), max_images)
    indices = list(range(ctx.rank, count, ctx.world_size))
    confusion = ConfusionMatrix(num_classes)
    rows = []
    for batch in _batches(dataset, indices, batch_size):
        logits = predict_logits(model, [s.image for s in batch], input_size, mean, std, ctx.device)
        prediction = logits.argmax(1).numpy()
        for sample, pred in zip(batch, prediction, strict=True):
            confusion.update(pred, sample.mask)
            if truth and sample.name in truth:
                rows.append(truth[sample.name].measure(pred.astype(np.uint8)))
    total = torch.from_numpy(confusion.matrix.astype(np.float64))
    ctx.all_reduce_sum(total)
    merged = ConfusionMatrix(num_classes)
    merged.merge_matrix(total.numpy().round().astype(np.int64))
    measured = sum(r["measured_mm"] is not None for r in rows)
    sums = ctx.all_reduce_sum(
        torch.tensor([len(rows), measured, relative_error_sum(rows)], dtype=torch.float64)
    )
    measured = int(sums[1].round())
    return Validation(
        merged,
        thickness_scenes=int(sums[0].round()),
        thickness_measured=measured,
        thickness_percent=100 * float(sums[2]) / measured if measured else None,
    )


@dataclass
class EvaluationReport:
    """Everything one evaluation measured; ``to_json`` and ``to_markdown`` render it."""

    dataset: str
    images: int
    class_names: list[str]
    summary: dict[str, Any]
    boundary: dict[str, float]
    input_size: tuple[int, int] | None
    aprf: dict[str, Any] | None = None
    thickness: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "images": self.images,
            "input_size": self.input_size,
            "class_names": self.class_names,
            "metrics": self.summary,
            "boundary_f1": self.boundary,
            "aprf": self.aprf,
            "thickness": self.thickness,
            **self.extra,
        }

    def to_markdown(self) -> str:
        lines = [
            f"Evaluation on {self.dataset} ({self.images} images"
            + (f", network input {self.input_size[0]}x{self.input_size[1]})" if self.input_size else ")"),
            "",
            "| class | IoU | precision | recall | F1 |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        per_class = self.summary["per_class"]
        for name in self.class_names:
            row = per_class[name]
            lines.append(
                f"| {name} | {_pct(row['iou'])} | {_pct(row['precision'])} | {_pct(row['recall'])} "
                f"| {_pct(row['dice'])} |"
            )
        lines += [
            "",
            f"mIoU {_pct(self.summary['miou'])}, mPA {_pct(self.summary['mpa'])}, "
            f"pixel accuracy {_pct(self.summary['pixel_accuracy'])}, "
            f"boundary F1 {_pct(self.boundary['f1'])} (tolerance {self.boundary['tolerance_px']} px)",
        ]
        if self.thickness:
            t = self.thickness
            lines.append(
                f"slag thickness: MAE {t['mae_mm']:.2f} mm ({t['mae_percent']:.2f} % of true, mean over "
                f"scenes; {t['mae_percent_of_mean_true']:.2f} % of the mean true thickness), median error "
                f"{t['median_percent']:.2f} %, "
                f"p95 error {t['p95_abs_error_mm']:.2f} mm ({t['p95_percent']:.2f} %), "
                f"bias {t['bias_mm']:+.2f} mm, max error {t['max_abs_error_mm']:.2f} mm, "
                f"measured on {t['measured']}/{t['scenes']} scenes "
                f"(quality GOOD {t['quality']['GOOD']}, UNCERTAIN {t['quality']['UNCERTAIN']}, "
                f"BAD {t['quality']['BAD']}); GOOD scenes: MAE {t['good']['mae_percent']:.2f} % of true, "
                f"median {t['good']['median_percent']:.2f} %"
            )
        if self.aprf:
            lines.append(
                f"binarization threshold {self.aprf['threshold']:.2f} ({self.aprf['threshold_source']}): "
                f"F1 {_pct(self.aprf['f1_at_threshold'])}"
            )
        return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def evaluate(
    model: nn.Module,
    dataset: SegmentationDataset,
    class_names: list[str],
    input_size: tuple[int, int] | None,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    device: torch.device | None = None,
    batch_size: int = 4,
    boundary_tolerance: float = 2.0,
    threshold: float | None = None,
    out_dir: Path | None = None,
    progress: bool = True,
) -> EvaluationReport:
    """Measure ``model`` on every image of ``dataset``.

    Computes the confusion matrix and its per-class IoU, mIoU, mPA, precision,
    recall and F1; boundary F1; for two-class tasks the APRF curve against the
    binarization threshold (``threshold`` marks one chosen on validation,
    otherwise the best F1 on this set is marked and labelled so); for slag
    datasets with a ``truth.csv`` the thickness error in mm per scene. With
    ``out_dir`` it writes ``report.json``, ``report.md``, ``aprf.png`` and
    ``thickness.csv`` there.
    """
    device = device or torch.device("cpu")
    num_classes = len(class_names)
    confusion = ConfusionMatrix(num_classes)
    boundary = BoundaryAccumulator(tolerance_px=boundary_tolerance)
    curve = None
    truth = slag_truth(dataset.root)  # empty unless the set has slag thickness truth
    thickness_rows = []
    bar = tqdm(total=len(dataset), desc="evaluating", disable=not progress, leave=False)
    for batch in _batches(dataset, list(range(len(dataset))), batch_size):
        logits = predict_logits(model, [s.image for s in batch], input_size, mean, std, device)
        probs = logits.softmax(1).numpy()
        predictions = probs.argmax(1).astype(np.uint8)
        for sample, pred, prob in zip(batch, predictions, probs, strict=True):
            confusion.update(pred, sample.mask)
            boundary.update(pred, sample.mask)
            if num_classes == 2:
                part = aprf_curve(prob[1], sample.mask)
                curve = part if curve is None else curve.merge(part)
            if sample.name in truth:
                # The camera's own measurement, with the scene's exact calibration.
                thickness_rows.append(truth[sample.name].measure(pred))
        bar.update(len(batch))
    bar.close()
    report = EvaluationReport(
        dataset=str(dataset.root),
        images=len(dataset),
        class_names=class_names,
        summary=confusion.summary(class_names),
        boundary={**boundary.result().as_dict(), "tolerance_px": boundary_tolerance},
        input_size=input_size,
    )
    if curve is not None:
        chosen = threshold if threshold is not None else best_threshold(curve, "f1")
        index = int(np.argmin(np.abs(curve.thresholds - chosen)))
        report.aprf = {
            "threshold": float(chosen),
            "threshold_source": "given (chosen on validation)"
            if threshold is not None
            else "best F1 on this set",
            "f1_at_threshold": float(curve.f1[index]),
            "curve": curve.as_dict(),
        }
    if thickness_rows:
        report.thickness = thickness_error(thickness_rows)
    if out_dir is not None:
        write_report(report, out_dir, curve, thickness_rows)
    return report


def write_report(
    report: EvaluationReport,
    out_dir: Path,
    curve: Any = None,
    thickness_rows: list[dict[str, Any]] | None = None,
) -> None:
    """Write ``report.json``, ``report.md`` and, where measured, ``aprf.png`` and ``thickness.csv``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    (out_dir / "report.md").write_text(report.to_markdown())
    if curve is not None and report.aprf is not None:
        plot_aprf(
            curve, out_dir / "aprf.png", chosen_threshold=report.aprf["threshold"], title=report.dataset
        )
    if thickness_rows:
        write_thickness_rows(out_dir / THICKNESS_FILE, thickness_rows)
