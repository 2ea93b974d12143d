"""The GPU preprocessing path: one fused CUDA kernel writing straight into the engine's input buffer.

:class:`CudaPreprocessor` compiles ``kernels/preprocess.cu`` once (pycuda ``SourceModule``), keeps
the frame's page-locked staging buffer, its device copy, the resize tap tables
(:mod:`edge.preprocess.tables`) and, with undistortion, the remap tables on the GPU. Per frame::

    frame --np.copyto--> page-locked staging --async H2D--> device frame --kernel--> dest (engine input)

The copy and the kernel are enqueued on the pipeline's ``pycuda.driver.Stream``; the TensorRT
engine enqueued on the same stream afterwards sees the finished input without any host wait. The
kernel reproduces the CPU path (:func:`edge.preprocess.preprocess_cpu`) bit for bit: OpenCV's
fixed-point ``uint8`` resize through the tap tables, ``cv2.remap``'s float bilinear sampling for the
undistortion (OpenCV 5's arithmetic), and IEEE float32 normalisation in the trainer's order.
``"area"`` resizing has no kernel; use the CPU path for such a bundle.

pycuda is imported when a preprocessor is created, never at module import. The context is the
device's primary context (``pycuda.autoprimaryctx``, the one TensorRT uses); the preprocessor
pushes it on the thread that creates it and pops it in :meth:`CudaPreprocessor.close`.

Threading: all calls of one preprocessor (including :meth:`~CudaPreprocessor.close`) must come
from the thread that created it, the thread that owns the engine and the stream; calls from another
thread raise ``RuntimeError``.
"""

from __future__ import annotations

import logging
import math
from importlib import resources
from types import TracebackType
from typing import Any

import numpy as np

from edge.cuda_resources import CudaResources, import_pycuda
from edge.preprocess.cpu import UndistortMaps
from edge.preprocess.spec import PreprocessSpec, check_frame
from edge.preprocess.tables import resize_tables

__all__ = ["KERNEL_NAME", "KERNEL_RESOURCE", "CudaPreprocessor", "GpuPreprocessError", "kernel_source"]

log = logging.getLogger(__name__)

KERNEL_RESOURCE = "kernels/preprocess.cu"
"""The fused kernel's source, shipped as package data of ``edge.preprocess``."""
KERNEL_NAME = "steelsight_preprocess"
KERNEL_ARG_TYPES = "PiiPPPPPiiffffffi"
"""pycuda ``prepare`` types: src, src_w, src_h, xtab, ytab, map_x, map_y, dst, out_w, out_h, mean x3,
std x3, swap_rb."""
BLOCK = (32, 8, 1)
_PYCUDA_HINT = "install it with `pip install 'steelsight[jetson]'` or preprocess on the CPU"


class GpuPreprocessError(RuntimeError):
    """pycuda is missing, cannot open the GPU, or the kernel cannot be compiled (the message says which)."""


def kernel_source() -> str:
    """The CUDA source of the fused preprocessing kernel."""
    return resources.files("edge.preprocess").joinpath(KERNEL_RESOURCE).read_text(encoding="utf-8")


