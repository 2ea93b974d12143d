"""Contract-3 payloads: every kind the code builds validates against its JSON Schema."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from jsonschema import Draft202012Validator, ValidationError

from edge.measure import SlagMeasurement, measure_slag, measure_weld
from edge.measure.dip_cycle import SlagCycleMeasurement
from edge.measure.mask_encoding import decode_mask
from edge.measure.quality import MeasureQuality
from edge.metrics import PipelineMetrics
from edge.publish import payloads
from edge.publish.payloads import MetricSpec, ModelInfo, PayloadContext
from edge.publish.topics import Topics
from edge.synth.slag import render_slag
from edge.synth.weld import render_weld
from tests.edge.publish.helpers import measure_scene, validate

CTX = PayloadContext("slagcam01", ModelInfo("slagnet", "1.2.0"), software="0.1.0")


def slag_measurement(index: int = 1) -> SlagMeasurement:
    return measure_scene(render_slag(0, index, (128, 128)))


def weld_scene(size: int = 256):
    scene = render_weld(0, 1, (size, size))
    measurement = measure_weld(scene.mask, mm_per_px=scene.truth.mm_per_px)
    return measurement, scene.mask, scene.image


def test_every_schema_file_is_a_valid_draft_2020_12_schema() -> None:
    for kind, schema_id in payloads.SCHEMAS.items():
        schema = payloads.load_schema(kind)
        Draft202012Validator.check_schema(schema)
        assert schema["properties"]["schema"]["const"] == schema_id
        assert payloads.load_schema(schema_id) == schema
    with pytest.raises(KeyError, match="no schema"):
        payloads.load_schema("nope/1")


def test_schemas_ship_as_package_data() -> None:
    pyproject = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    assert '"edge.publish" = ["schemas/*.json"]' in pyproject
    folder = Path(payloads.__file__).parent / "schemas"
    names = {p.stem for p in folder.glob("*.json")}
    assert names == {s.split("/")[0] for s in payloads.SCHEMAS.values()}


def test_thickness_payload_from_a_real_measurement_validates() -> None:
    m = slag_measurement()
    payload = json.loads(
        payloads.with_seq(payloads.thickness_payload(CTX, m, 1_700_000_000_123, frame=7), 42)
    )
    validate(payload)
    assert (
        payload["schema"] == "slag.thickness/1"
        and payload["seq"] == 42
        and payload["ts"] == 1_700_000_000_123
    )
    assert payload["unit"] == "mm" and payload["model"] == {"name": "slagnet", "version": "1.2.0"}
    assert payload["software"] == {"name": "steelsight", "version": "0.1.0"}
    assert payload["quality"] in ("GOOD", "UNCERTAIN", "BAD") and payload["frame"] == 7


def test_bad_thickness_with_nan_is_null_and_validates() -> None:
    blank = np.zeros((64, 64), np.uint8)  # no tube: BAD, NaN thickness
    m = measure_slag(blank, mm_per_px=1.0)
    payload = json.loads(payloads.with_seq(payloads.thickness_payload(CTX, m, 1), 0))
    validate(payload)
    assert payload["thickness_mm"] is None and payload["quality"] == "BAD" and payload["quality_code"] == 0
    assert payload["quality_reason"]


def test_quality_code_must_match_quality() -> None:
    payload = json.loads(payloads.with_seq(payloads.thickness_payload(CTX, slag_measurement(), 1), 0))
    payload["quality"], payload["quality_code"] = "GOOD", 0
    with pytest.raises(ValidationError):
        validate(payload)


def test_cycle_payload_validates() -> None:
    cycle = SlagCycleMeasurement(120.5, 3.0, 1.1, 12, 1000, 2000, 3, MeasureQuality.good())
    payload = json.loads(payloads.with_seq(payloads.cycle_payload(CTX, cycle, 2000), 5))
    validate(payload)
    assert payload["schema"] == "slag.measurement/1" and payload["cycle"] == 3 and payload["unit"] == "mm"


@pytest.mark.parametrize("encoding", ["coco_rle", "png_1bit"])
def test_weld_payload_with_inline_mask_validates_and_decodes(encoding: str) -> None:
    measurement, mask, image = weld_scene()
    payload = payloads.weld_payload(
        CTX, measurement, 5, mask=mask, image=image, frame=3, encoding=encoding, max_bytes=256 * 1024
    )
    decoded = json.loads(payloads.with_seq(payload, 9))
    validate(decoded)
    assert decoded["reference"] is None
    assert decoded["mask"]["encoding"] == encoding
    assert np.array_equal(decode_mask(decoded["mask"]), (mask > 0).astype(np.uint8))
    assert decoded["units"]["area_mm2"] == "mm2"


def test_oversized_weld_payload_carries_a_reference_to_files_with_their_sha256(tmp_path: Path) -> None:
    measurement, mask, image = weld_scene(512)
    rng = np.random.default_rng(0)
    noisy = mask.copy()
    noisy[rng.random(mask.shape) < 0.05] = 1  # speckle: a long RLE
    payload = payloads.weld_payload(
        CTX,
        measurement,
        1_700_000_000_000,
        mask=noisy,
        image=image,
        frame=12,
        max_bytes=4096,
        image_dir=tmp_path,
    )
    data = payloads.with_seq(payload, 1)
    decoded = json.loads(data)
    validate(decoded)
    assert len(data) <= 4096
    assert decoded["mask"] is None
    reference = decoded["reference"]
    assert "exceeds max_payload_bytes 4096" in reference["reason"]
    for key, fmt in (("image", "png"), ("mask", "png_1bit")):
        ref = reference[key]
        path = Path(ref["path"])
        assert path.parent == tmp_path and path.exists() and ref["format"] == fmt
        assert hashlib.sha256(path.read_bytes()).hexdigest() == ref["sha256"]
        assert ref["bytes"] == path.stat().st_size and ref["size"] == [512, 512]
    saved_mask = decode_mask(
        {"encoding": "png_1bit", "size": [512, 512], "data": _b64(reference["mask"]["path"])}
    )
    assert np.array_equal(saved_mask, (noisy > 0).astype(np.uint8))
    assert not list(tmp_path.glob(".*.tmp")), "atomic writes leave no temporary files"


def _b64(path: str) -> str:
    import base64

    return base64.b64encode(Path(path).read_bytes()).decode()


def test_save_weld_images_references_the_frame_beside_the_inline_mask(tmp_path: Path) -> None:
    measurement, mask, image = weld_scene()
    payload = payloads.weld_payload(
        CTX, measurement, 5, mask=mask, image=image, frame=1, image_dir=tmp_path, save_image_always=True
    )
    validate(json.loads(payloads.with_seq(payload, 1)))
    assert payload["mask"] is not None and payload["reference"]["mask"] is None
    assert Path(payload["reference"]["image"]["path"]).exists()


def test_reference_without_a_folder_is_an_error() -> None:
    measurement, mask, image = weld_scene()
    with pytest.raises(ValueError, match="image_dir"):
        payloads.weld_payload(CTX, measurement, 5, mask=mask, image=image, max_bytes=1024)


def test_status_payloads_validate() -> None:
    specs = [
        MetricSpec("slag/thickness", "thickness_mm", "mm", 5.0),
        MetricSpec("slag/measurement", "frames", "", None, "int"),
    ]
    outbox = {
        "rows": 3,
        "bytes": 900,
        "oldest_ts": 1,
        "by_kind": {"measurement": 3},
        "evictions": {"mask": 2},
    }
    online = payloads.status_payload(
        CTX, 10, online=True, reason="birth", task="slag", started_ts=5, metrics=specs, outbox=outbox, seq=1
    )
    validate(online)
    assert online["metrics"][0] == {
        "topic": "slag/thickness",
        "field": "thickness_mm",
        "unit": "mm",
        "rate_hz": 5.0,
        "type": "float",
    }
    offline = payloads.status_payload(CTX, 10, online=False, reason="connection lost", seq=2)
    validate(offline)
    assert offline["quality"] == "BAD" and "connection lost" in offline["quality_reason"]
    bad = payloads.status_payload(
        CTX,
        10,
        online=True,
        reason="outbox failing",
        seq=None,
        quality={"quality": "BAD", "quality_code": 0, "quality_reason": "outbox failing: disk full"},
    )
    validate(bad)  # seq null: the outbox could not hand one out


def test_metrics_payload_validates_with_real_pipeline_figures() -> None:
    metrics = PipelineMetrics()
    for i in range(5):
        metrics.add_time("infer", 0.01 * (i + 1))
        metrics.frame_done()
    metrics.count("dropped", 2)
    payload = payloads.metrics_payload(
        CTX,
        10,
        pipeline=metrics.snapshot(),
        publish={"published": 3, "connected": True, "last_error": None},
        outbox={"rows": 0, "bytes": 0, "oldest_ts": None, "by_kind": {}, "evictions": {}},
        temperatures={"CPU-therm": 41.5},
        seq=4,
    )
    validate(json.loads(payloads.encode(payload)))
    assert payload["units"]["temperatures_c"] == "degC"


def test_reply_payloads_validate() -> None:
    ok = payloads.reply_payload(
        CTX, 1, command="rebirth", ok=True, request_id="a1", result={"rebirth": True}, seq=3
    )
    validate(ok)
    assert ok["error"] is None
    failed = payloads.reply_payload(CTX, 1, command=None, ok=False, error="payload is not valid JSON", seq=4)
    validate(failed)
    failed["error"] = None
    with pytest.raises(ValidationError):
        validate(failed)


def test_encode_writes_compact_json_and_nan_as_null() -> None:
    data = payloads.encode({"a": math.nan, "b": [1.5, math.inf], "c": np.float32(2.0)})
    assert data == b'{"a":null,"b":[1.5,null],"c":2.0}'


def test_encoded_size_is_an_upper_bound_for_any_seq() -> None:
    payload = payloads.thickness_payload(CTX, slag_measurement(), 1)
    bound = payloads.encoded_size(payload)
    for seq in (0, 12345, 2**63 - 1):
        assert len(payloads.with_seq(payload, seq)) <= bound
    with pytest.raises(ValueError, match="uint64"):
        payloads.with_seq(payload, -1)


def test_read_temperatures_reads_thermal_zones(tmp_path: Path) -> None:
    zone = tmp_path / "thermal_zone0"
    zone.mkdir()
    (zone / "type").write_text("CPU-therm\n")
    (zone / "temp").write_text("45500\n")
    (tmp_path / "thermal_zone1").mkdir()  # unreadable zone: skipped
    assert payloads.read_temperatures(tmp_path) == {"CPU-therm": 45.5}


def test_topics() -> None:
    topics = Topics("plant1/meltshop/rh1/slagcam01")
    assert topics.status == "plant1/meltshop/rh1/slagcam01/status"
    assert topics.thickness.endswith("/slag/thickness") and topics.weld.endswith("/weld/result")
    assert topics.backfill(topics.thickness) == "plant1/meltshop/rh1/slagcam01/backfill/slag/thickness"
    assert topics.cmd_filter.endswith("/cmd/#") and topics.reply.endswith("/cmd/reply")
    assert topics.command_name(topics.sub("cmd/rebirth")) == "rebirth"
    assert topics.command_name(topics.status) is None
    with pytest.raises(ValueError):
        topics.backfill("other/topic")
    for bad in ("", "/a", "a/", "a/#", "a/+/b"):
        with pytest.raises(ValueError):
            Topics(bad)
