"""A folder of Labelme annotation files, rasterised to class-id masks.

Each ``<name>.json`` holds ``shapes`` (``label``, ``points``, ``shape_type``),
``imagePath`` (relative to the JSON file), ``imageHeight``, ``imageWidth`` and
optionally ``imageData`` (the image, base64-encoded). As in Labelme itself, embedded
``imageData`` is used when present and ``imagePath`` otherwise, and the image's EXIF
orientation is applied (Labelme annotates the rotated image).

Shapes are drawn in file order, later shapes over earlier ones, onto a background of 0:
polygons, rectangles, circles (centre and a point on the rim), and lines/linestrips with
a configurable width. Other shape types (points, masks) are errors, never skipped.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path, PureWindowsPath
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from trainer.data.sample import (
    IGNORE_INDEX,
    DatasetError,
    Pair,
    SegmentationDataset,
    decode_image,
    format_names,
    missing_files_error,
)

log = logging.getLogger(__name__)

SHAPE_TYPES = ("polygon", "rectangle", "circle", "line", "linestrip")
"""The Labelme shape types that are rasterised."""

DEFAULT_LINE_WIDTH = 10
"""Width in pixels of rasterised lines and linestrips (Labelme's own default)."""


class LabelmeDataset(SegmentationDataset):
    """Labelme JSON files in one folder, with their masks drawn from the shapes.

    Parameters
    ----------
    root
        The folder of ``.json`` files (not searched recursively).
    class_map
        Shape label -> class id (0..254, or 255 to mark an ignore region). Background is 0.
    split_file
        A text file of sample names (JSON file names relative to ``root``, with or without
        ``.json``), one per line, ``#`` comments allowed. A relative path is looked up as
        given and then under ``root``. ``None`` uses every ``*.json`` in ``root``, sorted.
    num_classes
        Class ids must be below this or 255; checked against ``class_map`` at once.
    line_width
        Width in pixels of lines and linestrips.

    Raises
    ------
    DatasetError
        If the folder or split file is missing, the class map is invalid, or a listed JSON
        file does not exist. Problems inside a JSON file are raised when it is loaded.
    """

    kind = "labelme"

    def __init__(
        self,
        root: Path | str,
        class_map: Mapping[str, int],
        split_file: Path | str | None = None,
        num_classes: int | None = None,
        line_width: int = DEFAULT_LINE_WIDTH,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: Labelme folder does not exist")
        self.class_map = _validate_class_map(class_map, num_classes)
        if isinstance(line_width, bool) or not isinstance(line_width, int) or line_width < 1:
            raise DatasetError(f"line_width must be a positive int (pixels), got {line_width!r}")
        self.line_width = line_width
        self.split_file = None if split_file is None else _find_split_file(root, Path(split_file))
        if self.split_file is None:
            names = sorted(path.stem for path in root.glob("*.json") if path.is_file())
            if not names:
                raise DatasetError(f"{root}: no Labelme .json files in this folder")
        else:
            names = _read_names(self.split_file)
            missing = [name for name in names if not (root / f"{name}.json").is_file()]
            if missing:
                raise missing_files_error(
                    root, {"annotation": missing}, f"listed in {self.split_file}, expected root/<name>.json"
                )
        super().__init__(root, names, num_classes)
        log.debug("%s: %d Labelme files", root, len(names))

    def json_path(self, name: str) -> Path:
        """The annotation file of the sample ``name``."""
        return self.root / f"{name}.json"

    def files(self, name: str) -> dict[str, Path]:
        """The annotation file and, when the image is not embedded, the image file."""
        path = self.json_path(name)
        record = _read_json(path)
        found = {"annotation": path}
        if record.get("imageData") is None:
            found["image"] = _image_path(path, record)
        return found

    def fingerprint_params(self) -> dict[str, Any]:
        """The class map and line width, which change the masks drawn from the same files."""
        return {"class_map": dict(sorted(self.class_map.items())), "line_width": self.line_width}

    def _read(self, name: str) -> Pair:
        path = self.json_path(name)
        record = _read_json(path)
        image, image_source = self._read_image(path, record)
        height, width = _declared_size(path, record)
        if image.shape[:2] != (height, width):
            raise DatasetError(
                f"{path}: imageHeight x imageWidth is {height}x{width} but the image {image_source} "
                f"is {image.shape[0]}x{image.shape[1]}; the annotation belongs to another image size: "
                "re-open the file in Labelme to fix it"
            )
        mask = self._rasterise(path, record, height, width)
        return Pair(image, mask, image_source, str(path))

    def _read_image(self, path: Path, record: Mapping[str, Any]) -> tuple[np.ndarray, str]:
        data = record.get("imageData")
        if data is not None:
            source = f"{path} (embedded imageData)"
            if not isinstance(data, str):
                raise DatasetError(f"{source}: imageData must be a base64 string")
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise DatasetError(f"{source}: imageData is not valid base64") from None
            return decode_image(io.BytesIO(raw), source, exif_transpose=True), source
        image_path = _image_path(path, record)
        if not image_path.is_file():
            raise DatasetError(
                f"{path}: image file {image_path} (imagePath {record.get('imagePath')!r}) does not exist "
                "and the annotation has no imageData; put the image there or fix imagePath"
            )
        return decode_image(image_path, str(image_path), exif_transpose=True), str(image_path)

    def _rasterise(self, path: Path, record: Mapping[str, Any], height: int, width: int) -> np.ndarray:
        shapes = record.get("shapes")
        if not isinstance(shapes, list):
            raise DatasetError(f"{path}: 'shapes' must be a list; is this a Labelme file?")
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        for number, shape in enumerate(shapes):
            where = f"{path}: shape {number}"
            if not isinstance(shape, dict):
                raise DatasetError(f"{where} is not an object")
            label = shape.get("label")
            if label not in self.class_map:
                raise DatasetError(
                    f"{where} has the unknown label {label!r}; known labels: "
                    f"{', '.join(map(repr, sorted(self.class_map)))}; "
                    "add it to the class map or fix the label"
                )
            value = self.class_map[label]
            shape_type = shape.get("shape_type") or "polygon"
            points = _points(where, shape.get("points"))
            _draw_shape(draw, where, shape_type, points, value, self.line_width)
        return np.array(canvas, dtype=np.uint8)

    def __repr__(self) -> str:
        return f"LabelmeDataset(root={str(self.root)!r}, samples={len(self)}, classes={len(self.class_map)})"


def _validate_class_map(class_map: Mapping[str, int], num_classes: int | None) -> dict[str, int]:
    """Check labels are strings and ids ints in 0..255 (and below ``num_classes`` unless 255)."""
    if not isinstance(class_map, Mapping) or not class_map:
        raise DatasetError(f"class_map must be a non-empty mapping of label -> class id, got {class_map!r}")
    checked: dict[str, int] = {}
    for label, value in class_map.items():
        if not isinstance(label, str):
            raise DatasetError(f"class_map: label {label!r} must be a string")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DatasetError(f"class_map: class id of {label!r} must be an int, got {value!r}")
        if not 0 <= int(value) <= IGNORE_INDEX:
            raise DatasetError(f"class_map: class id of {label!r} is {value}, outside 0..{IGNORE_INDEX}")
        if num_classes is not None and int(value) >= num_classes and int(value) != IGNORE_INDEX:
            raise DatasetError(
                f"class_map: class id of {label!r} is {value}, not below num_classes={num_classes} "
                f"(and not {IGNORE_INDEX} = ignore)"
            )
        checked[label] = int(value)
    return checked


def _find_split_file(root: Path, split_file: Path) -> Path:
    """Resolve the split file as given, then (when relative) under ``root``."""
    candidates = [split_file] if split_file.is_absolute() else [split_file, root / split_file]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DatasetError(f"split file not found; looked for {format_names(map(str, candidates))}")


def _read_names(path: Path) -> list[str]:
    """Sample names from a split file, ``.json`` suffixes removed, in file order."""
    names: list[str] = []
    with path.open(encoding="utf-8-sig") as handle:
        for raw in handle:
            line = raw.split("#", 1)[0].strip()
            if line:
                names.append(line.removesuffix(".json"))
    if not names:
        raise DatasetError(f"{path}: the split file lists no names")
    return names


def _read_json(path: Path) -> dict[str, Any]:
    """Parse an annotation file, with errors that name it."""
    try:
        with path.open("rb") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        raise DatasetError(f"{path}: annotation file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc}); re-save it from Labelme") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the annotation ({exc.strerror or exc})") from None
    if not isinstance(record, dict):
        raise DatasetError(f"{path}: expected a JSON object (a Labelme file), got {type(record).__name__}")
    return record


def _image_path(path: Path, record: Mapping[str, Any]) -> Path:
    """Where ``imagePath`` points, relative to the annotation's folder (Windows separators allowed)."""
    value = record.get("imagePath")
    if not isinstance(value, str) or not value:
        raise DatasetError(f"{path}: no imageData and no imagePath; the annotation does not say which image")
    relative = Path(*PureWindowsPath(value).parts) if "\\" in value else Path(value)
    return path.parent / relative


def _declared_size(path: Path, record: Mapping[str, Any]) -> tuple[int, int]:
    """``(imageHeight, imageWidth)``, which Labelme always writes."""
    height, width = record.get("imageHeight"), record.get("imageWidth")
    for key, value in (("imageHeight", height), ("imageWidth", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DatasetError(f"{path}: {key} must be a positive int, got {value!r}")
    return int(height), int(width)


def _points(where: str, value: Any) -> list[tuple[float, float]]:
    """Shape points as ``(x, y)`` float tuples."""
    if not isinstance(value, list):
        raise DatasetError(f"{where}: 'points' must be a list of [x, y], got {value!r}")
    points: list[tuple[float, float]] = []
    for point in value:
        if (
            not isinstance(point, (list, tuple))
            or len(point) != 2
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in point)
            or not all(math.isfinite(c) for c in point)
        ):
            raise DatasetError(f"{where}: bad point {point!r}; points are [x, y] pairs of finite numbers")
        points.append((float(point[0]), float(point[1])))
    return points


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    where: str,
    shape_type: str,
    points: list[tuple[float, float]],
    value: int,
    line_width: int,
) -> None:
    """Draw one shape filled with ``value``; raise for unsupported types or wrong point counts."""
    needed = {"polygon": 3, "rectangle": 2, "circle": 2, "line": 2, "linestrip": 2}
    if shape_type not in needed:
        raise DatasetError(
            f"{where}: shape_type {shape_type!r} is not supported (supported: {', '.join(SHAPE_TYPES)}); "
            "convert or delete the shape"
        )
    if len(points) < needed[shape_type] or (shape_type in ("circle", "line") and len(points) != 2):
        raise DatasetError(f"{where}: a {shape_type} cannot have {len(points)} points")
    if shape_type == "polygon":
        draw.polygon(points, fill=value, outline=value)
    elif shape_type == "rectangle":
        xs, ys = [x for x, _ in points], [y for _, y in points]
        draw.rectangle((min(xs), min(ys), max(xs), max(ys)), fill=value, outline=value)
    elif shape_type == "circle":
        (cx, cy), (px, py) = points
        radius = math.hypot(px - cx, py - cy)
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=value, outline=value)
    else:
        draw.line(points, fill=value, width=line_width)
