"""How each step changes the calibration file: what it keeps, what it replaces, what it invalidates.

- ``intrinsics``: when the calibration file exists, its camera matrix and distortion are replaced
  and everything else is kept (the scale, ROI and axis); the known-length check is cleared
  because it was made with the old intrinsics. When it does not exist, the result goes to the
  pending-intrinsics file ``<name>.intrinsics.json`` (:mod:`calibration.intrinsics`), because a
  calibration file must have a scale.
- ``scale``: creates the calibration file (with the pending intrinsics when there are any) or
  replaces the scale of the existing one; clears the known-length check.
- ``roi``: sets the ROI and/or axis angle of an existing file.
- ``verify``: writes the verification block.

Every write goes through :func:`calibration.calibration_file.save_calibration`: validated,
atomic, previous file kept as ``<name>.bak``.
"""

from __future__ import annotations

import getpass
import logging
import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from calibration import __version__
from calibration.calibration_file import (
    Calibration,
    Verification,
    load_calibration,
    save_calibration,
    valid_camera_id,
)
from calibration.errors import InputError
from calibration.geometry import Intrinsics, calibration_intrinsics
from calibration.intrinsics import IntrinsicsResult, PendingIntrinsics, load_pending, pending_path
from calibration.scale_step import ScaleResult

__all__ = [
    "Target",
    "default_technician",
    "load_target",
    "require_calibration",
    "save_intrinsics",
    "save_roi",
    "save_scale",
    "save_verification",
]

log = logging.getLogger(__name__)

TOOL_VERSION = f"steelsight-calibrate {__version__}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def default_technician() -> str:
    """``$STEELSIGHT_TECHNICIAN``, else the login name, else ``"unknown"``."""
    name = os.environ.get("STEELSIGHT_TECHNICIAN", "").strip()
    if name:
        return name
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError):  # no login name in a container
        return "unknown"


@dataclass(frozen=True)
class Target:
    """The calibration file a step works on, and what is there already.

    Attributes
    ----------
    path
        The calibration file.
    existing
        Its validated content, or ``None`` when it does not exist yet.
    pending
        The pending intrinsics beside it (only looked at when the file does not exist).
    """

    path: Path
    existing: Calibration | None
    pending: PendingIntrinsics | None

    @property
    def intrinsics(self) -> Intrinsics | None:
        """``(K, dist)`` from the file, else from the pending intrinsics, else ``None``."""
        if self.existing is not None:
            return calibration_intrinsics(self.existing)
        if self.pending is not None:
            return np.asarray(self.pending.camera_matrix), np.asarray(self.pending.dist_coeffs)
        return None

    @property
    def image_size(self) -> tuple[int, int] | None:
        """``(height, width)`` known from the file or the pending intrinsics."""
        if self.existing is not None:
            return self.existing.image_size
        if self.pending is not None:
            return self.pending.image_size
        return None

    def intrinsics_source(self) -> str:
        """Where the intrinsics come from, for the technician."""
        if self.existing is not None:
            return f"{self.path.name}" if self.existing.camera_matrix is not None else "none (raw pixels)"
        if self.pending is not None:
            return f"{pending_path(self.path).name} (from {self.pending.created_at})"
        return "none (raw pixels; run `intrinsics` first for a lens with distortion)"


def load_target(path: str | Path) -> Target:
    """Load the calibration file if it exists, else the pending intrinsics if they exist.

    Raises
    ------
    CalibrationError
        When an existing file is invalid (naming it and the field).
    """
    path = Path(path)
    if path.exists():
        return Target(path, load_calibration(path), None)
    pending = pending_path(path)
    return Target(path, None, load_pending(pending) if pending.is_file() else None)


