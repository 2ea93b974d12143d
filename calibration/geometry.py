"""Image <-> measurement-plane mappings the steps share: undistorting, re-distorting, plane to image.

``undistort`` follows :meth:`calibration.calibration_file.Calibration.undistort_points`
(``cv2.undistortPoints`` with ``P = K``); ``distort`` is its inverse (``cv2.projectPoints`` of
the normalized rays), so ``distort(undistort(p)) == p`` to well below a pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

from calibration.calibration_file import Calibration
from calibration.scale import apply_homography

__all__ = ["Intrinsics", "calibration_intrinsics", "distort", "plane_to_image", "undistort"]

Intrinsics = tuple[np.ndarray, np.ndarray]
"""``(K, dist_coeffs)``."""

_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-10)


def undistort(points_xy: np.ndarray, intrinsics: Intrinsics | None) -> np.ndarray:
    """Undistorted pixel coordinates of raw image points ``(N, 2)``; a float64 copy without intrinsics."""
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if intrinsics is None or len(pts) == 0:
        return pts.copy()
    k, dist = intrinsics
    out = cv2.undistortPoints(pts.reshape(-1, 1, 2), k, dist, P=k, criteria=_CRITERIA)
    return out.reshape(-1, 2).astype(np.float64)


def distort(points_xy: np.ndarray, intrinsics: Intrinsics | None) -> np.ndarray:
    """Raw image coordinates of undistorted pixel points ``(N, 2)`` (the inverse of :func:`undistort`)."""
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if intrinsics is None or len(pts) == 0:
        return pts.copy()
    k, dist = intrinsics
    rays = np.linalg.solve(k, np.concatenate([pts, np.ones((len(pts), 1))], axis=1).T).T
    image, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), k, dist)
    return image.reshape(-1, 2).astype(np.float64)


def calibration_intrinsics(cal: Calibration) -> Intrinsics | None:
    """``(K, dist)`` of a calibration as arrays, or ``None``."""
    if cal.camera_matrix is None or cal.dist_coeffs is None:
        return None
    return np.asarray(cal.camera_matrix, np.float64), np.asarray(cal.dist_coeffs, np.float64)


def plane_to_image(cal: Calibration, plane_mm: np.ndarray) -> np.ndarray:
    """Raw image points of plane points ``(N, 2)`` mm: the inverse of :meth:`Calibration.image_to_plane`."""
    pts = np.asarray(plane_mm, dtype=np.float64).reshape(-1, 2)
    if cal.scale.method == "homography":
        image = apply_homography(np.linalg.inv(np.asarray(cal.scale.homography, np.float64)), pts)
    else:
        image = pts / float(cal.scale.mm_per_px)  # type: ignore[arg-type]
    if cal.scale.undistorted:
        image = distort(image, calibration_intrinsics(cal))
    return image
