"""What the CUDA-owning objects of edge share: pycuda's import, the primary context, the buffers.

The TensorRT engine (:mod:`edge.engines.tensorrt_engine`) and the CUDA preprocessing
(:mod:`edge.preprocess.cuda`) each hold a :class:`CudaResources`: it pushes the device's primary
context on the thread that creates it, refuses CUDA work from other threads, keeps the device
allocations and page-locked host arrays made through it, and frees them all and pops the context
in :meth:`CudaResources.release`.

pycuda is imported by :func:`import_pycuda`, never at module import, so ``edge`` imports without it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["CudaResources", "import_pycuda"]

log = logging.getLogger(__name__)


def import_pycuda(error_type: type[Exception], needed_by: str, hint: str) -> tuple[Any, Any]:
    """Import ``pycuda.driver`` and ``pycuda.autoprimaryctx`` (which opens the GPU's primary context).

    Parameters
    ----------
    error_type
        The exception raised when either import fails.
    needed_by
        What needs pycuda, for the message (``"the TensorRT backend"``).
    hint
        How to install pycuda (or do without it), for the message.

    Returns
    -------
    tuple
        The ``pycuda.driver`` and ``pycuda.autoprimaryctx`` modules.

    Raises
    ------
    Exception
        ``error_type``, when pycuda cannot be imported or cannot open the CUDA device.
    """
    try:
        import pycuda.driver as cuda
    except ImportError as exc:
        raise error_type(f"{needed_by} needs pycuda, which cannot be imported ({exc}); {hint}") from exc
    try:
        import pycuda.autoprimaryctx as primary
    except Exception as exc:  # pycuda raises its own errors when there is no driver or GPU
        raise error_type(
            f"pycuda could not open the CUDA device ({exc}); check the NVIDIA driver and that a GPU is "
            "visible"
        ) from exc
    return cuda, primary


class CudaResources:
    """The primary context, the creating thread and the buffers of one CUDA-owning object.

    Creating it pushes the primary context on the calling thread (popped by :meth:`release`).

    Parameters
    ----------
    owner_name
        The owner as messages name it (``"TensorRT engine"``).
    cuda, primary
        The ``pycuda.driver`` and ``pycuda.autoprimaryctx`` modules (from :func:`import_pycuda`).
    """

    def __init__(self, owner_name: str, cuda: Any, primary: Any) -> None:
        self.owner_name = owner_name
        self.cuda = cuda
        """The ``pycuda.driver`` module."""
        self.thread = threading.get_ident()
        """The thread that created the owner: every CUDA call must come from it."""
        self._allocations: list[Any] = []
        self._pinned: list[np.ndarray] = []
        primary.context.push()  # current on this thread from here on (popped in release)
        self.context_pushed = True
        """Whether the context is still pushed (until :meth:`release`)."""

    def alloc(self, nbytes: int) -> Any:
        """A device allocation of ``nbytes`` (at least 1), freed by :meth:`release`."""
        allocation = self.cuda.mem_alloc(max(1, int(nbytes)))
        self._allocations.append(allocation)
        return allocation

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        """A page-locked host array, freed by :meth:`release`."""
        array: np.ndarray = self.cuda.pagelocked_empty(shape, dtype)
        self._pinned.append(array)
        return array

    def upload(self, array: np.ndarray) -> Any:
        """A device copy of ``array`` (made contiguous), copied synchronously; freed by :meth:`release`."""
        contiguous = np.ascontiguousarray(array)
        allocation = self.alloc(contiguous.nbytes)
        self.cuda.memcpy_htod(allocation, contiguous)
        return allocation

    def check_thread(self) -> None:
        """Refuse calls from another thread than the creating one.

        Raises
        ------
        RuntimeError
            On another thread; the message names the owner and both threads.
        """
        if threading.get_ident() != self.thread:
            raise RuntimeError(
                f"this {self.owner_name} was created on thread {self.thread} and its CUDA work must stay "
                f"there (called from thread {threading.get_ident()}); use it only from the inference thread"
            )

    def release(self, stream: Any, drop: Callable[[], None]) -> None:
        """Wait for ``stream``, then drop the owner's objects, free every buffer and pop the context.

        ``drop`` (the owner letting go of its kernels, modules and stream), the freeing and the pop
        run even when waiting fails; the context is popped once however often this is called. A stream
        the owner created (and let go of in ``drop``) is destroyed after the buffers are freed,
        while the context is still current.

        Parameters
        ----------
        stream
            The owner's ``pycuda.driver.Stream``, or ``None``.
        drop
            Called after the wait, before the buffers are freed.

        Raises
        ------
        RuntimeError
            On another thread than the creating one (nothing is released then).
        """
        self.check_thread()
        try:
            if stream is not None:
                stream.synchronize()
        finally:
            drop()
            for allocation in self._allocations:
                allocation.free()
            self._allocations.clear()
            for array in self._pinned:
                base = array.base
                if base is not None and hasattr(base, "free"):
                    base.free()
            self._pinned.clear()
            del stream  # the last reference to a stream the owner created: it goes here, before the pop
            if self.context_pushed:
                self.context_pushed = False
                self.cuda.Context.pop()
            log.debug("closed the %s", self.owner_name)
