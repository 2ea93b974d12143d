"""The verify step: measure a known length in a fresh image through the calibration, PASS or FAIL.

Either the two end points of a known length are given (``--points x1,y1,x2,y2 --known-mm L``), or
a board lies on the measurement plane and its detected corners give known lengths: for a
checkerboard the four sides and both diagonals of its corner grid, for a ChArUco board the two
detected corners farthest apart. Lengths are measured with
:meth:`calibration.calibration_file.Calibration.length_mm` (undistorting first when the scale
asks for it), exactly as the runtime measures. The verdict is on the worst error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from calibration.calibration_file import Calibration, Verification
from calibration.detect import BoardSpec, require_board
from calibration.errors import InputError

__all__ = ["Measurement", "VerifyResult", "check_image_size", "verify_board", "verify_points"]


@dataclass(frozen=True)
class Measurement:
    """One known length measured through the calibration (image points are raw frame pixels)."""

    label: str
    p0: tuple[float, float]
    p1: tuple[float, float]
    known_mm: float
    measured_mm: float

    @property
    def error_mm(self) -> float:
        """``measured - known`` (mm)."""
        return self.measured_mm - self.known_mm

    @property
    def error_pct(self) -> float:
        """``100 * error / known``."""
        return 100.0 * self.error_mm / self.known_mm

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "label": self.label,
            "p0_px": [round(self.p0[0], 3), round(self.p0[1], 3)],
            "p1_px": [round(self.p1[0], 3), round(self.p1[1], 3)],
            "known_mm": self.known_mm,
            "measured_mm": round(self.measured_mm, 4),
            "error_mm": round(self.error_mm, 4),
            "error_pct": round(self.error_pct, 4),
        }


@dataclass(frozen=True)
class VerifyResult:
    """The verification: the block for the calibration file, every measurement, and the board corners."""

    verification: Verification
    measurements: tuple[Measurement, ...]
    worst: Measurement
    corners: np.ndarray | None
    method: str

    @property
    def passed(self) -> bool:
        """Whether the worst error is within the tolerance."""
        return self.verification.verdict == "PASS"

    def summary(self, calibration_path: str, image_path: str, report_png: str | None) -> dict[str, Any]:
        """The JSON summary written beside the report PNG."""
        ver = self.verification
        return {
            "schema": "steelsight.calibration-verify/1",
            "calibration": calibration_path,
            "image": image_path,
            "method": self.method,
            "verdict": ver.verdict,
            "tolerance_pct": ver.tolerance_pct,
            "known_length_mm": ver.known_length_mm,
            "measured_length_mm": ver.measured_length_mm,
            "error_mm": ver.error_mm,
            "error_pct": ver.error_pct,
            "reprojection_rms_px": ver.reprojection_rms_px,
            "measurements": [m.to_json() for m in self.measurements],
            "report_png": report_png,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


def check_image_size(cal: Calibration, image: np.ndarray, image_name: str, cal_name: str) -> None:
    """Refuse an image of another size than the calibration's.

    Raises
    ------
    InputError
        Naming the image, both sizes and what to do.
    """
    height, width = image.shape[:2]
    if (height, width) != tuple(cal.image_size):
        raise InputError(
            image_name,
            f"is {height}x{width} (HxW) but {cal_name} is for {cal.height}x{cal.width} frames: take the "
            "image with this camera at the resolution it measures at (or calibrate that resolution from "
            "scratch)",
        )


def _result(
    cal: Calibration,
    measurements: list[Measurement],
    tolerance_pct: float,
    corners: np.ndarray | None,
    method: str,
) -> VerifyResult:
    worst = max(measurements, key=lambda m: abs(m.error_pct))
    rms = cal.verification.reprojection_rms_px if cal.verification is not None else None
    verification = Verification.from_lengths(
        worst.known_mm, worst.measured_mm, tolerance_pct, reprojection_rms_px=rms
    )
    return VerifyResult(verification, tuple(measurements), worst, corners, method)


def verify_points(
    cal: Calibration,
    p0: tuple[float, float],
    p1: tuple[float, float],
    known_mm: float,
    tolerance_pct: float,
    arg: str = "--points",
) -> VerifyResult:
    """Measure the length between two given image points and compare it with ``known_mm``.

    Raises
    ------
    InputError
        When the points lie outside the image or coincide, or ``known_mm`` is not > 0.
    """
    if not (math.isfinite(known_mm) and known_mm > 0):
        raise InputError("--known-mm", f"must be the true length in mm (> 0), got {known_mm}")
    for i, (x, y) in enumerate((p0, p1)):
        if not (0 <= x <= cal.width - 1 and 0 <= y <= cal.height - 1):
            raise InputError(
                arg, f"point {i + 1} ({x:g},{y:g}) lies outside the {cal.height}x{cal.width} (HxW) image"
            )
    if math.dist(p0, p1) < 10.0:
        raise InputError(
            arg, "the two points are less than 10 px apart: give the two ends of the known length"
        )
    measured = cal.length_mm(p0, p1)
    return _result(
        cal, [Measurement("given points", p0, p1, float(known_mm), measured)], tolerance_pct, None, "points"
    )


def verify_board(
    cal: Calibration, gray: np.ndarray, spec: BoardSpec, tolerance_pct: float, image_name: str = "--image"
) -> VerifyResult:
    """Measure known lengths between a board's corners (the board lying on the measurement plane).

    Raises
    ------
    InputError
        When the board is not found (saying which pattern size is there, if a nearby one is).
    """
    detection = require_board(gray, spec, image_name, "lay the whole board flat on the measurement plane")
    img, obj = detection.image_points, detection.object_points[:, :2]
    if detection.grid is not None:
        cols, rows = detection.grid
        first, top_right, bottom_left, last = 0, cols - 1, (rows - 1) * cols, rows * cols - 1
        pairs = [
            ("top row", first, top_right),
            ("bottom row", bottom_left, last),
            ("left column", first, bottom_left),
            ("right column", top_right, last),
            ("diagonal", first, last),
            ("other diagonal", top_right, bottom_left),
        ]
    else:
        distances = np.linalg.norm(obj[:, None] - obj[None], axis=2)
        i, j = np.unravel_index(int(np.argmax(distances)), distances.shape)
        pairs = [("farthest corners", int(i), int(j))]
    measurements = []
    for label, i, j in pairs:
        known = float(np.hypot(*(obj[j] - obj[i])))
        p0 = (float(img[i, 0]), float(img[i, 1]))
        p1 = (float(img[j, 0]), float(img[j, 1]))
        measurements.append(Measurement(label, p0, p1, known, cal.length_mm(p0, p1)))
    return _result(cal, measurements, tolerance_pct, img, "board")
