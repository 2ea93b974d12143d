"""The JSON payloads of contract 3 (DESIGN.md), one builder per payload kind.

Every payload is a JSON object that starts with the same header:

``schema``
    ``"<kind>/<major version>"``, e.g. ``"slag.thickness/1"``; a JSON Schema per kind ships in
    ``edge/publish/schemas/<kind>.json`` (:func:`load_schema`).
``device``
    The camera id.
``seq``
    uint64 from the outbox's persisted counter: unique per device across restarts, increasing in
    the order the payloads were made. Consumers dedupe on ``(device, seq)``. Data payloads (those
    that travel through the outbox) take consecutive numbers; status and command replies take
    theirs from the same counter, so a gap in one topic's seqs is not a loss.
``ts``
    UTC milliseconds: the frame's capture time for measurements, the time of writing otherwise.
``model``
    ``{"name", "version"}`` of the model bundle (``null`` before one is loaded).
``software``
    ``{"name": "steelsight", "version"}``.

Measurement payloads then carry their value fields with ``unit`` (or ``units`` per field for
weld geometry) and ``quality`` (``GOOD`` / ``UNCERTAIN`` / ``BAD``), ``quality_code`` (Sparkplug
192 / 64 / 0) and ``quality_reason``. Non-finite numbers are written as ``null``.

Builders return plain dicts; :func:`encode` turns one into compact UTF-8 JSON. A builder whose
seq is not known yet (the outbox hands it out inside its insert transaction) leaves ``seq`` as
``None``; :func:`with_seq` fills it in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge import __version__
from edge.atomic_file import atomic_write
from edge.measure.mask_encoding import encode_mask, encode_png_1bit
from edge.measure.quality import MeasureQuality

__all__ = [
    "CONTENT_TYPE",
    "SCHEMAS",
    "SOFTWARE_NAME",
    "FileRef",
    "MetricSpec",
    "ModelInfo",
    "PayloadContext",
    "cycle_payload",
    "encode",
    "encoded_size",
    "load_schema",
    "metrics_payload",
    "read_temperatures",
    "reply_payload",
    "save_image",
    "status_payload",
    "thickness_payload",
    "weld_payload",
    "with_seq",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"
"""The MQTT 5 content type of every payload."""

SOFTWARE_NAME = "steelsight"

SCHEMAS: dict[str, str] = {
    "status": "status/1",
    "thickness": "slag.thickness/1",
    "measurement": "slag.measurement/1",
    "weld": "weld.result/1",
    "metrics": "metrics/1",
    "reply": "cmd.reply/1",
}
"""The ``schema`` value of each payload kind."""

_MAX_SEQ_DIGITS = len(str(2**64 - 1))


@dataclass(frozen=True)
class ModelInfo:
    """The model bundle's name and version, as payloads carry them."""

    name: str
    version: str

    def as_payload(self) -> dict[str, str]:
        """``{"name", "version"}``."""
        return {"name": self.name, "version": self.version}


@dataclass(frozen=True)
class PayloadContext:
    """What every payload of one camera repeats: its id and the versions.

    Parameters
    ----------
    device
        The camera id.
    model
        The model bundle (``None`` before one is loaded).
    software
        The software version (default: the installed ``steelsight`` version).
    """

    device: str
    model: ModelInfo | None = None
    software: str = __version__

    def header(self, kind: str, seq: int | None, ts_ms: int) -> dict[str, Any]:
        """The common fields of a ``kind`` payload (``kind`` is a key of :data:`SCHEMAS`)."""
        return {
            "schema": SCHEMAS[kind],
            "device": self.device,
            "seq": seq,
            "ts": int(ts_ms),
            "model": None if self.model is None else self.model.as_payload(),
            "software": {"name": SOFTWARE_NAME, "version": self.software},
        }


@dataclass(frozen=True)
class MetricSpec:
    """One value the camera publishes, as the birth message lists it.

    Attributes
    ----------
    topic
        The subtopic under the prefix (e.g. ``"slag/thickness"``).
    field
        The payload field holding the value.
    unit
        Its unit (``""`` for a plain number).
    rate_hz
        How many messages per second to expect (``None``: event-driven or unknown).
    type
        ``"float"``, ``"int"`` or ``"object"``.
    """

    topic: str
    field: str
    unit: str
    rate_hz: float | None
    type: str = "float"

    def as_payload(self) -> dict[str, Any]:
        """The birth message's entry for this metric."""
        rate = None if self.rate_hz is None else round(float(self.rate_hz), 6)
        return {
            "topic": self.topic,
            "field": self.field,
            "unit": self.unit,
            "rate_hz": rate,
            "type": self.type,
        }


