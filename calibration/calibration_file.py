"""The calibration file (contract 2 of DESIGN.md): dataclasses, validation, loading and atomic saving.

The field calibration tools build a :class:`Calibration` and write it with
:func:`save_calibration`; the edge runtime reads it with :func:`load_calibration` and measures
through its geometry methods (:meth:`Calibration.image_to_plane`,
:meth:`Calibration.length_mm`, :meth:`Calibration.mm_per_px_at`, ...). Both sides run the same
:meth:`Calibration.validate`, so a tool cannot write a file the camera would refuse.

The file is JSON with ``"schema": "steelsight.calibration/1"``. Every field is always written;
``null`` means "not set". Unknown keys are errors (a misspelt key would otherwise silently
drop a setting). Conventions: sizes are ``[height, width]``; image points are ``[x, y]`` with
pixel centres at integer coordinates (OpenCV); "inside the image" means ``0 <= x <= width - 1``
and ``0 <= y <= height - 1``; the axis angle ``a`` points down the tube along ``(sin a, cos a)``
in image ``(x, y)`` (``edge/measure/slag_thickness.py``).

Scale: either a homography from image pixels to the measurement plane in mm (``method
"homography"``), or one isotropic factor ``mm_per_px`` (``method "mm_per_px"``, plane point =
``mm_per_px * (x, y)``). When ``scale.undistorted`` is true the scale was computed on
undistorted pixel coordinates (``cv2.undistortPoints`` with ``P = K``), and the geometry
methods undistort raw frame points before applying it.

Saving keeps one backup: the previous file is copied to ``<name>.bak`` (replacing an older
backup) before the new file is renamed into place, so the runtime or a technician can always
go back one step; one generation is enough for that and never fills the camera's disk.

Every error is a :class:`CalibrationError` whose message names the file, the field path (e.g.
``scale.homography[1][2]``) and the reason, and says what to do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration import __version__
from calibration.atomic_file import atomic_write
from calibration.polygon import polygon_area, polygon_bounds, polygon_mask, self_intersection
from calibration.scale import (
    apply_homography,
    denominators,
    direction_vector,
    image_corners,
    normalized_condition,
)

log = logging.getLogger(__name__)

__all__ = [
    "BACKUP_SUFFIX",
    "DIST_COEFF_COUNTS",
    "MAX_HOMOGRAPHY_CONDITION",
    "SCALE_METHODS",
    "SCALE_SOURCES",
    "SCHEMA",
    "Calibration",
    "CalibrationError",
    "Scale",
    "Verification",
    "backup_path",
    "format_calibration",
    "json_schema",
    "load_calibration",
    "save_calibration",
    "valid_camera_id",
    "write_json_atomic",
]

SCHEMA = "steelsight.calibration/1"
"""The calibration schema this software writes."""
SUPPORTED_SCHEMAS = (SCHEMA,)
"""The calibration schemas this software reads."""
SCHEMA_RESOURCE = "schema/calibration.schema.json"
"""The JSON Schema of the file, shipped as package data of ``calibration``."""
DEFAULT_NAME = "calibration.json"
BACKUP_SUFFIX = ".bak"
""":func:`save_calibration` keeps the previous file as ``<name>.bak``."""

SCALE_METHODS = ("homography", "mm_per_px")
SCALE_SOURCES = ("checkerboard", "reference_points", "tube_diameter", "manual")
VERDICTS = ("PASS", "FAIL")
DIST_COEFF_COUNTS = (4, 5, 8, 12, 14)
"""Lengths of the OpenCV distortion models (k1 k2 p1 p2 [k3 [k4 k5 k6 [s1..s4 [tx ty]]]])."""
_DIST_COUNTS_TEXT = ", ".join(map(str, DIST_COEFF_COUNTS[:-1])) + f" or {DIST_COEFF_COUNTS[-1]}"
MAX_HOMOGRAPHY_CONDITION = 1e6
"""Largest accepted condition number of the normalized homography (a similarity gives 1)."""
MIN_ROI_AREA_PX = 1.0
"""Smallest accepted ROI polygon area in square pixels ("non-zero", robust to rounding)."""
_SINGULAR_RATIO = 1e-12
_HORIZON_RATIO = 1e-9
_CONSISTENCY_TOL = 1e-6

_CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ISO_DATETIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
)
_TOP_KEYS = (
    "schema",
    "camera_id",
    "image_size",
    "camera_matrix",
    "dist_coeffs",
    "scale",
    "roi",
    "axis_angle_deg",
    "tube_diameter_mm",
    "verification",
    "created_at",
    "technician",
    "tool_version",
)
_SCALE_KEYS = ("method", "source", "homography", "mm_per_px", "residual_mm", "points_used", "undistorted")
_VERIFICATION_KEYS = (
    "reprojection_rms_px",
    "known_length_mm",
    "measured_length_mm",
    "error_mm",
    "error_pct",
    "tolerance_pct",
    "verdict",
)
# Which calibration step produces a field: the "what to do" part of an error message.
_STEPS = {
    "camera_matrix": "intrinsics",
    "dist_coeffs": "intrinsics",
    "scale": "scale",
    "axis_angle_deg": "scale",
    "tube_diameter_mm": "scale",
    "roi": "roi",
    "verification": "verify",
}

Matrix3 = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]


def valid_camera_id(text: str) -> bool:
    """Whether ``text`` is a valid ``camera_id`` (1-64 letters, digits, ``_ - .``, starting alphanumeric)."""
    return isinstance(text, str) and _CAMERA_ID.match(text) is not None


class CalibrationError(ValueError):
    """A calibration file or object is unusable; the message names the file, the field and the fix.

    Attributes
    ----------
    source
        The file (or what stands for it) the error is about.
    field
        The field path, e.g. ``"scale.homography[1][2]"``, or ``None`` for the whole file.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.field = field


