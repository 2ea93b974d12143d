"""Finding a calibration board in an image: a checkerboard, or a ChArUco board where ``cv2.aruco`` has it.

Checkerboards are described by their *inner* corners (where four squares meet): a board of
10 x 7 squares has a 9 x 6 pattern. Detection runs ``cv2.findChessboardCorners`` (adaptive
threshold, normalized image) refined by ``cv2.cornerSubPix`` with a window scaled to the square
size, and falls back to the sector-based ``cv2.findChessboardCornersSB`` when the first finds
nothing. The board's own coordinates (mm) have the first inner corner at ``(0, 0)`` and run row
by row, as OpenCV returns the corners.

ChArUco boards are described by their *squares* (``squares_x x squares_y``), the square and
marker sizes and the ArUco dictionary; ``cv2.aruco.CharucoDetector`` finds the markers and
interpolates the chessboard corners, of which any subset of at least 6 non-collinear ones is a
usable view.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import cv2
import numpy as np

from calibration.errors import InputError

__all__ = [
    "BoardSpec",
    "Detection",
    "aruco_available",
    "detect_board",
    "parse_pattern",
    "probe_pattern_size",
    "require_board",
]

log = logging.getLogger(__name__)

_CLASSIC_FLAGS = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
_SB_FLAGS = cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY
_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-4)
_MIN_CHARUCO_CORNERS = 6
_PATTERN = re.compile(r"^\s*(\d+)\s*[xX*]\s*(\d+)\s*$")


def aruco_available() -> bool:
    """Whether this OpenCV has the ChArUco API (``cv2.aruco.CharucoBoard`` and ``CharucoDetector``)."""
    aruco = getattr(cv2, "aruco", None)
    return aruco is not None and hasattr(aruco, "CharucoBoard") and hasattr(aruco, "CharucoDetector")


def parse_pattern(text: str, arg: str = "--pattern", least: int = 2) -> tuple[int, int]:
    """``"9x6"`` -> ``(9, 6)``.

    Raises
    ------
    InputError
        Naming ``arg`` when the text is not ``COLSxROWS`` with both at least ``least``.
    """
    match = _PATTERN.match(text or "")
    if not match or min(int(match.group(1)), int(match.group(2))) < least:
        raise InputError(
            arg,
            f"must be COLSxROWS with both >= {least}, e.g. 9x6, got {text!r}"
            + (" (a checkerboard's inner corners, where four squares meet)" if arg == "--pattern" else ""),
        )
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class BoardSpec:
    """A calibration board.

    Attributes
    ----------
    kind
        ``"checkerboard"`` or ``"charuco"``.
    cols, rows
        Checkerboard: inner corners per row and per column. ChArUco: squares along x and y.
    square_mm
        Side of one square in mm.
    marker_mm
        ChArUco: side of a marker in mm.
    dictionary
        ChArUco: the ArUco dictionary's name, e.g. ``"DICT_5X5_100"``.
    """

    kind: str
    cols: int
    rows: int
    square_mm: float
    marker_mm: float | None = None
    dictionary: str | None = None

    @classmethod
    def checkerboard(cls, pattern: str, square_mm: float) -> BoardSpec:
        """A checkerboard from ``--pattern COLSxROWS`` and ``--square-mm``.

        Raises
        ------
        InputError
            Naming the argument when the pattern is malformed or the square size is not > 0.
        """
        cols, rows = parse_pattern(pattern)
        _positive(square_mm, "--square-mm")
        return cls("checkerboard", cols, rows, float(square_mm))

    @classmethod
    def charuco(cls, squares: str, square_mm: float, marker_mm: float, dictionary: str) -> BoardSpec:
        """A ChArUco board from ``--charuco SXxSY``, ``--square-mm``, ``--marker-mm`` and ``--aruco-dict``.

        Raises
        ------
        InputError
            When this OpenCV has no ChArUco API, or an argument is malformed (naming it).
        """
        if not aruco_available():
            raise InputError(
                "--charuco",
                f"this OpenCV ({cv2.__version__}) has no cv2.aruco ChArUco API; use a checkerboard "
                "(--pattern) or install an OpenCV build with the aruco module",
            )
        cols, rows = parse_pattern(squares, "--charuco", least=3)
        _positive(square_mm, "--square-mm")
        _positive(marker_mm, "--marker-mm")
        if marker_mm >= square_mm:
            raise InputError(
                "--marker-mm", f"the marker ({marker_mm} mm) must be smaller than the square ({square_mm} mm)"
            )
        name = dictionary.upper()
        if not name.startswith("DICT_") or not hasattr(cv2.aruco, name):
            names = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_") and n.upper() == n)
            raise InputError("--aruco-dict", f"unknown dictionary {dictionary!r}; one of {', '.join(names)}")
        return cls("charuco", cols, rows, float(square_mm), float(marker_mm), name)

    @property
    def corner_grid(self) -> tuple[int, int]:
        """Inner corners ``(per row, per column)`` of the board's chessboard."""
        if self.kind == "charuco":
            return self.cols - 1, self.rows - 1
        return self.cols, self.rows

    def describe(self) -> str:
        """E.g. ``"checkerboard 9x6 inner corners, 25 mm squares"``."""
        if self.kind == "charuco":
            return (
                f"ChArUco {self.cols}x{self.rows} squares, {self.square_mm:g} mm squares, "
                f"{self.marker_mm:g} mm markers, {self.dictionary}"
            )
        return f"checkerboard {self.cols}x{self.rows} inner corners, {self.square_mm:g} mm squares"

    def grid_object_points(self) -> np.ndarray:
        """All inner corners ``(X, Y, 0)`` mm, row by row, ``(cols * rows, 3)`` float64."""
        cols, rows = self.corner_grid
        grid = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2).astype(np.float64) * self.square_mm
        return np.concatenate([grid, np.zeros((len(grid), 1))], axis=1)

    def charuco_board(self) -> cv2.aruco.CharucoBoard:
        """The ``cv2.aruco.CharucoBoard`` (ChArUco only)."""
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, str(self.dictionary)))
        return cv2.aruco.CharucoBoard(
            (self.cols, self.rows), self.square_mm, float(self.marker_mm), dictionary
        )


