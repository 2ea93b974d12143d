"""The TensorRT backend: a cached engine built from the bundle, run with pycuda on one CUDA stream.

How one inference runs (:meth:`TensorRTEngine.infer`):

1. the batch is copied into a page-locked host buffer and from there, asynchronously, into the
   input tensor's device buffer (the fused CUDA preprocessing skips this step: it writes straight
   into :meth:`~TensorRTEngine.input_device_ptr` and calls :meth:`~TensorRTEngine.infer_from_device`);
2. ``execute_async_v3`` enqueues the engine on the stream (TensorRT 10/11 name-based tensor API);
3. a small CUDA kernel (``kernels/argmax.cu``) reduces the logits on the GPU to a uint8 class map
   (argmax, or the two-class threshold of the manifest), so only ``N x H x W`` bytes come back;
   the logits are copied back only when probabilities or logits are asked for;
4. the stream is synchronized and the class map copied out of the page-locked buffer.

Device and page-locked buffers are allocated once, for the largest batch. ``tensorrt`` and
``pycuda`` are imported when an engine is created, never at module import.

Threading: pycuda's ``autoprimaryctx`` uses the device's primary context (the one TensorRT's CUDA
runtime uses). The engine makes it current on the thread that creates it and every CUDA call of
the engine (inference, the kernel, copies, :meth:`~TensorRTEngine.close`) must come from that same
thread; calls from another thread raise ``RuntimeError``.
"""

from __future__ import annotations

import logging
import math
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from edge.bundle.loader import INPUT_NAME, OUTPUT_NAME, Bundle, load_bundle
from edge.bundle.manifest import BundleError, PostprocessSpec
from edge.cuda_resources import CudaResources, import_pycuda
from edge.engines.base import EngineOutput, TensorSpec
from edge.engines.onnxruntime_engine import check_batch, check_postprocess, classes_from_logits, softmax
from edge.engines.select import TENSORRT_INSTALL_HINT, BackendUnavailableError
from edge.engines.tensorrt_build import EngineBuildError, build_engine, choose_source, trt_logger, trt_major

__all__ = ["KERNEL_NAMES", "KERNEL_RESOURCE", "TensorRTEngine", "kernel_name", "kernel_source"]

log = logging.getLogger(__name__)

KERNEL_RESOURCE = "kernels/argmax.cu"
"""The GPU post-processing kernels, shipped as package data of ``edge.engines``."""
KERNEL_NAMES = {
    ("argmax", "float32"): "argmax_f32",
    ("argmax", "float16"): "argmax_f16",
    ("threshold", "float32"): "threshold2_f32",
    ("threshold", "float16"): "threshold2_f16",
}
"""The ``extern "C"`` kernel for each (post-processing kind, logits dtype)."""
KERNEL_ARG_TYPES = {"argmax": "PPiii", "threshold": "PPiif"}
"""pycuda ``prepare`` argument types: (logits, classes, n, c, hw) and (logits, classes, n, hw, threshold)."""
BLOCK_SIZE = 256


def kernel_source() -> str:
    """The CUDA source of the post-processing kernels (``edge/engines/kernels/argmax.cu``)."""
    return resources.files("edge.engines").joinpath(KERNEL_RESOURCE).read_text(encoding="utf-8")


def kernel_name(kind: str, dtype: str) -> str:
    """The kernel for post-processing ``kind`` (``"argmax"``, ``"threshold"``) on ``dtype`` logits.

    Raises
    ------
    ValueError
        For a kind or logits dtype the kernels do not cover.
    """
    try:
        return KERNEL_NAMES[(kind, dtype)]
    except KeyError:
        raise ValueError(
            f"no GPU post-processing kernel for {kind!r} on {dtype} logits (kernels cover argmax and "
            "threshold on float32 and float16)"
        ) from None