def _advice(field_path: str | None) -> str:
    """What to do about a bad field: fix it by hand or re-run the step that writes it."""
    root = re.split(r"[.\[]", field_path, maxsplit=1)[0] if field_path else ""
    step = _STEPS.get(root)
    if step is None:
        return "Fix the file or re-run steelsight-calibrate for this camera."
    return f"Fix the file or re-run `steelsight-calibrate {step}` for this camera."


def _error(source: str, field_path: str, problem: str) -> CalibrationError:
    return CalibrationError(
        f"{source}: field '{field_path}' {problem}. {_advice(field_path)}", source=source, field=field_path
    )


def _bad(source: str, field_path: str, problem: str, value: object) -> CalibrationError:
    return _error(source, field_path, f"{problem}, got {_describe(value)}")


def _describe(value: object) -> str:
    """The value as the file shows it (tuples as JSON lists), shortened, with its type."""
    kind = type(value).__name__
    text = repr(value)
    if isinstance(value, tuple):
        kind = "list"
        with contextlib.suppress(TypeError, ValueError):
            text = json.dumps(_lists(value))
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({kind})"


# ---------------------------------------------------------------------------- normalization


def _plain(value: Any) -> Any:
    """NumPy arrays and nested lists become tuples; real numbers become ``float``; the rest stays.

    Booleans and strings are left alone so that validation can reject them with their field.
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    return value


def _plain_int(value: Any) -> Any:
    """Integral scalars (NumPy included) become ``int``; anything else is left for validation."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    return value


# ---------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class Scale:
    """How image pixels become millimetres.

    Attributes
    ----------
    method
        ``"homography"`` (image -> measurement plane in mm) or ``"mm_per_px"`` (one factor).
    source
        How the scale was obtained: ``"checkerboard"``, ``"reference_points"``,
        ``"tube_diameter"`` or ``"manual"``.
    homography
        3 x 3 image-to-plane homography (mm); set for method ``homography``, else ``None``.
    mm_per_px
        Millimetres per pixel (> 0); set for method ``mm_per_px``, else ``None``.
    residual_mm
        RMS residual of the fit on the plane (mm), or ``None``.
    points_used
        Number of points the fit used (>= 4 for a homography), or ``None``.
    undistorted
        Whether the scale was computed on undistorted image coordinates (needs K and
        distortion coefficients).
    """

    method: str
    source: str
    homography: Matrix3 | None = None
    mm_per_px: float | None = None
    residual_mm: float | None = None
    points_used: int | None = None
    undistorted: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "homography", _plain(self.homography))
        for name in ("mm_per_px", "residual_mm"):
            object.__setattr__(self, name, _plain(getattr(self, name)))
        object.__setattr__(self, "points_used", _plain_int(self.points_used))
        if isinstance(self.undistorted, np.bool_):
            object.__setattr__(self, "undistorted", bool(self.undistorted))

    def to_json(self) -> dict[str, Any]:
        """The scale as a JSON-ready dict (every key present)."""
        return {
            "method": self.method,
            "source": self.source,
            "homography": _lists(self.homography),
            "mm_per_px": self.mm_per_px,
            "residual_mm": self.residual_mm,
            "points_used": self.points_used,
            "undistorted": self.undistorted,
        }


