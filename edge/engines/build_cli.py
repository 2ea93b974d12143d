"""``steelsight-edge build-engine``: build (or reuse) the TensorRT engine of a bundle.

Exit codes: 0 the engine path was printed; 1 TensorRT failed to build; 2 the
bundle, precision or size is not usable; 3 TensorRT (or a CUDA GPU) is not
available on this machine.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from edge.bundle.manifest import BundleError
from edge.engines.tensorrt_build import EngineBuildError, GpuUnavailableError, build_engine

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_BUILD_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_TENSORRT = 3


def tensorrt_missing_message(reason: object) -> str:
    """What to tell a user whose machine cannot import ``tensorrt``."""
    return (
        f"TensorRT is not available on this machine (importing 'tensorrt' failed: {reason}), so no engine "
        "can be built here.\n"
        "- On a Jetson: install JetPack 6, which ships TensorRT 10 and its Python bindings "
        "(python3-libnvinfer); create the virtual environment with --system-site-packages so it sees them.\n"
        "- Elsewhere, on a machine with an NVIDIA GPU and driver: pip install 'steelsight[jetson]'.\n"
        "Without TensorRT the runtime runs the bundle's ONNX models with ONNX Runtime (backend onnxruntime)."
    )


def build_engine_command(
    bundle: Path,
    precision: str,
    height: int | None,
    width: int | None,
    max_batch: int,
    workspace_mib: int,
    force: bool,
) -> int:
    """Build or reuse the engine of ``bundle`` and print its path.

    Parameters
    ----------
    bundle
        The bundle folder.
    precision
        ``"fp32"``, ``"fp16"`` or ``"int8"``.
    height, width
        Input size to build for; ``None`` takes the manifest's size.
    max_batch
        Largest batch the engine accepts.
    workspace_mib
        Builder workspace limit (MiB).
    force
        Rebuild even when the cached engine is valid.

    Returns
    -------
    int
        The process exit code (see the module docstring).
    """
    try:
        import tensorrt  # noqa: F401  (only to find out whether it is there)
    except (ImportError, OSError) as exc:  # a broken install raises OSError for a missing libnvinfer
        print(tensorrt_missing_message(exc), file=sys.stderr)
        return EXIT_NO_TENSORRT
    try:
        path = build_engine(
            Path(bundle),
            precision,
            height=height,
            width=width,
            max_batch=max_batch,
            workspace_mib=workspace_mib,
            force=force,
        )
    except GpuUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_TENSORRT
    except ValueError as exc:  # BundleError is a ValueError
        kind = "bundle" if isinstance(exc, BundleError) else "argument"
        print(f"error ({kind}): {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (EngineBuildError, OSError) as exc:
        print(f"error: engine build failed: {exc}", file=sys.stderr)
        return EXIT_BUILD_FAILED
    print(path)
    return EXIT_OK
