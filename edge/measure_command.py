"""``steelsight-edge measure``: one measurement from a mask file, or from an image run through a bundle.

With ``--json`` exactly one JSON object goes to stdout, using the field names of the MQTT
payloads (contract 3); every problem goes to stderr with exit code 2.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration.calibration_file import CalibrationError, load_calibration
from edge.bundle.manifest import BundleError
from edge.measure import MattingConfig, measure_slag, measure_weld, refine_weld_mask
from edge.measure_stage import MeasureScale, scale_from_calibration

__all__ = ["EXIT_BAD_INPUT", "measure_command"]

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class _InputError(ValueError):
    """A bad argument or file; the message says which and what to do."""


def _read_mask(path: Path, task: str) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise _InputError(f"cannot read the mask {path}: missing or not an image")
    if mask.ndim == 3:
        channels = mask[..., :3]
        if not (channels == channels[..., :1]).all():
            raise _InputError(
                f"{path} is a colour image; a mask must hold class ids in one channel "
                "(0 background, 1 tube, 2 slag; or 0/1 or 0/255 for weld)"
            )
        mask = channels[..., 0]
    if mask.dtype != np.uint8:
        raise _InputError(f"{path} is a {mask.dtype} image; a mask must be 8-bit class ids")
    if task == "weld":
        values = set(np.unique(mask).tolist())
        if not values <= {0, 1, 255}:
            raise _InputError(f"{path}: a weld mask holds 0 and 1 (or 255), found values {sorted(values)}")
        mask = (mask > 0).astype(np.uint8)
    return mask


def _predict(image_path: Path, bundle_dir: Path, precision: str, task: str) -> tuple[np.ndarray, Any, Any]:
    """Class map, probabilities (frame coordinates) and manifest of ``image_path`` through the bundle."""
    from edge.bundle.loader import load_bundle
    from edge.engines.onnxruntime_engine import OnnxRuntimeEngine
    from edge.preprocess import PreprocessSpec, preprocess_cpu, restore_mask, restore_probabilities

    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise _InputError(f"cannot read the image {image_path}: missing or not an image")
    bundle = load_bundle(bundle_dir, precision=precision)
    if bundle.manifest.task != task:
        raise _InputError(f"--task {task} but the bundle {bundle_dir} is a {bundle.manifest.task} model")
    spec = PreprocessSpec.from_input_spec(bundle.manifest.input)
    batch = preprocess_cpu(image, spec)[None]
    with OnnxRuntimeEngine(bundle, precision) as engine:
        output = engine.infer(batch, probabilities=True)
    size = image.shape[:2]
    classes = restore_mask(output.classes[0], spec, size)
    assert output.probabilities is not None
    probabilities = restore_probabilities(output.probabilities[0], spec, size, fill=0.0).astype(np.float32)
    return classes, probabilities, (bundle.manifest, image)


def measure_command(
    task: str,
    mask_path: Path | None,
    image_path: Path | None,
    bundle_dir: Path | None,
    calibration_path: Path | None,
    mm_per_px: float | None,
    axis_deg: float | None,
    tube_diameter_mm: float | None,
    precision: str,
    as_json: bool,
) -> int:
    """Measure and print; returns the exit code."""
    try:
        if (mask_path is None) == (image_path is None):
            raise _InputError("give either --mask MASK.png, or --image IMAGE with --bundle DIR")
        if image_path is not None and bundle_dir is None:
            raise _InputError("--image needs --bundle DIR (the model bundle that segments it)")
        if (calibration_path is None) == (mm_per_px is None):
            raise _InputError(
                "give either --calibration CAL.json or --mm-per-px X (with --axis-deg A for slag)"
            )
        if mm_per_px is not None and not mm_per_px > 0:
            raise _InputError(f"--mm-per-px must be > 0, got {mm_per_px}")
        if calibration_path is not None:
            scale = scale_from_calibration(load_calibration(calibration_path), str(calibration_path))
        else:
            scale = MeasureScale(mm_per_px, None, axis_deg, tube_diameter_mm, None, "command line")
        probabilities = None
        context = None
        if mask_path is not None:
            classes = _read_mask(mask_path, task)
        else:
            assert image_path is not None and bundle_dir is not None
            classes, probabilities, context = _predict(image_path, bundle_dir, precision, task)
        problem = scale.mismatch(*classes.shape[:2])
        if problem is not None:
            raise _InputError(problem)
        if task == "slag":
            result = measure_slag(
                classes,
                mm_per_px=scale.mm_per_px,
                homography=scale.homography,
                axis_angle_deg=scale.axis_angle_deg if axis_deg is None else axis_deg,
                tube_diameter_mm=scale.tube_diameter_mm if tube_diameter_mm is None else tube_diameter_mm,
                probabilities=probabilities,
            )
            payload = {"schema": "slag.thickness/1", **result.as_payload()}
            text = (
                f"slag thickness {payload['thickness_mm']} mm (p10 {payload['p10_mm']}, "
                f"p90 {payload['p90_mm']}), coverage {payload['coverage']}, {payload['lines']} lines"
            )
        else:
            mask = (classes == 1).astype(np.uint8) if context is not None else classes
            refined = None
            if context is not None and probabilities is not None:
                manifest, image = context
                if manifest.postprocess.matting is not None:
                    refined = refine_weld_mask(
                        image, probabilities[1], MattingConfig.from_manifest(manifest.postprocess.matting)
                    )
                    mask = refined.mask
            result = measure_weld(mask, mm_per_px=scale.mm_per_px, homography=scale.homography)
            payload = {"schema": "weld.result/1", **result.as_payload()}
            if refined is not None:
                payload["refined"] = refined.refined
            text = (
                f"weld area {payload['area_mm2']} mm2, width {payload['width_mm']} mm, "
                f"depth {payload['depth_mm']} mm, {payload['regions']} region(s)"
            )
    except (_InputError, CalibrationError, BundleError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if as_json:
        print(json.dumps(payload))
    else:
        reason = f" ({payload['quality_reason']})" if payload.get("quality_reason") else ""
        print(f"{text}; quality {payload['quality']}{reason}")
    return EXIT_OK
