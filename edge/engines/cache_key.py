"""The TensorRT engine cache: key, file names, sidecar files and staleness.

A TensorRT engine only runs on the TensorRT version and GPU it was built on,
so the camera builds engines from the bundle's ONNX and caches them in
``<bundle>/engines/``. Each engine ``<name>.trt<version>.<gpu>-sm<cc>.<precision>.engine``
has a sidecar ``<engine>.json`` that records the full :class:`EngineKey`
(TensorRT version, GPU, compute capability, precision, the source model's
SHA-256 and the optimization profile) and the engine's own size and SHA-256.
An engine whose sidecar is missing, unreadable or records another key is
stale: it is rebuilt, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.atomic_file import atomic_write
from edge.bundle.hashing import sha256_file

log = logging.getLogger(__name__)

ENGINES_DIR = "engines"
SIDECAR_SCHEMA = "steelsight.engine/1"
SIDECAR_SUFFIX = ".json"

Shape = tuple[int, ...]
Profile = tuple[Shape, Shape, Shape]
"""The ``(min, opt, max)`` shapes of the ``image`` input."""


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; any difference means the engine must be rebuilt.

    Attributes
    ----------
    trt_version
        ``tensorrt.__version__``, e.g. ``"10.3.0"``.
    gpu_name
        The CUDA device name, e.g. ``"Orin"``.
    compute_capability
        ``(major, minor)``, e.g. ``(8, 7)``.
    precision
        The requested engine precision: ``"fp32"``, ``"fp16"`` or ``"int8"``.
    model_sha256
        SHA-256 of the ONNX file the engine is built from.
    profile
        ``(min, opt, max)`` shapes of the ``image`` input, each ``(N, 3, H, W)``.
    """

    trt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]
    precision: str
    model_sha256: str
    profile: Profile

    def to_json(self) -> dict[str, Any]:
        """The key as a JSON-ready dict (tuples become lists)."""
        return {
            "trt_version": self.trt_version,
            "gpu_name": self.gpu_name,
            "compute_capability": list(self.compute_capability),
            "precision": self.precision,
            "model_sha256": self.model_sha256,
            "profile": [list(shape) for shape in self.profile],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EngineKey:
        """Rebuild a key written by :meth:`to_json`.

        Raises
        ------
        ValueError
            When a field is missing or has the wrong type.
        """
        try:
            major, minor = (int(v) for v in data["compute_capability"])
            profile = tuple(tuple(int(d) for d in shape) for shape in data["profile"])
            key = cls(
                trt_version=str(data["trt_version"]),
                gpu_name=str(data["gpu_name"]),
                compute_capability=(major, minor),
                precision=str(data["precision"]),
                model_sha256=str(data["model_sha256"]),
                profile=profile,  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an engine key ({type(exc).__name__}: {exc})") from exc
        if len(key.profile) != 3:
            raise ValueError(f"an engine key's profile has 3 shapes (min, opt, max), got {len(key.profile)}")
        return key

    def short_hash(self, length: int = 12) -> str:
        """A short hex digest of the whole key (canonical JSON), for logs and the sidecar."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


def sanitize_gpu_name(name: str) -> str:
    """Lower-case a GPU name, keeping ``[a-z0-9-]``: ``"NVIDIA Orin (nvgpu)"`` -> ``"nvidia-orin-nvgpu"``."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return cleaned or "gpu"


def _sanitize_part(text: str, keep: str) -> str:
    cleaned = re.sub(rf"[^{keep}]+", "-", text).strip("-.")
    return cleaned or "model"


def engine_filename(bundle_name: str, key: EngineKey) -> str:
    """The cache file name of an engine.

    ``<name>.trt<version>.<gpu>-sm<major><minor>.<precision>.engine``, e.g.
    ``slag-mnv2.trt10.3.0.orin-sm87.fp16.engine``. The model hash and the
    profile are not in the name; they are in the sidecar, which decides
    whether the file is still valid.
    """
    name = _sanitize_part(bundle_name, "A-Za-z0-9_-")
    version = _sanitize_part(key.trt_version, "A-Za-z0-9.")
    major, minor = key.compute_capability
    return f"{name}.trt{version}.{sanitize_gpu_name(key.gpu_name)}-sm{major}{minor}.{key.precision}.engine"


def engine_dir(bundle_dir: Path) -> Path:
    """The engine cache folder of a bundle: ``bundle_dir / "engines"``."""
    return Path(bundle_dir) / ENGINES_DIR


def sidecar_path(engine_path: Path) -> Path:
    """The sidecar of an engine: ``<engine>.json`` next to it."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + SIDECAR_SUFFIX)


def write_sidecar(
    engine_path: Path,
    key: EngineKey,
    engine_sha256: str,
    engine_size: int,
    details: Mapping[str, Any] | None = None,
) -> Path:
    """Record the key and the engine's digest next to a freshly written engine (atomically).

    Parameters
    ----------
    engine_path
        The engine file.
    key
        The key it was built for.
    engine_sha256, engine_size
        Digest and size of the engine file, checked by :func:`stale_reason`.
    details
        Extra build facts for people (source file, flags, build time); not part of the key.

    Returns
    -------
    Path
        The sidecar path.
    """
    record = {
        "schema": SIDECAR_SCHEMA,
        "engine": Path(engine_path).name,
        "key": key.to_json(),
        "key_hash": key.short_hash(),
        "engine_sha256": engine_sha256,
        "engine_size_bytes": engine_size,
        "build": dict(details or {}),
    }
    path = sidecar_path(engine_path)
    atomic_write(path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return path


def read_sidecar(engine_path: Path) -> dict[str, Any] | None:
    """The parsed sidecar of an engine, or ``None`` when it is missing or not a JSON object."""
    path = sidecar_path(engine_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stale_reason(engine_path: Path, key: EngineKey, verify_hash: bool = True) -> str | None:
    """Why a cached engine must not be loaded for ``key``, or ``None`` when it is valid.

    Parameters
    ----------
    engine_path
        The cached engine file.
    key
        The key of the engine wanted now.
    verify_hash
        Also compare the engine file's SHA-256 with the sidecar (reads the whole file).
    """
    engine_path = Path(engine_path)
    if not engine_path.is_file():
        return "no engine file"
    record = read_sidecar(engine_path)
    if record is None:
        return f"sidecar {sidecar_path(engine_path).name} is missing or unreadable"
    if record.get("schema") != SIDECAR_SCHEMA:
        return f"sidecar schema is {record.get('schema')!r}, expected {SIDECAR_SCHEMA!r}"
    try:
        recorded = EngineKey.from_json(record.get("key") or {})
    except ValueError as exc:
        return f"sidecar key is invalid: {exc}"
    if recorded != key:
        changed = [name for name, value in key.to_json().items() if recorded.to_json().get(name) != value]
        return "built for a different " + ", ".join(changed)
    try:
        size = engine_path.stat().st_size
    except OSError as exc:
        return f"engine file unreadable: {exc}"
    if size != record.get("engine_size_bytes"):
        return f"engine file is {size} bytes, the sidecar records {record.get('engine_size_bytes')}"
    if verify_hash:
        try:
            digest = sha256_file(engine_path)
        except OSError as exc:
            return f"engine file unreadable: {exc}"
        if digest != record.get("engine_sha256"):
            return "engine file's sha256 differs from the sidecar (damaged or replaced)"
    return None


def is_stale(engine_path: Path, key: EngineKey, verify_hash: bool = True) -> bool:
    """True when the cached engine must be rebuilt (never loaded); see :func:`stale_reason`."""
    reason = stale_reason(engine_path, key, verify_hash=verify_hash)
    if reason is not None:
        log.info("engine %s is stale: %s", Path(engine_path).name, reason)
    return reason is not None