def require_calibration(path: str | Path, step: str) -> Calibration:
    """The existing calibration file for a step that needs one.

    Raises
    ------
    InputError
        When the file does not exist: the scale step makes it.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(
            str(path),
            f"calibration file not found; `{step}` works on an existing file: run `steelsight-calibrate "
            f"scale --out {path} ...` first (after `intrinsics`), or fix the path",
        )
    return load_calibration(path)


def _check_camera_id(camera_id: str | None, existing: str | None, path: Path) -> None:
    if camera_id is not None and not valid_camera_id(camera_id):
        raise InputError(
            "--camera-id",
            f"{camera_id!r} must be 1-64 letters, digits, '_', '-' or '.' (the [camera] id of the runtime "
            "config)",
        )
    if camera_id is not None and existing is not None and camera_id != existing:
        raise InputError(
            "--camera-id",
            f"{path} belongs to camera {existing!r}, not {camera_id!r}: use that camera's file or another "
            "--out",
        )


def _new_camera_id(camera_id: str | None, path: Path) -> str:
    if camera_id is not None:
        return camera_id
    stem = path.name.split(".")[0]
    if valid_camera_id(stem):
        return stem
    raise InputError(
        "--camera-id", f"needed: the file name {path.name!r} is not a camera id; pass --camera-id ID"
    )


def save_intrinsics(
    result: IntrinsicsResult, path: str | Path, camera_id: str | None, technician: str | None
) -> tuple[Path, list[str]]:
    """Store the intrinsics: into the existing calibration file, or as pending intrinsics.

    Returns
    -------
    tuple[Path, list[str]]
        The file written and notes for the technician (what to run next).

    Raises
    ------
    InputError
        When the existing file is for another image size or camera.
    """
    path = Path(path)
    target = load_target(path)
    k = tuple(tuple(float(v) for v in row) for row in result.camera_matrix)
    dist = tuple(float(v) for v in result.dist_coeffs)
    height, width = result.image_size
    if target.existing is not None:
        cal = target.existing
        _check_camera_id(camera_id, cal.camera_id, path)
        if tuple(cal.image_size) != (height, width):
            raise InputError(
                str(path),
                f"is for {cal.height}x{cal.width} (HxW) frames but the views are {height}x{width}: "
                "calibrate this resolution into a new file (another --out), or capture the views at the "
                "file's resolution",
            )
        updated = replace(
            cal,
            camera_matrix=k,
            dist_coeffs=dist,
            verification=Verification(reprojection_rms_px=result.rms_px),
            technician=technician or cal.technician,
            created_at=_now(),
            tool_version=TOOL_VERSION,
        )
        save_calibration(updated, path)
        notes = [
            f"updated the intrinsics of {path} (scale, ROI and axis kept; previous file kept as "
            f"{path.name}.bak)",
            "the scale and the last verification were made with the old intrinsics: run `scale` and "
            "`verify` again",
        ]
        return path, notes
    _check_camera_id(camera_id, None, path)
    pending = PendingIntrinsics(
        camera_id=_new_camera_id(camera_id, path),
        image_size=(height, width),
        camera_matrix=k,
        dist_coeffs=dist,
        reprojection_rms_px=result.rms_px,
        technician=technician or default_technician(),
        created_at=_now(),
        board=result.board,
        views={v.name: round(v.rms_px, 4) for v in result.views},
    )
    written = pending.save(pending_path(path))
    notes = [
        f"{path.name} does not exist yet and a calibration file needs a scale: the intrinsics wait in "
        f"{written.name}",
        f"next: steelsight-calibrate scale --out {path} (--board IMAGE | --points ... | --tube-diameter-mm "
        "D --image IMAGE)",
    ]
    return written, notes


def save_scale(
    result: ScaleResult,
    target: Target,
    image_size: tuple[int, int],
    camera_id: str | None,
    technician: str | None,
) -> tuple[Calibration, list[str]]:
    """Create the calibration file with this scale, or replace the scale of the existing one.

    ``target`` is what :func:`load_target` found at the file. The axis angle the tube method found
    is stored when the file has none yet. Returns the calibration written and notes for the technician.

    Raises
    ------
    InputError
        When the image size differs from the file's or the pending intrinsics', or the camera id.
    CalibrationError
        When the result would make an invalid file (e.g. an ill-conditioned homography).
    """
    path = target.path
    known = target.image_size
    if known is not None and tuple(known) != tuple(image_size):
        where = path.name if target.existing is not None else pending_path(path).name
        raise InputError(
            "--image" if result.scale.source != "checkerboard" else "--board",
            f"the image is {image_size[0]}x{image_size[1]} (HxW) but {where} is for {known[0]}x{known[1]}: "
            "use an image from this camera at the resolution it measures at",
        )
    axis = target.existing.axis_angle_deg if target.existing is not None else None
    axis_from_tube = axis is None and result.axis_angle_deg is not None
    if axis_from_tube:
        axis = round(result.axis_angle_deg, 3)
    if target.existing is not None:
        cal = target.existing
        _check_camera_id(camera_id, cal.camera_id, path)
        rms = cal.verification.reprojection_rms_px if cal.verification is not None else None
        cal = replace(
            cal,
            scale=result.scale,
            tube_diameter_mm=result.tube_diameter_mm
            if result.tube_diameter_mm is not None
            else cal.tube_diameter_mm,
            axis_angle_deg=axis,
            verification=Verification(reprojection_rms_px=rms) if rms is not None else None,
            technician=technician or cal.technician,
            created_at=_now(),
            tool_version=TOOL_VERSION,
        )
        save_calibration(cal, path)
        notes = [f"replaced the scale of {path} (previous file kept as {path.name}.bak)"]
    else:
        _check_camera_id(camera_id, target.pending.camera_id if target.pending else None, path)
        pending = target.pending
        cal = Calibration(
            camera_id=pending.camera_id if pending is not None else _new_camera_id(camera_id, path),
            image_size=tuple(image_size),
            scale=result.scale,
            technician=technician or (pending.technician if pending is not None else default_technician()),
            camera_matrix=pending.camera_matrix if pending is not None else None,
            dist_coeffs=pending.dist_coeffs if pending is not None else None,
            axis_angle_deg=axis,
            tube_diameter_mm=result.tube_diameter_mm,
            verification=Verification(reprojection_rms_px=pending.reprojection_rms_px) if pending else None,
            created_at=_now(),
            tool_version=TOOL_VERSION,
        )
        save_calibration(cal, path)
        source = (
            f"with the intrinsics of {pending_path(path).name}"
            if pending
            else "without intrinsics (raw pixels)"
        )
        notes = [f"created {path} {source}"]
    if axis_from_tube:
        notes.append(f"axis angle {axis:.2f} deg taken from the tube edges (change it with `roi`)")
    notes.append(
        f"next: steelsight-calibrate roi --cal {path} ... and steelsight-calibrate verify --cal {path} ..."
    )
    return cal, notes


def save_roi(
    path: str | Path,
    cal: Calibration,
    roi: tuple[tuple[float, float], ...] | None,
    axis_angle_deg: float | None,
    technician: str | None,
) -> Calibration:
    """Set the ROI and/or the axis angle (``None`` keeps the file's) of the file ``cal`` was loaded from."""
    updated = replace(
        cal,
        roi=roi if roi is not None else cal.roi,
        axis_angle_deg=axis_angle_deg if axis_angle_deg is not None else cal.axis_angle_deg,
        technician=technician or cal.technician,
        created_at=_now(),
        tool_version=TOOL_VERSION,
    )
    save_calibration(updated, path)
    return updated


def save_verification(path: str | Path, cal: Calibration, verification: Verification) -> Calibration:
    """Write the verification block into the calibration file."""
    updated = replace(cal, verification=verification, created_at=_now(), tool_version=TOOL_VERSION)
    save_calibration(updated, path)
    return updated
