"""Open a model bundle on the camera: manifest, file hashes and graph signatures.

:func:`load_bundle` refuses a bundle that the runtime could not run correctly
(wrong schema, damaged or missing files, a graph whose input or output does
not follow contract 1) with a :class:`~edge.bundle.manifest.BundleError` that
names the file and says what to do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from edge.bundle.hashing import sha256_file
from edge.bundle.manifest import PRECISIONS, BundleError, FileEntry, Manifest, read_manifest

log = logging.getLogger(__name__)

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
_RECOPY = "re-copy the bundle from the desktop export"
_REEXPORT = "re-export the bundle with the SteelSight trainer (trainer/export)"

Dim = int | str | None
"""One tensor dimension: an int when static, the symbol name when dynamic, None when unknown."""


@dataclass(frozen=True)
class GraphSignature:
    """The input and output shapes of one ONNX model file.

    Attributes
    ----------
    path
        The model file.
    input_shape
        ``image`` dims ``(N, 3, H, W)``; ints are static, strings are dynamic symbols.
    output_shape
        ``logits`` dims ``(N, C, H, W)``.
    """

    path: Path
    input_shape: tuple[Dim, ...]
    output_shape: tuple[Dim, ...]

    @property
    def static_size(self) -> tuple[int, int] | None:
        """``(height, width)`` when both are fixed in the graph, else ``None``."""
        height, width = self.input_shape[2], self.input_shape[3]
        if isinstance(height, int) and isinstance(width, int):
            return height, width
        return None


@dataclass(frozen=True)
class Bundle:
    """An opened, checked model bundle.

    Attributes
    ----------
    dir
        The bundle folder.
    manifest
        Its validated manifest.
    graphs
        The checked graph signature of each model file that was inspected, keyed by precision.
    """

    dir: Path
    manifest: Manifest
    graphs: Mapping[str, GraphSignature] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The model name from the manifest."""
        return self.manifest.name

    @property
    def precisions(self) -> tuple[str, ...]:
        """The precisions this bundle ships, in :data:`PRECISIONS` order."""
        return tuple(p for p in PRECISIONS if p in self.manifest.files)

    def file(self, precision: str) -> FileEntry:
        """The manifest entry of the model file of ``precision``.

        Raises
        ------
        BundleError
            When the bundle has no model of that precision.
        """
        if precision not in PRECISIONS:
            raise BundleError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        entry = self.manifest.files.get(precision)
        if entry is None:
            raise BundleError(
                f"{self.dir}: bundle '{self.name}' has no {precision} model (it ships "
                f"{', '.join(self.precisions)}); choose one of those as the model precision in the runtime "
                f"config, or re-export the bundle with the {precision} model"
            )
        return entry

    def model_path(self, precision: str) -> Path:
        """The path of the model file of ``precision`` (see :meth:`file` for the errors)."""
        return self.dir / self.file(precision).path

    def signature(self, precision: str) -> GraphSignature:
        """The graph signature of ``precision``, read and checked now if the loader did not already."""
        found = self.graphs.get(precision)
        if found is None:
            found = inspect_graph(self.model_path(precision), self.manifest)
        return found

    def check_input_size(self, height: int, width: int, precision: str | None = None) -> None:
        """Check that the graph(s) accept a ``height`` x ``width`` input.

        A graph exported with dynamic height and width accepts any size; a graph
        with a static size accepts only that size.

        Parameters
        ----------
        height, width
            The input size the runtime config asks for.
        precision
            Check only this model; by default every model the loader inspected.

        Raises
        ------
        BundleError
            When the size is not positive or a static graph has another size.
        """
        for name, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise BundleError(f"input {name} must be a positive integer (pixels), got {value!r}")
        targets = [precision] if precision is not None else list(self.graphs)
        for key in targets:
            sig = self.signature(key)
            static = sig.static_size
            if static is not None and static != (height, width):
                raise BundleError(
                    f"{sig.path}: the graph has a static input size {static[0]}x{static[1]} (HxW), but "
                    f"{height}x{width} was requested; set the runtime config's input size to "
                    f"{static[0]}x{static[1]}, or {_REEXPORT} with dynamic height and width"
                )
        spec = self.manifest.input
        if (height, width) != (spec.height, spec.width):
            log.info(
                "%s: running at %dx%d; the manifest's metrics were measured at %dx%d",
                self.name,
                height,
                width,
                spec.height,
                spec.width,
            )


