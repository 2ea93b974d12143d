"""Engine cache keys, file names, sidecars and staleness, on real files."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from edge.engines.cache_key import (
    EngineKey,
    atomic_write,
    engine_dir,
    engine_filename,
    is_stale,
    read_sidecar,
    sanitize_gpu_name,
    sidecar_path,
    stale_reason,
    write_sidecar,
)

KEY = EngineKey(
    trt_version="10.3.0",
    gpu_name="Orin (nvgpu)",
    compute_capability=(8, 7),
    precision="fp16",
    model_sha256="d" * 64,
    profile=((1, 3, 512, 512), (1, 3, 512, 512), (2, 3, 512, 512)),
)


def _cached_engine(folder: Path, key: EngineKey = KEY, payload: bytes = b"serialized-plan" * 100) -> Path:
    path = engine_dir(folder) / engine_filename("slag-mnv2", key)
    atomic_write(path, payload)
    write_sidecar(path, key, hashlib.sha256(payload).hexdigest(), len(payload), {"source": "model.onnx"})
    return path


def test_engine_filename_has_the_contract_form() -> None:
    name = engine_filename("slag-mnv2", KEY)
    assert name == "slag-mnv2.trt10.3.0.orin-nvgpu-sm87.fp16.engine"
    pattern = r"^[A-Za-z0-9_-]+\.trt[0-9.]+\.[a-z0-9-]+-sm\d+\.(fp32|fp16|int8)\.engine$"
    assert re.match(pattern, name)
    h100 = replace(KEY, gpu_name="NVIDIA H100 80GB HBM3", compute_capability=(9, 0), precision="int8")
    assert (
        engine_filename("weld shdm/v2", h100)
        == "weld-shdm-v2.trt10.3.0.nvidia-h100-80gb-hbm3-sm90.int8.engine"
    )


def test_gpu_names_are_sanitized_to_lowercase_letters_digits_and_dashes() -> None:
    assert sanitize_gpu_name("NVIDIA Jetson AGX Orin 64GB") == "nvidia-jetson-agx-orin-64gb"
    assert sanitize_gpu_name("  GeForce RTX 4090 (Ti)!! ") == "geforce-rtx-4090-ti"
    assert sanitize_gpu_name("???") == "gpu"
    assert re.fullmatch(r"[a-z0-9-]+", sanitize_gpu_name("Tesla T4 / Ümlaut_ü"))


def test_engine_dir_is_inside_the_bundle(tmp_path: Path) -> None:
    assert engine_dir(tmp_path) == tmp_path / "engines"
    engine = tmp_path / "engines" / "x.engine"
    assert sidecar_path(engine) == tmp_path / "engines" / "x.engine.json"


def test_key_round_trips_through_json_and_hashes_every_field() -> None:
    again = EngineKey.from_json(json.loads(json.dumps(KEY.to_json())))
    assert again == KEY
    assert again.short_hash() == KEY.short_hash()
    assert re.fullmatch(r"[0-9a-f]{12}", KEY.short_hash())
    variants = [
        replace(KEY, trt_version="10.3.1"),
        replace(KEY, gpu_name="Orin"),
        replace(KEY, compute_capability=(8, 6)),
        replace(KEY, precision="int8"),
        replace(KEY, model_sha256="e" * 64),
        replace(KEY, profile=((1, 3, 512, 512), (1, 3, 512, 512), (4, 3, 512, 512))),
    ]
    assert len({KEY.short_hash(), *(v.short_hash() for v in variants)}) == 7
    with pytest.raises(ValueError, match="not an engine key"):
        EngineKey.from_json({"trt_version": "10"})
    with pytest.raises(ValueError, match="3 shapes"):
        EngineKey.from_json({**KEY.to_json(), "profile": [[1, 3, 8, 8]]})


def test_a_fresh_engine_with_its_sidecar_is_not_stale(tmp_path: Path) -> None:
    engine = _cached_engine(tmp_path)
    assert stale_reason(engine, KEY) is None
    assert not is_stale(engine, KEY)
    record = read_sidecar(engine)
    assert record is not None
    assert record["key"] == KEY.to_json()
    assert record["key_hash"] == KEY.short_hash()
    assert record["engine"] == engine.name
    assert record["build"] == {"source": "model.onnx"}
    assert sorted(p.name for p in engine.parent.iterdir()) == [engine.name, engine.name + ".json"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trt_version": "10.4.0"}, "trt_version"),
        ({"gpu_name": "Xavier"}, "gpu_name"),
        ({"compute_capability": (7, 2)}, "compute_capability"),
        ({"model_sha256": "f" * 64}, "model_sha256"),
        ({"profile": ((1, 3, 256, 256), (1, 3, 256, 256), (1, 3, 256, 256))}, "profile"),
    ],
)
def test_any_key_difference_makes_the_engine_stale(
    tmp_path: Path, change: dict[str, object], field: str
) -> None:
    engine = _cached_engine(tmp_path)
    other = replace(KEY, **change)  # type: ignore[arg-type]
    reason = stale_reason(engine, other)
    assert reason is not None
    assert field in reason
    assert is_stale(engine, other)


def test_a_new_model_or_profile_keeps_the_file_name_and_only_the_sidecar_tells(tmp_path: Path) -> None:
    engine = _cached_engine(tmp_path)
    for other in (
        replace(KEY, model_sha256="f" * 64),
        replace(KEY, profile=((1, 3, 256, 256), (1, 3, 256, 256), (1, 3, 256, 256))),
    ):
        assert engine_filename("slag-mnv2", other) == engine.name
        assert is_stale(engine, other)


def test_missing_or_damaged_files_make_the_engine_stale(tmp_path: Path) -> None:
    engine = engine_dir(tmp_path) / engine_filename("slag-mnv2", KEY)
    assert stale_reason(engine, KEY) == "no engine file"

    engine = _cached_engine(tmp_path)
    sidecar_path(engine).unlink()
    assert "missing or unreadable" in (stale_reason(engine, KEY) or "")

    engine = _cached_engine(tmp_path)
    sidecar_path(engine).write_text("{not json")
    assert "missing or unreadable" in (stale_reason(engine, KEY) or "")

    sidecar_path(engine).write_text("[1, 2]")
    assert "missing or unreadable" in (stale_reason(engine, KEY) or "")

    engine = _cached_engine(tmp_path)
    record = json.loads(sidecar_path(engine).read_text())
    record["schema"] = "steelsight.engine/0"
    sidecar_path(engine).write_text(json.dumps(record))
    assert "schema" in (stale_reason(engine, KEY) or "")

    record["schema"] = "steelsight.engine/1"
    record["key"] = {"trt_version": "10.3.0"}
    sidecar_path(engine).write_text(json.dumps(record))
    assert "key is invalid" in (stale_reason(engine, KEY) or "")


def test_a_changed_engine_file_is_stale(tmp_path: Path) -> None:
    payload = b"0123456789" * 50
    engine = _cached_engine(tmp_path, payload=payload)
    engine.write_bytes(payload + b"!")
    assert "bytes" in (stale_reason(engine, KEY) or "")

    engine = _cached_engine(tmp_path, payload=payload)
    engine.write_bytes(payload[:-1] + b"X")  # same size, other content
    assert "sha256" in (stale_reason(engine, KEY) or "")
    assert stale_reason(engine, KEY, verify_hash=False) is None  # the cheap check only looks at the size


def test_atomic_write_replaces_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "timing.cache"
    atomic_write(target, b"first")
    atomic_write(target, memoryview(b"second"))
    atomic_write(target, bytearray(b"third"))
    assert target.read_bytes() == b"third"
    assert [p.name for p in target.parent.iterdir()] == ["timing.cache"]
