"""The ONNX Runtime backend: a bundle's ONNX model on the CPU (or ONNX Runtime's CUDA provider).

This is the backend everywhere but on the camera's GPU, and in the tests. It also holds the numpy
post-processing both backends share (:func:`softmax`, :func:`classes_from_logits`) and the batch
check (:func:`check_batch`), so ONNX Runtime and TensorRT refuse the same inputs with the same
messages and turn logits into the same class maps.

``onnxruntime`` is imported when an engine is created, not when this module is imported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from edge.bundle.loader import INPUT_NAME, OUTPUT_NAME, Bundle, load_bundle
from edge.bundle.manifest import BundleError, PostprocessSpec
from edge.engines.base import EngineOutput, TensorSpec
from edge.engines.select import BackendUnavailableError

__all__ = [
    "DEVICES",
    "OnnxRuntimeEngine",
    "check_batch",
    "classes_from_logits",
    "expected_shape_text",
    "softmax",
]

log = logging.getLogger(__name__)

DEVICES = ("cpu", "cuda")
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
MAX_CLASSES = 256
"""A uint8 class map holds class ids 0..255."""

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}

Dims = tuple[int | None, int | None, int | None, int | None]


# ---------------------------------------------------------------------------- shared post-processing


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """Softmax over ``axis`` (the class axis of ``[N, C, H, W]``), computed stably in float32.

    The per-pixel maximum is subtracted before ``exp``, so large logits never overflow.
    """
    values = np.asarray(logits, dtype=np.float32)
    shifted = values - values.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


def classes_from_logits(
    logits: np.ndarray, postprocess: PostprocessSpec, probabilities: np.ndarray | None = None
) -> np.ndarray:
    """The ``[N, H, W]`` uint8 class map of ``[N, C, H, W]`` logits, as the manifest's post-processing says.

    ``"argmax"``: the class with the largest logit (the first one on ties). ``"threshold"`` (two-class
    models): class 1 where the softmax probability of class 1 is at least ``postprocess.threshold``.

    Parameters
    ----------
    logits
        ``[N, C, H, W]`` logits.
    postprocess
        The bundle manifest's ``postprocess``.
    probabilities
        ``softmax(logits)`` when the caller already has it (saves computing it again).

    Raises
    ------
    ValueError
        For a threshold on a model that does not have exactly two classes.
    """
    if postprocess.kind == "threshold":
        if logits.shape[1] != 2:
            raise ValueError(
                f"postprocess 'threshold' needs a two-class model, but the logits have "
                f"{logits.shape[1]} classes"
            )
        if probabilities is None:
            probabilities = softmax(logits)
        return (probabilities[:, 1] >= np.float32(postprocess.threshold)).astype(np.uint8)
    return np.argmax(logits, axis=1).astype(np.uint8)


def check_postprocess(postprocess: PostprocessSpec, num_classes: int, source: str) -> None:
    """Refuse a bundle whose post-processing the engines cannot run (``source`` names it).

    Raises
    ------
    BundleError
        When there are more than 256 classes (a uint8 class map holds ids 0..255), or the kind is
        ``"threshold"`` and the model does not have exactly two classes.
    """
    if num_classes > MAX_CLASSES:
        raise BundleError(
            f"{source}: {num_classes} classes do not fit a uint8 class map (at most {MAX_CLASSES}); "
            "re-export the bundle with fewer classes"
        )
    if postprocess.kind == "threshold" and num_classes != 2:
        raise BundleError(
            f"{source}: postprocess.kind 'threshold' needs a two-class model (background, foreground), "
            f"but the manifest lists {num_classes} classes; use postprocess.kind 'argmax' or re-export the "
            "bundle"
        )


# ---------------------------------------------------------------------------- shared batch check


def expected_shape_text(expected: Dims) -> str:
    """``(None, 3, 64, 96)`` -> ``"[N,3,64,96]"``; unknown dims show as ``N``, ``C``, ``H``, ``W``."""
    letters = ("N", "C", "H", "W")
    return "[" + ",".join(letters[i] if d is None else str(d) for i, d in enumerate(expected)) + "]"


def check_batch(
    batch: object,
    expected: Dims,
    max_batch: int | None = None,
    dtype: np.dtype[Any] | type = np.float32,
) -> np.ndarray:
    """Check that ``batch`` fits an engine input and return it as a C-contiguous array of ``dtype``.

    A float16 batch is converted to float32 without loss (logged at DEBUG); a float32 batch for a
    float16 input is converted too. Any other dtype (uint8 pixels, float64) is refused: it means the
    preprocessing was skipped or produced the wrong type.

    Parameters
    ----------
    batch
        The candidate ``[N, 3, H, W]`` array.
    expected
        The input's dims; ``None`` for a dynamic one.
    max_batch
        The largest ``N`` the engine takes, or ``None`` for no limit.
    dtype
        The engine's input element type (float32 for every bundle model).

    Raises
    ------
    ValueError
        Naming the batch's shape or dtype and the expected shape.
    """
    want = np.dtype(dtype)
    shape_text = expected_shape_text(expected)
    what = f"expected a {want.name} array of shape {shape_text}"
    if max_batch is not None:
        what += f" with N <= {max_batch}"
    if not isinstance(batch, np.ndarray):
        raise ValueError(f"the batch must be a numpy array; got {type(batch).__name__}; {what}")
    if batch.ndim != 4:
        raise ValueError(f"the batch has shape {list(batch.shape)} ({batch.ndim}-D); {what} (NCHW)")
    if batch.shape[1] != 3:
        raise ValueError(
            f"the batch has {batch.shape[1]} channels (shape {list(batch.shape)}); {what}: 3 colour "
            "channels, channels first (NCHW)"
        )
    if batch.shape[0] < 1:
        raise ValueError(f"the batch is empty (shape {list(batch.shape)}); {what}")
    for axis, name in ((0, "batch size"), (2, "height"), (3, "width")):
        dim = expected[axis]
        if dim is not None and batch.shape[axis] != dim:
            raise ValueError(
                f"the batch has shape {list(batch.shape)}, but the model's {name} is fixed at {dim}; {what}"
            )
    if max_batch is not None and batch.shape[0] > max_batch:
        raise ValueError(
            f"the batch has {batch.shape[0]} images (shape {list(batch.shape)}), more than the engine takes; "
            f"{what}"
        )
    floats = (np.dtype(np.float32), np.dtype(np.float16))
    if batch.dtype != want:
        if batch.dtype in floats and want in floats:
            log.debug("converting a %s batch to the engine's %s input", batch.dtype.name, want.name)
            return np.ascontiguousarray(batch, dtype=want)
        raise ValueError(
            f"the batch has dtype {batch.dtype.name}; {what} (normalized by the preprocessing"
            + (", float16 is converted)" if want == np.float32 else ")")
        )
    return np.ascontiguousarray(batch)


def _dims(shape: Sequence[object]) -> Dims:
    """A graph's 4 input dims with dynamic (symbolic or unknown) ones as ``None``."""
    values = [d if isinstance(d, int) and not isinstance(d, bool) and d > 0 else None for d in shape]
    if len(values) != 4:
        raise BundleError(f"the model input has {len(values)} dims, expected 4 [N,3,H,W]")
    return (values[0], values[1], values[2], values[3])