def load_bundle(bundle_dir: Path, precision: str | None = None, verify_hashes: bool = True) -> Bundle:
    """Open and check a model bundle.

    Parameters
    ----------
    bundle_dir
        The bundle folder (holds ``manifest.json`` and the model files).
    precision
        The precision the caller will run. When given, only that model's hash and
        graph are checked (the other listed files must still exist with the
        listed size); when ``None`` every listed model is checked.
    verify_hashes
        Compare each checked file's SHA-256 with the manifest (reads the whole file).

    Returns
    -------
    Bundle
        The checked bundle.

    Raises
    ------
    BundleError
        Naming the file and the fix, when the folder or manifest is missing, the
        manifest is invalid or of another schema, a model file is missing or
        damaged, the precision is absent, or a graph does not follow contract 1.
    """
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.exists():
        raise BundleError(
            f"{bundle_dir}: model bundle folder does not exist; check the bundle path in the runtime config "
            "or copy the bundle from the desktop export"
        )
    if not bundle_dir.is_dir():
        raise BundleError(f"{bundle_dir}: is not a folder; a model bundle is a folder holding manifest.json")
    manifest = read_manifest(bundle_dir)
    bundle = Bundle(dir=bundle_dir, manifest=manifest)
    if precision is not None:
        bundle.file(precision)  # raises when absent or unknown

    for key in bundle.precisions:
        entry = manifest.files[key]
        path = bundle_dir / entry.path
        if not path.is_file():
            raise BundleError(
                f"{path}: model file listed in manifest.json (files.{key}) is missing; the bundle copy is "
                f"incomplete: {_RECOPY}"
            )
        size = path.stat().st_size
        if size != entry.size_bytes:
            raise BundleError(
                f"{path}: size is {size} bytes but manifest.json expects {entry.size_bytes}; the file is "
                f"damaged or was changed: {_RECOPY}"
            )

    checked = [precision] if precision is not None else list(bundle.precisions)
    graphs: dict[str, GraphSignature] = {}
    for key in checked:
        entry = manifest.files[key]
        path = bundle_dir / entry.path
        if verify_hashes:
            actual = sha256_file(path)
            if actual != entry.sha256:
                raise BundleError(
                    f"{path}: sha256 mismatch: manifest.json expects {entry.sha256}, the file has {actual}; "
                    f"the file is damaged or was changed: {_RECOPY}"
                )
        graphs[key] = inspect_graph(path, manifest)
    log.info(
        "loaded bundle %s %s (%s) from %s; checked %s%s",
        manifest.name,
        manifest.version,
        manifest.task,
        bundle_dir,
        ", ".join(checked),
        "" if verify_hashes else " without hashes",
    )
    return Bundle(dir=bundle_dir, manifest=manifest, graphs=graphs)


def inspect_graph(path: Path, manifest: Manifest) -> GraphSignature:
    """Read the input/output signature of an ONNX file and check it against contract 1.

    Only the graph's inputs and outputs are inspected (``onnx.load`` with
    ``load_external_data=False``); the model is not run.

    Raises
    ------
    BundleError
        When the file is not ONNX, keeps weights in external files, or its input
        is not ``image`` ``[N, 3, H, W]`` float32 (H, W dynamic or equal to the
        manifest's input size), or its output is not ``logits`` ``[N, C, H, W]``
        float32 with ``C`` = the number of classes.
    """
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - onnx is a runtime dependency of the edge extra
        raise BundleError(
            f"{path}: cannot check the model graph because the 'onnx' package is not installed; "
            "install it with `pip install steelsight[edge]`"
        ) from exc

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise BundleError(f"{path}: not a readable ONNX model ({exc}); {_RECOPY}") from exc
    graph = model.graph
    external = [t.name for t in graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise BundleError(
            f"{path}: keeps {len(external)} weight tensors in external files (e.g. {external[0]!r}), which "
            f"the bundle's hashes do not cover; {_REEXPORT} with the weights embedded"
        )

    initializers = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initializers]
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        found = ", ".join(repr(v.name) for v in inputs) or "none"
        raise BundleError(
            f"{path}: the graph must have one input named '{INPUT_NAME}' [N,3,H,W] float32, found {found}; "
            f"{_REEXPORT}"
        )
    outputs = list(graph.output)
    if len(outputs) != 1 or outputs[0].name != OUTPUT_NAME:
        found = ", ".join(repr(v.name) for v in outputs) or "none"
        raise BundleError(
            f"{path}: the graph must have one output named '{OUTPUT_NAME}' [N,C,H,W] float32, found {found}; "
            f"{_REEXPORT}"
        )
    in_shape = _shape(inputs[0], path, onnx)
    out_shape = _shape(outputs[0], path, onnx)

    spec = manifest.input
    if len(in_shape) != 4 or in_shape[1] != 3:
        raise BundleError(
            f"{path}: input '{INPUT_NAME}' has shape {_show(in_shape)}, expected [N,3,H,W]; {_REEXPORT}"
        )
    for axis, name, expected in ((2, "height", spec.height), (3, "width", spec.width)):
        dim = in_shape[axis]
        if isinstance(dim, int) and dim != expected:
            raise BundleError(
                f"{path}: input '{INPUT_NAME}' has a static {name} of {dim}, but manifest.json input.{name} "
                f"is {expected}; {_REEXPORT} (dynamic height and width, or the manifest's size)"
            )
    classes = manifest.num_classes
    if len(out_shape) != 4 or out_shape[1] != classes:
        raise BundleError(
            f"{path}: output '{OUTPUT_NAME}' has shape {_show(out_shape)}, expected [N,{classes},H,W] "
            f"(C = the {classes} classes in manifest.json, as a static dimension); {_REEXPORT}"
        )
    return GraphSignature(path=path, input_shape=in_shape, output_shape=out_shape)


def _shape(value_info: Any, path: Path, onnx: ModuleType) -> tuple[Dim, ...]:
    """The dims of a graph input/output (an ``onnx.ValueInfoProto``); refuses types other than float32."""
    tensor_type = value_info.type.tensor_type
    name = value_info.name
    if tensor_type.elem_type != onnx.TensorProto.FLOAT:
        type_name = onnx.TensorProto.DataType.Name(tensor_type.elem_type)
        raise BundleError(
            f"{path}: '{name}' has element type {type_name}, expected FLOAT (float32 inputs and outputs, "
            f"also for the fp16 and int8 models); {_REEXPORT}"
        )
    if not tensor_type.HasField("shape"):
        raise BundleError(f"{path}: '{name}' has no shape in the graph; {_REEXPORT}")
    dims: list[Dim] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        elif dim.HasField("dim_param"):
            dims.append(str(dim.dim_param))
        else:
            dims.append(None)
    return tuple(dims)


def _show(shape: tuple[Dim, ...]) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"