class TensorRTEngine:
    """A bundle's model as a TensorRT engine on the GPU (built on first use and cached).

    Parameters
    ----------
    bundle
        A loaded :class:`~edge.bundle.loader.Bundle`, or a bundle folder (loaded here, checking the
        model TensorRT builds ``precision`` from).
    precision
        ``"fp32"``, ``"fp16"`` or ``"int8"``.
    height, width
        The input size to build for (``None``: the manifest's). The engine takes exactly this size.
    max_batch
        The largest batch; buffers are allocated for it once.
    stream
        A ``pycuda.driver.Stream`` to run on (shared with the CUDA preprocessing), or ``None`` to
        create one.
    workspace_mib
        The builder's workspace limit when the engine has to be built.

    Raises
    ------
    BackendUnavailableError
        When ``tensorrt`` or ``pycuda`` cannot be imported, or pycuda cannot open the GPU.
    BundleError, ValueError
        For a bundle, precision or size TensorRT cannot build.
    EngineBuildError
        When the engine cannot be built, deserialized or set up.

    Notes
    -----
    All calls must come from the thread that created the engine (see the module docstring).
    """

    backend = "tensorrt"

    def __init__(
        self,
        bundle: Bundle | Path,
        precision: str = "fp16",
        height: int | None = None,
        width: int | None = None,
        max_batch: int = 1,
        stream: Any = None,
        workspace_mib: int = 1024,
    ) -> None:
        self._closed = True
        self._gpu: CudaResources | None = None
        self._trt_context: Any = None
        self._trt_engine: Any = None
        self._runtime: Any = None
        self._module: Any = None
        self._kernel: Any = None
        self.stream: Any = None
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")

        trt, cuda, primary = _import_gpu_stack()
        self._cuda = cuda
        source, _, _ = choose_source(trt_major(trt), precision)
        if not isinstance(bundle, Bundle):
            bundle = load_bundle(Path(bundle), precision=source)
        self.bundle: Bundle = bundle
        """The opened bundle (its manifest holds the classes and the preprocessing)."""
        self.precision = precision
        manifest = bundle.manifest
        self.postprocess: PostprocessSpec = manifest.postprocess
        check_postprocess(self.postprocess, manifest.num_classes, str(bundle.dir / "manifest.json"))

        self._gpu = CudaResources("TensorRT engine", cuda, primary)  # pushes the context (popped in close)
        self._closed = False
        try:
            self._open(trt, self._gpu, bundle, precision, height, width, max_batch, stream, workspace_mib)
            self._load_kernel(primary)
        except BaseException:
            try:
                self.close()
            except Exception as cleanup:  # keep the original error
                log.debug("cleaning up after a failed start: %s", cleanup)
            raise
        gpu = str(primary.device.name())
        where = "GPU" if self._kernel is not None else "host"
        self.description = (
            f"tensorrt {trt.__version__} on {gpu}, {precision}, {self.engine_path.name} ({bundle.name} "
            f"{manifest.version}), input {self.height}x{self.width}, max batch {self.max_batch}, "
            f"{self.postprocess.kind} on the {where}"
        )
        log.info("opened %s", self.description)

    # ------------------------------------------------------------------ setup

    def _open(
        self,
        trt: Any,
        gpu: CudaResources,
        bundle: Bundle,
        precision: str,
        height: int | None,
        width: int | None,
        max_batch: int,
        stream: Any,
        workspace_mib: int,
    ) -> None:
        self.engine_path: Path = build_engine(
            bundle, precision, height, width, max_batch=max_batch, workspace_mib=workspace_mib
        )
        rebuild = (
            f"delete it (it is rebuilt on the next start) or run `steelsight-edge build-engine {bundle.dir} "
            f"--precision {precision} --force`"
        )
        self._runtime = trt.Runtime(trt_logger(trt))
        self._trt_engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self._trt_engine is None:
            raise EngineBuildError(
                f"{self.engine_path}: TensorRT {trt.__version__} could not load this engine (see the "
                f"TensorRT log above); {rebuild}"
            )
        engine = self._trt_engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
            raise EngineBuildError(
                f"{self.engine_path}: the engine has inputs {inputs} and outputs {outputs}, expected "
                f"['{INPUT_NAME}'] and ['{OUTPUT_NAME}']; {rebuild}"
            )
        in_dtype = _numpy_dtype(trt, engine.get_tensor_dtype(INPUT_NAME), INPUT_NAME, self.engine_path)
        out_dtype = _numpy_dtype(trt, engine.get_tensor_dtype(OUTPUT_NAME), OUTPUT_NAME, self.engine_path)

        profile = engine.get_tensor_profile_shape(INPUT_NAME, 0)
        low, _, high = (tuple(int(d) for d in dims) for dims in profile)
        if low[1:] != high[1:] or high[1] != 3:
            raise EngineBuildError(
                f"{self.engine_path}: the engine's input profile {low}..{high} is not [N,3,H,W] with a fixed "
                f"H and W; {rebuild}"
            )
        self._min_batch, self.max_batch = low[0], high[0]
        self.height, self.width = high[2], high[3]
        max_shape = (self.max_batch, 3, self.height, self.width)

        self._trt_context = engine.create_execution_context()
        if self._trt_context is None:
            raise EngineBuildError(
                f"{self.engine_path}: TensorRT could not create an execution context (not enough GPU memory?)"
            )
        if not self._trt_context.set_input_shape(INPUT_NAME, max_shape):
            raise EngineBuildError(f"{self.engine_path}: the engine refuses the input shape {max_shape}")
        out_shape = tuple(int(d) for d in self._trt_context.get_tensor_shape(OUTPUT_NAME))
        classes = bundle.manifest.num_classes
        if len(out_shape) != 4 or out_shape[1] != classes or out_shape[2:] != (self.height, self.width):
            raise EngineBuildError(
                f"{self.engine_path}: the engine's output is {list(out_shape)}, expected "
                f"[{self.max_batch},{classes},{self.height},{self.width}]; {rebuild}"
            )
        self._batch = self.max_batch
        self._num_classes = classes
        self._out_dtype = out_dtype

        self._d_input = gpu.alloc(math.prod(max_shape) * in_dtype.itemsize)
        self._d_logits = gpu.alloc(math.prod(out_shape) * out_dtype.itemsize)
        self._d_classes = gpu.alloc(self.max_batch * self.height * self.width)
        self._h_input = gpu.pinned(max_shape, in_dtype)
        self._h_logits = gpu.pinned(out_shape, out_dtype)
        self._h_classes = gpu.pinned((self.max_batch, self.height, self.width), np.dtype(np.uint8))
        for name, buffer in ((INPUT_NAME, self._d_input), (OUTPUT_NAME, self._d_logits)):
            if not self._trt_context.set_tensor_address(name, int(buffer)):
                raise EngineBuildError(f"{self.engine_path}: TensorRT refused the device address of {name!r}")
        self.stream = stream if stream is not None else gpu.cuda.Stream()

        batch_dim = None if self._min_batch != self.max_batch else self.max_batch
        self.input_spec = TensorSpec(INPUT_NAME, (batch_dim, 3, self.height, self.width), in_dtype.name)
        self.output_spec = TensorSpec(
            OUTPUT_NAME, (batch_dim, classes, self.height, self.width), out_dtype.name
        )
        self._expected = (batch_dim, 3, self.height, self.width)
        self._in_dtype = in_dtype

    def _load_kernel(self, primary: Any) -> None:
        """Compile the post-processing kernel; without nvcc, fall back to post-processing on the host."""
        name = kernel_name(self.postprocess.kind, self._out_dtype.name)
        try:
            from pycuda.compiler import SourceModule

            self._module = SourceModule(kernel_source(), no_extern_c=True)
            kernel = self._module.get_function(name)
            kernel.prepare(KERNEL_ARG_TYPES[self.postprocess.kind])
        except Exception as exc:  # CompileError, nvcc missing (OSError), driver errors
            log.warning(
                "cannot compile the GPU post-processing kernel %s (%s); the logits are copied back and "
                "post-processed on the host instead, which is slower. Put CUDA's nvcc on the PATH of the "
                "runtime's user (on a Jetson: /usr/local/cuda/bin) to use the GPU kernel.",
                name,
                exc,
            )
            self._module = None
            self._kernel = None
            return
        self._kernel = kernel
        log.debug("compiled %s for %s", name, primary.device.name())

    # ------------------------------------------------------------------ the fused-preprocessing interface

    def input_device_ptr(self) -> int:
        """The device address of the input tensor ``[max_batch, 3, H, W]`` (``input_spec.dtype``, NCHW).

        The CUDA preprocessing writes image ``i`` at element offset ``i * 3 * H * W``, on
        :attr:`stream` (or synchronizes before :meth:`infer_from_device`), from the engine's thread.
        """
        self._check_usable()
        return int(self._d_input)

    def infer_from_device(self, n: int, probabilities: bool = False) -> EngineOutput:
        """Run the engine on the first ``n`` images already in the input buffer; return the class map.

        Parameters
        ----------
        n
            How many images the input buffer holds (1 .. :attr:`max_batch`).
        probabilities
            Also copy the logits back and return their float32 softmax.

        Raises
        ------
        ValueError
            When ``n`` is outside the engine's batch range.
        RuntimeError
            After :meth:`close`, from another thread, or when TensorRT fails to enqueue.
        """
        self._check_usable()
        valid = isinstance(n, int | np.integer) and not isinstance(n, bool)
        if not valid or not self._min_batch <= n <= self.max_batch:
            raise ValueError(f"n must be an integer from {self._min_batch} to {self.max_batch}, got {n!r}")
        classes, logits = self._run(int(n), want_logits=probabilities)
        assert classes is not None
        probs = softmax(logits) if probabilities and logits is not None else None
        return EngineOutput(classes=classes, probabilities=probs)

    # ------------------------------------------------------------------ Engine protocol

    def infer(self, batch: np.ndarray, probabilities: bool = False) -> EngineOutput:
        """Copy ``batch`` (``[N, 3, H, W]`` float32) to the GPU, run it, and return its class map.

        Raises
        ------
        ValueError
            When ``batch`` does not fit the engine (the message names the expected shape).
        RuntimeError
            After :meth:`close`, from another thread, or when TensorRT fails to enqueue.
        """
        n = self._upload(batch)
        return self.infer_from_device(n, probabilities)

    def infer_logits(self, batch: np.ndarray) -> np.ndarray:
        """Run ``batch`` and return the raw logits ``[N, C, H, W]`` as float32."""
        n = self._upload(batch)
        _, logits = self._run(n, want_logits=True, want_classes=False)
        assert logits is not None
        return logits

    def warmup(self, iterations: int = 3) -> None:
        """Run ``iterations`` single-image inferences on zeros (overwrites the input buffer)."""
        self._check_usable()
        self._h_input[:1].fill(0)
        self._cuda.memcpy_htod_async(self._d_input, self._h_input[:1], self.stream)
        for _ in range(max(0, int(iterations))):
            self._run(1, want_logits=False)
        log.debug("warmed up %s with %d inferences", self.engine_path.name, iterations)

    def close(self) -> None:
        """Release the execution context, engine, buffers and kernel; pop the CUDA context.

        Must be called on the engine's thread. Calling it again does nothing.
        """
        gpu = self._gpu
        if gpu is None or (self._closed and not gpu.context_pushed):
            return
        gpu.release(self.stream, self._drop)

    def _drop(self) -> None:
        """Let go of the kernel and the TensorRT objects (before :meth:`close` frees the buffers)."""
        self._closed = True
        self._kernel = None
        self._module = None
        self._trt_context = None  # the context before its engine, the engine before its runtime
        self._trt_engine = None
        self._runtime = None
        self.stream = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> TensorRTEngine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _check_usable(self) -> None:
        if self._closed or self._gpu is None:
            raise RuntimeError("the TensorRT engine is closed")
        self._gpu.check_thread()

    def _upload(self, batch: np.ndarray) -> int:
        self._check_usable()
        array = check_batch(batch, self._expected, max_batch=self.max_batch, dtype=self._in_dtype)
        n = array.shape[0]
        host = self._h_input[:n]
        np.copyto(host, array)
        self._cuda.memcpy_htod_async(self._d_input, host, self.stream)
        return n

    def _run(
        self, n: int, want_logits: bool, want_classes: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Enqueue the engine for ``n`` images, the kernel and the copies; wait; return the results."""
        if n != self._batch:
            if not self._trt_context.set_input_shape(INPUT_NAME, (n, 3, self.height, self.width)):
                raise RuntimeError(f"{self.engine_path}: TensorRT refused a batch of {n}")
            self._batch = n
        if not self._trt_context.execute_async_v3(self.stream.handle):
            raise RuntimeError(
                f"{self.engine_path}: TensorRT could not enqueue the inference (see the TensorRT log above)"
            )
        gpu_classes = want_classes and self._kernel is not None
        copy_logits = want_logits or (want_classes and self._kernel is None)
        if gpu_classes:
            pixels = self.height * self.width
            grid = (max(1, math.ceil(n * pixels / BLOCK_SIZE)), 1)
            block = (BLOCK_SIZE, 1, 1)
            if self.postprocess.kind == "threshold":
                args: tuple[Any, ...] = (n, pixels, float(self.postprocess.threshold or 0.0))
            else:
                args = (n, self._num_classes, pixels)
            self._kernel.prepared_async_call(
                grid, block, self.stream, int(self._d_logits), int(self._d_classes), *args
            )
            self._cuda.memcpy_dtoh_async(self._h_classes[:n], self._d_classes, self.stream)
        if copy_logits:
            self._cuda.memcpy_dtoh_async(self._h_logits[:n], self._d_logits, self.stream)
        self.stream.synchronize()
        logits = self._h_logits[:n].astype(np.float32) if copy_logits else None
        classes: np.ndarray | None = None
        if gpu_classes:
            classes = self._h_classes[:n].copy()
        elif want_classes and logits is not None:
            classes = classes_from_logits(logits, self.postprocess)
        return classes, logits


# ---------------------------------------------------------------------------- helpers


def _import_gpu_stack() -> tuple[Any, Any, Any]:
    """Import ``tensorrt``, ``pycuda.driver`` and ``pycuda.autoprimaryctx`` (which opens the GPU)."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the TensorRT backend needs the 'tensorrt' package, which cannot be imported ({exc}); "
            f"{TENSORRT_INSTALL_HINT}"
        ) from exc
    cuda, primary = import_pycuda(BackendUnavailableError, "the TensorRT backend", TENSORRT_INSTALL_HINT)
    return trt, cuda, primary


def _numpy_dtype(trt: Any, dtype: Any, name: str, path: Path) -> np.dtype[Any]:
    """The numpy dtype of a float32 or half engine tensor; other types cannot be post-processed here."""
    if dtype == trt.DataType.FLOAT:
        return np.dtype(np.float32)
    if dtype == trt.DataType.HALF:
        return np.dtype(np.float16)
    raise BundleError(
        f"{path}: engine tensor {name!r} has type {dtype}, expected FLOAT or HALF; the bundle's graphs take "
        "and give float32 (re-export the bundle)"
    )
