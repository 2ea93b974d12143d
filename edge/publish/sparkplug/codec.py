"""Sparkplug B metrics: data type codes, the metric table of the camera, and value (de)coding.

The metric table maps our JSON payloads (contract 3) onto Sparkplug metrics. A metric's name is
the JSON subtopic and field, nested fields joined with ``/`` (``slag/thickness/thickness_mm``,
``metrics/pipeline/fps``), so a Sparkplug tag and the JSON field it mirrors are easy to match.
Objects (masks, contours, latency tables) travel as JSON text in ``String`` metrics.

Each metric carries, as Sparkplug properties,

``engUnit`` (``String``, births only)
    The engineering unit (``mm``, ``mm2``, ``1/s``...) when it has one.
``Quality`` (``Int32``)
    The specification's quality code: 192 for GOOD; 0 for BAD and for UNCERTAIN (the
    specification allows only 0, 192 and 500 (STALE), and an uncertain value must not look good
    to SCADA).
``qualityCode`` (``Int32``) and ``qualityReason`` (``String``)
    Our own code (GOOD 192 / UNCERTAIN 64 / BAD 0, as in the JSON payloads) and why, sent when the
    quality is not GOOD (and in births).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.publish.sparkplug import sparkplug_b_pb2 as pb

__all__ = [
    "BOOLEAN",
    "DATETIME",
    "DOUBLE",
    "INT32",
    "NODE_CONTROL_REBIRTH",
    "PAYLOAD_MAPS",
    "STRING",
    "UINT32",
    "UINT64",
    "MetricDef",
    "PayloadMap",
    "decode",
    "metric_value",
    "payload_maps",
    "properties_dict",
    "quality_properties",
    "set_value",
]

# Data type codes (the specification's DataType enumeration).
INT32 = pb.Int32
UINT32 = pb.UInt32
UINT64 = pb.UInt64
DOUBLE = pb.Double
BOOLEAN = pb.Boolean
STRING = pb.String
DATETIME = pb.DateTime

NODE_CONTROL_REBIRTH = "Node Control/Rebirth"
BDSEQ = "bdSeq"

SPARKPLUG_QUALITY = {"GOOD": 192, "UNCERTAIN": 0, "BAD": 0}
"""Our quality -> the ``Quality`` property (the specification knows only 0, 192 and 500)."""

_UINT32_TYPES = {pb.Int8, pb.Int16, pb.Int32, pb.UInt8, pb.UInt16, pb.UInt32}
_SIGNED_32 = {pb.Int8: 8, pb.Int16: 16, pb.Int32: 32}
_UINT64_TYPES = {pb.Int64, pb.UInt64, pb.DateTime}
_STRING_TYPES = {pb.String, pb.Text, pb.UUID}


@dataclass(frozen=True)
class MetricDef:
    """One Sparkplug metric and where its value sits in a JSON payload.

    ``path`` is the chain of keys into the payload (empty for metrics that no payload carries,
    such as ``bdSeq``); ``unit`` becomes the ``engUnit`` property.
    """

    name: str
    datatype: int
    unit: str = ""
    path: tuple[str, ...] = ()

    def extract(self, payload: Mapping[str, Any]) -> Any:
        """The value in ``payload`` (``None`` when a key is missing or the value is null)."""
        value: Any = payload
        for key in self.path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
        return value


@dataclass(frozen=True)
class PayloadMap:
    """Which metrics a JSON payload kind (``schema``) carries, and whether they belong to the edge
    node (``NDATA``) or the camera device (``DDATA``); ``quality`` says the payload has the quality
    fields."""

    schema: str
    device: bool
    metrics: tuple[MetricDef, ...]
    quality: bool = True


def _metrics(prefix: str, *items: tuple[str, int, str]) -> tuple[MetricDef, ...]:
    return tuple(
        MetricDef(f"{prefix}/{field.replace('.', '/')}", datatype, unit, tuple(field.split(".")))
        for field, datatype, unit in items
    )


SLAG_THICKNESS = PayloadMap(
    "slag.thickness/1",
    True,
    _metrics(
        "slag/thickness",
        ("thickness_mm", DOUBLE, "mm"),
        ("p10_mm", DOUBLE, "mm"),
        ("p90_mm", DOUBLE, "mm"),
        ("coverage", DOUBLE, ""),
        ("confidence", DOUBLE, ""),
        ("lines", UINT32, ""),
        ("frame", UINT64, ""),
    ),
)
SLAG_MEASUREMENT = PayloadMap(
    "slag.measurement/1",
    True,
    _metrics(
        "slag/measurement",
        ("thickness_mm", DOUBLE, "mm"),
        ("spread_mm", DOUBLE, "mm"),
        ("std_mm", DOUBLE, "mm"),
        ("frames", UINT32, ""),
        ("cycle", UINT64, ""),
        ("first_ts", DATETIME, ""),
        ("last_ts", DATETIME, ""),
    ),
)
WELD_RESULT = PayloadMap(
    "weld.result/1",
    True,
    _metrics(
        "weld/result",
        ("area_mm2", DOUBLE, "mm2"),
        ("width_mm", DOUBLE, "mm"),
        ("depth_mm", DOUBLE, "mm"),
        ("regions", UINT32, ""),
        ("frame", UINT64, ""),
        ("bbox_px", STRING, "px"),
        ("centroid_mm", STRING, "mm"),
        ("contour_mm", STRING, "mm"),
        ("mask", STRING, ""),
        ("reference", STRING, ""),
    ),
)
RUNTIME_METRICS = PayloadMap(
    "metrics/1",
    False,
    _metrics(
        "metrics",
        ("pipeline.fps", DOUBLE, "1/s"),
        ("pipeline.frames", UINT64, ""),
        ("pipeline.uptime_s", DOUBLE, "s"),
        ("pipeline.latency_ms", STRING, "ms"),
        ("pipeline.counters", STRING, ""),
        ("outbox.rows", UINT64, ""),
        ("outbox.bytes", UINT64, "B"),
        ("outbox.evictions", STRING, ""),
        ("publish", STRING, ""),
        ("temperatures_c", STRING, "degC"),
    ),
    quality=False,
)

PAYLOAD_MAPS: dict[str, PayloadMap] = {
    m.schema: m for m in (SLAG_THICKNESS, SLAG_MEASUREMENT, WELD_RESULT, RUNTIME_METRICS)
}
"""Every JSON payload kind that has a Sparkplug form, by ``schema``."""


def payload_maps(task: str | None) -> list[PayloadMap]:
    """The payload kinds a camera of ``task`` (``"slag"``, ``"weld"``, ``None``: both) publishes."""
    maps = [RUNTIME_METRICS]
    if task in (None, "slag"):
        maps += [SLAG_THICKNESS, SLAG_MEASUREMENT]
    if task in (None, "weld"):
        maps.append(WELD_RESULT)
    return maps


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def set_value(target: Any, datatype: int, value: Any) -> None:
    """Put ``value`` into a ``Metric`` or ``PropertyValue`` of ``datatype`` (``is_null`` for
    ``None`` and non-finite numbers; objects as JSON text in string types).

    Raises
    ------
    ValueError
        For a data type this module does not write, or a value that does not fit it.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        target.is_null = True
        return
    if datatype in _UINT32_TYPES:
        number = int(value)
        bits = _SIGNED_32.get(datatype)
        if bits is None and not 0 <= number < 2**32:
            raise ValueError(f"{number} does not fit data type {datatype}")
        target.int_value = number & 0xFFFFFFFF
    elif datatype in _UINT64_TYPES:
        number = int(value)
        if datatype != pb.Int64 and not 0 <= number < 2**64:
            raise ValueError(f"{number} does not fit data type {datatype}")
        target.long_value = number & 0xFFFFFFFFFFFFFFFF
    elif datatype == pb.Double:
        target.double_value = float(value)
    elif datatype == pb.Float:
        target.float_value = float(value)
    elif datatype == pb.Boolean:
        target.boolean_value = bool(value)
    elif datatype in _STRING_TYPES:
        target.string_value = value if isinstance(value, str) else _json_text(value)
    elif datatype in (pb.Bytes, pb.File):
        target.bytes_value = bytes(value)
    else:
        raise ValueError(f"data type {datatype} is not written by this encoder")


