"""The verification report picture: the image with the corners, ROI, axis, rulers in mm and the verdict.

Rulers are drawn along every measured length: their ticks are laid out in millimetres on the
measurement plane and mapped back into the image through the calibration
(:func:`calibration.geometry.plane_to_image`), so an uneven tick spacing shows perspective or
distortion, and a ruler that does not end on the measured point shows an error.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from calibration.calibration_file import Calibration
from calibration.geometry import plane_to_image
from calibration.verify_step import Measurement, VerifyResult

__all__ = ["draw_report", "save_report"]

log = logging.getLogger(__name__)

_GREEN = (60, 200, 60)
_RED = (40, 40, 230)
_YELLOW = (0, 215, 255)
_CYAN = (230, 200, 0)
_MAGENTA = (200, 60, 220)
_WHITE = (255, 255, 255)
_SHIFT = 4
_TICK_STEPS_MM = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
_MIN_TICK_PX = 7.0
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, dtype=np.float64) * (1 << _SHIFT)).astype(np.int32)


def _line(
    image: np.ndarray, a: np.ndarray, b: np.ndarray, color: tuple[int, int, int], thickness: int = 1
) -> None:
    pa, pb = _fixed(a), _fixed(b)
    cv2.line(image, (int(pa[0]), int(pa[1])), (int(pb[0]), int(pb[1])), color, thickness, cv2.LINE_AA, _SHIFT)


def _text(
    image: np.ndarray, text: str, origin: tuple[int, int], scale: float, color: tuple[int, int, int]
) -> None:
    """Text on a dark box (OpenCV 5's built-in font renders thick text wider, so no outline)."""
    (w, h), base = cv2.getTextSize(text, _FONT, scale, 1)
    x, y = origin
    cv2.rectangle(image, (x - 2, y - h - 2), (x + w + 2, y + base), (0, 0, 0), -1)
    cv2.putText(image, text, origin, _FONT, scale, color, 1, cv2.LINE_AA)


def _draw_ruler(
    image: np.ndarray, cal: Calibration, m: Measurement, color: tuple[int, int, int], ticks_on: bool = True
) -> None:
    """A ruler in mm along the measured segment, ticks placed on the plane and mapped into the image.

    With ``ticks_on`` false only the segment, its end marks and the measured length are drawn.
    """
    a_img = np.array(m.p0, dtype=np.float64)
    b_img = np.array(m.p1, dtype=np.float64)
    a_plane, b_plane = cal.image_to_plane(np.stack([a_img, b_img]))
    length = float(np.hypot(*(b_plane - a_plane)))
    if length <= 0:
        return
    px_per_mm = float(np.hypot(*(b_img - a_img))) / length
    step = next((s for s in _TICK_STEPS_MM if s * px_per_mm >= _MIN_TICK_PX), _TICK_STEPS_MM[-1])
    direction_plane = (b_plane - a_plane) / length
    distances = np.arange(0.0, length + 1e-9, step)
    ticks = plane_to_image(cal, a_plane + distances[:, None] * direction_plane)
    along = (b_img - a_img) / max(float(np.hypot(*(b_img - a_img))), 1e-9)
    normal = np.array([-along[1], along[0]])
    _line(image, a_img, b_img, color, 1)
    for i, (d, tick) in enumerate(zip(distances, ticks, strict=True)):
        if not ticks_on:
            break
        major = i % 5 == 0
        size = 7.0 if major else 3.5
        _line(image, tick, tick + size * normal, color, 1)
        if major and i % 10 == 0 and i > 0:
            label_at = tick + 16.0 * normal
            _text(image, f"{d:g}", (int(label_at[0]) - 8, int(label_at[1]) + 4), 0.35, color)
    for point in (a_img, b_img):
        p = _fixed(point)
        cv2.circle(image, (int(p[0]), int(p[1])), 4 << _SHIFT, color, 1, cv2.LINE_AA, _SHIFT)
    if ticks_on:
        mid = 0.5 * (a_img + b_img) - 14.0 * normal
        _text(image, f"{m.measured_mm:.2f} mm", (int(mid[0]) - 25, int(mid[1])), 0.42, color)


def _draw_axis(image: np.ndarray, cal: Calibration) -> None:
    if cal.axis_angle_deg is None:
        return
    height, width = image.shape[:2]
    if cal.roi is not None:
        centre = np.mean(np.asarray(cal.roi, dtype=np.float64), axis=0)
    else:
        centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    a = math.radians(cal.axis_angle_deg)
    d = np.array([math.sin(a), math.cos(a)])
    reach = float(np.hypot(height, width))
    start, end = centre - reach * d, centre + reach * d
    # Dashed: every other of 80 pieces (cv2.line clips to the image).
    total = np.linspace(0.0, 1.0, 80)
    for i in range(0, len(total) - 1, 2):
        _line(image, start + total[i] * (end - start), start + total[i + 1] * (end - start), _CYAN, 1)
    label = centre + 0.3 * min(height, width) * d
    label = np.clip(label, [5, 15], [width - 120, height - 5])
    _text(image, f"axis {cal.axis_angle_deg:.1f} deg", (int(label[0]) + 6, int(label[1])), 0.42, _CYAN)


def draw_report(image: np.ndarray, cal: Calibration, result: VerifyResult) -> np.ndarray:
    """The report picture (BGR ``uint8``) for a verification on ``image``."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    if cal.roi is not None:
        roi = _fixed(np.asarray(cal.roi, dtype=np.float64)).reshape(-1, 1, 2)
        cv2.polylines(canvas, [roi], True, _YELLOW, 1, cv2.LINE_AA, _SHIFT)
        first = np.asarray(cal.roi[0], dtype=np.float64)
        _text(canvas, "ROI", (int(first[0]) + 4, int(first[1]) + 14), 0.42, _YELLOW)
    _draw_axis(canvas, cal)
    if result.corners is not None:
        for point in result.corners:
            p = _fixed(point)
            cv2.circle(canvas, (int(p[0]), int(p[1])), 3 << _SHIFT, _GREEN, 1, cv2.LINE_AA, _SHIFT)
    for m in result.measurements:  # the others thin, the worst (the verdict's) with its ruler on top
        if m is not result.worst:
            _draw_ruler(canvas, cal, m, _MAGENTA, ticks_on=False)
    _draw_ruler(canvas, cal, result.worst, _GREEN if result.passed else _RED)
    ver = result.verification
    verdict_color = _GREEN if result.passed else _RED
    lines = [
        (
            f"VERIFY {ver.verdict}  worst error {ver.error_mm:+.2f} mm ({ver.error_pct:+.3f} %), tolerance "
            f"{ver.tolerance_pct:g} %",
            verdict_color,
        ),
        (
            f"{result.worst.label}: known {ver.known_length_mm:.2f} mm, measured "
            f"{ver.measured_length_mm:.2f} mm",
            _WHITE,
        ),
        (
            f"camera {cal.camera_id}, scale {cal.scale.method} from {cal.scale.source}"
            + (
                f", reprojection RMS {ver.reprojection_rms_px:.2f} px"
                if ver.reprojection_rms_px is not None
                else ""
            ),
            _WHITE,
        ),
    ]
    scale = 0.45 if canvas.shape[1] < 1000 else 0.7
    line_h = int(22 * scale / 0.45)
    box_w = max(cv2.getTextSize(text, _FONT, scale, 1)[0][0] for text, _ in lines) + 16
    top = canvas.shape[0] - line_h * len(lines) - 10
    overlay = canvas.copy()
    cv2.rectangle(overlay, (0, top), (box_w, canvas.shape[0]), (0, 0, 0), -1)
    canvas = cv2.addWeighted(overlay, 0.65, canvas, 0.35, 0.0)
    for i, (text, color) in enumerate(lines):
        cv2.putText(canvas, text, (8, top + line_h * (i + 1)), _FONT, scale, color, 1, cv2.LINE_AA)
    return canvas


def save_report(path: str | Path, image: np.ndarray, cal: Calibration, result: VerifyResult) -> Path:
    """Draw the report and write it as PNG.

    Raises
    ------
    OSError
        When the PNG cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = draw_report(image, cal, result)
    if not cv2.imwrite(str(path), picture, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"{path}: cannot write the report PNG (check the folder and the disk)")
    log.info("wrote verification report %s", path)
    return path