def _positive(value: float, arg: str) -> None:
    if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
        raise InputError(arg, f"must be a length in mm > 0, got {value!r}")


@dataclass(frozen=True)
class Detection:
    """A board found in an image.

    Attributes
    ----------
    image_points
        ``(N, 2)`` float64 image ``(x, y)`` of the corners.
    object_points
        ``(N, 3)`` float64 board coordinates ``(X, Y, 0)`` mm of the same corners.
    spacing_px
        Median distance between neighbouring corners in the image.
    complete
        Whether every inner corner of the board was found (always for a checkerboard).
    grid
        ``(cols, rows)`` of the corner grid when complete (checkerboard), else ``None``.
    """

    image_points: np.ndarray
    object_points: np.ndarray
    spacing_px: float
    complete: bool
    grid: tuple[int, int] | None


def _spacing(points: np.ndarray, cols: int, rows: int) -> float:
    grid = points.reshape(rows, cols, 2)
    steps = np.concatenate(
        [
            np.linalg.norm(np.diff(grid, axis=1), axis=2).ravel(),
            np.linalg.norm(np.diff(grid, axis=0), axis=2).ravel(),
        ]
    )
    return float(np.median(steps))


def _find_checkerboard(gray: np.ndarray, cols: int, rows: int, fast: bool = False) -> np.ndarray | None:
    flags = _CLASSIC_FLAGS | (cv2.CALIB_CB_FAST_CHECK if fast else 0)
    found, corners = cv2.findChessboardCorners(gray, (cols, rows), flags=flags)
    if found:
        points = corners.reshape(-1, 2).astype(np.float32)
        half = int(np.clip(round(_spacing(points.astype(np.float64), cols, rows) / 4.0), 2, 11))
        refined = cv2.cornerSubPix(gray, points.reshape(-1, 1, 2), (half, half), (-1, -1), _SUBPIX_CRITERIA)
        return refined.reshape(-1, 2).astype(np.float64)
    if fast:
        return None
    found, corners = cv2.findChessboardCornersSB(gray, (cols, rows), flags=_SB_FLAGS)
    if found:
        log.debug("checkerboard found by the sector-based detector")
        return corners.reshape(-1, 2).astype(np.float64)
    return None


