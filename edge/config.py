"""The camera's runtime config (contract 4 of DESIGN.md): one TOML file per camera.

Sections ``[camera]``, ``[model]``, ``[measure]``, ``[mqtt]``, ``[outbox]`` and ``[pipeline]``
(with ``[pipeline.quality]`` for the image-quality gate). Unknown keys and bad values stop the
runtime before it starts, with the dotted key and what was expected. Relative paths are resolved
against the config file's folder, so a camera's files can travel together.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.bundle.manifest import PRECISIONS
from edge.config_loader import ConfigError, apply_overrides, from_mapping, read_toml
from edge.measure.dip_cycle import DipCycleConfig
from edge.measure.mask_encoding import MASK_ENCODINGS
from edge.measure.slag import SlagMeasureConfig
from edge.measure.weld import WeldMeasureConfig
from edge.quality import QualityConfig

__all__ = [
    "BACKENDS",
    "DROP_POLICIES",
    "CameraSection",
    "ConfigError",
    "MeasureSection",
    "ModelSection",
    "MqttSection",
    "OutboxSection",
    "PipelineSection",
    "RuntimeConfig",
    "load_runtime_config",
]

BACKENDS = ("auto", "tensorrt", "onnxruntime")
DEVICES = ("auto", "cpu", "cuda")
DROP_POLICIES = ("auto", "drop-oldest", "block")
TASKS = ("slag", "weld")
MQTT_PROTOCOLS = ("5", "3.1.1")
OUTBOX_SYNCHRONOUS = ("full", "normal")
MQTT_ORDERS = ("in-order", "live-first")
_CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _positive(name: str, value: float | int | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


@dataclass(frozen=True)
class CameraSection:
    """Which camera this is and where its frames come from.

    ``source`` is a URI: ``csi://0``, ``v4l2:///dev/video0`` (or ``/dev/video0``),
    ``rtsp://host/stream``, ``file:///x.mp4``, ``dir:///frames/``, ``synthetic://slag``.
    ``width``, ``height`` and ``fps`` ask the source for that size and rate (``None``: the
    source's own). ``roi`` is ``[x, y, w, h]`` in frame pixels when there is no calibration file
    (the calibration's ROI wins otherwise).
    """

    id: str
    source: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    roi: tuple[int, int, int, int] | None = None

    def __post_init__(self) -> None:
        if not _CAMERA_ID.match(self.id):
            raise ValueError(
                f"id {self.id!r} must be 1-64 letters, digits, '_', '-' or '.', starting with a letter "
                "or digit (it becomes part of MQTT topics and file names)"
            )
        if not self.source.strip():
            raise ValueError("source must be a URI such as file:///x.mp4 or synthetic://slag")
        for name in ("width", "height", "fps"):
            _positive(name, getattr(self, name))
        if self.roi is not None and (self.roi[2] <= 0 or self.roi[3] <= 0 or min(self.roi[:2]) < 0):
            raise ValueError(f"roi must be [x, y, w, h] with x, y >= 0 and w, h > 0; got {list(self.roi)}")


@dataclass(frozen=True)
class ModelSection:
    """The model bundle and how to run it.

    ``precision`` picks the bundle's model file (``fp32``, ``fp16`` or ``int8``); ``backend``
    ``auto`` uses TensorRT when it and a GPU are present, else ONNX Runtime; ``device`` is ONNX
    Runtime's provider (``auto``: CUDA when available). ``threads`` caps ONNX Runtime's
    intra-op threads (``None``: its default, all cores). ``input_size`` ``[height, width]``
    overrides the manifest's size for graphs with a dynamic size.
    """

    bundle: Path
    precision: str = "fp32"
    backend: str = "auto"
    device: str = "auto"
    threads: int | None = None
    input_size: tuple[int, int] | None = None
    warmup: int = 3

    def __post_init__(self) -> None:
        _choice("precision", self.precision, PRECISIONS)
        _choice("backend", self.backend, BACKENDS)
        _choice("device", self.device, DEVICES)
        _positive("threads", self.threads)
        if self.input_size is not None and min(self.input_size) <= 0:
            raise ValueError(f"input_size must be [height, width] > 0, got {list(self.input_size)}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0 inferences, got {self.warmup}")


@dataclass(frozen=True)
class MeasureSection:
    """What the camera measures and with which scale.

    ``task`` is ``slag`` or ``weld`` (it must match the bundle's). The scale comes from
    ``calibration`` (the camera's calibration file, contract 2), or else from a fixed
    ``mm_per_px`` (with ``axis_angle_deg`` and ``tube_diameter_mm`` for slag), or, for
    ``synthetic://`` sources only, from each rendered scene's own truth (``scale_from_truth``).
    ``confidence`` asks the engine for probabilities so slag measurements carry a confidence;
    ``refine`` runs the weld matting refinement when the bundle's manifest defines it, each
    frame's solve bounded by ``matting_max_seconds``. The ``[measure.slag]``,
    ``[measure.dip_cycle]`` and ``[measure.weld]`` tables hold the measurement parameters.
    """

    task: str = "slag"
    calibration: Path | None = None
    mm_per_px: float | None = None
    axis_angle_deg: float | None = None
    tube_diameter_mm: float | None = None
    scale_from_truth: bool = False
    confidence: bool = False
    refine: bool = True
    matting_max_seconds: float | None = 2.0
    slag: SlagMeasureConfig = field(default_factory=SlagMeasureConfig)
    dip_cycle: DipCycleConfig = field(default_factory=DipCycleConfig)
    weld: WeldMeasureConfig = field(default_factory=WeldMeasureConfig)

    def __post_init__(self) -> None:
        _choice("task", self.task, TASKS)
        for name in ("mm_per_px", "tube_diameter_mm", "matting_max_seconds"):
            _positive(name, getattr(self, name))
        if self.axis_angle_deg is not None and not -90.0 <= self.axis_angle_deg <= 90.0:
            raise ValueError(f"axis_angle_deg must be within -90..90 degrees, got {self.axis_angle_deg}")
        if self.calibration is not None and self.mm_per_px is not None:
            raise ValueError(
                "calibration and mm_per_px exclude each other: the calibration file holds the scale; keep one"
            )


@dataclass(frozen=True)
class MqttSection:
    """The broker, the topic prefix and how results are published (contract 3).

    Connection
        ``enabled = false`` runs the camera without publishing. ``host``, ``port``, ``protocol``
        (``"5"``, or ``"3.1.1"`` for old brokers), ``keepalive_s``. ``client_id`` defaults to the
        camera id. ``username`` with ``password_file`` (a file holding only the password; it is
        read at start and never logged). ``ca_file`` turns TLS on (the broker's CA); ``cert_file``
        and ``key_file`` add a client certificate. A missing file stops the runtime at start,
        naming it. ``clean_start = false`` with ``session_expiry_s`` keeps the camera's broker
        session (its command subscription) across reconnects (MQTT 5; with 3.1.1
        ``clean_start`` is the clean-session flag). Reconnects wait ``reconnect_min_s``, doubling
        up to ``reconnect_max_s``.
    Topics
        ``topic_prefix`` (ISA-95 style, e.g. ``plant1/meltshop/rh1/slagcam01``; empty: the
        camera id).
    Delivery
        ``inflight`` caps the QoS 1 messages sent and not yet acknowledged by the broker.
        ``order`` ``"in-order"`` sends the stored history first, then live values (what Ignition
        needs when history is written to tags); ``"live-first"`` sends new values to the live
        topics at once and replays the rows stored before the last (re)connect to
        ``<prefix>/backfill/<subtopic>`` at most ``backfill_rate_hz`` messages per second.
        ``thickness_rate_hz`` caps the per-frame ``slag/thickness`` messages (``None``: every
        processed frame). ``metrics_interval_s`` is the period of the ``metrics`` topic.
    Payloads
        ``mask_encoding`` of weld masks: ``"coco_rle"`` or ``"png_1bit"``. A weld payload larger
        than ``max_payload_bytes`` carries a reference instead of the mask: the full-resolution
        frame and mask are saved in ``image_dir`` (path and sha256 in the payload);
        ``save_weld_images = true`` saves and references the frame of every weld result.
        ``snapshot_dir`` receives the frame and overlay saved by the ``snapshot`` command.
    Sparkplug B
        ``mode = "sparkplug"`` publishes the results as Eclipse Sparkplug B 3.0 instead of the JSON
        topics (:mod:`edge.publish.sparkplug`): the camera is the edge node
        ``sparkplug_edge_node_id`` (default: the camera id) in the group ``sparkplug_group_id``
        (required in this mode), its measurements the device ``sparkplug_device_id`` (default: the
        camera id). With ``sparkplug_primary_host_id`` set, data goes out only while that host's
        ``spBv1.0/STATE/<id>`` says it is online; the outbox keeps everything meanwhile. The ids
        must not contain ``+``, ``/`` or ``#``. The JSON command topics stay available.
    """

    enabled: bool = True
    host: str = "localhost"
    port: int = 1883
    protocol: str = "5"
    topic_prefix: str = ""
    client_id: str | None = None
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 30
    clean_start: bool = False
    session_expiry_s: int = 3600
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    inflight: int = 20
    order: str = "in-order"
    backfill_rate_hz: float = 50.0
    thickness_rate_hz: float | None = None
    metrics_interval_s: float = 10.0
    mask_encoding: str = "coco_rle"
    max_payload_bytes: int = 256 * 1024
    image_dir: Path = Path("images")
    save_weld_images: bool = False
    snapshot_dir: Path = Path("snapshots")
    mode: str = "json"
    sparkplug_group_id: str | None = None
    sparkplug_edge_node_id: str | None = None
    sparkplug_device_id: str | None = None
    sparkplug_primary_host_id: str | None = None

    def __post_init__(self) -> None:
        _choice("protocol", self.protocol, MQTT_PROTOCOLS)
        _choice("mode", self.mode, ("json", "sparkplug"))
        for name in (
            "sparkplug_group_id",
            "sparkplug_edge_node_id",
            "sparkplug_device_id",
            "sparkplug_primary_host_id",
        ):
            value = getattr(self, name)
            if value is not None and (not value or any(c in value for c in "+/#\x00")):
                raise ValueError(
                    f"{name} {value!r} must be a non-empty Sparkplug id without '+', '/', '#' (or NUL)"
                )
        if self.mode == "sparkplug" and self.sparkplug_group_id is None:
            raise ValueError(
                'mode = "sparkplug" needs sparkplug_group_id (the Sparkplug group of this edge node, '
                'e.g. "meltshop")'
            )
        _choice("order", self.order, MQTT_ORDERS)
        _choice("mask_encoding", self.mask_encoding, MASK_ENCODINGS)
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be 1-65535, got {self.port}")
        if any(c in self.topic_prefix for c in "#+") or self.topic_prefix.startswith("/"):
            raise ValueError(
                f"topic_prefix {self.topic_prefix!r} must not contain '#' or '+' nor start with '/'; "
                "e.g. plant1/meltshop/rh1/slagcam01"
            )
        if self.topic_prefix.endswith("/"):
            raise ValueError(f"topic_prefix {self.topic_prefix!r} must not end with '/'")
        if self.client_id is not None and not self.client_id:
            raise ValueError("client_id must not be empty (leave it out to use the camera id)")
        for name in ("keepalive_s", "reconnect_min_s", "backfill_rate_hz", "thickness_rate_hz"):
            _positive(name, getattr(self, name))
        _positive("metrics_interval_s", self.metrics_interval_s)
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be >= "
                f"reconnect_min_s ({self.reconnect_min_s})"
            )
        if not 0 <= self.session_expiry_s <= 0xFFFFFFFF:
            raise ValueError(f"session_expiry_s must be 0..4294967295 seconds, got {self.session_expiry_s}")
        if not 1 <= self.inflight <= 65535:
            raise ValueError(f"inflight must be 1..65535 messages, got {self.inflight}")
        if self.max_payload_bytes < 1024:
            raise ValueError(f"max_payload_bytes must be >= 1024, got {self.max_payload_bytes}")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (the client certificate and its key)")
        if self.cert_file is not None and self.ca_file is None:
            raise ValueError("cert_file needs ca_file (a client certificate is only sent over TLS)")
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs username")


@dataclass(frozen=True)
class OutboxSection:
    """The on-disk store-and-forward outbox: its file and caps (bytes, age in hours).

    ``synchronous`` is SQLite's fsync setting: ``full`` (every stored message survives a power
    cut) or ``normal`` (survives a killed process; the last messages before a power cut may be
    lost, for storage where an fsync per message is too slow).
    """

    path: Path = Path("outbox.sqlite")
    max_bytes: int = 512 * 1024 * 1024
    max_age_h: float = 72.0
    synchronous: str = "full"

    def __post_init__(self) -> None:
        _positive("max_bytes", self.max_bytes)
        _positive("max_age_h", self.max_age_h)
        _choice("synchronous", self.synchronous, OUTBOX_SYNCHRONOUS)


@dataclass(frozen=True)
class PipelineSection:
    """Threads and queues between capture, inference and the post stage.

    ``capture_queue`` and ``post_queue`` are the bounded queue lengths. ``drop_policy``
    ``drop-oldest`` drops the oldest waiting frame when the engine is busy (counted), ``block``
    makes capture wait; ``auto`` drops for live sources and blocks for files. ``rate_hz`` caps
    how many frames per second are processed (``None``: as fast as they come). ``quality`` holds
    the image-quality gate's thresholds.
    """

    capture_queue: int = 2
    post_queue: int = 8
    drop_policy: str = "auto"
    rate_hz: float | None = None
    quality: QualityConfig = field(default_factory=QualityConfig)

    def __post_init__(self) -> None:
        _choice("drop_policy", self.drop_policy, DROP_POLICIES)
        if self.capture_queue < 1 or self.post_queue < 1:
            raise ValueError(
                f"capture_queue and post_queue must be >= 1, got {self.capture_queue}, {self.post_queue}"
            )
        _positive("rate_hz", self.rate_hz)


@dataclass(frozen=True)
class RuntimeConfig:
    """One camera's runtime config (contract 4)."""

    camera: CameraSection
    model: ModelSection
    measure: MeasureSection = field(default_factory=MeasureSection)
    mqtt: MqttSection = field(default_factory=MqttSection)
    outbox: OutboxSection = field(default_factory=OutboxSection)
    pipeline: PipelineSection = field(default_factory=PipelineSection)
    source_path: Path | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain values (paths as strings), e.g. for a status message."""

        def plain(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, tuple | list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        data = dataclasses.asdict(self)
        data.pop("source_path")
        return plain(data)


_PATH_FIELDS = {
    "model": ("bundle",),
    "measure": ("calibration",),
    "mqtt": ("password_file", "ca_file", "cert_file", "key_file", "image_dir", "snapshot_dir"),
    "outbox": ("path",),
}


def _resolve_paths(config: RuntimeConfig, base: Path) -> RuntimeConfig:
    sections = {}
    for section, names in _PATH_FIELDS.items():
        current = getattr(config, section)
        changes = {}
        for name in names:
            value = getattr(current, name)
            if isinstance(value, Path) and not value.is_absolute():
                changes[name] = base / value
        sections[section] = dataclasses.replace(current, **changes) if changes else current
    return dataclasses.replace(config, **sections)


def load_runtime_config(path: str | Path, overrides: list[str] | None = None) -> RuntimeConfig:
    """Read and check a camera's TOML config.

    Parameters
    ----------
    path
        The TOML file.
    overrides
        ``section.key=value`` items (TOML values) applied on top, e.g. ``["camera.fps=5"]``.

    Raises
    ------
    ConfigError
        Naming the file and the dotted key for a missing file, invalid TOML, an unknown key or
        a bad value.
    """
    path = Path(path)
    raw = apply_overrides(read_toml(path), list(overrides or []))
    if "source_path" in raw:
        raise ConfigError(f"{path}: unknown key source_path")
    try:
        config = from_mapping(RuntimeConfig, raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    config = _resolve_paths(config, path.resolve().parent)
    return dataclasses.replace(config, source_path=path)