@dataclass(frozen=True)
class FileRef:
    """A file the camera keeps, referenced from a payload instead of its contents."""

    path: str
    sha256: str
    bytes: int
    format: str
    size: tuple[int, int]

    def as_payload(self) -> dict[str, Any]:
        """``{"path", "sha256", "bytes", "format", "size": [height, width]}``."""
        return {
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "format": self.format,
            "size": [int(self.size[0]), int(self.size[1])],
        }


# --------------------------------------------------------------------------------------------
# Encoding


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (recursively)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def encode(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON of ``payload``; NaN and infinities become ``null``.

    Raises
    ------
    TypeError
        For a value JSON cannot hold.
    """
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError):
        text = json.dumps(_finite(dict(payload)), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def with_seq(payload: Mapping[str, Any], seq: int) -> bytes:
    """``payload`` encoded with its ``seq`` set (the outbox's build callback)."""
    if not 0 <= seq < 2**64:
        raise ValueError(f"seq must be a uint64, got {seq}")
    data = dict(payload)
    data["seq"] = int(seq)
    return encode(data)


def encoded_size(payload: Mapping[str, Any]) -> int:
    """The encoded size of ``payload`` in bytes once any uint64 seq is filled in (an upper bound)."""
    data = dict(payload)
    data["seq"] = 0
    return len(encode(data)) - 1 + _MAX_SEQ_DIGITS


@cache
def load_schema(kind_or_schema: str) -> dict[str, Any]:
    """The JSON Schema of a payload kind (``"thickness"``) or schema id (``"slag.thickness/1"``).

    Raises
    ------
    KeyError
        For an unknown kind.
    """
    schema_id = SCHEMAS.get(kind_or_schema, kind_or_schema)
    if schema_id not in SCHEMAS.values():
        raise KeyError(f"no schema for {kind_or_schema!r}; known: {', '.join(SCHEMAS.values())}")
    name = schema_id.split("/", 1)[0]
    text = resources.files("edge.publish").joinpath("schemas", f"{name}.json").read_text("utf-8")
    return json.loads(text)


# --------------------------------------------------------------------------------------------
# Measurements


def thickness_payload(
    ctx: PayloadContext, measurement: Any, ts_ms: int, *, frame: int | None = None, seq: int | None = None
) -> dict[str, Any]:
    """A ``slag.thickness/1`` payload of one frame's :class:`~edge.measure.SlagMeasurement`.

    Parameters
    ----------
    ctx
        The camera's id and versions.
    measurement
        The frame's measurement (its ``as_payload()`` gives the value fields).
    ts_ms
        The frame's capture time, UTC ms.
    frame
        The source's frame counter, for tracing (``None``: left out as ``null``).
    seq
        The seq, when already known.
    """
    return {**ctx.header("thickness", seq, ts_ms), **measurement.as_payload(), "frame": frame}


def cycle_payload(ctx: PayloadContext, cycle: Any, ts_ms: int, *, seq: int | None = None) -> dict[str, Any]:
    """A ``slag.measurement/1`` payload of a completed dip cycle (``SlagCycleMeasurement``).

    ``ts_ms`` is the capture time of the frame that completed the cycle; the cycle's own span is
    in ``first_ts`` / ``last_ts``.
    """
    return {**ctx.header("measurement", seq, ts_ms), **cycle.as_payload()}


def _file_name(device: str, ts_ms: int, frame: int | None, suffix: str) -> str:
    frame_part = "" if frame is None else f"_f{int(frame):08d}"
    return f"{device}_{int(ts_ms)}{frame_part}_{suffix}"


def save_image(path: Path, data: bytes, format: str, size: tuple[int, int]) -> FileRef:
    """Write ``data`` atomically to ``path`` and describe it (sha256 of the bytes written)."""
    atomic_write(path, data)
    return FileRef(str(path), hashlib.sha256(data).hexdigest(), len(data), format, size)


def _save_frame(folder: Path, name: str, image: np.ndarray) -> FileRef:
    ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover - OpenCV gives no reason
        raise OSError(f"OpenCV could not encode {name} as PNG")
    return save_image(folder / name, buffer.tobytes(), "png", image.shape[:2])


def weld_payload(
    ctx: PayloadContext,
    measurement: Any,
    ts_ms: int,
    *,
    mask: np.ndarray | None,
    image: np.ndarray | None = None,
    frame: int | None = None,
    encoding: str = "coco_rle",
    max_bytes: int = 256 * 1024,
    image_dir: Path | None = None,
    save_image_always: bool = False,
    seq: int | None = None,
) -> dict[str, Any]:
    """A ``weld.result/1`` payload: geometry, a compact mask, or a reference to files on the camera.

    The mask travels inline (``mask``: :func:`~edge.measure.mask_encoding.encode_mask` in
    ``encoding``) unless the encoded payload would exceed ``max_bytes``; then the full-resolution
    frame (PNG) and the mask (1-bit PNG) are written atomically into ``image_dir`` and the payload
    carries ``mask: null`` and ``reference`` with each file's path and sha256 instead.
    ``save_image_always`` writes the frame of every result and references it (``reference.image``)
    beside the inline mask.

    Parameters
    ----------
    ctx
        The camera's id and versions.
    measurement
        The :class:`~edge.measure.WeldMeasurement` (its ``as_payload()`` gives the geometry).
    ts_ms
        Capture time, UTC ms.
    mask
        The weld mask in frame coordinates (``None``: no mask, ``mask: null``).
    image
        The full-resolution frame (BGR), needed for a reference.
    frame
        The source's frame counter.
    encoding
        ``"coco_rle"`` or ``"png_1bit"``.
    max_bytes
        The largest payload sent with the mask inline.
    image_dir
        Where referenced files go (required when a reference is made).
    save_image_always
        Reference the frame in every payload.
    seq
        The seq, when already known.

    Raises
    ------
    ValueError
        When a reference is needed but there is no ``image_dir`` or frame.
    OSError
        When a referenced file cannot be written.
    """
    payload: dict[str, Any] = {
        **ctx.header("weld", seq, ts_ms),
        **measurement.as_payload(),
        "frame": frame,
        "mask": None if mask is None else encode_mask(mask, encoding),
        "reference": None,
    }
    reasons = []
    if save_image_always:
        reasons.append("save_weld_images")
    size = encoded_size(payload)
    oversized = size > max_bytes
    if oversized:
        reasons = [f"payload of {size} bytes exceeds max_payload_bytes {max_bytes}"]
    if not reasons:
        return payload
    if image_dir is None or image is None:
        raise ValueError("a weld payload reference needs image_dir and the frame image")
    reference: dict[str, Any] = {
        "reason": reasons[0],
        "image": _save_frame(
            Path(image_dir), _file_name(ctx.device, ts_ms, frame, "frame.png"), image
        ).as_payload(),
        "mask": None,
    }
    if oversized and mask is not None:
        data = encode_png_1bit(mask)
        name = _file_name(ctx.device, ts_ms, frame, "mask.png")
        reference["mask"] = save_image(Path(image_dir) / name, data, "png_1bit", mask.shape[:2]).as_payload()
        payload["mask"] = None
    payload["reference"] = reference
    if oversized and (size := encoded_size(payload)) > max_bytes:
        log.warning(
            "weld payload of frame %s is %d bytes even without its mask (max_payload_bytes %d); sent anyway",
            frame,
            size,
            max_bytes,
        )
    return payload


# --------------------------------------------------------------------------------------------
# Status, metrics, replies


def status_payload(
    ctx: PayloadContext,
    ts_ms: int,
    *,
    online: bool,
    reason: str,
    seq: int | None = None,
    task: str | None = None,
    protocol: str = "5",
    started_ts: int | None = None,
    metrics: Iterable[MetricSpec] = (),
    outbox: Mapping[str, Any] | None = None,
    quality: Mapping[str, Any] | None = None,
    topics: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A ``status/1`` payload: the birth (``online: true``), the LWT or the clean offline message.

    Parameters
    ----------
    ctx
        The camera's id and versions.
    ts_ms
        When it was written (for the LWT: when the publisher started).
    online
        ``True`` for the birth.
    reason
        Why this status (``"birth"``, ``"rebirth"``, ``"outbox failing"``, ``"clean shutdown"``,
        ``"connection lost"``...).
    seq
        The seq (from the outbox counter).
    task
        ``"slag"`` or ``"weld"``.
    protocol
        The MQTT protocol in use.
    started_ts
        When the runtime started, UTC ms.
    metrics
        The values published, with units and expected rates.
    outbox
        Outbox depth and eviction counts (``rows``, ``bytes``, ``oldest_ts``, ``by_kind``,
        ``evictions``, ``errors``).
    quality
        The device's quality fields (``quality``, ``quality_code``, ``quality_reason``); default
        GOOD when online, BAD (the reason) when offline.
    topics
        The topics used, by name.
    """
    if quality is None:
        quality = (MeasureQuality.good() if online else MeasureQuality.bad(f"offline: {reason}")).as_payload()
    return {
        **ctx.header("status", seq, ts_ms),
        "online": bool(online),
        "state": "online" if online else "offline",
        "reason": reason,
        "task": task,
        "protocol": protocol,
        "started_ts": started_ts,
        "metrics": [m.as_payload() for m in metrics],
        "outbox": None if outbox is None else dict(outbox),
        "topics": None if topics is None else dict(topics),
        "quality": quality["quality"],
        "quality_code": quality["quality_code"],
        "quality_reason": quality["quality_reason"],
    }


def read_temperatures(root: Path = Path("/sys/class/thermal")) -> dict[str, float]:
    """Thermal-zone temperatures in degrees Celsius by zone type (Jetson: ``CPU-therm``...; empty if none)."""
    temps: dict[str, float] = {}
    try:
        zones = sorted(root.glob("thermal_zone*"))
    except OSError:
        return temps
    for zone in zones:
        try:
            name = (zone / "type").read_text().strip() or zone.name
            milli = int((zone / "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        temps[name if name not in temps else f"{name}.{zone.name}"] = round(milli / 1000.0, 1)
    return temps


def metrics_payload(
    ctx: PayloadContext,
    ts_ms: int,
    *,
    pipeline: Mapping[str, Any] | None,
    publish: Mapping[str, Any],
    outbox: Mapping[str, Any] | None,
    temperatures: Mapping[str, float] | None = None,
    seq: int | None = None,
) -> dict[str, Any]:
    """A ``metrics/1`` payload.

    Parameters
    ----------
    ctx
        The camera's id and versions.
    ts_ms
        When the figures were taken, UTC ms.
    pipeline
        :meth:`edge.metrics.PipelineMetrics.snapshot` (fps, per-stage latency in ms, counters
        such as ``dropped``, queue depths, RSS), or ``None``.
    publish
        The publisher's counters (sent, acked, put errors, rejected...).
    outbox
        Outbox depth and evictions.
    temperatures
        Degrees Celsius by sensor.
    seq
        The seq, when already known.
    """
    return {
        **ctx.header("metrics", seq, ts_ms),
        "pipeline": None if pipeline is None else dict(pipeline),
        "publish": dict(publish),
        "outbox": None if outbox is None else dict(outbox),
        "temperatures_c": dict(temperatures or {}),
        "units": {
            "fps": "1/s",
            "latency_ms": "ms",
            "uptime_s": "s",
            "rss_bytes": "B",
            "outbox.bytes": "B",
            "temperatures_c": "degC",
        },
    }


def reply_payload(
    ctx: PayloadContext,
    ts_ms: int,
    *,
    command: str | None,
    ok: bool,
    request_id: Any = None,
    result: Any = None,
    error: str | None = None,
    seq: int | None = None,
) -> dict[str, Any]:
    """A ``cmd.reply/1`` payload: the answer to one command.

    Parameters
    ----------
    ctx
        The camera's id and versions.
    ts_ms
        When it was answered, UTC ms.
    command
        The command's name (``None`` when it could not be told).
    ok
        Whether it was carried out.
    request_id
        The ``id`` field of the request, echoed back (a string or number; ``None`` when absent).
    result
        What the command returned (JSON-ready).
    error
        Why it failed (``None`` when ``ok``).
    seq
        The seq, when already known.
    """
    if (request_id is not None and not isinstance(request_id, str | int)) or isinstance(request_id, bool):
        request_id = str(request_id)
    return {
        **ctx.header("reply", seq, ts_ms),
        "command": command,
        "id": request_id,
        "ok": bool(ok),
        "result": result,
        "error": None if ok else (error or "failed"),
    }
