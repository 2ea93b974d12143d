"""Build TensorRT engines from a model bundle, and cache them in ``<bundle>/engines/``.

Which ONNX file and which builder flags a precision needs depends on the
TensorRT major version (DESIGN.md, "TensorRT"):

====  ==========  =====================  ==================================
TRT   precision   source ONNX            network / builder flags
====  ==========  =====================  ==================================
10    fp32        ``model.onnx``         none
10    fp16        ``model.onnx``         ``FP16``
10    int8        ``model.int8.onnx``    ``INT8`` + ``FP16`` (Q/DQ scales)
11    fp32        ``model.onnx``         ``STRONGLY_TYPED``
11    fp16        ``model.fp16.onnx``    ``STRONGLY_TYPED``
11    int8        ``model.int8.onnx``    ``STRONGLY_TYPED``
====  ==========  =====================  ==================================

TensorRT and pycuda are imported lazily inside the functions that need them,
so this module imports (and its pure parts are tested) on machines without them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge import __version__
from edge.bundle.loader import INPUT_NAME, OUTPUT_NAME, Bundle, load_bundle
from edge.bundle.manifest import FILE_NAMES, PRECISIONS, BundleError
from edge.engines.cache_key import (
    EngineKey,
    atomic_write,
    engine_dir,
    engine_filename,
    sidecar_path,
    stale_reason,
    write_sidecar,
)

log = logging.getLogger(__name__)
trt_log = logging.getLogger("edge.engines.tensorrt")

SUPPORTED_MAJORS = (10, 11)
TIMING_CACHE_NAME = "timing.cache"
LOCK_NAME = ".build.lock"
MIN_DYNAMIC_SIDE = 32
"""The smallest height/width a dynamic-size profile accepts (pixels)."""

Shape4 = tuple[int, int, int, int]


class EngineBuildError(RuntimeError):
    """TensorRT could not build (or verify) an engine; the message says which file and why."""


class GpuUnavailableError(EngineBuildError):
    """No CUDA device could be queried (pycuda / cuda-python missing, or no driver or GPU)."""


# ---------------------------------------------------------------------------- versions and sources


def trt_major(trt_module: Any) -> int:
    """The major version of an imported ``tensorrt`` module (``"10.3.0"`` -> ``10``).

    Raises
    ------
    EngineBuildError
        When ``__version__`` is missing or does not start with a number.
    """
    version = str(getattr(trt_module, "__version__", ""))
    return _major_of(version)


def _major_of(version: str) -> int:
    match = re.match(r"^\s*(\d+)", version)
    if match is None:
        raise EngineBuildError(f"cannot read the TensorRT major version from {version!r}")
    return int(match.group(1))


def choose_source(major: int, precision: str) -> tuple[str, list[str], bool]:
    """Which bundle model and builder settings build an engine of ``precision`` on TensorRT ``major``.

    Parameters
    ----------
    major
        TensorRT major version (10 or 11).
    precision
        ``"fp32"``, ``"fp16"`` or ``"int8"``.

    Returns
    -------
    tuple
        ``(source precision, builder flag names, strongly typed)``: the key of the
        bundle file to parse (see :data:`~edge.bundle.manifest.FILE_NAMES`), the
        ``trt.BuilderFlag`` member names to set, and whether the network is
        created with ``STRONGLY_TYPED``.

    Raises
    ------
    ValueError
        For an unknown precision or an unsupported TensorRT major version.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown engine precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if major == 10:
        table: dict[str, tuple[str, list[str]]] = {
            "fp32": ("fp32", []),
            "fp16": ("fp32", ["FP16"]),
            "int8": ("int8", ["INT8", "FP16"]),
        }
        source, flags = table[precision]
        return source, flags, False
    if major == 11:
        return precision, [], True
    raise ValueError(
        f"TensorRT {major} is not supported; this runtime builds engines with TensorRT "
        f"{' or '.join(str(m) for m in SUPPORTED_MAJORS)} (JetPack 6 ships TensorRT 10). "
        "Install a supported TensorRT, or use the ONNX Runtime backend."
    )