@dataclass(frozen=True)
class Verification:
    """Results of the verification step.

    Attributes
    ----------
    reprojection_rms_px
        RMS reprojection error of the intrinsics fit (pixels, >= 0), or ``None``.
    known_length_mm
        The true length of the reference object (mm, > 0), or ``None``.
    measured_length_mm
        That length as measured through this calibration (mm, >= 0), or ``None``.
    error_mm
        ``measured_length_mm - known_length_mm`` (signed), or ``None``.
    error_pct
        ``100 * error_mm / known_length_mm`` (signed), or ``None``.
    tolerance_pct
        The accepted ``|error_pct|`` (> 0), or ``None``.
    verdict
        ``"PASS"`` when ``|error_pct| <= tolerance_pct``, ``"FAIL"`` otherwise, or ``None``
        (no known-length check).
    """

    reprojection_rms_px: float | None = None
    known_length_mm: float | None = None
    measured_length_mm: float | None = None
    error_mm: float | None = None
    error_pct: float | None = None
    tolerance_pct: float | None = None
    verdict: str | None = None

    def __post_init__(self) -> None:
        for name in _VERIFICATION_KEYS[:-1]:
            object.__setattr__(self, name, _plain(getattr(self, name)))

    @classmethod
    def from_lengths(
        cls,
        known_length_mm: float,
        measured_length_mm: float,
        tolerance_pct: float,
        reprojection_rms_px: float | None = None,
    ) -> Verification:
        """A known-length check with the error, error percentage and verdict computed.

        Parameters
        ----------
        known_length_mm
            The true length (mm, > 0).
        measured_length_mm
            The length measured through the calibration (mm).
        tolerance_pct
            The accepted absolute error in percent of the known length.
        reprojection_rms_px
            RMS reprojection error of the intrinsics, if any.

        Returns
        -------
        Verification
            With ``verdict`` ``"PASS"`` when ``|error_pct| <= tolerance_pct``.
        """
        error_mm = float(measured_length_mm) - float(known_length_mm)
        error_pct = 100.0 * error_mm / float(known_length_mm)
        return cls(
            reprojection_rms_px=reprojection_rms_px,
            known_length_mm=known_length_mm,
            measured_length_mm=measured_length_mm,
            error_mm=error_mm,
            error_pct=error_pct,
            tolerance_pct=tolerance_pct,
            verdict="PASS" if abs(error_pct) <= float(tolerance_pct) else "FAIL",
        )

    def to_json(self) -> dict[str, Any]:
        """The verification as a JSON-ready dict (every key present)."""
        return {name: getattr(self, name) for name in _VERIFICATION_KEYS}


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Calibration:
    """One camera's calibration (schema ``steelsight.calibration/1``).

    Construction only normalizes types (NumPy arrays and lists become tuples of floats);
    :meth:`validate` checks everything and runs in :meth:`from_json` and
    :func:`save_calibration`. The geometry methods assume a validated calibration.

    Attributes
    ----------
    camera_id
        The camera's id (as ``[camera] id`` in its runtime config).
    image_size
        ``(height, width)`` of the frames the calibration is for, in pixels.
    scale
        The pixel-to-mm scale.
    technician
        Who calibrated.
    camera_matrix
        OpenCV ``K = ((fx, 0, cx), (0, fy, cy), (0, 0, 1))``, or ``None``.
    dist_coeffs
        OpenCV distortion coefficients (4, 5, 8, 12 or 14), or ``None``; set exactly when
        ``camera_matrix`` is.
    roi
        The region of interest, a simple polygon of ``(x, y)`` points inside the image, or
        ``None`` (the whole image).
    axis_angle_deg
        Measurement axis angle in degrees, ``-90..90`` (0 = vertical), or ``None``.
    tube_diameter_mm
        Known outer diameter of the immersion tube (mm), or ``None``.
    verification
        Verification results, or ``None``.
    created_at
        ISO 8601 date and time with a timezone.
    tool_version
        The tool that wrote the file.
    schema
        Always :data:`SCHEMA`.
    """

    camera_id: str
    image_size: tuple[int, int]
    scale: Scale
    technician: str
    camera_matrix: Matrix3 | None = None
    dist_coeffs: tuple[float, ...] | None = None
    roi: tuple[tuple[float, float], ...] | None = None
    axis_angle_deg: float | None = None
    tube_diameter_mm: float | None = None
    verification: Verification | None = None
    created_at: str = field(default_factory=_now_iso)
    tool_version: str = f"steelsight-calibrate {__version__}"
    schema: str = SCHEMA

    def __post_init__(self) -> None:
        size = self.image_size
        if isinstance(size, np.ndarray):
            size = size.tolist()
        if isinstance(size, (list, tuple)):
            object.__setattr__(self, "image_size", tuple(_plain_int(v) for v in size))
        for name in ("camera_matrix", "dist_coeffs", "roi", "axis_angle_deg", "tube_diameter_mm"):
            object.__setattr__(self, name, _plain(getattr(self, name)))

    # ------------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        """The calibration as a JSON-ready dict: every key present, tuples as lists, stable order."""
        return {
            "schema": self.schema,
            "camera_id": self.camera_id,
            "image_size": list(self.image_size),
            "camera_matrix": _lists(self.camera_matrix),
            "dist_coeffs": _lists(self.dist_coeffs),
            "scale": self.scale.to_json() if isinstance(self.scale, Scale) else self.scale,
            "roi": _lists(self.roi),
            "axis_angle_deg": self.axis_angle_deg,
            "tube_diameter_mm": self.tube_diameter_mm,
            "verification": (
                self.verification.to_json() if isinstance(self.verification, Verification) else None
            ),
            "created_at": self.created_at,
            "technician": self.technician,
            "tool_version": self.tool_version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = DEFAULT_NAME) -> Calibration:
        """Build and validate a calibration from parsed JSON.

        Parameters
        ----------
        data
            The parsed file: a JSON object with every key of the schema.
        source
            What to call the file in error messages (usually its path).

        Returns
        -------
        Calibration
            The validated calibration.

        Raises
        ------
        CalibrationError
            Naming ``source``, the first bad field and the reason.
        """
        if not isinstance(data, Mapping):
            raise CalibrationError(
                f"{source}: a calibration file must hold a JSON object, got {type(data).__name__}. "
                f"{_advice(None)}",
                source=source,
            )
        _check_schema(data.get("schema"), source)
        _check_keys(data, _TOP_KEYS, source, "")
        scale_raw = data["scale"]
        if not isinstance(scale_raw, Mapping):
            raise _bad(source, "scale", "must be a JSON object {method, source, homography, ...}", scale_raw)
        _check_keys(scale_raw, _SCALE_KEYS, source, "scale")
        verification_raw = data["verification"]
        verification = None
        if verification_raw is not None:
            if not isinstance(verification_raw, Mapping):
                raise _bad(source, "verification", "must be a JSON object or null", verification_raw)
            _check_keys(verification_raw, _VERIFICATION_KEYS, source, "verification")
            verification = Verification(**{key: verification_raw[key] for key in _VERIFICATION_KEYS})
        calibration = cls(
            camera_id=data["camera_id"],
            image_size=data["image_size"],
            scale=Scale(**{key: scale_raw[key] for key in _SCALE_KEYS}),
            technician=data["technician"],
            camera_matrix=data["camera_matrix"],
            dist_coeffs=data["dist_coeffs"],
            roi=data["roi"],
            axis_angle_deg=data["axis_angle_deg"],
            tube_diameter_mm=data["tube_diameter_mm"],
            verification=verification,
            created_at=data["created_at"],
            tool_version=data["tool_version"],
            schema=data["schema"],
        )
        calibration.validate(source)
        return calibration

    # ------------------------------------------------------------------------ validation

    def validate(self, source: str = DEFAULT_NAME) -> None:
        """Check every field and their consistency.

        Raises
        ------
        CalibrationError
            Naming ``source``, the first bad field and the reason.
        """
        _check_schema(self.schema, source)
        if not isinstance(self.camera_id, str) or not _CAMERA_ID.match(self.camera_id):
            raise _bad(
                source,
                "camera_id",
                "must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit "
                "(the [camera] id of the runtime config)",
                self.camera_id,
            )
        size = self.image_size
        if not (isinstance(size, tuple) and len(size) == 2 and all(_is_int(v) and v > 0 for v in size)):
            raise _bad(source, "image_size", "must be [height, width] with integers > 0", size)
        height, width = size
        _check_intrinsics(self, source, height, width)
        _check_scale(self, source, height, width)
        _check_roi(self.roi, source, height, width)
        if self.axis_angle_deg is not None and not (
            _is_number(self.axis_angle_deg) and -90.0 <= self.axis_angle_deg <= 90.0
        ):
            raise _bad(
                source,
                "axis_angle_deg",
                "must be a number of degrees from -90 to 90 (0 = vertical) or null",
                self.axis_angle_deg,
            )
        _check_optional(self.tube_diameter_mm, source, "tube_diameter_mm", positive=True)
        _check_verification(self.verification, source)
        _check_created_at(self.created_at, source)
        for name in ("technician", "tool_version"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise _bad(source, name, "must be a non-empty string", value)

    # ------------------------------------------------------------------------ geometry

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return self.image_size[0]

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return self.image_size[1]

    def check_image_size(self, height: int, width: int) -> None:
        """Refuse frames of another size than the calibration's.

        Raises
        ------
        CalibrationError
            Naming both sizes as ``HxW`` and what to do.
        """
        if (int(height), int(width)) != tuple(self.image_size):
            raise CalibrationError(
                f"calibration of camera '{self.camera_id}' is for {self.height}x{self.width} (HxW) but "
                f"frames are {int(height)}x{int(width)}; recalibrate this camera or fix "
                "camera.width/height in its config",
                field="image_size",
            )

    def undistort_points(self, points_xy: np.ndarray) -> np.ndarray:
        """Undistorted pixel coordinates of raw image points (``cv2.undistortPoints`` with ``P = K``).

        Parameters
        ----------
        points_xy
            Points ``(x, y)``, shape ``(..., 2)``.

        Returns
        -------
        np.ndarray
            float64 of the same shape; a copy of the input when the calibration has no intrinsics.
        """
        pts = np.array(points_xy, dtype=np.float64)
        if self.camera_matrix is None or self.dist_coeffs is None or pts.size == 0:
            return pts
        k = np.asarray(self.camera_matrix, dtype=np.float64)
        dist = np.asarray(self.dist_coeffs, dtype=np.float64)
        out = cv2.undistortPoints(pts.reshape(-1, 1, 2), k, dist, P=k)
        return out.reshape(pts.shape).astype(np.float64)

    def image_to_plane(self, points_xy: np.ndarray, undistorted: bool = False) -> np.ndarray:
        """Map image points (pixels) to the measurement plane (mm).

        Through the homography for method ``homography``; multiplied by ``mm_per_px`` (about the
        image origin) for method ``mm_per_px``.

        Parameters
        ----------
        points_xy
            Points ``(x, y)``, shape ``(..., 2)``: raw frame pixels.
        undistorted
            ``True`` when the points are already undistorted (e.g. taken from an undistorted
            frame). Otherwise, when the scale was computed on undistorted coordinates
            (``scale.undistorted``), the points are undistorted first.

        Returns
        -------
        np.ndarray
            Plane coordinates in mm, float64 of the same shape.
        """
        pts = np.asarray(points_xy, dtype=np.float64)
        shape = pts.shape
        if shape[-1:] != (2,):
            raise ValueError(f"points must have shape (..., 2) as (x, y), got {shape}")
        if self.scale.undistorted and not undistorted:
            pts = self.undistort_points(pts)
        flat = pts.reshape(-1, 2)
        if self.scale.method == "homography":
            mapped = apply_homography(np.asarray(self.scale.homography, dtype=np.float64), flat)
        else:
            mapped = flat * float(self.scale.mm_per_px)  # type: ignore[arg-type]
        return mapped.reshape(shape)

    def length_mm(self, p0_xy: Sequence[float] | np.ndarray, p1_xy: Sequence[float] | np.ndarray) -> float:
        """Distance in mm on the measurement plane between two image points (raw frame pixels)."""
        plane = self.image_to_plane(np.array([p0_xy, p1_xy], dtype=np.float64))
        return float(np.hypot(*(plane[1] - plane[0])))

    def mm_per_px_at(
        self, point_xy: Sequence[float] | np.ndarray, direction_deg: float | None = None
    ) -> float:
        """The local scale (mm per pixel) at an image point along a direction.

        Parameters
        ----------
        point_xy
            The image point ``(x, y)`` (raw frame pixels).
        direction_deg
            Angle ``a`` of the direction ``(sin a, cos a)`` in image ``(x, y)`` (0 = down the
            image), default the measurement axis :attr:`axis_angle_deg`. When both are ``None``
            the isotropic scale ``sqrt(|det J|)`` of the local Jacobian ``J`` is returned.

        Returns
        -------
        float
            mm per pixel: the plane distance between the images of ``p - d / 2`` and
            ``p + d / 2`` for the unit direction ``d`` (a central finite difference over
            1 px). For method ``mm_per_px`` without undistortion this is exactly ``mm_per_px``.
        """
        if self.scale.method == "mm_per_px" and not self.scale.undistorted:
            return float(self.scale.mm_per_px)  # type: ignore[arg-type]
        p = np.asarray(point_xy, dtype=np.float64).reshape(2)
        angle = self.axis_angle_deg if direction_deg is None else direction_deg
        if angle is None:
            half = np.array([[0.5, 0.0], [0.0, 0.5]])
            plane = self.image_to_plane(np.stack([p - half[0], p + half[0], p - half[1], p + half[1]]))
            jx, jy = plane[1] - plane[0], plane[3] - plane[2]
            return math.sqrt(abs(float(jx[0] * jy[1] - jx[1] * jy[0])))
        d = direction_vector(float(angle))
        plane = self.image_to_plane(np.stack([p - 0.5 * d, p + 0.5 * d]))
        return float(np.hypot(*(plane[1] - plane[0])))

    def roi_bounds(self) -> tuple[int, int, int, int] | None:
        """Integer bounding box ``(x, y, w, h)`` of the ROI polygon's pixels, clipped to the image.

        ``None`` when there is no ROI (the whole image is measured).
        """
        if self.roi is None:
            return None
        return polygon_bounds(self.roi, self.height, self.width)

    def roi_mask(self) -> np.ndarray | None:
        """The ROI as a ``uint8`` ``H x W`` mask (255 inside, border pixels included; 0 outside).

        ``None`` when there is no ROI.
        """
        if self.roi is None:
            return None
        return polygon_mask(self.roi, self.height, self.width)


def _lists(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_lists(v) for v in value]
    return value


# ---------------------------------------------------------------------------- validation helpers


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_schema(schema: object, source: str) -> None:
    supported = ", ".join(f"'{s}'" for s in SUPPORTED_SCHEMAS)
    if schema is None:
        raise CalibrationError(
            f"{source}: field 'schema' is missing, so this is not a SteelSight calibration file "
            f"(this software reads schema {supported}). Write it with steelsight-calibrate.",
            source=source,
            field="schema",
        )
    if schema not in SUPPORTED_SCHEMAS:
        raise CalibrationError(
            f"{source}: field 'schema' is {schema!r}, which this software does not read (it reads "
            f"{supported}). Update the edge software to a version that reads {schema!r}, or re-run "
            f"steelsight-calibrate with a version that writes '{SCHEMA}'.",
            source=source,
            field="schema",
        )


def _check_keys(obj: Mapping[str, Any], allowed: tuple[str, ...], source: str, parent: str) -> None:
    prefix = f"{parent}." if parent else ""
    for key in allowed:
        if key not in obj:
            raise _error(
                source, f"{prefix}{key}", "is missing (every field is written; use null for 'not set')"
            )
    unknown = sorted(str(k) for k in set(obj) - set(allowed))
    if unknown:
        where = f"'{parent}'" if parent else "the file"
        others = f" (also unknown: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
        raise _error(
            source,
            f"{prefix}{unknown[0]}",
            f"is an unknown key{others}; the keys of {where} are {', '.join(allowed)} (check the spelling)",
        )


def _check_optional(value: object, source: str, name: str, positive: bool = False) -> None:
    """``None`` or a finite number, ``> 0`` when ``positive`` else ``>= 0``."""
    if value is None:
        return
    if not _is_number(value) or (value <= 0 if positive else value < 0):  # type: ignore[operator]
        what = "> 0" if positive else ">= 0"
        raise _bad(source, name, f"must be a number {what} or null", value)


def _check_matrix3(value: object, source: str, name: str) -> None:
    if not (isinstance(value, tuple) and len(value) == 3):
        raise _bad(source, name, "must be a 3x3 matrix (a list of 3 rows of 3 numbers)", value)
    for i, row in enumerate(value):
        if not (isinstance(row, tuple) and len(row) == 3):
            raise _bad(source, f"{name}[{i}]", "must be a row of 3 numbers", row)
        for j, item in enumerate(row):
            if not _is_number(item):
                raise _bad(source, f"{name}[{i}][{j}]", "must be a finite number", item)


def _check_intrinsics(cal: Calibration, source: str, height: int, width: int) -> None:
    k, dist = cal.camera_matrix, cal.dist_coeffs
    if (k is None) != (dist is None):
        missing, present = ("camera_matrix", "dist_coeffs") if k is None else ("dist_coeffs", "camera_matrix")
        raise _error(source, missing, f"is null but {present} is set; the intrinsics need both (or neither)")
    if k is None:
        return
    _check_matrix3(k, source, "camera_matrix")
    for i, j, expected in ((0, 1, 0.0), (1, 0, 0.0), (2, 0, 0.0), (2, 1, 0.0), (2, 2, 1.0)):
        if k[i][j] != expected:
            raise _bad(
                source,
                f"camera_matrix[{i}][{j}]",
                f"must be {expected:g} (K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]])",
                k[i][j],
            )
    for i, name in ((0, "fx"), (1, "fy")):
        if k[i][i] <= 0:
            raise _bad(source, f"camera_matrix[{i}][{i}]", f"({name}) must be > 0 pixels", k[i][i])
    for i, name, limit in ((0, "cx", width - 1), (1, "cy", height - 1)):
        if not 0.0 <= k[i][2] <= limit:
            raise _bad(
                source,
                f"camera_matrix[{i}][2]",
                f"({name}) puts the principal point outside the {height}x{width} (HxW) image "
                f"(must be 0..{limit})",
                k[i][2],
            )
    if not (isinstance(dist, tuple) and len(dist) in DIST_COEFF_COUNTS):
        raise _bad(
            source,
            "dist_coeffs",
            f"must be a list of {_DIST_COUNTS_TEXT} numbers (an OpenCV distortion model)",
            dist,
        )
    for i, item in enumerate(dist):
        if not _is_number(item):
            raise _bad(source, f"dist_coeffs[{i}]", "must be a finite number", item)


def _check_homography(h: Matrix3, source: str, height: int, width: int) -> None:
    name = "scale.homography"
    _check_matrix3(h, source, name)
    m = np.asarray(h, dtype=np.float64)
    sv = np.linalg.svd(m, compute_uv=False)
    det = float(np.linalg.det(m))
    if sv[0] == 0.0 or sv[-1] <= _SINGULAR_RATIO * sv[0] or det == 0.0:
        raise _error(
            source,
            name,
            f"is singular (determinant {det:.3g}), so it cannot map the image onto the measurement "
            "plane; fit it again from at least 4 non-collinear reference points",
        )
    w = denominators(m, image_corners(height, width))
    if not (np.all(w > 0) or np.all(w < 0)) or np.min(np.abs(w)) <= _HORIZON_RATIO * np.max(np.abs(w)):
        raise _error(
            source,
            name,
            "sends part of the image to infinity (the plane's vanishing line crosses the "
            f"{height}x{width} image); the reference points do not lie on one plane seen by this camera",
        )
    cond = normalized_condition(m, height, width)
    if not cond <= MAX_HOMOGRAPHY_CONDITION:
        raise _error(
            source,
            name,
            f"is ill-conditioned (normalized condition number {cond:.3g} > {MAX_HOMOGRAPHY_CONDITION:g}); "
            "spread the reference points over the measured area and fit it again",
        )


def _check_scale(cal: Calibration, source: str, height: int, width: int) -> None:
    scale = cal.scale
    if not isinstance(scale, Scale):
        raise _bad(source, "scale", "must be an object {method, source, homography, mm_per_px, ...}", scale)
    if scale.method not in SCALE_METHODS:
        raise _bad(
            source, "scale.method", f"must be one of {', '.join(map(repr, SCALE_METHODS))}", scale.method
        )
    if scale.source not in SCALE_SOURCES:
        raise _bad(
            source, "scale.source", f"must be one of {', '.join(map(repr, SCALE_SOURCES))}", scale.source
        )
    if not isinstance(scale.undistorted, bool):
        raise _bad(source, "scale.undistorted", "must be true or false", scale.undistorted)
    if scale.method == "homography":
        if scale.homography is None:
            raise _error(source, "scale.homography", "is required when scale.method is 'homography'")
        if scale.mm_per_px is not None:
            raise _bad(
                source, "scale.mm_per_px", "must be null when scale.method is 'homography'", scale.mm_per_px
            )
        _check_homography(scale.homography, source, height, width)
    else:
        if scale.mm_per_px is None:
            raise _error(source, "scale.mm_per_px", "is required when scale.method is 'mm_per_px'")
        if scale.homography is not None:
            raise _bad(
                source, "scale.homography", "must be null when scale.method is 'mm_per_px'", scale.homography
            )
        _check_optional(scale.mm_per_px, source, "scale.mm_per_px", positive=True)
    _check_optional(scale.residual_mm, source, "scale.residual_mm")
    if scale.points_used is not None:
        least = 4 if scale.method == "homography" else 1
        if not _is_int(scale.points_used) or scale.points_used < least:
            raise _bad(
                source,
                "scale.points_used",
                f"must be an integer >= {least} for method '{scale.method}' or null",
                scale.points_used,
            )
    if scale.source == "tube_diameter":
        if scale.method != "mm_per_px":
            raise _bad(
                source,
                "scale.method",
                "must be 'mm_per_px' when the scale comes from the tube diameter",
                scale.method,
            )
        if cal.tube_diameter_mm is None:
            raise _error(source, "tube_diameter_mm", "is required when scale.source is 'tube_diameter'")
    if scale.undistorted and cal.camera_matrix is None:
        raise _error(
            source,
            "scale.undistorted",
            "is true but the file has no camera_matrix/dist_coeffs to undistort with",
        )


def _check_roi(roi: object, source: str, height: int, width: int) -> None:
    if roi is None:
        return
    if not isinstance(roi, tuple) or len(roi) < 3:
        raise _bad(source, "roi", "must be a polygon of at least 3 [x, y] points or null", roi)
    for i, point in enumerate(roi):
        if not (isinstance(point, tuple) and len(point) == 2 and all(_is_number(v) for v in point)):
            raise _bad(source, f"roi[{i}]", "must be an [x, y] point of 2 numbers", point)
        x, y = point
        if not (0.0 <= x <= width - 1 and 0.0 <= y <= height - 1):
            raise _bad(
                source,
                f"roi[{i}]",
                f"lies outside the {height}x{width} (HxW) image "
                f"(x must be 0..{width - 1}, y 0..{height - 1})",
                list(point),
            )
    problem = self_intersection(roi)  # type: ignore[arg-type]
    if problem is not None:
        raise _error(source, "roi", f"must be a simple polygon, but {problem}")
    area = polygon_area(roi)  # type: ignore[arg-type]
    if area < MIN_ROI_AREA_PX:
        raise _error(
            source, "roi", f"has an area of {area:.3g} px^2 (its points are collinear); draw a real region"
        )


def _close(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= _CONSISTENCY_TOL * max(1.0, abs(scale))


def _check_verification(ver: object, source: str) -> None:
    if ver is None:
        return
    if not isinstance(ver, Verification):
        raise _bad(source, "verification", "must be an object {reprojection_rms_px, ...} or null", ver)
    _check_optional(ver.reprojection_rms_px, source, "verification.reprojection_rms_px")
    _check_optional(ver.known_length_mm, source, "verification.known_length_mm", positive=True)
    _check_optional(ver.measured_length_mm, source, "verification.measured_length_mm")
    _check_optional(ver.tolerance_pct, source, "verification.tolerance_pct", positive=True)
    for name in ("error_mm", "error_pct"):
        value = getattr(ver, name)
        if value is not None and not _is_number(value):
            raise _bad(source, f"verification.{name}", "must be a finite number or null", value)
    if ver.verdict is not None and ver.verdict not in VERDICTS:
        raise _bad(source, "verification.verdict", "must be 'PASS', 'FAIL' or null", ver.verdict)
    lengths = (ver.known_length_mm, ver.measured_length_mm)
    errors = (ver.error_mm, ver.error_pct)
    if (lengths[0] is None) != (lengths[1] is None):
        name = "known_length_mm" if lengths[0] is None else "measured_length_mm"
        raise _error(
            source, f"verification.{name}", "is null but the other length is set; a length check needs both"
        )
    for name, value in zip(("error_mm", "error_pct"), errors, strict=True):
        if (value is None) != (lengths[0] is None):
            need = "set" if value is None else "null"
            raise _bad(
                source,
                f"verification.{name}",
                f"must be {need} when known_length_mm and measured_length_mm are "
                f"{'set' if lengths[0] is not None else 'null'}",
                value,
            )
    if lengths[0] is not None:
        known, measured = float(lengths[0]), float(lengths[1])  # type: ignore[arg-type]
        expected_mm = measured - known
        if not _close(float(ver.error_mm), expected_mm, known):  # type: ignore[arg-type]
            raise _bad(
                source,
                "verification.error_mm",
                f"must be measured_length_mm - known_length_mm = {expected_mm:.6g}",
                ver.error_mm,
            )
        expected_pct = 100.0 * expected_mm / known
        if not _close(float(ver.error_pct), expected_pct, 100.0):  # type: ignore[arg-type]
            raise _bad(
                source,
                "verification.error_pct",
                f"must be 100 * error_mm / known_length_mm = {expected_pct:.6g}",
                ver.error_pct,
            )
    if ver.verdict is not None:
        if ver.error_pct is None or ver.tolerance_pct is None:
            raise _error(
                source,
                "verification.verdict",
                "is set but the known-length check (error_pct, tolerance_pct) is not; "
                "set them or make it null",
            )
        expected = "PASS" if abs(float(ver.error_pct)) <= float(ver.tolerance_pct) else "FAIL"
        if ver.verdict != expected:
            raise _bad(
                source,
                "verification.verdict",
                f"must be {expected!r}: |error_pct| {abs(float(ver.error_pct)):.3g} "
                f"{'<=' if expected == 'PASS' else '>'} tolerance_pct {float(ver.tolerance_pct):.3g}",
                ver.verdict,
            )


def _check_created_at(value: object, source: str) -> None:
    problem = "must be an ISO 8601 date and time with a timezone, e.g. '2025-03-01T14:05:00+00:00'"
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        raise _bad(source, "created_at", problem, value)
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _bad(source, "created_at", f"{problem} ({exc})", value) from exc
    if stamp.tzinfo is None:
        raise _bad(source, "created_at", problem, value)


# ---------------------------------------------------------------------------- files


def _reject_constant(name: str) -> float:
    raise ValueError(f"'{name}' is not valid JSON (strict JSON has no NaN or infinity)")


def load_calibration(path: str | os.PathLike[str]) -> Calibration:
    """Read and validate a calibration file.

    Parameters
    ----------
    path
        The JSON file.

    Returns
    -------
    Calibration
        The validated calibration.

    Raises
    ------
    CalibrationError
        Naming the path when the file is missing or unreadable, not valid JSON, of another
        schema version, or fails validation (then also naming the field).
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise CalibrationError(
            f"{source}: calibration file not found. Run steelsight-calibrate for this camera, or fix "
            "measure.calibration in the camera config.",
            source=source,
        )
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except OSError as exc:
        raise CalibrationError(f"{source}: cannot read the calibration file ({exc}).", source=source) from exc
    except UnicodeDecodeError as exc:
        raise CalibrationError(f"{source}: not UTF-8 text ({exc}). {_advice(None)}", source=source) from exc
    except json.JSONDecodeError as exc:
        raise CalibrationError(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}). "
            f"Restore {backup_path(path).name} or re-run steelsight-calibrate for this camera.",
            source=source,
        ) from exc
    except ValueError as exc:  # NaN / Infinity
        raise CalibrationError(f"{source}: {exc}. {_advice(None)}", source=source) from exc
    return Calibration.from_json(data, source=source)


def backup_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`save_calibration` keeps the previous file: ``<name>.bak`` next to it."""
    path = Path(path)
    return path.with_name(path.name + BACKUP_SUFFIX)


def write_json_atomic(path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    """Write a JSON object to ``path`` atomically (temporary file, fsync, rename), creating the folder.

    Used for the files that accompany a calibration (pending intrinsics, verification summaries),
    so that they too are never seen half-written. No backup is kept.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    atomic_write(path, (json.dumps(data, indent=2, allow_nan=False) + "\n").encode("utf-8"))
    return path


def save_calibration(cal: Calibration, path: str | os.PathLike[str], keep_backup: bool = True) -> Path:
    """Validate ``cal`` and write it to ``path`` atomically.

    The JSON goes to a temporary file in the same folder, is flushed and fsynced, and renamed
    over ``path``, so a reader (or a power cut) never sees a partial file. Nothing is written
    when validation fails. With ``keep_backup`` the previous file, whatever it holds, is first
    copied (atomically as well) to :func:`backup_path` ``<name>.bak``, replacing an older backup;
    when the new content equals the old one the backup is left alone, so saving twice does not
    lose the previous calibration.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    CalibrationError
        When ``cal`` is invalid (naming ``path`` and the field).
    """
    path = Path(path)
    cal.validate(str(path))
    data = (json.dumps(cal.to_json(), indent=2, allow_nan=False) + "\n").encode("utf-8")
    if keep_backup and path.is_file():
        old = path.read_bytes()
        if old != data:
            atomic_write(backup_path(path), old)
            log.info("kept the previous calibration as %s", backup_path(path))
    atomic_write(path, data)
    log.info("wrote calibration of camera %s to %s", cal.camera_id, path)
    return path


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the calibration file shipped with this package."""
    text = resources.files("calibration").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


def _fmt(value: float | None, unit: str = "", digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}{unit}"


def format_calibration(cal: Calibration) -> str:
    """A human summary of a calibration (several lines), e.g. for ``steelsight-calibrate show``."""
    height, width = cal.image_size
    lines = [
        f"camera {cal.camera_id}: {height}x{width} (HxW), calibrated {cal.created_at} by {cal.technician} "
        f"({cal.tool_version})",
    ]
    if cal.camera_matrix is None:
        lines.append("intrinsics: none")
    else:
        k = cal.camera_matrix
        lines.append(
            f"intrinsics: fx {k[0][0]:.1f} fy {k[1][1]:.1f} cx {k[0][2]:.1f} cy {k[1][2]:.1f} px, "
            f"{len(cal.dist_coeffs or ())} distortion coefficients"
        )
    scale = cal.scale
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    local = cal.mm_per_px_at(centre)
    along = "along the axis" if cal.axis_angle_deg is not None else "isotropic"
    lines.append(
        f"scale: {scale.method} from {scale.source}, {local:.5g} mm/px at the image centre ({along}), "
        f"residual {_fmt(scale.residual_mm, ' mm')}, points {scale.points_used or '-'}, "
        f"{'undistorted' if scale.undistorted else 'raw'} coordinates"
    )
    bounds = cal.roi_bounds()
    lines.append(
        "roi: whole image"
        if cal.roi is None or bounds is None
        else f"roi: {len(cal.roi)} points, bounding box (x, y, w, h) {bounds}"
    )
    lines.append(
        f"axis angle: {_fmt(cal.axis_angle_deg, ' deg')}, tube diameter: {_fmt(cal.tube_diameter_mm, ' mm')}"
    )
    ver = cal.verification
    if ver is None:
        lines.append("verification: none")
    else:
        lines.append(
            f"verification: {ver.verdict or '-'}; reprojection RMS {_fmt(ver.reprojection_rms_px, ' px')}, "
            f"known {_fmt(ver.known_length_mm, ' mm')} measured {_fmt(ver.measured_length_mm, ' mm')} "
            f"error {_fmt(ver.error_mm, ' mm')} ({_fmt(ver.error_pct, ' %')}, tolerance "
            f"{_fmt(ver.tolerance_pct, ' %')})"
        )
    return "\n".join(lines)