class CudaPreprocessor:
    """Fused GPU preprocessing of frames of one size into ``[3, height, width]`` network inputs.

    Parameters
    ----------
    spec
        The preprocessing (size, ROI, colour order, normalisation, output dtype). ``resize`` must be
        ``"bilinear"`` or ``"nearest"``.
    frame_height, frame_width
        The size of every frame this preprocessor will get.
    stream
        The ``pycuda.driver.Stream`` of the pipeline (the engine's stream), or ``None`` for a new one.
    undistort
        Undistortion maps for this frame size, or ``None``.

    Raises
    ------
    ValueError
        When the spec asks for ``"area"`` resizing, the ROI does not fit the frame or the maps are
        for another frame size.
    GpuPreprocessError
        When pycuda cannot be imported, cannot open the GPU, or nvcc cannot compile the kernel.

    Notes
    -----
    Not thread-safe: create, call and close a preprocessor on one thread (the inference thread).
    """

    def __init__(
        self,
        spec: PreprocessSpec,
        frame_height: int,
        frame_width: int,
        stream: Any = None,
        undistort: UndistortMaps | None = None,
    ) -> None:
        self._closed = True
        self._gpu: CudaResources | None = None
        self._module: Any = None
        self._kernel: Any = None
        self.stream: Any = None
        if not isinstance(spec, PreprocessSpec):
            raise ValueError(f"spec must be a PreprocessSpec, got {type(spec).__name__}")
        if spec.resize not in ("bilinear", "nearest"):
            raise ValueError(
                f"PreprocessSpec.resize {spec.resize!r} has no CUDA kernel (it does 'bilinear' and "
                "'nearest'); "
                "preprocess this model on the CPU with edge.preprocess.preprocess_cpu"
            )
        for name, value in (("frame_height", frame_height), ("frame_width", frame_width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name} must be a positive integer (pixels), got {value!r}")
        self.spec = spec
        self.frame_size = (int(frame_height), int(frame_width))
        """``(height, width)`` of the frames."""
        self.roi = spec.roi_in(*self.frame_size)
        """The ROI ``(x, y, w, h)`` in frame pixels (the whole frame when the spec has none)."""
        if undistort is not None and undistort.image_size != self.frame_size:
            raise ValueError(
                f"the undistortion maps are for {undistort.image_size[1]}x{undistort.image_size[0]} "
                f"frames but this preprocessor gets {self.frame_size[1]}x{self.frame_size[0]} frames "
                "(width x height)"
            )
        self._undistort = undistort is not None

        cuda, primary = import_pycuda(GpuPreprocessError, "the CUDA preprocessing", _PYCUDA_HINT)
        self._cuda = cuda
        self._gpu = CudaResources("CUDA preprocessor", cuda, primary)  # pushes the context (popped in close)
        self._closed = False
        try:
            self._setup(self._gpu, stream, undistort)
        except BaseException:
            self.close()
            raise
        log.debug(
            "CUDA preprocessing of %dx%d frames, ROI %s -> %s %dx%d%s on %s",
            self.frame_size[1],
            self.frame_size[0],
            self.roi,
            spec.dtype,
            spec.width,
            spec.height,
            " with undistortion" if self._undistort else "",
            primary.device.name(),
        )

    def _setup(self, gpu: CudaResources, stream: Any, undistort: UndistortMaps | None) -> None:
        spec = self.spec
        options = [f"-DSS_OUT_HALF={int(spec.dtype == 'float16')}", f"-DSS_UNDISTORT={int(self._undistort)}"]
        try:
            from pycuda.compiler import SourceModule

            self._module = SourceModule(kernel_source(), options=options, no_extern_c=True)
            kernel = self._module.get_function(KERNEL_NAME)
            kernel.prepare(KERNEL_ARG_TYPES)
        except Exception as exc:  # CompileError, nvcc missing (OSError), driver errors
            raise GpuPreprocessError(
                f"cannot compile the CUDA preprocessing kernel ({exc}); put CUDA's nvcc on the PATH of the "
                "runtime's user (on a Jetson: /usr/local/cuda/bin) or preprocess on the CPU"
            ) from exc
        self._kernel = kernel
        self.stream = stream if stream is not None else gpu.cuda.Stream()

        height, width = self.frame_size
        self.staging: np.ndarray = gpu.pinned((height, width, 3), np.dtype(np.uint8))
        """The page-locked host copy of the frame (see :meth:`staging_buffer`)."""
        self._d_frame = gpu.alloc(height * width * 3)
        xtab, ytab = resize_tables(self.roi, spec.height, spec.width, spec.resize)
        self._d_xtab = gpu.upload(xtab)
        self._d_ytab = gpu.upload(ytab)
        self._d_map_x = gpu.upload(undistort.map_x) if undistort is not None else None
        self._d_map_y = gpu.upload(undistort.map_y) if undistort is not None else None
        self._out_dtype = np.dtype(spec.dtype)
        self._out_nbytes = 3 * spec.height * spec.width * self._out_dtype.itemsize
        self._d_out = gpu.alloc(self._out_nbytes)
        self._h_out = gpu.pinned(spec.shape, self._out_dtype)
        self._last_dest = int(self._d_out)
        self._uploaded = gpu.cuda.Event()
        self._grid = (math.ceil(spec.width / BLOCK[0]), math.ceil(spec.height / BLOCK[1]))
        self._args_tail = (
            spec.width,
            spec.height,
            *(np.float32(m) for m in spec.mean),
            *(np.float32(s) for s in spec.std),
            int(spec.color == "RGB"),
        )

    # ------------------------------------------------------------------ per frame

    def __call__(self, image: np.ndarray, dest_ptr: int | None = None) -> None:
        """Enqueue the preprocessing of one frame on :attr:`stream` (returns before the GPU is done).

        Parameters
        ----------
        image
            ``HxWx3`` uint8 BGR frame of the size given at construction (any memory layout; the
            :meth:`staging_buffer` array itself skips the host copy).
        dest_ptr
            Device address of a ``[3, height, width]`` buffer of ``spec.dtype`` (the engine's input,
            e.g. ``engine.input_device_ptr()``), or ``None`` for this preprocessor's own buffer
            (read it with :meth:`download`).

        Raises
        ------
        ValueError
            When the frame is not uint8 ``HxWx3`` or has another size.
        RuntimeError
            After :meth:`close` or from another thread than the creating one.
        """
        self.upload(image)
        self.launch(dest_ptr)

    def staging_buffer(self) -> np.ndarray:
        """The page-locked ``HxWx3`` frame buffer, once the previous upload no longer reads it.

        A source can decode straight into it and pass it to :meth:`__call__`, which then skips
        the host copy.
        """
        self._check_usable()
        self._uploaded.synchronize()
        return self.staging

    def upload(self, image: np.ndarray) -> None:
        """Copy a frame into the page-locked buffer and enqueue its host-to-device copy on the stream."""
        self._check_usable()
        size = check_frame(image)
        if size != self.frame_size:
            raise ValueError(
                f"this CUDA preprocessor was made for {self.frame_size[1]}x{self.frame_size[0]} frames, "
                f"got {size[1]}x{size[0]} (width x height); make a new preprocessor when the camera "
                "resolution changes"
            )
        if image is not self.staging:
            self._uploaded.synchronize()  # the previous frame's copy has left the staging buffer
            np.copyto(self.staging, image)
        self._cuda.memcpy_htod_async(self._d_frame, self.staging, self.stream)
        self._uploaded.record(self.stream)

    def launch(self, dest_ptr: int | None = None) -> None:
        """Enqueue the kernel on the frame last uploaded, writing to ``dest_ptr`` (or the own buffer)."""
        self._check_usable()
        dest = int(self._d_out) if dest_ptr is None else int(dest_ptr)
        if dest == 0:
            raise ValueError("dest_ptr is a null device pointer")
        height, width = self.frame_size
        self._kernel.prepared_async_call(
            self._grid,
            BLOCK,
            self.stream,
            int(self._d_frame),
            width,
            height,
            int(self._d_xtab),
            int(self._d_ytab),
            0 if self._d_map_x is None else int(self._d_map_x),
            0 if self._d_map_y is None else int(self._d_map_y),
            dest,
            *self._args_tail,
        )
        self._last_dest = dest

    def download(self) -> np.ndarray:
        """Wait for the stream; return a copy of the last output (``[3, height, width]``, ``spec.dtype``)."""
        self._check_usable()
        self._cuda.memcpy_dtoh_async(self._h_out, self._last_dest, self.stream)
        self.stream.synchronize()
        return self._h_out.copy()

    def synchronize(self) -> None:
        """Wait until everything enqueued on :attr:`stream` has finished."""
        self._check_usable()
        self.stream.synchronize()

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Wait for the stream, free the buffers and the module, pop the CUDA context.

        Must be called on the creating thread. Calling it again does nothing.
        """
        gpu = self._gpu
        if gpu is None or (self._closed and not gpu.context_pushed):
            return
        gpu.release(self.stream, self._drop)

    def _drop(self) -> None:
        """Let go of the kernel, its module and the stream (before :meth:`close` frees the buffers)."""
        self._closed = True
        self._kernel = None
        self._module = None
        self.stream = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> CudaPreprocessor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _check_usable(self) -> None:
        if self._closed or self._gpu is None:
            raise RuntimeError("the CUDA preprocessor is closed")
        self._gpu.check_thread()
