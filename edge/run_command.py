"""``steelsight-edge run`` and ``info --config``: config errors in, exit codes and a summary out."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from calibration.calibration_file import CalibrationError
from edge.atomic_file import atomic_write
from edge.bundle.loader import load_bundle
from edge.bundle.manifest import BundleError
from edge.config import load_runtime_config
from edge.config_loader import ConfigError
from edge.engines.select import choose_backend
from edge.sources import SourceError

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "describe_camera", "run_command"]

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _summary_dict(summary: Any) -> dict[str, Any]:
    stats = summary.source_stats
    return {
        "frames": summary.frames,
        "elapsed_s": round(summary.elapsed_s, 2),
        "fps": round(summary.fps, 3),
        "dropped": summary.dropped,
        "reason": summary.reason,
        "metrics": summary.metrics,
        "source": stats.as_dict() if hasattr(stats, "as_dict") else None,
    }


def run_command(
    config_path: Path,
    max_frames: int | None,
    overlay_dir: Path | None,
    overrides: list[str],
    summary_json: Path | None = None,
) -> int:
    """Run a camera from its config file; print a short summary; return the exit code."""
    from edge.camera import run_camera

    try:
        config = load_runtime_config(config_path, overrides)
        if max_frames is not None and max_frames < 1:
            raise ConfigError(f"--max-frames must be >= 1, got {max_frames}")
        summary = run_camera(config, max_frames=max_frames, overlay_dir=overlay_dir)
    except (ConfigError, BundleError, SourceError, CalibrationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    data = _summary_dict(summary)
    e2e = data["metrics"]["latency_ms"].get("end_to_end")
    latency = f"; latency p50 {e2e['p50_ms']:.1f} ms, p99 {e2e['p99_ms']:.1f} ms" if e2e else ""
    print(
        f"{summary.frames} frames in {summary.elapsed_s:.1f} s ({summary.fps:.2f} fps){latency}; "
        f"{summary.dropped} dropped; ended: {summary.reason}"
    )
    if overlay_dir is not None:
        print(f"overlays written to {overlay_dir}")
    if summary_json is not None:
        atomic_write(summary_json, json.dumps(data, indent=2).encode())
    return EXIT_FAILED if summary.error is not None else EXIT_OK


def describe_camera(config_path: Path) -> dict[str, Any]:
    """What ``info --config`` adds: the camera, its bundle, and the backend ``auto`` would choose.

    Raises ``ValueError`` (``ConfigError``/``BundleError``) naming the bad key or file.
    """
    config = load_runtime_config(config_path)
    bundle = load_bundle(config.model.bundle, precision=config.model.precision, verify_hashes=False)
    manifest = bundle.manifest
    backend, device, reason = choose_backend(config.model.backend, config.model.device)
    return {
        "camera": config.camera.id,
        "source": config.camera.source,
        "bundle": str(bundle.dir),
        "model": f"{manifest.name} {manifest.version} ({manifest.task}, {manifest.arch})",
        "bundle_precisions": list(bundle.precisions),
        "precision": config.model.precision,
        "input_size": list(config.model.input_size or (manifest.input.height, manifest.input.width)),
        "backend": backend,
        "device": device,
        "backend_reason": reason,
    }