def metric_value(metric: Any) -> Any:
    """The Python value of a decoded ``Metric`` or ``PropertyValue`` (``None`` when null); signed
    integer types are turned back from two's complement."""
    if metric.is_null:
        return None
    field = metric.WhichOneof("value")
    if field is None:
        return None
    value = getattr(metric, field)
    datatype = metric.datatype if hasattr(metric, "datatype") else metric.type
    if field == "int_value" and datatype in _SIGNED_32:
        bits = _SIGNED_32[datatype]
        value &= (1 << bits) - 1
        return value - (1 << bits) if value >= 1 << (bits - 1) else value
    if field == "long_value" and datatype == pb.Int64:
        return value - (1 << 64) if value >= 1 << 63 else value
    return value


def add_properties(metric: Any, items: Iterable[tuple[str, int, Any]]) -> None:
    """Append ``(key, datatype, value)`` properties to ``metric.properties``."""
    for key, datatype, value in items:
        metric.properties.keys.append(key)
        prop = metric.properties.values.add()
        prop.type = datatype
        set_value(prop, datatype, value)


def properties_dict(metric: Any) -> dict[str, Any]:
    """A decoded metric's properties as ``{key: value}``."""
    props = metric.properties
    return {key: metric_value(value) for key, value in zip(props.keys, props.values, strict=False)}


def quality_properties(payload: Mapping[str, Any], *, always_detail: bool) -> list[tuple[str, int, Any]]:
    """The quality properties of a payload's metrics (empty when it has no ``quality`` field).

    ``Quality`` always; ``qualityCode`` and ``qualityReason`` when the quality is not GOOD, or
    with ``always_detail`` (births).
    """
    quality = payload.get("quality")
    if not isinstance(quality, str):
        return []
    items: list[tuple[str, int, Any]] = [("Quality", INT32, SPARKPLUG_QUALITY.get(quality, 0))]
    if always_detail or quality != "GOOD":
        code = payload.get("quality_code")
        items.append(("qualityCode", INT32, int(code) if isinstance(code, int) else None))
        items.append(("qualityReason", STRING, str(payload.get("quality_reason") or "")))
    return items


def decode(data: bytes) -> Any:
    """Parse a Sparkplug B payload (``Payload``); ``google.protobuf.message.DecodeError`` when it is
    not one."""
    payload = pb.Payload()
    payload.ParseFromString(data)
    return payload