# ---------------------------------------------------------------------------- the engine


class OnnxRuntimeEngine:
    """A bundle's ONNX model in an ONNX Runtime session, tuned for one frame at a time.

    Session options: full graph optimization (``ORT_ENABLE_ALL``), sequential execution, one
    inter-op thread, memory pattern on, and ``intra_threads`` intra-op threads (``None`` leaves
    ONNX Runtime's default: one per physical core).

    Parameters
    ----------
    bundle
        A loaded :class:`~edge.bundle.loader.Bundle`, or a bundle folder (loaded here: the model of
        ``precision`` is checked, and hashed when ``verify_hashes``).
    precision
        ``"fp32"``, ``"fp16"`` or ``"int8"``: which model file of the bundle to run.
    device
        ``"cpu"`` (the CPU provider) or ``"cuda"`` (ONNX Runtime's CUDA provider, with the CPU
        provider for the nodes CUDA does not take).
    intra_threads
        Intra-op thread count, or ``None`` for ONNX Runtime's default.
    inter_threads
        Inter-op thread count (sequential execution uses one).
    verify_hashes
        When ``bundle`` is a folder: compare the model's SHA-256 with the manifest.

    Raises
    ------
    BundleError
        From the loader (missing folder, bad manifest, damaged or absent model), or for a
        post-processing this engine cannot run.
    BackendUnavailableError
        When ``onnxruntime`` is not installed, or ``device="cuda"`` and ONNX Runtime has no working
        CUDA provider (the message lists the providers it has).
    ValueError
        For an unknown device or a bad thread count.

    Notes
    -----
    The session may be used from any thread, but the pipeline calls it from its inference thread
    only, like every :class:`~edge.engines.base.Engine`.
    """

    backend = "onnxruntime"

    def __init__(
        self,
        bundle: Bundle | Path,
        precision: str = "fp32",
        device: str = "cpu",
        intra_threads: int | None = None,
        inter_threads: int = 1,
        verify_hashes: bool = True,
    ) -> None:
        self._session: Any = None
        if device not in DEVICES:
            raise ValueError(f"unknown ONNX Runtime device {device!r}; choose one of {', '.join(DEVICES)}")
        if intra_threads is not None and (
            isinstance(intra_threads, bool) or not isinstance(intra_threads, int) or intra_threads < 1
        ):
            raise ValueError(f"intra_threads must be a positive integer or None, got {intra_threads!r}")
        if isinstance(inter_threads, bool) or not isinstance(inter_threads, int) or inter_threads < 1:
            raise ValueError(f"inter_threads must be a positive integer, got {inter_threads!r}")
        ort = _import_onnxruntime()
        providers = _providers(ort, device)

        if not isinstance(bundle, Bundle):
            bundle = load_bundle(Path(bundle), precision=precision, verify_hashes=verify_hashes)
        self.bundle: Bundle = bundle
        """The opened bundle (its manifest holds the classes and the preprocessing)."""
        self.precision = precision
        self.device = device
        self.model_path = bundle.model_path(precision)
        signature = bundle.signature(precision)
        manifest = bundle.manifest
        self.postprocess: PostprocessSpec = manifest.postprocess
        check_postprocess(self.postprocess, manifest.num_classes, str(bundle.dir / "manifest.json"))

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = inter_threads
        if intra_threads is not None:
            options.intra_op_num_threads = intra_threads
        options.enable_mem_pattern = True
        try:
            session = ort.InferenceSession(str(self.model_path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... exceptions
            raise BundleError(
                f"{self.model_path}: ONNX Runtime {ort.__version__} could not load the {precision} model "
                f"({exc}); re-copy the bundle from the desktop export, or re-export it with the SteelSight "
                "trainer"
            ) from exc
        active = list(session.get_providers())
        if device == "cuda" and CUDA_PROVIDER not in active:
            raise BackendUnavailableError(
                f"ONNX Runtime could not start its CUDA provider for {self.model_path.name} (the session "
                f"runs on {', '.join(active)}); check the NVIDIA driver and the CUDA/cuDNN libraries that "
                f"onnxruntime-gpu {ort.__version__} needs, or use device 'cpu'"
            )
        self._session = session
        self._ort_version = str(ort.__version__)
        self.providers: tuple[str, ...] = tuple(active)
        """The execution providers of the session, in priority order."""

        (graph_input,) = session.get_inputs()
        (graph_output,) = session.get_outputs()
        self.input_spec = TensorSpec(
            name=graph_input.name, shape=tuple(graph_input.shape), dtype=_ort_type(graph_input.type)
        )
        self.output_spec = TensorSpec(
            name=graph_output.name, shape=tuple(graph_output.shape), dtype=_ort_type(graph_output.type)
        )
        if self.input_spec.name != INPUT_NAME or self.output_spec.name != OUTPUT_NAME:
            raise BundleError(
                f"{self.model_path}: ONNX Runtime sees input {self.input_spec.name!r} and output "
                f"{self.output_spec.name!r}, expected '{INPUT_NAME}' and '{OUTPUT_NAME}'; "
                "re-export the bundle"
            )
        self._expected = _dims(signature.input_shape)
        self._input_dtype = np.dtype(self.input_spec.dtype)
        threads = "default" if intra_threads is None else str(intra_threads)
        self.description = (
            f"onnxruntime {self._ort_version} {'CUDA' if device == 'cuda' else 'CPU'} "
            f"({', '.join(active)}), {precision}, {self.model_path.name} of {bundle.name} "
            f"{manifest.version}, intra-op threads {threads}"
        )
        log.info("opened %s", self.description)

    # ------------------------------------------------------------------ properties

    @property
    def session_options(self) -> Any:
        """The options the session runs with (``onnxruntime.SessionOptions``), for inspection."""
        return self._live().get_session_options()

    @property
    def expected_shape(self) -> str:
        """The input shape this engine accepts, e.g. ``"[N,3,H,W]"`` or ``"[1,3,512,512]"``."""
        return expected_shape_text(self._expected)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._session is None

    # ------------------------------------------------------------------ Engine protocol

    def infer(self, batch: np.ndarray, probabilities: bool = False) -> EngineOutput:
        """Run ``batch`` (``[N, 3, H, W]`` float32) and return its uint8 class map.

        The class map follows the manifest's post-processing (argmax, or the two-class threshold).
        With ``probabilities`` the float32 softmax ``[N, C, H, W]`` comes back too.

        Raises
        ------
        ValueError
            When ``batch`` is not an array of the expected shape and dtype (the message names both).
        RuntimeError
            After :meth:`close`.
        """
        logits = self.infer_logits(batch)
        probs = softmax(logits) if probabilities or self.postprocess.kind == "threshold" else None
        classes = classes_from_logits(logits, self.postprocess, probs)
        return EngineOutput(classes=classes, probabilities=probs if probabilities else None)

    def infer_logits(self, batch: np.ndarray) -> np.ndarray:
        """Run ``batch`` and return the raw logits ``[N, C, H, W]`` as float32 (see :meth:`infer`)."""
        session = self._live()
        array = check_batch(batch, self._expected, dtype=self._input_dtype)
        (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: array})
        return np.asarray(logits, dtype=np.float32)

    def warmup(self, iterations: int = 3) -> None:
        """Run ``iterations`` inferences on zeros at the model's size (the manifest's for dynamic graphs)."""
        spec = self.bundle.manifest.input
        n, _, height, width = self._expected
        zeros = np.zeros((n or 1, 3, height or spec.height, width or spec.width), self._input_dtype)
        for _ in range(max(0, int(iterations))):
            self.infer_logits(zeros)
        log.debug("warmed up %s with %d inferences", self.model_path.name, iterations)

    def close(self) -> None:
        """Release the session. Calling it again does nothing; inference afterwards is an error."""
        if self._session is not None:
            self._session = None
            log.debug("closed the ONNX Runtime session of %s", self.model_path.name)

    def __enter__(self) -> OnnxRuntimeEngine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<OnnxRuntimeEngine {self.model_path} {self.precision} {self.device} {state}>"

    def _live(self) -> Any:
        if self._session is None:
            raise RuntimeError(f"the ONNX Runtime engine of {self.model_path} is closed")
        return self._session


# ---------------------------------------------------------------------------- helpers


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the ONNX Runtime backend needs the 'onnxruntime' package, which cannot be imported ({exc}); "
            "install it with `pip install 'steelsight[edge]'` (onnxruntime-gpu for its CUDA provider)"
        ) from exc
    return onnxruntime


def _providers(ort: Any, device: str) -> list[str]:
    available = list(ort.get_available_providers())
    if device == "cpu":
        return [CPU_PROVIDER]
    if CUDA_PROVIDER not in available:
        raise BackendUnavailableError(
            f"device 'cuda' needs ONNX Runtime's {CUDA_PROVIDER}, but onnxruntime {ort.__version__} here "
            f"has only {', '.join(available) or 'no providers'}; install onnxruntime-gpu (in place of "
            "onnxruntime) on a machine with an NVIDIA GPU, or use device 'cpu' (or 'auto')"
        )
    return [CUDA_PROVIDER, CPU_PROVIDER]


def _ort_type(type_name: str) -> str:
    """ONNX Runtime's ``"tensor(float)"`` -> numpy's ``"float32"``."""
    return _ORT_TYPES.get(type_name, type_name.removeprefix("tensor(").removesuffix(")"))