def _find_charuco(gray: np.ndarray, spec: BoardSpec) -> Detection | None:
    board = spec.charuco_board()
    detector = cv2.aruco.CharucoDetector(board)
    corners, ids, _, _ = detector.detectBoard(gray)
    if ids is None or corners is None or len(ids) < _MIN_CHARUCO_CORNERS:
        return None
    if board.checkCharucoCornersCollinear(ids):
        log.debug("ChArUco corners are collinear; view not usable")
        return None
    obj, img = board.matchImagePoints(corners, ids)
    image_points = img.reshape(-1, 2).astype(np.float64)
    object_points = obj.reshape(-1, 3).astype(np.float64)
    # Neighbouring corners: the image distance per square, from pairs one square apart on the board.
    d_obj = np.linalg.norm(object_points[:, None, :2] - object_points[None, :, :2], axis=2)
    d_img = np.linalg.norm(image_points[:, None] - image_points[None], axis=2)
    near = np.isclose(d_obj, spec.square_mm)
    spacing = float(np.median(d_img[near])) if np.any(near) else float("nan")
    cols, rows = spec.corner_grid
    return Detection(image_points, object_points, spacing, len(ids) == cols * rows, None)


def detect_board(gray: np.ndarray, spec: BoardSpec) -> Detection | None:
    """Find the board in a grey image.

    Parameters
    ----------
    gray
        ``uint8`` grey image.
    spec
        The board.

    Returns
    -------
    Detection | None
        The corners with their board coordinates, or ``None`` when the board is not found.
    """
    if spec.kind == "charuco":
        return _find_charuco(gray, spec)
    points = _find_checkerboard(gray, spec.cols, spec.rows)
    if points is None:
        return None
    return Detection(
        points,
        spec.grid_object_points(),
        _spacing(points, spec.cols, spec.rows),
        True,
        (spec.cols, spec.rows),
    )


def probe_pattern_size(gray: np.ndarray, spec: BoardSpec) -> tuple[int, int] | None:
    """When ``spec``'s checkerboard is not found: the pattern size next to it that is, if any.

    Tries the sizes a technician confuses the pattern with (squares instead of inner corners, one
    corner more or fewer in either direction), so that the error can say "pass --pattern 9x6".
    """
    if spec.kind != "checkerboard":
        return None
    c, r = spec.cols, spec.rows
    candidates = [(c - 1, r - 1), (c + 1, r + 1), (c - 1, r), (c, r - 1), (c + 1, r), (c, r + 1)]
    for cols, rows in candidates:
        if min(cols, rows) >= 2 and _find_checkerboard(gray, cols, rows, fast=True) is not None:
            return cols, rows
    return None


def require_board(
    gray: np.ndarray, spec: BoardSpec, image_name: str, advice: str, pattern_note: str = ""
) -> Detection:
    """:func:`detect_board` for a step that cannot go on without the board.

    Parameters
    ----------
    gray, spec
        The grey ``uint8`` image and the board to find in it.
    image_name
        What to call the image in the error (its argument or path).
    advice
        What to do when no board is found at all.
    pattern_note
        Appended to the advice when a checkerboard of a nearby pattern size is there.

    Returns
    -------
    Detection
        The corners with their board coordinates.

    Raises
    ------
    InputError
        When the board is not found: naming ``--pattern`` and the size that is there when a nearby
        one is (:func:`probe_pattern_size`), else naming ``image_name`` with ``advice``.
    """
    detection = detect_board(gray, spec)
    if detection is not None:
        return detection
    suggestion = probe_pattern_size(gray, spec)
    if suggestion is not None:
        cols, rows = suggestion
        raise InputError(
            "--pattern",
            f"no {spec.cols}x{spec.rows} checkerboard in {image_name}, but a {cols}x{rows} one is there: "
            f"pass --pattern {cols}x{rows}{pattern_note}",
        )
    raise InputError(image_name, f"no {spec.describe()} found: {advice}")
