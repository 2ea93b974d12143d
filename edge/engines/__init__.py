"""Inference backends (ONNX Runtime, TensorRT), their selection, and the TensorRT engine cache.

TensorRT engines are built on the camera from a model bundle and cached in
``<bundle>/engines/``. Nothing here imports TensorRT, pycuda or ONNX Runtime at
import time; the engines and :func:`build_engine` import them when used.
"""

from __future__ import annotations

from edge.engines.base import Engine, EngineOutput, TensorSpec
from edge.engines.cache_key import (
    EngineKey,
    engine_dir,
    engine_filename,
    is_stale,
    read_sidecar,
    sidecar_path,
    stale_reason,
    write_sidecar,
)
from edge.engines.onnxruntime_engine import OnnxRuntimeEngine
from edge.engines.select import BackendUnavailableError, choose_backend, open_engine
from edge.engines.tensorrt_build import (
    EngineBuildError,
    GpuInfo,
    GpuUnavailableError,
    ProfileSpec,
    build_engine,
    choose_source,
    make_profile,
    plan_build,
    trt_logger,
    trt_major,
)
from edge.engines.tensorrt_engine import TensorRTEngine

__all__ = [
    "BackendUnavailableError",
    "Engine",
    "EngineBuildError",
    "EngineKey",
    "EngineOutput",
    "GpuInfo",
    "GpuUnavailableError",
    "OnnxRuntimeEngine",
    "ProfileSpec",
    "TensorRTEngine",
    "TensorSpec",
    "build_engine",
    "choose_backend",
    "choose_source",
    "engine_dir",
    "engine_filename",
    "is_stale",
    "make_profile",
    "open_engine",
    "plan_build",
    "read_sidecar",
    "sidecar_path",
    "stale_reason",
    "trt_logger",
    "trt_major",
    "write_sidecar",
]