# ---------------------------------------------------------------------------- optimization profile


@dataclass(frozen=True)
class ProfileSpec:
    """The ``(min, opt, max)`` shapes ``(N, 3, H, W)`` of the ``image`` input."""

    min: Shape4
    opt: Shape4
    max: Shape4

    def as_key(self) -> tuple[Shape4, Shape4, Shape4]:
        """The profile as the tuple stored in an :class:`~edge.engines.cache_key.EngineKey`."""
        return (self.min, self.opt, self.max)


def make_profile(height: int, width: int, max_batch: int = 1, dynamic_hw: bool = False) -> ProfileSpec:
    """The optimization profile for a configured input size and batch range.

    The batch ranges from 1 to ``max_batch`` and is optimized for 1, because a
    live camera sends one frame at a time. Without ``dynamic_hw`` the height and
    width are fixed at the configured size (the fastest engine); with it they
    range from half the configured size (at least :data:`MIN_DYNAMIC_SIDE`
    pixels) up to the configured size, optimized for the configured size.

    Raises
    ------
    ValueError
        When a size or ``max_batch`` is not a positive integer.
    """
    for name, value in (("height", height), ("width", width), ("max_batch", max_batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    opt: Shape4 = (1, 3, height, width)
    largest: Shape4 = (max_batch, 3, height, width)
    if not dynamic_hw:
        return ProfileSpec(min=opt, opt=opt, max=largest)
    min_h = min(height, max(MIN_DYNAMIC_SIDE, height // 2))
    min_w = min(width, max(MIN_DYNAMIC_SIDE, width // 2))
    return ProfileSpec(min=(1, 3, min_h, min_w), opt=opt, max=largest)


# ---------------------------------------------------------------------------- precision report


@dataclass(frozen=True)
class LayerPrecision:
    """The precision one engine layer runs in, as read from the engine inspector.

    Attributes
    ----------
    name
        The layer name (fused layers list their ONNX nodes).
    layer_type
        TensorRT's layer type, e.g. ``"CaskConvolution"``; empty when unknown.
    precision
        The lowest compute precision among the layer's tensors (``"fp32"``,
        ``"fp16"``, ``"bf16"``, ``"fp8"``, ``"int8"``, ``"int4"``, ``"fp4"``), or
        ``None`` when the inspector did not say (shape-only tensors, dynamic
        shapes, ``LAYER_NAMES_ONLY`` verbosity).
    """

    name: str
    layer_type: str
    precision: str | None


_DTYPE_WORDS = {
    "fp32": "fp32",
    "float": "fp32",
    "float32": "fp32",
    "fp16": "fp16",
    "half": "fp16",
    "float16": "fp16",
    "bf16": "bf16",
    "bfloat16": "bf16",
    "fp8": "fp8",
    "int8": "int8",
    "int4": "int4",
    "fp4": "fp4",
}
_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "fp8": 8, "int8": 8, "int4": 4, "fp4": 4}
_NO_KERNEL_TYPES = frozenset({"NoOp", "Constant"})


def tensor_precision(format_datatype: str) -> str | None:
    """The compute data type named in an inspector ``Format/Datatype`` string.

    ``"Row major linear FP32"`` -> ``"fp32"``, ``"Channel major FP16 format where
    channel % 8 == 0"`` -> ``"fp16"``, ``"Thirty-two wide channel vectorized row
    major Int8 format."`` -> ``"int8"``, ``"Half"`` -> ``"fp16"``. Integer index
    and boolean types, and ``"N/A due to dynamic shapes"``, give ``None``.
    """
    for word in re.findall(r"[a-z0-9]+", format_datatype.lower()):
        found = _DTYPE_WORDS.get(word)
        if found is not None:
            return found
    return None


def parse_layer_precisions(info_json: str) -> list[LayerPrecision]:
    """Read each layer's precision from ``IEngineInspector.get_engine_information(JSON)``.

    A layer's precision is the lowest compute precision among its input and
    output tensors: an INT8 convolution that writes FP32 logits counts as INT8,
    a reformat from FP32 to FP16 counts as FP16, a layer that reads and writes
    only FP32 counts as FP32.

    Parameters
    ----------
    info_json
        The inspector's JSON: ``{"Layers": [...], "Bindings": [...]}``; layers are
        objects with ``DETAILED`` profiling verbosity and plain names otherwise.

    Returns
    -------
    list of LayerPrecision
        One per layer, in engine order.

    Raises
    ------
    ValueError
        When ``info_json`` is not JSON.
    """
    data = json.loads(info_json)
    layers = data.get("Layers", []) if isinstance(data, dict) else []
    result: list[LayerPrecision] = []
    for layer in layers:
        if isinstance(layer, str):
            result.append(LayerPrecision(name=layer, layer_type="", precision=None))
            continue
        if not isinstance(layer, dict):
            continue
        found: list[str] = []
        for tensor in [*layer.get("Inputs", []), *layer.get("Outputs", [])]:
            if isinstance(tensor, dict):
                dtype = tensor_precision(str(tensor.get("Format/Datatype", "")))
                if dtype is not None:
                    found.append(dtype)
        lowest = min(found, key=lambda d: _BITS[d]) if found else None
        result.append(
            LayerPrecision(
                name=str(layer.get("Name", "?")), layer_type=str(layer.get("LayerType", "")), precision=lowest
            )
        )
    return result


def layers_above(layers: Sequence[LayerPrecision], requested: str) -> list[LayerPrecision]:
    """The layers that run at a higher precision than ``requested`` (kernel-less layers skipped)."""
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; use one of {', '.join(PRECISIONS)}")
    limit = _BITS[requested]
    return [
        layer
        for layer in layers
        if layer.precision is not None
        and layer.layer_type not in _NO_KERNEL_TYPES
        and _BITS[layer.precision] > limit
    ]


def log_precision_fallbacks(
    info_json: str, requested: str, engine_name: str = "engine"
) -> list[LayerPrecision]:
    """Log the layers of an engine that run above the requested precision; return them.

    The list is logged at INFO (some fallbacks are normal: resize, softmax and
    the float32 network boundary); a WARNING is added when more than half of the
    layers with a known precision fell back, which means the engine is not
    really of the requested precision.
    """
    layers = parse_layer_precisions(info_json)
    above = layers_above(layers, requested)
    known = [
        layer for layer in layers if layer.precision is not None and layer.layer_type not in _NO_KERNEL_TYPES
    ]
    if not above:
        log.info(
            "%s: all %d layers with a known precision run at %s or lower", engine_name, len(known), requested
        )
        return above
    shown = "; ".join(f"{layer.name} [{layer.layer_type}] {layer.precision}" for layer in above[:20])
    more = f" and {len(above) - 20} more" if len(above) > 20 else ""
    log.info(
        "%s: %d of %d layers run above %s: %s%s", engine_name, len(above), len(known), requested, shown, more
    )
    if known and len(above) * 2 > len(known):
        log.warning(
            "%s: %d of %d layers run above the requested %s; the engine is mostly higher precision "
            "(check the bundle's %s model and the TensorRT log)",
            engine_name,
            len(above),
            len(known),
            requested,
            requested,
        )
    return above


# ---------------------------------------------------------------------------- GPU


@dataclass(frozen=True)
class GpuInfo:
    """The CUDA device engines are built for."""

    name: str
    compute_capability: tuple[int, int]


def query_gpu() -> GpuInfo:
    """Name and compute capability of the CUDA device TensorRT will build for.

    With pycuda installed this is the device of the primary context that
    ``pycuda.autoprimaryctx`` makes current (the context TensorRT uses; it
    honours ``CUDA_DEVICE``); otherwise NVIDIA's cuda-python driver bindings
    report device 0 (after ``CUDA_VISIBLE_DEVICES``).

    Raises
    ------
    GpuUnavailableError
        When neither binding is installed or the driver reports no such device.
    """
    pycuda_problem = "not installed"
    try:
        import pycuda.autoprimaryctx  # noqa: F401  (retains and pushes the primary context)
        import pycuda.driver as cuda
    except ImportError as exc:
        pycuda_problem = f"cannot be imported: {exc}"
    except Exception as exc:  # pycuda raises its own errors when there is no driver or GPU
        raise GpuUnavailableError(
            f"pycuda could not open the CUDA device ({exc}); check the NVIDIA driver"
        ) from exc
    else:
        dev = cuda.Context.get_device()
        major, minor = dev.compute_capability()
        return GpuInfo(name=str(dev.name()), compute_capability=(int(major), int(minor)))

    try:
        try:
            from cuda.bindings import driver
        except ImportError:
            from cuda import cuda as driver  # cuda-python < 12.6
    except ImportError as exc:
        raise GpuUnavailableError(
            f"cannot query the GPU: pycuda {pycuda_problem}, and cuda-python is not installed; "
            "install pycuda with `pip install steelsight[jetson]` (on a Jetson it builds against JetPack)"
        ) from exc

    def checked(result: tuple[Any, ...], call: str) -> Any:
        err, *values = result
        if err != driver.CUresult.CUDA_SUCCESS:
            raise GpuUnavailableError(f"CUDA driver call {call} failed with {err}; check the NVIDIA driver")
        return values[0] if values else None

    checked(driver.cuInit(0), "cuInit")
    handle = checked(driver.cuDeviceGet(0), "cuDeviceGet")
    raw = checked(driver.cuDeviceGetName(256, handle), "cuDeviceGetName")
    attribute = driver.CUdevice_attribute
    major = checked(
        driver.cuDeviceGetAttribute(attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, handle),
        "cuDeviceGetAttribute",
    )
    minor = checked(
        driver.cuDeviceGetAttribute(attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, handle),
        "cuDeviceGetAttribute",
    )
    name = bytes(raw).split(b"\0", 1)[0].decode("utf-8", errors="replace")
    return GpuInfo(name=name, compute_capability=(int(major), int(minor)))


# ---------------------------------------------------------------------------- build plan


@dataclass(frozen=True)
class BuildPlan:
    """Everything decided before TensorRT is called: what to parse, how, and where the engine goes."""

    bundle: Bundle
    precision: str
    source_precision: str
    onnx_path: Path
    flags: tuple[str, ...]
    strongly_typed: bool
    profile: ProfileSpec
    key: EngineKey
    engine_path: Path
    timing_cache: Path


def plan_build(
    bundle: Bundle,
    trt_version: str,
    gpu: GpuInfo,
    precision: str,
    height: int | None = None,
    width: int | None = None,
    max_batch: int = 1,
    timing_cache: Path | None = None,
) -> BuildPlan:
    """Decide the source model, flags, profile, cache key and engine path of a build.

    Parameters
    ----------
    bundle
        The loaded bundle.
    trt_version
        ``tensorrt.__version__``.
    gpu
        The target device.
    precision
        The engine precision.
    height, width
        The input size to build for; ``None`` takes the manifest's ``input`` size.
    max_batch
        The largest batch the engine accepts.
    timing_cache
        The timing cache file; defaults to ``<bundle>/engines/timing.cache``.

    Raises
    ------
    BundleError
        When the bundle lacks the model this TensorRT version builds ``precision``
        from, or its graph does not accept the size or batch.
    ValueError
        For an unknown precision, an unsupported TensorRT version or a bad size.
    """
    major = _major_of(trt_version)
    source, flags, strongly_typed = choose_source(major, precision)
    try:
        entry = bundle.file(source)
    except BundleError as exc:
        raise BundleError(
            f"{exc}. (TensorRT {major} builds {precision} engines from {FILE_NAMES[source]}.)"
        ) from exc
    spec = bundle.manifest.input
    height = spec.height if height is None else height
    width = spec.width if width is None else width
    profile = make_profile(height, width, max_batch=max_batch)
    bundle.check_input_size(height, width, precision=source)
    batch = bundle.signature(source).input_shape[0]
    if isinstance(batch, int):
        if batch != max_batch:
            raise BundleError(
                f"{bundle.model_path(source)}: the graph has a static batch of {batch}, so the engine's "
                f"max batch must be {batch} (got {max_batch}); use that, or re-export the bundle with a "
                "dynamic batch"
            )
        fixed: Shape4 = (batch, 3, height, width)
        profile = ProfileSpec(min=fixed, opt=fixed, max=fixed)
    key = EngineKey(
        trt_version=trt_version,
        gpu_name=gpu.name,
        compute_capability=gpu.compute_capability,
        precision=precision,
        model_sha256=entry.sha256,
        profile=profile.as_key(),
    )
    folder = engine_dir(bundle.dir)
    return BuildPlan(
        bundle=bundle,
        precision=precision,
        source_precision=source,
        onnx_path=bundle.model_path(source),
        flags=tuple(flags),
        strongly_typed=strongly_typed,
        profile=profile,
        key=key,
        engine_path=folder / engine_filename(bundle.name, key),
        timing_cache=Path(timing_cache) if timing_cache is not None else folder / TIMING_CACHE_NAME,
    )


# ---------------------------------------------------------------------------- build


def build_engine(
    bundle: Bundle | Path,
    precision: str,
    height: int | None = None,
    width: int | None = None,
    max_batch: int = 1,
    workspace_mib: int = 1024,
    timing_cache: Path | None = None,
    force: bool = False,
) -> Path:
    """Return a TensorRT engine for ``bundle`` at ``precision``, building and caching it when needed.

    The cached engine in ``<bundle>/engines/`` is returned when its sidecar
    matches the current key (TensorRT version, GPU, compute capability,
    precision, source model SHA-256, profile) and its digest; otherwise it is
    rebuilt: the ONNX is parsed, the engine is built with the workspace limit,
    flags, profile and the persisted timing cache, written atomically, and its
    sidecar written last. Layers that run above the requested precision are
    logged. Concurrent builds of the same bundle are serialized by a lock file.

    Parameters
    ----------
    bundle
        A loaded :class:`~edge.bundle.loader.Bundle` (trusted as loaded), or a
        bundle folder (loaded here, verifying the source model's hash).
    precision
        ``"fp32"``, ``"fp16"`` or ``"int8"``.
    height, width
        Input size; ``None`` takes the manifest's size.
    max_batch
        Largest batch the engine accepts.
    workspace_mib
        Builder workspace memory pool limit (MiB).
    timing_cache
        Timing cache file; defaults to ``<bundle>/engines/timing.cache``.
    force
        Rebuild even when the cached engine is valid.

    Returns
    -------
    Path
        The engine file.

    Raises
    ------
    ImportError
        When the ``tensorrt`` package cannot be imported.
    GpuUnavailableError
        When no CUDA device can be queried.
    BundleError, ValueError
        For a bundle, precision or size this TensorRT version cannot build.
    EngineBuildError
        When parsing or building fails (the message names the ONNX file and nodes).
    """
    import tensorrt as trt

    if isinstance(workspace_mib, bool) or not isinstance(workspace_mib, int) or workspace_mib <= 0:
        raise ValueError(f"workspace_mib must be a positive integer, got {workspace_mib!r}")
    version = str(trt.__version__)
    source, _, _ = choose_source(trt_major(trt), precision)
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(Path(bundle), precision=source)
    gpu = query_gpu()
    plan = plan_build(bundle, version, gpu, precision, height, width, max_batch, timing_cache)

    if not force:
        reason = stale_reason(plan.engine_path, plan.key)
        if reason is None:
            log.info("using cached engine %s", plan.engine_path)
            return plan.engine_path
        log.info("building %s: %s", plan.engine_path.name, reason)

    try:
        plan.engine_path.parent.mkdir(parents=True, exist_ok=True)
        with (plan.engine_path.parent / LOCK_NAME).open("a"):
            pass
    except OSError as exc:
        raise EngineBuildError(
            f"{plan.engine_path.parent}: cannot write the engine cache ({exc}); make this folder writable "
            "by the user the runtime runs as"
        ) from exc
    with _build_lock(plan.engine_path.parent):
        if not force and stale_reason(plan.engine_path, plan.key) is None:
            log.info("another process built %s meanwhile; using it", plan.engine_path)
            return plan.engine_path
        return _build_and_store(trt, plan, workspace_mib)


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.build.lock`` (POSIX ``flock``) while building."""
    import fcntl

    with (folder / LOCK_NAME).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another engine build in %s", folder)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_and_store(trt: Any, plan: BuildPlan, workspace_mib: int) -> Path:
    started = time.monotonic()
    logger = trt_logger(trt)
    serialized = _build_serialized(trt, logger, plan, workspace_mib)
    seconds = time.monotonic() - started
    view = memoryview(serialized)

    sidecar_path(plan.engine_path).unlink(missing_ok=True)  # a crash from here on leaves a stale engine
    atomic_write(plan.engine_path, view)
    fallbacks = _report_precision(trt, logger, serialized, plan)
    details = {
        "source": plan.onnx_path.name,
        "source_precision": plan.source_precision,
        "flags": list(plan.flags),
        "strongly_typed": plan.strongly_typed,
        "workspace_mib": workspace_mib,
        "build_seconds": round(seconds, 1),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "bundle": {"name": plan.bundle.name, "version": plan.bundle.manifest.version},
        "layers_above_precision": fallbacks,
        "steelsight": __version__,
    }
    write_sidecar(plan.engine_path, plan.key, hashlib.sha256(view).hexdigest(), view.nbytes, details)
    log.info("built %s in %.1f s (%d bytes)", plan.engine_path, seconds, view.nbytes)
    return plan.engine_path


_TRT_LOGGER: Any = None


def trt_logger(trt: Any) -> Any:
    """The process-wide ``trt.ILogger`` that forwards TensorRT's messages to Python logging.

    TensorRT keeps the first logger it is given for the whole process, so this
    one is created once and never released; the inference backend should pass
    the same object to ``trt.Runtime``. INFO and VERBOSE messages go to DEBUG on
    the ``edge.engines.tensorrt`` logger.
    """
    global _TRT_LOGGER  # noqa: PLW0603  (one logger per process, as TensorRT requires)
    if _TRT_LOGGER is None:
        _TRT_LOGGER = _make_trt_logger(trt)
    return _TRT_LOGGER


def _make_trt_logger(trt: Any) -> Any:
    severity = trt.ILogger.Severity
    levels = {
        severity.INTERNAL_ERROR: logging.CRITICAL,
        severity.ERROR: logging.ERROR,
        severity.WARNING: logging.WARNING,
        severity.INFO: logging.DEBUG,
        severity.VERBOSE: logging.DEBUG,
    }

    class _LoggingBridge(trt.ILogger):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, level: Any, msg: str) -> None:
            python_level = levels.get(level, logging.INFO)
            if trt_log.isEnabledFor(python_level):
                trt_log.log(python_level, "%s", msg)

    return _LoggingBridge()


def format_parser_error(error: Any) -> str:
    """One line per ONNX parser error, naming the node when the parser knows it."""
    desc = str(error.desc())
    if hasattr(error, "code"):
        desc = f"{error.code()}: {desc}"
    node_index = int(error.node()) if hasattr(error, "node") else -1
    node_name = str(error.node_name()) if hasattr(error, "node_name") else ""
    operator = str(error.node_operator()) if hasattr(error, "node_operator") else ""
    if node_index < 0 and not node_name:
        return f"graph: {desc}"
    label = node_name or f"#{node_index}"
    return f"node {label!r}" + (f" ({operator})" if operator else "") + f": {desc}"


def _build_serialized(trt: Any, logger: Any, plan: BuildPlan, workspace_mib: int) -> Any:
    builder = trt.Builder(logger)
    network_flags = 0
    if plan.strongly_typed:
        strongly = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
        if strongly is not None:  # TensorRT 11 networks are always strongly typed; the flag may go away
            network_flags |= 1 << int(strongly)
    network = builder.create_network(network_flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(plan.onnx_path)):
        errors = [format_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
        listed = "\n  ".join(errors) or "(no details; see the TensorRT log)"
        raise EngineBuildError(
            f"{plan.onnx_path}: TensorRT {trt.__version__} could not parse the model:\n  {listed}\n"
            "Re-export the bundle with the SteelSight exporter (ONNX opset 17), or update TensorRT."
        )
    names_in = [network.get_input(i).name for i in range(network.num_inputs)]
    names_out = [network.get_output(i).name for i in range(network.num_outputs)]
    if names_in != [INPUT_NAME] or names_out != [OUTPUT_NAME]:
        raise EngineBuildError(
            f"{plan.onnx_path}: TensorRT sees inputs {names_in} and outputs {names_out}, expected "
            f"['{INPUT_NAME}'] and ['{OUTPUT_NAME}']; re-export the bundle"
        )

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    for flag in plan.flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT_NAME, plan.profile.min, plan.profile.opt, plan.profile.max)
    config.add_optimization_profile(profile)
    _load_timing_cache(config, plan.timing_cache)

    log.info(
        "building %s engine from %s (TensorRT %s, flags %s%s, profile %s..%s); this takes minutes",
        plan.precision,
        plan.onnx_path.name,
        trt.__version__,
        ", ".join(plan.flags) or "none",
        ", strongly typed" if plan.strongly_typed else "",
        plan.profile.min,
        plan.profile.max,
    )
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(
            f"{plan.onnx_path}: TensorRT {trt.__version__} failed to build the {plan.precision} engine; the "
            "errors are in the log above (logger 'edge.engines.tensorrt'). Try a larger workspace "
            "(--workspace-mib) or another precision."
        )
    _save_timing_cache(config, plan.timing_cache)
    return serialized


def _load_timing_cache(config: Any, path: Path) -> None:
    """Give the builder the persisted timing cache, or a fresh one when it is absent or unusable."""
    data = b""
    if path.is_file():
        try:
            data = path.read_bytes()
        except OSError as exc:
            log.warning("%s: cannot read the timing cache (%s); starting an empty one", path, exc)
    cache = None
    if data:
        try:
            cache = config.create_timing_cache(data)
        except Exception as exc:  # TensorRT raises RuntimeError/TypeError for a damaged cache
            log.warning("%s: timing cache is damaged (%s); starting an empty one", path, exc)
        if cache is not None and not config.set_timing_cache(cache, False):
            log.warning(
                "%s: timing cache is from another TensorRT version or GPU; starting an empty one", path
            )
            cache = None
    if cache is None:
        config.set_timing_cache(config.create_timing_cache(b""), False)


def _save_timing_cache(config: Any, path: Path) -> None:
    try:
        atomic_write(path, memoryview(config.get_timing_cache().serialize()))
    except Exception as exc:  # the cache only speeds up later builds; never fail a build for it
        log.warning("%s: cannot save the timing cache (%s)", path, exc)


def _report_precision(trt: Any, logger: Any, serialized: Any, plan: BuildPlan) -> int | None:
    """Deserialize the new engine (proving it loads) and log the layers above the requested precision.

    Returns the number of such layers, or ``None`` when the inspector gave no information.

    Raises
    ------
    EngineBuildError
        When the engine just built cannot be deserialized.
    """
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        plan.engine_path.unlink(missing_ok=True)
        raise EngineBuildError(
            f"{plan.engine_path}: TensorRT built an engine it cannot load back; see the TensorRT log above"
        )
    if not hasattr(engine, "create_engine_inspector") or not hasattr(trt, "LayerInformationFormat"):
        return None
    try:
        inspector = engine.create_engine_inspector()
        context = engine.create_execution_context()
        if context is not None:  # with a context the inspector reports formats of dynamic shapes too
            context.set_input_shape(INPUT_NAME, plan.profile.opt)
            inspector.execution_context = context
        info = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
        return len(log_precision_fallbacks(info, plan.precision, plan.engine_path.name))
    except Exception as exc:  # the report is diagnostics only
        log.warning("%s: could not inspect the engine's layer precisions (%s)", plan.engine_path.name, exc)
        return None
