"""Parsing the points a technician types on the command line (``--points``), with errors that show the format.

Image points are pixel coordinates ``x,y`` as an image viewer shows them (``x`` to the right,
``y`` down, pixel centres at integers). Items are separated by ``;``.
"""

from __future__ import annotations

import math
import re

from calibration.errors import InputError

__all__ = [
    "LengthPair",
    "PlanePoint",
    "parse_length_pairs_or_plane_points",
    "parse_point_list",
    "parse_segment",
]

Point = tuple[float, float]
LengthPair = tuple[Point, Point, float]
"""Two image points and the known distance between them (mm)."""
PlanePoint = tuple[Point, Point]
"""An image point and its coordinates on the measurement plane (mm)."""

_SPACE = re.compile(r"\s+")


def _numbers(text: str, arg: str, item: str, expected: str) -> list[float]:
    parts = [p for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        raise InputError(arg, f"{item} {text!r} is not {expected}")
    return values


def _items(text: str, arg: str, example: str) -> list[str]:
    items = [_SPACE.sub("", part) for part in text.split(";")]
    items = [item for item in items if item]
    if not items:
        raise InputError(arg, f"no points given; e.g. {arg} {example!r}")
    return items


def parse_point_list(text: str, arg: str = "--points", least: int = 1) -> list[Point]:
    """``"x,y;x,y;..."`` -> ``[(x, y), ...]`` (at least ``least`` points).

    Raises
    ------
    InputError
        Naming ``arg``, the bad item and the expected format.
    """
    example = "120,40;520,40;540,460;100,460"
    points: list[Point] = []
    for i, item in enumerate(_items(text, arg, example)):
        values = _numbers(item, arg, f"point {i + 1}", "x,y")
        if len(values) != 2:
            raise InputError(arg, f"point {i + 1} {item!r} must be x,y (two numbers); e.g. {arg} {example!r}")
        points.append((values[0], values[1]))
    if len(points) < least:
        raise InputError(arg, f"needs at least {least} points x,y separated by ';', got {len(points)}")
    return points


def parse_segment(text: str, arg: str = "--points") -> tuple[Point, Point]:
    """``"x1,y1,x2,y2"`` (or ``"x1,y1;x2,y2"``) -> the two end points of a segment.

    Raises
    ------
    InputError
        Naming ``arg`` when the text is not four numbers.
    """
    flat = _SPACE.sub("", text).replace(";", ",")
    values = _numbers(flat, arg, "segment", "x1,y1,x2,y2")
    if len(values) != 4:
        raise InputError(
            arg,
            f"must be the two end points x1,y1,x2,y2 (four numbers), got {text!r}; e.g. {arg} "
            "'102,88,530,95'",
        )
    return (values[0], values[1]), (values[2], values[3])


def parse_length_pairs_or_plane_points(
    text: str, arg: str = "--points"
) -> list[LengthPair] | list[PlanePoint]:
    """Reference points of the scale step, in one of two forms (not mixed).

    - ``"x1,y1,x2,y2=LEN_MM;..."``: pairs of image points a known distance apart, or
    - ``"x,y=X_MM,Y_MM;..."``: image points with their coordinates on the measurement plane.

    Returns
    -------
    list
        ``[(p1, p2, length_mm), ...]`` for the first form, ``[(p_image, p_plane), ...]`` for the second.

    Raises
    ------
    InputError
        Naming ``arg``, the bad item and both formats.
    """
    example = "'102,88,530,95=400;110,300,520,310=400'"
    formats = (
        "x1,y1,x2,y2=LENGTH_MM (two points a known distance apart) or x,y=X_MM,Y_MM (a point with plane "
        "coordinates)"
    )
    pairs: list[LengthPair] = []
    plane: list[PlanePoint] = []
    for i, item in enumerate(_items(text, arg, example)):
        name = f"item {i + 1}"
        if item.count("=") != 1:
            raise InputError(arg, f"{name} {item!r} must be {formats}; e.g. {arg} {example}")
        left, right = item.split("=")
        image = _numbers(left, arg, name, formats)
        known = _numbers(right, arg, name, formats)
        if len(image) == 4 and len(known) == 1:
            if known[0] <= 0:
                raise InputError(arg, f"{name} {item!r}: the known length must be > 0 mm")
            pairs.append(((image[0], image[1]), (image[2], image[3]), known[0]))
        elif len(image) == 2 and len(known) == 2:
            plane.append(((image[0], image[1]), (known[0], known[1])))
        else:
            raise InputError(arg, f"{name} {item!r} must be {formats}; e.g. {arg} {example}")
    if pairs and plane:
        raise InputError(arg, "mixes point pairs (=LENGTH) and plane points (=X,Y); use one form")
    return pairs or plane
