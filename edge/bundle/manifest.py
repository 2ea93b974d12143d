"""The model bundle manifest (``manifest.json``): dataclasses, JSON (de)serialization, validation.

This module is the consumer side of contract 1 in DESIGN.md: the desktop
exporter builds a :class:`Manifest` and writes it with :func:`write_manifest`;
the camera reads it back with :meth:`Manifest.from_json` (through
:func:`read_manifest` or :func:`edge.bundle.loader.load_bundle`). Both sides run
the same :meth:`Manifest.validate`, so the exporter cannot write a manifest that
the camera would refuse.

Every error is a :class:`BundleError` whose message names the file and the
field and says what to do.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from edge.atomic_file import atomic_write
from edge.bundle.hashing import sha256_file

log = logging.getLogger(__name__)

SCHEMA = "steelsight.bundle/1"
"""The manifest schema this runtime writes."""
SUPPORTED_SCHEMAS = (SCHEMA,)
"""The manifest schemas this runtime reads."""
MANIFEST_NAME = "manifest.json"
SCHEMA_RESOURCE = "schema/bundle-manifest.schema.json"
"""The JSON Schema of the manifest, shipped as package data of ``edge.bundle``."""

PRECISIONS = ("fp32", "fp16", "int8")
FILE_NAMES = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}
TASKS = ("slag", "weld")
POSTPROCESS_KINDS = ("argmax", "threshold")
COLOR_ORDERS = ("RGB", "BGR")
RESIZE_MODES = ("bilinear", "nearest", "area")
LAYOUTS = ("NCHW",)
DTYPES = ("float32",)
MATTING_KEYS = ("foreground", "background", "alpha")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REEXPORT = "Fix the manifest or re-export the bundle with the desktop trainer."
_RECOPY = "re-copy the bundle from the desktop export"
_INPUT_KEYS = ("height", "width", "mean", "std", "color", "resize", "layout", "dtype")
_REQUIRED_TOP = (
    "name",
    "version",
    "task",
    "arch",
    "classes",
    "input",
    "files",
    "postprocess",
    "metrics",
    "training",
)
_OPTIONAL_TOP = ("schema", "quantization", "created_at", "exporter")


class BundleError(ValueError):
    """A model bundle or its manifest is unusable; the message names the file/field and the fix."""


@dataclass(frozen=True)
class ClassInfo:
    """One output class of the network.

    Attributes
    ----------
    id
        The channel index in ``logits`` (ids are exactly ``0..C-1``).
    name
        Human-readable name, e.g. ``"slag layer"``.
    color
        Display colour ``(r, g, b)``, each 0..255.
    """

    id: int
    name: str
    color: tuple[int, int, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", _plain_int(self.id))
        if _is_sequence(self.color):
            object.__setattr__(self, "color", tuple(_plain_int(c) for c in self.color))


@dataclass(frozen=True)
class InputSpec:
    """How a frame becomes the network input.

    Attributes
    ----------
    height, width
        The size the network was exported and evaluated at (pixels).
    mean, std
        Per-channel normalization applied to ``[0, 1]`` pixel values, in ``color`` order.
    color
        Channel order the network expects (``"RGB"`` or ``"BGR"``).
    resize
        Interpolation used to resize frames (``"bilinear"``, ``"nearest"`` or ``"area"``).
    layout
        Tensor layout, always ``"NCHW"``.
    dtype
        Input element type, always ``"float32"``.
    """

    height: int
    width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    color: str = "RGB"
    resize: str = "bilinear"
    layout: str = "NCHW"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "height", _plain_int(self.height))
        object.__setattr__(self, "width", _plain_int(self.width))
        for name in ("mean", "std"):
            value = getattr(self, name)
            if _is_sequence(value):
                object.__setattr__(self, name, tuple(_plain_float(v) for v in value))


@dataclass(frozen=True)
class PostprocessSpec:
    """How logits become a mask.

    Attributes
    ----------
    kind
        ``"argmax"`` over classes, or ``"threshold"`` on the foreground probability.
    threshold
        The probability threshold; required for ``"threshold"``, absent for ``"argmax"``.
    matting
        Closed-form matting refinement (weld): ``{"foreground": 0.46, "background": 0.38,
        "alpha": 0.5}``, or ``None`` for no refinement.
    """

    kind: str
    threshold: float | None = None
    matting: dict[str, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _plain_float(self.threshold))
        if isinstance(self.matting, dict):
            object.__setattr__(self, "matting", {k: _plain_float(v) for k, v in self.matting.items()})


@dataclass(frozen=True)
class FileEntry:
    """One model file of the bundle.

    Attributes
    ----------
    path
        Path relative to the bundle folder (POSIX separators), e.g. ``"model.onnx"``.
    sha256
        Lowercase hex SHA-256 of the file.
    size_bytes
        File size in bytes.
    precision
        ``"fp32"``, ``"fp16"`` or ``"int8"``; equals its key in :attr:`Manifest.files`.
    """

    path: str
    sha256: str
    size_bytes: int
    precision: str


@dataclass(frozen=True)
class Manifest:
    """The contents of a bundle's ``manifest.json`` (schema ``steelsight.bundle/1``).

    Attributes
    ----------
    name, version
        Model name (used in engine file names) and its version string.
    task
        ``"slag"`` or ``"weld"``.
    arch
        Architecture name, e.g. ``"deeplabv3plus-mobilenetv2-ema"``.
    classes
        Output classes, ids ``0..C-1`` in order.
    input
        Preprocessing of the network input.
    files
        Model files keyed by precision; ``"fp32"`` is required.
    postprocess
        How logits become a mask.
    metrics
        Free-form evaluation figures, e.g. ``{"eval_set": {...}, "fp32": {...}, "int8": {...}}``.
    training
        Free-form provenance: dataset fingerprint, command line, git commit.
    quantization
        Free-form INT8 provenance (calibration method, image list, excluded nodes), or ``None``.
    created_at
        ISO 8601 creation time.
    exporter
        Name and version of the tool that wrote the bundle.
    schema
        Always :data:`SCHEMA`.
    """

    name: str
    version: str
    task: str
    arch: str
    classes: tuple[ClassInfo, ...]
    input: InputSpec
    files: dict[str, FileEntry]
    postprocess: PostprocessSpec
    metrics: dict[str, Any]
    training: dict[str, Any]
    quantization: dict[str, Any] | None = None
    created_at: str = ""
    exporter: str = ""
    schema: str = field(default=SCHEMA)

    def __post_init__(self) -> None:
        if _is_sequence(self.classes):
            object.__setattr__(self, "classes", tuple(self.classes))

    @property
    def num_classes(self) -> int:
        """The number of output classes ``C``."""
        return len(self.classes)

    def to_json(self) -> dict[str, Any]:
        """Return the manifest as a JSON-ready dict (tuples become lists, keys in a stable order)."""
        data: dict[str, Any] = {
            "schema": self.schema,
            "name": self.name,
            "version": self.version,
            "task": self.task,
            "arch": self.arch,
            "classes": [{"id": c.id, "name": c.name, "color": list(c.color)} for c in self.classes],
            "input": {
                "height": self.input.height,
                "width": self.input.width,
                "mean": list(self.input.mean),
                "std": list(self.input.std),
                "color": self.input.color,
                "resize": self.input.resize,
                "layout": self.input.layout,
                "dtype": self.input.dtype,
            },
            "files": {
                key: {
                    "path": entry.path,
                    "sha256": entry.sha256,
                    "size_bytes": entry.size_bytes,
                    "precision": entry.precision,
                }
                for key, entry in sorted(self.files.items(), key=lambda item: _precision_order(item[0]))
            },
            "postprocess": {"kind": self.postprocess.kind},
            "metrics": copy.deepcopy(self.metrics),
            "training": copy.deepcopy(self.training),
            "quantization": copy.deepcopy(self.quantization),
            "created_at": self.created_at,
            "exporter": self.exporter,
        }
        if self.postprocess.threshold is not None:
            data["postprocess"]["threshold"] = self.postprocess.threshold
        if self.postprocess.matting is not None:
            data["postprocess"]["matting"] = dict(self.postprocess.matting)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = MANIFEST_NAME) -> Manifest:
        """Build and validate a manifest from parsed JSON.

        Parameters
        ----------
        data
            The parsed ``manifest.json`` object.
        source
            What to call the file in error messages (usually its path).

        Returns
        -------
        Manifest
            The validated manifest.

        Raises
        ------
        BundleError
            Naming ``source`` and the first bad field (e.g. ``classes[1].id``), and the fix.
        """
        if not isinstance(data, Mapping):
            raise BundleError(
                f"{source}: the manifest must be a JSON object, got {type(data).__name__}. {_REEXPORT}"
            )
        _check_schema(data.get("schema"), source)
        for key in _REQUIRED_TOP:
            if key not in data:
                raise BundleError(f"{source}: required field '{key}' is missing. {_REEXPORT}")
        unknown = sorted(set(data) - set(_REQUIRED_TOP) - set(_OPTIONAL_TOP))
        if unknown:
            log.warning("%s: ignoring unknown fields %s", source, ", ".join(unknown))

        classes_raw = _list(data["classes"], source, "classes")
        for i, item in enumerate(classes_raw):
            _only(item, ("id", "name", "color"), source, f"classes[{i}]")
        classes = tuple(
            ClassInfo(
                id=_get(item, "id", source, f"classes[{i}]"),
                name=_get(item, "name", source, f"classes[{i}]"),
                color=_tuple(_get(item, "color", source, f"classes[{i}]")),
            )
            for i, item in enumerate(classes_raw)
        )
        inp = _only(data["input"], _INPUT_KEYS, source, "input")
        input_spec = InputSpec(
            height=_get(inp, "height", source, "input"),
            width=_get(inp, "width", source, "input"),
            mean=_tuple(_get(inp, "mean", source, "input")),
            std=_tuple(_get(inp, "std", source, "input")),
            color=inp.get("color", "RGB"),
            resize=inp.get("resize", "bilinear"),
            layout=inp.get("layout", "NCHW"),
            dtype=inp.get("dtype", "float32"),
        )
        files_raw = _object(data["files"], source, "files")
        files = {}
        for key, raw in files_raw.items():
            entry = _only(raw, ("path", "sha256", "size_bytes", "precision"), source, f"files.{key}")
            files[key] = FileEntry(
                path=_get(entry, "path", source, f"files.{key}"),
                sha256=_get(entry, "sha256", source, f"files.{key}"),
                size_bytes=_get(entry, "size_bytes", source, f"files.{key}"),
                precision=_get(entry, "precision", source, f"files.{key}"),
            )
        post = _only(data["postprocess"], ("kind", "threshold", "matting"), source, "postprocess")
        matting = post.get("matting")
        postprocess = PostprocessSpec(
            kind=_get(post, "kind", source, "postprocess"),
            threshold=post.get("threshold"),
            matting=dict(matting) if isinstance(matting, Mapping) else matting,
        )
        manifest = cls(
            name=data["name"],
            version=data["version"],
            task=data["task"],
            arch=data["arch"],
            classes=classes,
            input=input_spec,
            files=files,
            postprocess=postprocess,
            metrics=copy.deepcopy(data["metrics"]),
            training=copy.deepcopy(data["training"]),
            quantization=copy.deepcopy(data.get("quantization")),
            created_at=data.get("created_at", ""),
            exporter=data.get("exporter", ""),
            schema=data["schema"],
        )
        manifest.validate(source)
        return manifest

    def validate(self, source: str = MANIFEST_NAME) -> None:
        """Check every field; raise :class:`BundleError` naming ``source`` and the first bad field."""
        _check_schema(self.schema, source)
        for name in ("name", "version", "arch"):
            _check_text(getattr(self, name), source, name)
        _check_choice(self.task, TASKS, source, "task")
        _check_classes(self.classes, source)
        _check_input(self.input, source)
        _check_files(self.files, source)
        _check_postprocess(self.postprocess, self.num_classes, source)
        for name in ("metrics", "training"):
            if not isinstance(getattr(self, name), dict):
                raise _bad(source, name, "must be a JSON object", getattr(self, name))
        if self.quantization is not None and not isinstance(self.quantization, dict):
            raise _bad(source, "quantization", "must be a JSON object or null", self.quantization)
        for name in ("created_at", "exporter"):
            if not isinstance(getattr(self, name), str):
                raise _bad(source, name, "must be a string", getattr(self, name))
        for name in ("metrics", "training", "quantization"):
            try:
                json.dumps(getattr(self, name), allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise BundleError(
                    f"{source}: field '{name}' cannot be written as strict JSON ({exc}); "
                    "store only strings, numbers (no NaN or infinity), booleans, null, lists and objects."
                ) from exc


def file_entry(bundle_dir: Path, precision: str) -> FileEntry:
    """Hash the model file of ``precision`` inside ``bundle_dir`` and describe it.

    Parameters
    ----------
    bundle_dir
        The bundle folder.
    precision
        One of :data:`PRECISIONS`; the file is ``FILE_NAMES[precision]``.

    Returns
    -------
    FileEntry
        With the file's name, SHA-256 and size.

    Raises
    ------
    BundleError
        When the precision is unknown or the file does not exist.
    """
    if precision not in FILE_NAMES:
        raise BundleError(f"unknown precision '{precision}'; use one of {', '.join(PRECISIONS)}")
    path = Path(bundle_dir) / FILE_NAMES[precision]
    if not path.is_file():
        raise BundleError(f"{path}: the {precision} model file does not exist; write it before hashing it")
    return FileEntry(
        path=FILE_NAMES[precision],
        sha256=sha256_file(path),
        size_bytes=path.stat().st_size,
        precision=precision,
    )


def write_manifest(manifest: Manifest, bundle_dir: Path) -> Path:
    """Validate ``manifest`` and write ``bundle_dir/manifest.json`` atomically.

    The JSON goes to a temporary file in the same folder, is flushed to disk and
    then renamed over ``manifest.json`` (``os.replace``), so a reader never sees a
    half-written manifest.

    Returns
    -------
    Path
        The path of the written ``manifest.json``.

    Raises
    ------
    BundleError
        When the manifest is invalid (the message names the field).
    """
    bundle_dir = Path(bundle_dir)
    target = bundle_dir / MANIFEST_NAME
    manifest.validate(str(target))
    text = json.dumps(manifest.to_json(), indent=2, allow_nan=False) + "\n"
    atomic_write(target, text.encode("utf-8"))
    log.info("wrote %s", target)
    return target


def read_manifest(bundle_dir: Path) -> Manifest:
    """Read and validate ``bundle_dir/manifest.json``.

    Raises
    ------
    BundleError
        When the file is missing, is not valid JSON or fails validation.
    """
    path = Path(bundle_dir) / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(
            f"{path}: manifest.json is missing, so {bundle_dir} is not a complete model bundle. "
            "Copy the whole bundle folder from the desktop export."
        )
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise BundleError(f"{path}: not UTF-8 text ({exc}); {_RECOPY}.") from exc
    except json.JSONDecodeError as exc:
        raise BundleError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}); {_RECOPY}."
        ) from exc
    except ValueError as exc:  # NaN / Infinity
        raise BundleError(f"{path}: {exc}; {_RECOPY}.") from exc
    return Manifest.from_json(data, source=str(path))


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of ``manifest.json`` shipped with this package."""
    text = resources.files("edge.bundle").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


