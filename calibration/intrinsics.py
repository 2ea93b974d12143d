"""The intrinsics step: camera matrix and distortion from board views, and the pending-intrinsics file.

:func:`calibrate_views` screens the views (:mod:`calibration.views`), runs
``cv2.calibrateCameraExtended`` on the usable ones and reports the overall and per-view RMS
reprojection error, the standard deviations of ``fx, fy, cx, cy``, which views to retake and
which parts of the image no view covered.

The calibration file needs a scale, which the intrinsics step cannot know. So when the target
calibration file does not exist yet, the result goes to a *pending-intrinsics* file beside it,
``<name>.intrinsics.json`` (schema ``steelsight.intrinsics/1``), which the edge runtime never
reads; the ``scale`` step picks it up and writes the real calibration file. When the
calibration file exists, the intrinsics step updates its camera matrix and distortion in place
(see :mod:`calibration.store`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration import __version__
from calibration.calibration_file import Calibration, CalibrationError, Scale, write_json_atomic
from calibration.detect import BoardSpec
from calibration.errors import InputError
from calibration.settings import Settings
from calibration.views import View, screen_views

__all__ = [
    "INTRINSICS_SCHEMA",
    "IntrinsicsResult",
    "PendingIntrinsics",
    "ViewError",
    "calibrate_views",
    "load_pending",
    "pending_path",
]

log = logging.getLogger(__name__)

INTRINSICS_SCHEMA = "steelsight.intrinsics/1"
_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
_REGIONS = (
    ("top-left", "top", "top-right"),
    ("left", "centre", "right"),
    ("bottom-left", "bottom", "bottom-right"),
)


@dataclass(frozen=True)
class ViewError:
    """One usable view's fit: its RMS reprojection error (px) and number of corners."""

    name: str
    rms_px: float
    points: int
    sharpness: float


@dataclass(frozen=True)
class IntrinsicsResult:
    """The outcome of the intrinsics step.

    Attributes
    ----------
    image_size
        ``(height, width)``.
    camera_matrix
        ``K`` (3 x 3).
    dist_coeffs
        Distortion coefficients (5, or 8 with the rational model).
    rms_px
        Overall RMS reprojection error (px).
    std
        Standard deviations of ``(fx, fy, cx, cy)`` (px).
    views
        Per-view errors of the views used.
    rejected
        ``(name, reason)`` of the views not used.
    retake
        Names of the views whose RMS exceeds the retake threshold.
    uncovered
        Image regions (of a 3 x 3 grid) where no view had a corner.
    board
        The board's description.
    passed
        Whether the overall RMS is within the settings' ``max_rms_px``.
    """

    image_size: tuple[int, int]
    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray
    rms_px: float
    std: tuple[float, float, float, float]
    views: tuple[ViewError, ...]
    rejected: tuple[tuple[str, str], ...]
    retake: tuple[str, ...]
    uncovered: tuple[str, ...]
    board: str
    passed: bool


