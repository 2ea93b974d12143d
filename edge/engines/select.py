"""Choose and open the inference backend for a bundle: TensorRT on the camera's GPU, else ONNX Runtime.

``auto`` takes TensorRT when ``tensorrt`` (10 or 11) and ``pycuda`` import and a CUDA GPU answers;
otherwise ONNX Runtime, with its CUDA provider when onnxruntime has one and a GPU is visible, else
on the CPU. Every choice comes with a one-line reason that is logged at INFO, e.g.
``"backend onnxruntime (CPU): tensorrt is not installed; ..."``.

Nothing here imports TensorRT, pycuda or ONNX Runtime at import time.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from edge.bundle.loader import Bundle, load_bundle
from edge.engines.base import Engine
from edge.engines.tensorrt_build import (
    SUPPORTED_MAJORS,
    EngineBuildError,
    GpuInfo,
    GpuUnavailableError,
    query_gpu,
    trt_major,
)

__all__ = [
    "BACKENDS",
    "DEVICES",
    "TENSORRT_INSTALL_HINT",
    "BackendUnavailableError",
    "choose_backend",
    "onnxruntime_cuda_problem",
    "open_engine",
    "tensorrt_problem",
]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "tensorrt", "onnxruntime")
DEVICES = ("auto", "cpu", "cuda")
TENSORRT_INSTALL_HINT = (
    "on a Jetson install JetPack 6 (it ships TensorRT 10 and its Python bindings; create the virtual "
    "environment with --system-site-packages) and then `pip install 'steelsight[jetson]'` for pycuda; "
    "elsewhere, on a machine with an NVIDIA GPU and driver, `pip install 'steelsight[jetson]'`"
)


class BackendUnavailableError(ValueError):
    """The configured backend or device cannot run on this machine; the message says what is missing.

    A ``ValueError``, like the other configuration errors: the runtime reports its message and
    exits, and ``steelsight-edge info --config`` prints it.
    """


# ---------------------------------------------------------------------------- probes


def tensorrt_problem() -> tuple[str | None, GpuInfo | None]:
    """Why the TensorRT backend cannot run here, or ``(None, gpu)`` when it can.

    Checks, in order: ``tensorrt`` imports and is version 10 or 11, ``pycuda`` imports, and a CUDA
    GPU answers (:func:`~edge.engines.tensorrt_build.query_gpu`, which makes the primary CUDA
    context current on the calling thread, as the engine needs anyway).

    Returns
    -------
    tuple
        ``(problem, None)`` with a short phrase such as ``"tensorrt is not installed"``, or
        ``(None, gpu)``.
    """
    if importlib.util.find_spec("tensorrt") is None:
        return "tensorrt is not installed", None
    try:
        import tensorrt
    except Exception as exc:  # a broken TensorRT install raises OSError and friends too
        return f"tensorrt cannot be imported ({exc})", None
    try:
        major = trt_major(tensorrt)
    except EngineBuildError as exc:
        return str(exc), None
    if major not in SUPPORTED_MAJORS:
        return (
            f"TensorRT {tensorrt.__version__} is not supported (this runtime uses TensorRT "
            f"{' or '.join(str(m) for m in SUPPORTED_MAJORS)})"
        ), None
    if importlib.util.find_spec("pycuda") is None:
        return "pycuda is not installed", None
    try:
        import pycuda.driver  # noqa: F401
    except Exception as exc:
        return f"pycuda cannot be imported ({exc})", None
    try:
        gpu = _query_gpu_here()
    except GpuUnavailableError as exc:
        return f"no CUDA GPU is available ({exc})", None
    return None, gpu


def _query_gpu_here() -> GpuInfo:
    """:func:`~edge.engines.tensorrt_build.query_gpu` from any thread.

    pycuda's ``autoprimaryctx`` makes the primary context current only on the thread that first
    imports it, so the context is pushed around the query here (and popped again).

    Raises
    ------
    GpuUnavailableError
        When no CUDA device answers.
    """
    try:
        import pycuda.autoprimaryctx as primary
    except ImportError:
        return query_gpu()  # without pycuda: cuda-python's driver bindings, if installed
    except Exception as exc:  # pycuda raises its own errors when there is no driver or GPU
        raise GpuUnavailableError(
            f"pycuda could not open the CUDA device ({exc}); check the NVIDIA driver"
        ) from exc
    primary.context.push()
    try:
        return query_gpu()
    except GpuUnavailableError:
        raise
    except Exception as exc:  # pycuda.driver.Error
        raise GpuUnavailableError(f"cannot query the CUDA device ({exc}); check the NVIDIA driver") from exc
    finally:
        primary.context.pop()


def onnxruntime_cuda_problem() -> str | None:
    """Why ONNX Runtime's CUDA provider cannot be used here, or ``None`` when it probably can.

    "Probably": the provider must be listed and a GPU visible; whether its CUDA libraries load is
    only known when a session starts (:func:`open_engine` falls back to the CPU when it does not).
    """
    try:
        import onnxruntime
    except ImportError:
        return "onnxruntime is not installed"
    available = list(onnxruntime.get_available_providers())
    if "CUDAExecutionProvider" not in available:
        return f"onnxruntime has no CUDAExecutionProvider (it has {', '.join(available)})"
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1"):
        return "CUDA_VISIBLE_DEVICES hides every GPU"
    try:
        _query_gpu_here()
    except GpuUnavailableError as exc:
        nodes = ("/dev/nvidia0", "/dev/nvhost-ctrl-gpu", "/dev/nvgpu/igpu0")
        if not any(Path(node).exists() for node in nodes):
            return f"no CUDA GPU is visible ({exc})"
    return None


# ---------------------------------------------------------------------------- choice


def _check_names(backend: str, device: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if backend == "tensorrt" and device == "cpu":
        raise ValueError(
            "backend 'tensorrt' runs on the GPU, so device 'cpu' does not fit it; use backend 'onnxruntime' "
            "(or 'auto') for the CPU"
        )


def _tensorrt_missing(problem: str) -> BackendUnavailableError:
    return BackendUnavailableError(
        f"backend 'tensorrt' was requested, but {problem}. To run TensorRT: {TENSORRT_INSTALL_HINT}. "
        'Or set backend = "onnxruntime" (or "auto") in the [model] section of the runtime config.'
    )


def choose_backend(backend: str = "auto", device: str = "auto") -> tuple[str, str, str]:
    """Decide which backend and device a configured ``backend`` and ``device`` give on this machine.

    Nothing is opened; :func:`open_engine` opens what this chooses (and may still fall back from
    TensorRT or from ONNX Runtime's CUDA provider when they fail to start under ``auto``).

    Parameters
    ----------
    backend
        ``"auto"``, ``"tensorrt"`` or ``"onnxruntime"``.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``. For ONNX Runtime it picks the provider; TensorRT
        always runs on ``"cuda"``.

    Returns
    -------
    tuple
        ``(backend, device, reason)``: ``"tensorrt"`` or ``"onnxruntime"``, ``"cuda"`` or ``"cpu"``,
        and one line saying which and why.

    Raises
    ------
    ValueError
        For an unknown backend or device (the message lists the choices), or ``tensorrt`` with
        ``cpu``.
    BackendUnavailableError
        When ``"tensorrt"`` was asked for and cannot run (naming what is missing and what to
        install), or ``device="cuda"`` with ONNX Runtime and it has no CUDA provider or GPU.
    """
    _check_names(backend, device)
    reasons: list[str] = []
    if backend == "onnxruntime":
        reasons.append("backend onnxruntime configured")
    elif device == "cpu":
        reasons.append("device cpu configured")
    else:
        problem, gpu = tensorrt_problem()
        if problem is None and gpu is not None:
            import tensorrt

            major, minor = gpu.compute_capability
            how = "configured" if backend == "tensorrt" else "available"
            return (
                "tensorrt",
                "cuda",
                f"backend tensorrt ({gpu.name}, sm{major}{minor}): tensorrt {tensorrt.__version__}, pycuda "
                f"and a CUDA GPU are {how}",
            )
        if backend == "tensorrt":
            raise _tensorrt_missing(str(problem))
        reasons.append(str(problem))
    return _choose_onnxruntime(device, reasons)


def _choose_onnxruntime(device: str, reasons: list[str]) -> tuple[str, str, str]:
    if device == "cpu":
        return "onnxruntime", "cpu", "backend onnxruntime (CPU): " + "; ".join(reasons)
    cuda_problem = onnxruntime_cuda_problem()
    if cuda_problem is None:
        reasons.append("onnxruntime has the CUDAExecutionProvider and a GPU is visible")
        return "onnxruntime", "cuda", "backend onnxruntime (CUDA): " + "; ".join(reasons)
    if device == "cuda":
        raise BackendUnavailableError(
            f"device 'cuda' was requested for ONNX Runtime, but {cuda_problem}; install onnxruntime-gpu "
            '(in place of onnxruntime) on a machine with an NVIDIA GPU and driver, or set device = "cpu" '
            '(or "auto") in the [model] section of the runtime config'
        )
    reasons.append(cuda_problem)
    return "onnxruntime", "cpu", "backend onnxruntime (CPU): " + "; ".join(reasons)


# ---------------------------------------------------------------------------- open


def open_engine(
    bundle_dir: Bundle | Path,
    precision: str,
    backend: str = "auto",
    *,
    device: str = "auto",
    intra_threads: int | None = None,
    height: int | None = None,
    width: int | None = None,
) -> tuple[Engine, str]:
    """Open the bundle's model on the backend :func:`choose_backend` picks; log which and why.

    Call it on the thread that will run the engine (the pipeline's inference thread): a TensorRT
    engine's CUDA work must stay on the thread that created it.

    Under ``backend="auto"``, a TensorRT engine that fails to build or load falls back to ONNX
    Runtime (logged as a WARNING, and said in the reason), and so does ONNX Runtime's CUDA provider
    to the CPU when it fails to start; an explicitly configured backend or device never falls back.

    Parameters
    ----------
    bundle_dir
        The bundle folder, or a bundle the caller already loaded (then it is not read and its
        hashes are not checked again).
    precision
        ``"fp32"``, ``"fp16"`` or ``"int8"``.
    backend
        ``"auto"``, ``"tensorrt"`` or ``"onnxruntime"``.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"`` (see :func:`choose_backend`).
    intra_threads
        ONNX Runtime's intra-op threads (``None``: its default).
    height, width
        The input size (``None``: the manifest's). TensorRT builds its engine for it; for ONNX
        Runtime it is checked against a graph with a static size.

    Returns
    -------
    tuple
        ``(engine, reason)``.

    Raises
    ------
    ValueError
        For an unknown backend, device or precision.
    BackendUnavailableError
        When the configured backend or device cannot run here.
    BundleError
        From the bundle loader, or for a size a static graph does not take.
    EngineBuildError
        When ``backend="tensorrt"`` and TensorRT cannot build or load the engine.
    """
    chosen, chosen_device, reason = choose_backend(backend, device)
    if chosen == "tensorrt":
        from edge.engines.tensorrt_engine import TensorRTEngine

        try:
            engine: Any = TensorRTEngine(bundle_dir, precision, height=height, width=width)
        except (EngineBuildError, BackendUnavailableError) as exc:
            if backend == "tensorrt":
                raise
            log.warning("TensorRT failed (%s); falling back to ONNX Runtime", exc)
            chosen, chosen_device, reason = _choose_onnxruntime(
                "cuda" if device == "cuda" else "auto", [f"the TensorRT engine failed ({exc})"]
            )
        else:
            log.info("%s", reason)
            return engine, reason

    from edge.engines.onnxruntime_engine import OnnxRuntimeEngine

    bundle = (
        bundle_dir if isinstance(bundle_dir, Bundle) else load_bundle(Path(bundle_dir), precision=precision)
    )
    if height is not None or width is not None:
        spec = bundle.manifest.input
        bundle.check_input_size(
            spec.height if height is None else height, spec.width if width is None else width, precision
        )
    try:
        engine = OnnxRuntimeEngine(bundle, precision, device=chosen_device, intra_threads=intra_threads)
    except BackendUnavailableError as exc:
        if chosen_device != "cuda" or device == "cuda":
            raise
        log.warning("ONNX Runtime's CUDA provider failed (%s); using the CPU", exc)
        reason = reason.replace("backend onnxruntime (CUDA)", "backend onnxruntime (CPU)", 1)
        reason += f"; but the CUDA provider failed to start ({exc})"
        engine = OnnxRuntimeEngine(bundle, precision, device="cpu", intra_threads=intra_threads)
    log.info("%s", reason)
    return engine, reason