# ---------------------------------------------------------------------------- parsing helpers


def _is_sequence(value: object) -> bool:
    """Lists, tuples and NumPy arrays (anything iterable but text or a mapping)."""
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping))


def _plain_int(value: Any) -> Any:
    """NumPy and other integral scalars become ``int``; anything else is left for validation."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


def _plain_float(value: Any) -> Any:
    """NumPy and other real scalars become ``float``; anything else is left for validation."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


def _reject_constant(name: str) -> float:
    raise ValueError(f"'{name}' is not valid JSON (strict JSON has no NaN or infinity)")


def _precision_order(key: str) -> tuple[int, str]:
    return (PRECISIONS.index(key) if key in PRECISIONS else len(PRECISIONS), key)


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _bad(source: str, name: str, problem: str, value: object) -> BundleError:
    return BundleError(f"{source}: field '{name}' {problem}, got {_describe(value)}. {_REEXPORT}")


def _object(value: object, source: str, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(source, name, "must be a JSON object", value)
    return value


def _list(value: object, source: str, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(source, name, "must be a JSON list", value)
    return value


def _only(value: object, allowed: tuple[str, ...], source: str, name: str) -> Mapping[str, Any]:
    obj = _object(value, source, name)
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise BundleError(
            f"{source}: field '{name}' has unknown keys {', '.join(repr(k) for k in unknown)}; "
            f"allowed are {', '.join(allowed)} (check the spelling). {_REEXPORT}"
        )
    return obj


def _get(container: object, key: str, source: str, parent: str) -> Any:
    obj = _object(container, source, parent)
    if key not in obj:
        raise BundleError(f"{source}: required field '{parent}.{key}' is missing. {_REEXPORT}")
    return obj[key]


def _tuple(value: object) -> Any:
    """Lists become tuples; anything else is passed on for validation to reject with its field name."""
    return tuple(value) if isinstance(value, list) else value


# ---------------------------------------------------------------------------- validation helpers


def _check_schema(schema: object, source: str) -> None:
    supported = ", ".join(f"'{s}'" for s in SUPPORTED_SCHEMAS)
    if schema is None:
        raise BundleError(
            f"{source}: field 'schema' is missing, so this is not a SteelSight model bundle manifest "
            f"(this runtime reads schema {supported}). Export the bundle with the SteelSight trainer."
        )
    if schema not in SUPPORTED_SCHEMAS:
        raise BundleError(
            f"{source}: schema {schema!r} is not supported; this runtime reads {supported}. "
            f"Update the edge software to a version that reads {schema!r}, or re-export the bundle "
            f"with a trainer that writes '{SCHEMA}'."
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _check_text(value: object, source: str, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _bad(source, name, "must be a non-empty string", value)


def _check_choice(value: object, allowed: tuple[str, ...], source: str, name: str) -> None:
    if value not in allowed:
        raise _bad(source, name, f"must be one of {', '.join(repr(a) for a in allowed)}", value)


def _check_classes(classes: object, source: str) -> None:
    if not isinstance(classes, tuple) or not classes:
        raise _bad(source, "classes", "must be a non-empty list of {id, name, color}", classes)
    for i, info in enumerate(classes):
        if not isinstance(info, ClassInfo):
            raise _bad(source, f"classes[{i}]", "must be an object {id, name, color}", info)
        if not _is_int(info.id):
            raise _bad(source, f"classes[{i}].id", "must be an integer", info.id)
        if info.id != i:
            raise _bad(
                source,
                f"classes[{i}].id",
                f"must be {i}: class ids are the logits channels 0..{len(classes) - 1} in order",
                info.id,
            )
        _check_text(info.name, source, f"classes[{i}].name")
        color = info.color
        if not (
            isinstance(color, tuple) and len(color) == 3 and all(_is_int(c) and 0 <= c <= 255 for c in color)
        ):
            raise _bad(source, f"classes[{i}].color", "must be [r, g, b] with integers 0..255", color)
    names = [info.name for info in classes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _bad(source, "classes", "must have unique names", duplicates)


def _check_triple(value: object, source: str, name: str, positive: bool) -> None:
    ok = isinstance(value, tuple) and len(value) == 3 and all(_is_number(v) for v in value)
    if ok and positive:
        ok = all(v > 0 for v in value)  # type: ignore[union-attr]
    if not ok:
        what = "3 positive numbers" if positive else "3 numbers"
        raise _bad(source, name, f"must be a list of {what} (one per channel)", value)


def _check_input(spec: object, source: str) -> None:
    if not isinstance(spec, InputSpec):
        raise _bad(source, "input", "must be an object {height, width, mean, std, ...}", spec)
    for name in ("height", "width"):
        value = getattr(spec, name)
        if not _is_int(value) or value <= 0:
            raise _bad(source, f"input.{name}", "must be a positive integer (pixels)", value)
    _check_triple(spec.mean, source, "input.mean", positive=False)
    _check_triple(spec.std, source, "input.std", positive=True)
    _check_choice(spec.color, COLOR_ORDERS, source, "input.color")
    _check_choice(spec.resize, RESIZE_MODES, source, "input.resize")
    _check_choice(spec.layout, LAYOUTS, source, "input.layout")
    _check_choice(spec.dtype, DTYPES, source, "input.dtype")


def _check_relative_path(value: object, source: str, name: str) -> None:
    if not isinstance(value, str) or not value or "\\" in value:
        raise _bad(source, name, "must be a file name relative to the bundle folder", value)
    pure = PurePosixPath(value)
    if pure.is_absolute() or ".." in pure.parts or value.startswith("~"):
        raise _bad(source, name, "must stay inside the bundle folder (no absolute path, no '..')", value)


def _check_files(files: object, source: str) -> None:
    if not isinstance(files, dict):
        raise _bad(source, "files", "must be an object keyed by precision", files)
    if "fp32" not in files:
        raise BundleError(
            f"{source}: field 'files.fp32' is missing; every bundle ships the FP32 model "
            f"({FILE_NAMES['fp32']}). {_REEXPORT}"
        )
    for key, entry in files.items():
        where = f"files.{key}"
        if key not in PRECISIONS:
            raise _bad(source, where, f"is not a known precision (use {', '.join(PRECISIONS)})", key)
        if not isinstance(entry, FileEntry):
            raise _bad(source, where, "must be an object {path, sha256, size_bytes, precision}", entry)
        _check_relative_path(entry.path, source, f"{where}.path")
        if not isinstance(entry.sha256, str) or not _SHA256.match(entry.sha256):
            raise _bad(source, f"{where}.sha256", "must be 64 lowercase hexadecimal characters", entry.sha256)
        if not _is_int(entry.size_bytes) or entry.size_bytes < 0:
            raise _bad(source, f"{where}.size_bytes", "must be a non-negative integer", entry.size_bytes)
        if entry.precision != key:
            raise _bad(source, f"{where}.precision", f"must equal its key '{key}'", entry.precision)
    paths = [entry.path for entry in files.values()]
    if len(set(paths)) != len(paths):
        raise _bad(source, "files", "must name a different file for each precision", paths)


def _check_probability(value: object, source: str, name: str) -> None:
    if not _is_number(value) or not 0.0 <= value <= 1.0:  # type: ignore[operator]
        raise _bad(source, name, "must be a number between 0 and 1", value)


def _check_postprocess(spec: object, num_classes: int, source: str) -> None:
    if not isinstance(spec, PostprocessSpec):
        raise _bad(source, "postprocess", "must be an object {kind, threshold, matting}", spec)
    _check_choice(spec.kind, POSTPROCESS_KINDS, source, "postprocess.kind")
    if spec.kind == "threshold":
        if spec.threshold is None:
            raise BundleError(
                f"{source}: field 'postprocess.threshold' is required when postprocess.kind is "
                f"'threshold'. {_REEXPORT}"
            )
        _check_probability(spec.threshold, source, "postprocess.threshold")
    elif spec.threshold is not None:
        raise _bad(source, "postprocess.threshold", "must be null when kind is 'argmax'", spec.threshold)
    if spec.matting is None:
        return
    if not isinstance(spec.matting, dict):
        raise _bad(source, "postprocess.matting", "must be {foreground, background, alpha}", spec.matting)
    missing = [key for key in MATTING_KEYS if key not in spec.matting]
    extra = sorted(set(spec.matting) - set(MATTING_KEYS))
    if missing or extra:
        raise _bad(
            source,
            "postprocess.matting",
            f"must have exactly the keys {', '.join(MATTING_KEYS)} (missing {missing}, unknown {extra})",
            spec.matting,
        )
    for key in MATTING_KEYS:
        _check_probability(spec.matting[key], source, f"postprocess.matting.{key}")
    if not spec.matting["background"] < spec.matting["foreground"]:
        raise _bad(
            source,
            "postprocess.matting",
            "must have background < foreground (the unknown band of the trimap lies between them)",
            spec.matting,
        )
    if num_classes < 2:
        raise _bad(source, "postprocess.matting", "needs 2 or more classes (background, weld)", num_classes)
