"""TensorRT engines built on the camera from a model bundle, and their cache (``<bundle>/engines/``).

Nothing here imports TensorRT or pycuda at import time; :func:`build_engine`
imports them when called.
"""

from __future__ import annotations

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

__all__ = [
    "EngineBuildError",
    "EngineKey",
    "GpuInfo",
    "GpuUnavailableError",
    "ProfileSpec",
    "build_engine",
    "choose_source",
    "engine_dir",
    "engine_filename",
    "is_stale",
    "make_profile",
    "plan_build",
    "read_sidecar",
    "sidecar_path",
    "stale_reason",
    "trt_logger",
    "trt_major",
    "write_sidecar",
]
