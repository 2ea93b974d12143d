"""Calibration views: reading the images, and rejecting blurred, duplicate or board-less ones with the reason.

Sharpness is the variance of the Laplacian over the board, measured so that it does not depend
on the light or on how large the board appears: the image is first smoothed by a Gaussian of
1 px (so that sensor noise does not count as detail), the variance is taken inside the board's
outline, divided by the square of the board's contrast (5th to 95th percentile of its grey
levels) and scaled to a contrast of 100 grey levels and squares 30 px apart. A sharp view gives
about 40-50; a Gaussian blur of 1.2 px halves that, one of 1.8 px leaves about 10.

Two views are duplicates when their corners lie, on average, within ``duplicate_px`` of each
other (the board was not moved between the shots); the later one is rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from calibration.detect import BoardSpec, Detection, detect_board, probe_pattern_size
from calibration.errors import InputError

__all__ = [
    "IMAGE_SUFFIXES",
    "ScreenedViews",
    "View",
    "board_sharpness",
    "corner_shift",
    "list_view_files",
    "load_views",
    "read_image",
    "screen_views",
    "to_gray",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_REFERENCE_CONTRAST = 100.0
_REFERENCE_SPACING_PX = 30.0


def read_image(path: str | Path, arg: str = "--image") -> np.ndarray:
    """Read an image file as it is stored (grey or BGR ``uint8``).

    Raises
    ------
    InputError
        Naming the file (and ``arg``) when it is missing or not an image OpenCV can read.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), f"image not found; check the path given to {arg}")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise InputError(str(path), f"not an image OpenCV can read ({arg}); use PNG or JPEG")
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def to_gray(image: np.ndarray) -> np.ndarray:
    """A grey ``uint8`` copy of a grey or BGR image."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def list_view_files(folder: str | Path, arg: str = "--images") -> list[Path]:
    """The image files in ``folder``, sorted by name.

    Raises
    ------
    InputError
        When the folder is missing or holds no image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(str(folder), f"folder not found; {arg} takes the folder of checkerboard images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(
            str(folder), f"holds no images ({', '.join(IMAGE_SUFFIXES)}); put the checkerboard views there"
        )
    return files


@dataclass
class View:
    """One calibration image.

    Attributes
    ----------
    name
        What to call it in messages (the file name).
    gray
        The grey ``uint8`` image.
    """

    name: str
    gray: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)``."""
        return int(self.gray.shape[0]), int(self.gray.shape[1])


def load_views(files: Sequence[Path]) -> list[View]:
    """Read the views and check that they all have the size of the first one.

    Raises
    ------
    InputError
        Naming the first file of another size than the first view, with both sizes.
    """
    views = [View(path.name, to_gray(read_image(path, "--images"))) for path in files]
    first = views[0]
    for path, view in zip(files, views, strict=True):
        if view.size != first.size:
            raise InputError(
                str(path),
                f"is {view.size[0]}x{view.size[1]} (HxW) but {first.name} is "
                f"{first.size[0]}x{first.size[1]}; all views must come from this camera at the resolution "
                "it measures at: remove or retake it",
            )
    return views


def board_sharpness(gray: np.ndarray, detection: Detection) -> float:
    """Sharpness of the board in a view: normalized variance of the Laplacian (see the module docstring)."""
    hull = cv2.convexHull(detection.image_points.astype(np.float32).reshape(-1, 1, 2))
    mask = np.zeros(gray.shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 255)
    inside = mask > 0
    if np.count_nonzero(inside) < 16:
        return 0.0
    smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    laplacian = cv2.Laplacian(smooth, cv2.CV_32F)[inside]
    grey = gray[inside]
    contrast = float(np.percentile(grey, 95) - np.percentile(grey, 5))
    if contrast <= 0:
        return 0.0
    spacing = detection.spacing_px if np.isfinite(detection.spacing_px) else _REFERENCE_SPACING_PX
    return float(laplacian.var()) * (_REFERENCE_CONTRAST / contrast) ** 2 * spacing / _REFERENCE_SPACING_PX


def corner_shift(a: Detection, b: Detection) -> float:
    """Mean distance (px) between the same board corners in two views; ``inf`` when they share none.

    A checkerboard's corner order can come out reversed (the board turned by 180 degrees), so
    both orders are tried.
    """
    if a.grid is not None and b.grid is not None:
        if a.image_points.shape != b.image_points.shape:
            return float("inf")
        forward = np.linalg.norm(a.image_points - b.image_points, axis=1).mean()
        backward = np.linalg.norm(a.image_points - b.image_points[::-1], axis=1).mean()
        return float(min(forward, backward))
    keys_a = {tuple(np.round(p, 3)): i for i, p in enumerate(a.object_points)}
    pairs = [
        (keys_a[tuple(np.round(p, 3))], j)
        for j, p in enumerate(b.object_points)
        if tuple(np.round(p, 3)) in keys_a
    ]
    if len(pairs) < 4:
        return float("inf")
    ia, ib = np.array(pairs).T
    return float(np.linalg.norm(a.image_points[ia] - b.image_points[ib], axis=1).mean())


@dataclass
class ScreenedViews:
    """The outcome of screening views.

    Attributes
    ----------
    accepted
        ``(name, detection, sharpness)`` of the usable views, in input order.
    rejected
        ``(name, reason)`` of the others.
    suggested_pattern
        A pattern size that was found where the given one was not (a wrong ``--pattern``).
    """

    accepted: list[tuple[str, Detection, float]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    suggested_pattern: tuple[int, int] | None = None


def screen_views(
    views: Sequence[View], spec: BoardSpec, blur_threshold: float, duplicate_px: float
) -> ScreenedViews:
    """Detect the board in each view and keep the sharp, distinct ones.

    Parameters
    ----------
    views
        The views, all of one size.
    spec
        The board.
    blur_threshold
        Views whose :func:`board_sharpness` is below this are rejected as blurred.
    duplicate_px
        Views whose corners are within this mean distance of an accepted view's are rejected.

    Returns
    -------
    ScreenedViews
        Accepted and rejected views with reasons; when no view shows the board, a nearby pattern
        size that does (if any).
    """
    result = ScreenedViews()
    for view in views:
        detection = detect_board(view.gray, spec)
        if detection is None:
            result.rejected.append((view.name, f"no {spec.describe()} found"))
            continue
        sharp = board_sharpness(view.gray, detection)
        if sharp < blur_threshold:
            result.rejected.append(
                (
                    view.name,
                    f"blurred (sharpness {sharp:.1f} < {blur_threshold:g}): hold the board still, focus",
                )
            )
            continue
        duplicate = next(
            (name for name, other, _ in result.accepted if corner_shift(other, detection) < duplicate_px),
            None,
        )
        if duplicate is not None:
            shift = min(
                corner_shift(other, detection) for name, other, _ in result.accepted if name == duplicate
            )
            result.rejected.append(
                (
                    view.name,
                    f"duplicate of {duplicate} (corners within {shift:.1f} px): move or tilt the board",
                )
            )
            continue
        result.accepted.append((view.name, detection, sharp))
        log.debug("view %s: %d corners, sharpness %.1f", view.name, len(detection.image_points), sharp)
    if not result.accepted and views:
        for view in views[:3]:
            result.suggested_pattern = probe_pattern_size(view.gray, spec)
            if result.suggested_pattern is not None:
                break
    return result