def _uncovered(points: Sequence[np.ndarray], height: int, width: int) -> tuple[str, ...]:
    hit = np.zeros((3, 3), dtype=bool)
    for pts in points:
        col = np.clip((pts[:, 0] * 3 // width).astype(int), 0, 2)
        row = np.clip((pts[:, 1] * 3 // height).astype(int), 0, 2)
        hit[row, col] = True
    return tuple(_REGIONS[r][c] for r in range(3) for c in range(3) if not hit[r, c])


def calibrate_views(
    views: Sequence[View],
    spec: BoardSpec,
    settings: Settings,
    rational: bool = False,
    source: str = "--images",
) -> IntrinsicsResult:
    """Calibrate the camera from board views.

    Parameters
    ----------
    views
        The views (all of one size; see :func:`calibration.views.load_views`).
    spec
        The board.
    settings
        Thresholds: blur, duplicates, fewest views, retake and pass RMS.
    rational
        Fit the 8-coefficient rational distortion model (wide-angle lenses) instead of 5.
    source
        What to call the views in errors (the folder or the camera URI).

    Returns
    -------
    IntrinsicsResult
        Also when the overall RMS is too large (``passed`` false): the caller decides.

    Raises
    ------
    InputError
        When no view shows the board (saying which pattern size does, if one nearby does) or
        fewer than ``settings.min_views`` views are usable (listing the rejected ones and why).
    """
    if not views:
        raise InputError(source, "no views to calibrate from")
    screened = screen_views(views, spec, settings.blur_threshold, settings.duplicate_px)
    rejected = tuple(screened.rejected)
    if not screened.accepted:
        if screened.suggested_pattern is not None:
            cols, rows = screened.suggested_pattern
            raise InputError(
                "--pattern",
                f"no {spec.cols}x{spec.rows} checkerboard in any of the {len(views)} images of {source}, "
                f"but a {cols}x{rows} one is there: pass --pattern {cols}x{rows} (count the inner corners, "
                "where four squares meet, not the squares)",
            )
        raise InputError(
            source,
            f"no {spec.describe()} found in any of the {len(views)} images: check that the whole board is "
            "in view, sharp and evenly lit, and that --pattern gives its inner corners (a board of 10x7 "
            "squares has 9x6)",
        )
    if len(screened.accepted) < settings.min_views:
        detail = "; ".join(f"{name}: {reason}" for name, reason in rejected) or "none rejected"
        raise InputError(
            source,
            f"only {len(screened.accepted)} usable view(s) of {len(views)}, at least {settings.min_views} "
            f"are needed (rejected: {detail}). Take more views: the board at different angles (up to about "
            "45 degrees) and positions, reaching the corners of the image",
        )
    height, width = views[0].size
    object_points = [det.object_points.astype(np.float32) for _, det, _ in screened.accepted]
    image_points = [det.image_points.astype(np.float32).reshape(-1, 1, 2) for _, det, _ in screened.accepted]
    flags = cv2.CALIB_RATIONAL_MODEL if rational else 0
    rms, k, dist, _, _, std_intrinsics, _, per_view = cv2.calibrateCameraExtended(
        object_points, image_points, (width, height), None, None, flags=flags, criteria=_CRITERIA
    )
    count = 8 if rational else 5
    dist = np.asarray(dist, np.float64).ravel()[:count]
    per_view = np.asarray(per_view, np.float64).ravel()
    std = np.asarray(std_intrinsics, np.float64).ravel()
    view_errors = tuple(
        ViewError(name, float(err), len(det.image_points), float(sharp))
        for (name, det, sharp), err in zip(screened.accepted, per_view, strict=True)
    )
    retake = tuple(v.name for v in view_errors if v.rms_px > settings.retake_rms_px)
    uncovered = _uncovered([det.image_points for _, det, _ in screened.accepted], height, width)
    log.info(
        "intrinsics from %d views: fx %.2f fy %.2f cx %.2f cy %.2f, RMS %.3f px",
        len(view_errors),
        k[0, 0],
        k[1, 1],
        k[0, 2],
        k[1, 2],
        rms,
    )
    return IntrinsicsResult(
        image_size=(height, width),
        camera_matrix=np.asarray(k, np.float64),
        dist_coeffs=dist,
        rms_px=float(rms),
        std=(float(std[0]), float(std[1]), float(std[2]), float(std[3])),
        views=view_errors,
        rejected=rejected,
        retake=retake,
        uncovered=uncovered,
        board=spec.describe(),
        passed=float(rms) <= settings.max_rms_px,
    )


def pending_path(calibration_path: str | Path) -> Path:
    """The pending-intrinsics file of a calibration file: ``<stem>.intrinsics.json`` beside it."""
    path = Path(calibration_path)
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(f"{stem}.intrinsics.json")


@dataclass(frozen=True)
class PendingIntrinsics:
    """Intrinsics waiting for a scale (schema ``steelsight.intrinsics/1``).

    Attributes
    ----------
    camera_id, image_size, camera_matrix, dist_coeffs, technician, created_at
        As in the calibration file.
    reprojection_rms_px
        Overall RMS reprojection error (px).
    board
        The board the views showed.
    views
        ``{name: rms_px}`` of the views used.
    tool_version
        The tool that wrote it.
    """

    camera_id: str
    image_size: tuple[int, int]
    camera_matrix: tuple[tuple[float, ...], ...]
    dist_coeffs: tuple[float, ...]
    reprojection_rms_px: float
    technician: str
    created_at: str
    board: str
    views: dict[str, float]
    tool_version: str = f"steelsight-calibrate {__version__}"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict with ``schema``."""
        return {
            "schema": INTRINSICS_SCHEMA,
            "camera_id": self.camera_id,
            "image_size": list(self.image_size),
            "camera_matrix": [list(row) for row in self.camera_matrix],
            "dist_coeffs": list(self.dist_coeffs),
            "reprojection_rms_px": self.reprojection_rms_px,
            "board": self.board,
            "views": dict(self.views),
            "created_at": self.created_at,
            "technician": self.technician,
            "tool_version": self.tool_version,
        }

    def as_calibration(self, scale: Scale) -> Calibration:
        """A calibration with these intrinsics and ``scale`` (not validated)."""
        return Calibration(
            camera_id=self.camera_id,
            image_size=self.image_size,
            scale=scale,
            technician=self.technician,
            camera_matrix=self.camera_matrix,
            dist_coeffs=self.dist_coeffs,
        )

    def save(self, path: str | Path) -> Path:
        """Validate and write atomically.

        Raises
        ------
        CalibrationError
            Naming the file and the bad field.
        """
        _validate(self, str(path))
        return write_json_atomic(path, self.to_json())


_PENDING_KEYS = (
    "schema",
    "camera_id",
    "image_size",
    "camera_matrix",
    "dist_coeffs",
    "reprojection_rms_px",
    "board",
    "views",
    "created_at",
    "technician",
    "tool_version",
)
_PLACEHOLDER_SCALE = Scale(method="mm_per_px", source="manual", mm_per_px=1.0)


def _validate(pending: PendingIntrinsics, source: str) -> None:
    """Run the calibration file's checks on the shared fields (the placeholder scale is always valid)."""
    calibration = pending.as_calibration(_PLACEHOLDER_SCALE)
    replace(calibration, created_at=pending.created_at, tool_version=pending.tool_version).validate(source)
    rms = pending.reprojection_rms_px
    if not (isinstance(rms, (int, float)) and not isinstance(rms, bool) and np.isfinite(rms) and rms >= 0):
        raise CalibrationError(
            f"{source}: field 'reprojection_rms_px' must be a number >= 0, got {rms!r}. Re-run "
            "`steelsight-calibrate intrinsics` for this camera.",
            source=source,
            field="reprojection_rms_px",
        )


def load_pending(path: str | Path) -> PendingIntrinsics:
    """Read and validate a pending-intrinsics file.

    Raises
    ------
    CalibrationError
        Naming the file (and field) when it is unreadable, of another schema, or invalid.
    """
    source = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(
            f"{source}: cannot read the pending intrinsics ({exc}). Re-run `steelsight-calibrate "
            "intrinsics`.",
            source=source,
        ) from exc
    if not isinstance(data, Mapping) or data.get("schema") != INTRINSICS_SCHEMA:
        found = data.get("schema") if isinstance(data, Mapping) else type(data).__name__
        raise CalibrationError(
            f"{source}: not a pending-intrinsics file (schema {found!r}, expected {INTRINSICS_SCHEMA!r}). "
            "Re-run `steelsight-calibrate intrinsics`.",
            source=source,
            field="schema",
        )
    missing = [key for key in _PENDING_KEYS if key not in data]
    if missing:
        raise CalibrationError(
            f"{source}: field '{missing[0]}' is missing. Re-run `steelsight-calibrate intrinsics`.",
            source=source,
            field=missing[0],
        )
    views = data["views"] if isinstance(data["views"], Mapping) else {}
    try:
        pending = PendingIntrinsics(
            camera_id=data["camera_id"],
            image_size=tuple(data["image_size"]),
            camera_matrix=tuple(tuple(row) for row in data["camera_matrix"]),
            dist_coeffs=tuple(data["dist_coeffs"]),
            reprojection_rms_px=data["reprojection_rms_px"],
            technician=data["technician"],
            created_at=data["created_at"],
            board=str(data["board"]),
            views={str(k): float(v) for k, v in views.items()},
            tool_version=data["tool_version"],
        )
    except (TypeError, ValueError) as exc:
        raise CalibrationError(
            f"{source}: malformed pending intrinsics ({exc}). Re-run `steelsight-calibrate intrinsics`.",
            source=source,
        ) from exc
    _validate(pending, source)
    return pending
