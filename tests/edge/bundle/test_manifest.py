"""The bundle manifest: round trips, field-by-field validation, atomic writes and the JSON Schema."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.bundle.hashing import sha256_file
from edge.bundle.manifest import (
    FILE_NAMES,
    SCHEMA,
    BundleError,
    ClassInfo,
    FileEntry,
    InputSpec,
    Manifest,
    PostprocessSpec,
    file_entry,
    json_schema,
    read_manifest,
    write_manifest,
)

SHA_A = "a" * 64
SHA_B = "b" * 64


def sample_manifest(
    files: dict[str, FileEntry] | None = None,
    classes: int = 3,
    height: int = 64,
    width: int = 96,
    task: str = "slag",
) -> Manifest:
    """A valid manifest (placeholder hashes unless ``files`` is given)."""
    names = ["background", "immersion tube", "slag layer", "extra"]
    colors = [(0, 0, 0), (0, 128, 255), (255, 64, 0), (9, 9, 9)]
    if files is None:
        files = {
            "fp32": FileEntry("model.onnx", SHA_A, 1234, "fp32"),
            "fp16": FileEntry("model.fp16.onnx", SHA_B, 700, "fp16"),
        }
    return Manifest(
        name="slag-mnv2",
        version="1.2.0",
        task=task,
        arch="deeplabv3plus-mobilenetv2-ema",
        classes=tuple(ClassInfo(i, names[i], colors[i]) for i in range(classes)),
        input=InputSpec(height=height, width=width, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
        files=files,
        postprocess=PostprocessSpec(kind="argmax"),
        metrics={"eval_set": {"name": "synthetic-val", "images": 40}, "fp32": {"miou": 0.9046}},
        training={
            "dataset_fingerprint": "sha256:" + "c" * 64,
            "command": "steelsight-train fit",
            "git": "abc1234",
        },
        quantization=None,
        created_at="2025-11-20T23:00:00+00:00",
        exporter="steelsight 0.1.0",
    )


def test_round_trip_through_json_text() -> None:
    manifest = sample_manifest()
    text = json.dumps(manifest.to_json())
    again = Manifest.from_json(json.loads(text))
    assert again == manifest
    assert again.to_json() == manifest.to_json()
    assert next(iter(manifest.to_json())) == "schema"
    assert manifest.to_json()["schema"] == SCHEMA == "steelsight.bundle/1"


def test_round_trip_keeps_weld_postprocess_and_quantization() -> None:
    files = {
        "fp32": FileEntry("model.onnx", SHA_A, 10, "fp32"),
        "int8": FileEntry("model.int8.onnx", SHA_B, 5, "int8"),
    }
    manifest = replace(
        sample_manifest(files=files, classes=2, task="weld"),
        postprocess=PostprocessSpec(
            kind="argmax", matting={"foreground": 0.46, "background": 0.38, "alpha": 0.5}
        ),
        quantization={"method": "percentile", "images": ["a.png"], "excluded_nodes": ["/head/Conv"]},
    )
    again = Manifest.from_json(manifest.to_json())
    assert again == manifest
    assert again.postprocess.matting == {"foreground": 0.46, "background": 0.38, "alpha": 0.5}
    threshold = replace(manifest, postprocess=PostprocessSpec(kind="threshold", threshold=0.5))
    assert Manifest.from_json(threshold.to_json()).postprocess.threshold == 0.5


def test_numpy_scalars_and_lists_from_the_exporter_are_normalized() -> None:
    good = sample_manifest()
    loose = replace(
        good,
        classes=[
            ClassInfo(np.int64(i), c.name, [np.uint8(v) for v in c.color]) for i, c in enumerate(good.classes)
        ],  # type: ignore[arg-type]
        input=InputSpec(np.int64(64), np.int32(96), [np.float32(0.5)] * 3, np.array([0.25, 0.25, 0.25])),  # type: ignore[arg-type]
        postprocess=PostprocessSpec(
            "threshold", np.float64(0.5), {"foreground": np.float32(0.5), "background": 0.25, "alpha": 0.5}
        ),  # type: ignore[arg-type]
    )
    loose.validate()
    assert loose.classes == good.classes
    assert loose.input == InputSpec(64, 96, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert type(loose.input.height) is int
    assert type(loose.postprocess.matting["foreground"]) is float  # type: ignore[index]
    assert Manifest.from_json(json.loads(json.dumps(loose.to_json()))) == loose


def test_write_then_read_is_atomic_and_identical(tmp_path: Path) -> None:
    manifest = sample_manifest()
    path = write_manifest(manifest, tmp_path)
    assert path == tmp_path / "manifest.json"
    assert read_manifest(tmp_path) == manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]  # no temporary file left
    write_manifest(manifest, tmp_path)  # overwriting works too
    assert json.loads(path.read_text())["name"] == "slag-mnv2"


def test_file_entry_hashes_the_named_file(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 5000  # > 1 MiB, several chunks
    (tmp_path / FILE_NAMES["fp16"]).write_bytes(payload)
    entry = file_entry(tmp_path, "fp16")
    assert entry == FileEntry("model.fp16.onnx", hashlib.sha256(payload).hexdigest(), len(payload), "fp16")
    assert sha256_file(tmp_path / "model.fp16.onnx", chunk_bytes=1000) == entry.sha256
    with pytest.raises(BundleError, match=r"model\.int8\.onnx.*does not exist"):
        file_entry(tmp_path, "int8")
    with pytest.raises(BundleError, match="unknown precision 'bf16'"):
        file_entry(tmp_path, "bf16")


@pytest.mark.parametrize(
    "key",
    ["name", "version", "task", "arch", "classes", "input", "files", "postprocess", "metrics", "training"],
)
def test_each_missing_required_field_is_named(key: str) -> None:
    data = sample_manifest().to_json()
    del data[key]
    with pytest.raises(BundleError, match=rf"^bundle/manifest\.json: required field '{key}' is missing"):
        Manifest.from_json(data, source="bundle/manifest.json")


@pytest.mark.parametrize(
    ("section", "key"),
    [("input", "height"), ("input", "mean"), ("postprocess", "kind"), ("files.fp32", "sha256")],
)
def test_missing_nested_fields_are_named(section: str, key: str) -> None:
    data = sample_manifest().to_json()
    target = data
    for part in section.split("."):
        target = target[part]
    del target[key]
    with pytest.raises(BundleError, match=rf"required field '{section}\.{key}' is missing"):
        Manifest.from_json(data)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[part]
        del target[last]

    return change


# (change, the field the error must name, whether the JSON Schema alone also rejects it)
INVALID = {
    "empty name": (_set("name", ""), "'name'", True),
    "unknown task": (_set("task", "rolling"), "'task'", True),
    "class id out of order": (_set("classes.1.id", 5), "'classes[1].id'", False),
    "class id is a bool": (_set("classes.0.id", False), "'classes[0].id'", True),
    "class color too short": (_set("classes.0.color", [0, 0]), "'classes[0].color'", True),
    "class color out of range": (_set("classes.2.color", [0, 0, 300]), "'classes[2].color'", True),
    "classes empty": (_set("classes", []), "'classes'", True),
    "class unknown key": (_set("classes.0.colour", [1, 2, 3]), "'classes[0]'", True),
    "height is text": (_set("input.height", "512"), "'input.height'", True),
    "width zero": (_set("input.width", 0), "'input.width'", True),
    "mean too long": (_set("input.mean", [0.1, 0.2, 0.3, 0.4]), "'input.mean'", True),
    "std zero": (_set("input.std", [0.2, 0.0, 0.2]), "'input.std'", True),
    "color order": (_set("input.color", "HSV"), "'input.color'", True),
    "resize mode": (_set("input.resize", "bicubic"), "'input.resize'", True),
    "layout": (_set("input.layout", "NHWC"), "'input.layout'", True),
    "input unknown key": (_set("input.colour", "BGR"), "'input'", True),
    "no fp32 file": (_delete("files.fp32"), "'files.fp32'", True),
    "unknown precision": (
        _set("files.bf16", {"path": "m.onnx", "sha256": SHA_A, "size_bytes": 1, "precision": "bf16"}),
        "'files.bf16'",
        True,
    ),
    "bad sha256": (_set("files.fp16.sha256", "XYZ"), "'files.fp16.sha256'", True),
    "negative size": (_set("files.fp32.size_bytes", -1), "'files.fp32.size_bytes'", True),
    "precision differs from key": (_set("files.fp16.precision", "int8"), "'files.fp16.precision'", False),
    "path escapes bundle": (_set("files.fp32.path", "../model.onnx"), "'files.fp32.path'", True),
    "absolute path": (_set("files.fp32.path", "/tmp/model.onnx"), "'files.fp32.path'", True),
    "same file twice": (_set("files.fp16.path", "model.onnx"), "'files'", False),
    "postprocess kind": (_set("postprocess.kind", "softmax"), "'postprocess.kind'", True),
    "threshold missing": (_set("postprocess.kind", "threshold"), "'postprocess.threshold'", True),
    "threshold with argmax": (_set("postprocess.threshold", 0.5), "'postprocess.threshold'", True),
    "threshold above 1": (
        _set("postprocess", {"kind": "threshold", "threshold": 1.5}),
        "'postprocess.threshold'",
        True,
    ),
    "matting keys": (
        _set("postprocess.matting", {"foreground": 0.46, "background": 0.38}),
        "'postprocess.matting'",
        True,
    ),
    "matting order": (
        _set("postprocess.matting", {"foreground": 0.3, "background": 0.4, "alpha": 0.5}),
        "'postprocess.matting'",
        False,
    ),
    "matting value": (
        _set("postprocess.matting", {"foreground": 1.46, "background": 0.38, "alpha": 0.5}),
        "'postprocess.matting.foreground'",
        True,
    ),
    "metrics not object": (_set("metrics", [1, 2]), "'metrics'", True),
    "training not object": (_set("training", "git abc"), "'training'", True),
    "quantization not object": (_set("quantization", "minmax"), "'quantization'", True),
    "created_at not text": (_set("created_at", 20251120), "'created_at'", True),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_each_invalid_field_is_named(case: str) -> None:
    change, field_name, _ = INVALID[case]
    data = sample_manifest().to_json()
    change(data)
    with pytest.raises(BundleError) as info:
        Manifest.from_json(data, source="/opt/bundles/slag/manifest.json")
    message = str(info.value)
    assert message.startswith("/opt/bundles/slag/manifest.json: ")
    assert field_name in message, message


def test_schema_missing_or_unsupported_says_which_versions_are_read() -> None:
    data = sample_manifest().to_json()
    del data["schema"]
    with pytest.raises(BundleError, match=r"field 'schema' is missing.*'steelsight\.bundle/1'"):
        Manifest.from_json(data)
    data["schema"] = "steelsight.bundle/2"
    with pytest.raises(BundleError) as info:
        Manifest.from_json(data)
    assert "'steelsight.bundle/2' is not supported" in str(info.value)
    assert "reads 'steelsight.bundle/1'" in str(info.value)


def test_not_an_object() -> None:
    with pytest.raises(BundleError, match="must be a JSON object, got list"):
        Manifest.from_json([1, 2])  # type: ignore[arg-type]


def test_unknown_top_level_fields_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    data = sample_manifest().to_json()
    data["notes"] = "retrained after the March relining"
    with caplog.at_level(logging.WARNING, logger="edge.bundle.manifest"):
        assert Manifest.from_json(data) == sample_manifest()
    assert "notes" in caplog.text


def test_write_manifest_refuses_an_invalid_manifest_and_writes_nothing(tmp_path: Path) -> None:
    good = sample_manifest()
    bad_classes = replace(good, classes=(ClassInfo(1, "a", (0, 0, 0)),))
    with pytest.raises(BundleError, match=r"'classes\[0\]\.id'"):
        write_manifest(bad_classes, tmp_path)
    nan_metrics = replace(good, metrics={"fp32": {"miou": float("nan")}})
    with pytest.raises(BundleError, match="'metrics' cannot be written as strict JSON"):
        write_manifest(nan_metrics, tmp_path)
    float_height = replace(good, input=InputSpec(64.0, 96, (0, 0, 0), (1, 1, 1)))  # type: ignore[arg-type]
    with pytest.raises(BundleError, match=r"'input\.height'"):
        write_manifest(float_height, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_read_manifest_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"schema": "steelsight.bundle/1",\n  "name": }')
    with pytest.raises(BundleError, match=r"manifest\.json: invalid JSON at line 2"):
        read_manifest(tmp_path)
    text = json.dumps(sample_manifest().to_json()).replace('"images": 40', '"images": NaN')
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(BundleError, match="'NaN' is not valid JSON"):
        read_manifest(tmp_path)


def test_json_schema_accepts_a_good_manifest_and_rejects_bad_ones() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a dev dependency for this test")
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    good = sample_manifest().to_json()
    assert list(validator.iter_errors(good)) == []
    weld = replace(
        sample_manifest(classes=2, task="weld"),
        postprocess=PostprocessSpec("argmax", None, {"foreground": 0.46, "background": 0.38, "alpha": 0.5}),
    )
    assert list(validator.iter_errors(weld.to_json())) == []
    for case, (change, _, schema_catches) in INVALID.items():
        data = copy.deepcopy(good)
        change(data)
        errors = list(validator.iter_errors(data))
        assert bool(errors) == schema_catches, case
    bad_schema = copy.deepcopy(good)
    bad_schema["schema"] = "steelsight.bundle/2"
    assert list(validator.iter_errors(bad_schema))
