"""One Sparkplug B edge-node session: births, deaths, ``seq``, ``bdSeq``, aliases, commands, STATE.

The camera is a Sparkplug *edge node* (``sparkplug_edge_node_id``, default the camera id) in a
*group* (``sparkplug_group_id``), and its measurements are one *device* under it
(``sparkplug_device_id``). Topics (Sparkplug 3.0, namespace ``spBv1.0``)::

    spBv1.0/<group>/NBIRTH/<node>            node birth: bdSeq, Node Control/Rebirth, versions,
                                             status, runtime metrics (QoS 0)
    spBv1.0/<group>/NDEATH/<node>            the will (bdSeq; QoS 1, not retained); also sent
                                             before a clean disconnect
    spBv1.0/<group>/DBIRTH/<node>/<device>   device birth: every measurement metric (QoS 0)
    spBv1.0/<group>/NDATA/<node>             runtime metrics, status changes (QoS 0)
    spBv1.0/<group>/DDATA/<node>/<device>    measurements (QoS 0)
    spBv1.0/<group>/NCMD/<node>              subscribed: ``Node Control/Rebirth`` = true
    spBv1.0/<group>/DCMD/<node>/<device>     subscribed: nothing is writable (logged, ignored)
    spBv1.0/STATE/<primary host id>          subscribed when a primary host is configured

Encoding happens at *send* time
    The outbox keeps storing the JSON rows (its caps, eviction order and kinds stay as they are,
    and switching the mode never strands stored data); :meth:`SparkplugSession.encode` turns a
    row into NDATA/DDATA on the sender thread just before it is published. Everything that
    belongs to one Sparkplug session is only known then: ``seq`` (0..255, NBIRTH is 0, one more
    per message in *send* order, wrapping 255 -> 0), the aliases bound in the births, whether the
    row is history (stored before the births it follows) and which values changed since the last
    message (report by exception).
bdSeq
    Before every CONNECT (paho's ``on_pre_connect``) the next bdSeq (0..255, wrapping) is taken
    from a small file next to the outbox (``<outbox>.bdseq``, written atomically) and put in the
    NDEATH will; the NBIRTH of that connection carries the same value, and a rebirth keeps it. So
    it grows by one per CONNECT across reconnects and process restarts.
Births and history
    After a connect (and, with a primary host, once its STATE says ``online: true``) the NBIRTH
    (seq 0) and DBIRTH (seq 1) go out with every metric, its alias, data type, current value (the
    newest stored result, or null) and properties (``engUnit``, quality). Rows stored up to that
    moment are then sent with ``is_historical = true``, oldest first, all their values; later rows
    are live and carry only the metrics whose value or quality changed (a row with no change is
    dropped unsent).
Rebirth
    An NCMD with ``Node Control/Rebirth`` = true (by name or alias), or the JSON ``rebirth``
    command, stops DATA at once; NBIRTH/DBIRTH go out again (seq restarts at 0, same bdSeq).
Primary host STATE gate
    With ``sparkplug_primary_host_id`` set, nothing is published until ``spBv1.0/STATE/<id>``
    (retained JSON ``{"online": bool, "timestamp": ms}``) says online. When it goes offline the
    sender stops (rows keep piling up in the outbox); when it is back the node is born again and
    the stored rows follow as history. A STATE older (by ``timestamp``) than the last one seen is
    ignored. The client connects with a clean session, as Sparkplug requires.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError

from edge.atomic_file import atomic_write
from edge.frame import utc_ms
from edge.publish.payloads import SOFTWARE_NAME
from edge.publish.sender import Encoded
from edge.publish.sparkplug import sparkplug_b_pb2 as pb
from edge.publish.sparkplug.codec import (
    BDSEQ,
    BOOLEAN,
    INT32,
    NODE_CONTROL_REBIRTH,
    STRING,
    UINT64,
    MetricDef,
    PayloadMap,
    add_properties,
    decode,
    metric_value,
    payload_maps,
    quality_properties,
    set_value,
)

if TYPE_CHECKING:
    from edge.config import MqttSection
    from edge.publish.client import MqttClient, PublishTicket
    from edge.publish.outbox import OutboxRow
    from edge.publish.publisher import Publisher
    from edge.publish.sender import Sender

__all__ = ["NAMESPACE", "NODE_INFO", "BdSeqStore", "SparkplugSession", "SparkplugTopics"]

log = logging.getLogger(__name__)

NAMESPACE = "spBv1.0"

NODE_INFO: tuple[MetricDef, ...] = (
    MetricDef("Properties/Software Name", STRING),
    MetricDef("Properties/Software Version", STRING),
    MetricDef("Properties/Model Name", STRING),
    MetricDef("Properties/Model Version", STRING),
    MetricDef("Properties/Task", STRING),
    MetricDef("Properties/Camera", STRING),
    MetricDef("status/quality", STRING),
    MetricDef("status/quality_code", INT32),
    MetricDef("status/quality_reason", STRING),
)
"""Node metrics whose values come from the publisher (``node_values``): versions and status."""

_MISSING = object()


@dataclass(frozen=True)
class SparkplugTopics:
    """The Sparkplug topics of one edge node and its device (ids without ``+``, ``/``, ``#``)."""

    group: str
    edge_node: str
    device: str
    primary_host: str | None = None

    def __post_init__(self) -> None:
        for name in ("group", "edge_node", "device", "primary_host"):
            value = getattr(self, name)
            if value is None and name == "primary_host":
                continue
            if not value or any(c in value for c in "+/#\x00"):
                raise ValueError(f"Sparkplug {name} id {value!r} must be non-empty without '+', '/', '#'")

    def node(self, verb: str) -> str:
        """``spBv1.0/<group>/<verb>/<edge node>``."""
        return f"{NAMESPACE}/{self.group}/{verb}/{self.edge_node}"

    def dev(self, verb: str) -> str:
        """``spBv1.0/<group>/<verb>/<edge node>/<device>``."""
        return f"{self.node(verb)}/{self.device}"

    @property
    def state(self) -> str | None:
        """``spBv1.0/STATE/<primary host id>`` (``None`` without a primary host)."""
        return None if self.primary_host is None else f"{NAMESPACE}/STATE/{self.primary_host}"

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """NCMD, DCMD and (with a primary host) STATE."""
        topics = (self.node("NCMD"), self.dev("DCMD"))
        return topics if self.state is None else (*topics, self.state)


class BdSeqStore:
    """The birth/death sequence number, kept in a small file so it goes on across restarts.

    The file holds the last value handed out (the one in the latest CONNECT's will); a missing or
    unreadable file starts at 0. A file that cannot be written is logged and the count goes on in
    memory (the camera keeps running).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._last: int | None = None
        self._write_failed = False

    def _read(self) -> int:
        if self.path is None:
            return -1
        try:
            text = self.path.read_text("ascii").strip()
        except FileNotFoundError:
            return -1
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("Sparkplug bdSeq file %s unreadable (%s); starting at 0", self.path, exc)
            return -1
        try:
            value = int(text)
        except ValueError:
            log.warning("Sparkplug bdSeq file %s holds %r, not a number; starting at 0", self.path, text)
            return -1
        return value if 0 <= value <= 255 else -1

    @property
    def last(self) -> int | None:
        """The value handed out last (``None`` before the first :meth:`next`)."""
        return self._last

    def next(self) -> int:
        """The next bdSeq (0..255, wrapping), stored before it is returned."""
        last = self._read() if self._last is None else self._last
        value = (last + 1) % 256
        self._last = value
        if self.path is not None:
            try:
                atomic_write(self.path, f"{value}\n".encode("ascii"))
            except OSError as exc:
                if not self._write_failed:
                    log.error(
                        "Sparkplug bdSeq not saved to %s (%s); counting on in memory, a restart "
                        "starts again from the saved value",
                        self.path,
                        exc,
                    )
                self._write_failed = True
            else:
                self._write_failed = False
        return value


@dataclass
class SessionStats:
    """Counters of one Sparkplug session (since the publisher started)."""

    births: int = 0
    rebirth_requests: int = 0
    data: int = 0
    historical: int = 0
    unchanged: int = 0
    dropped: int = 0
    commands_ignored: int = 0
    state_messages: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return dict(self.__dict__)


@dataclass
class _Shared:
    """What the paho, sender and post threads share (guarded by the session's lock)."""

    bdseq: int | None = None
    seq: int = 0
    births_sent: bool = False
    rebirth: bool = False
    host_online: bool | None = None
    state_ts: int = -1
    epoch: int = 0
    cut: int = -1
    latest: dict[str, Mapping[str, Any]] = field(default_factory=dict)


def _rbe_key(value: Any, quality: Any) -> tuple[Any, Any]:
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    elif isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value, quality


class SparkplugSession:
    """Sparkplug B for one camera: what the publisher uses instead of its JSON topics.

    Parameters
    ----------
    topics
        The group, edge node, device and primary host ids.
    task
        ``"slag"``, ``"weld"`` or ``None`` (both): which device metrics exist.
    bdseq_path
        Where bdSeq is kept (``None``: in memory only, from 0).
    node_values
        Returns the current values of :data:`NODE_INFO` by name (versions, status).
    newest_row_id
        Returns the id of the newest stored row (-1 when none): rows up to it are history after a
        birth.
    clock_ms
        UTC milliseconds (payload timestamps).
    """

    def __init__(
        self,
        topics: SparkplugTopics,
        *,
        task: str | None = None,
        bdseq_path: Path | None = None,
        node_values: Callable[[], Mapping[str, Any]] | None = None,
        newest_row_id: Callable[[], int] | None = None,
        clock_ms: Callable[[], int] = utc_ms,
    ) -> None:
        self.topics = topics
        self.maps: list[PayloadMap] = payload_maps(task)
        self._by_schema = {m.schema: m for m in self.maps}
        self.bdseq = BdSeqStore(bdseq_path)
        self._node_values = node_values or dict
        self._newest_row_id = newest_row_id or (lambda: -1)
        self._clock = clock_ms
        self.node_metrics: tuple[MetricDef, ...] = (
            MetricDef(BDSEQ, UINT64),
            MetricDef(NODE_CONTROL_REBIRTH, BOOLEAN),
            *NODE_INFO,
            *(d for m in self.maps if not m.device for d in m.metrics),
        )
        self.device_metrics: tuple[MetricDef, ...] = tuple(
            d for m in self.maps if m.device for d in m.metrics
        )
        names = [d.name for d in (*self.node_metrics, *self.device_metrics)]
        self.aliases: dict[str, int] = {name: alias for alias, name in enumerate(names, start=1)}
        """The alias of every metric: fixed for the life of the publisher, unique across the node."""
        self.names: dict[int, str] = {alias: name for name, alias in self.aliases.items()}
        self.stats = SessionStats()
        self._lock = threading.Lock()
        self._s = _Shared()
        self._last: dict[int, tuple[Any, Any]] = {}  # report by exception (sender thread)
        self._node_last: dict[str, Any] = {}
        self._client: MqttClient | None = None
        self._wake: Callable[[], None] = lambda: None
        self._unknown_schemas: set[str] = set()
        self._waiting_logged = -1

    # ------------------------------------------------------------------ wiring

    @classmethod
    def for_publisher(cls, publisher: Publisher) -> SparkplugSession:
        """The session of a :class:`~edge.publish.publisher.Publisher` in ``mode = "sparkplug"``."""
        section = publisher.section
        assert section.sparkplug_group_id is not None, "MqttSection checks this"
        topics = SparkplugTopics(
            section.sparkplug_group_id,
            section.sparkplug_edge_node_id or publisher.device,
            section.sparkplug_device_id or publisher.device,
            section.sparkplug_primary_host_id,
        )

        def node_values() -> dict[str, Any]:
            ctx = publisher.ctx
            failing = publisher.outbox_summary()["failing"]
            return {
                "Properties/Software Name": SOFTWARE_NAME,
                "Properties/Software Version": ctx.software,
                "Properties/Model Name": None if ctx.model is None else ctx.model.name,
                "Properties/Model Version": None if ctx.model is None else ctx.model.version,
                "Properties/Task": publisher.task,
                "Properties/Camera": publisher.device,
                "status/quality": "BAD" if failing else "GOOD",
                "status/quality_code": 0 if failing else 192,
                "status/quality_reason": f"outbox failing: {failing}" if failing else "",
            }

        def newest_row_id() -> int:
            with publisher.sender.read_lock:
                rows = publisher.outbox.pending(1, newest_first=True)
            return rows[0].id if rows else -1

        return cls(
            topics,
            task=publisher.task,
            bdseq_path=Path(f"{publisher.outbox.path}.bdseq"),
            node_values=node_values,
            newest_row_id=newest_row_id,
        )

    @staticmethod
    def client_section(section: MqttSection) -> MqttSection:
        """The ``[mqtt]`` section the client connects with: Sparkplug clients start clean sessions."""
        return dataclasses.replace(section, clean_start=True, session_expiry_s=0)

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """The topics to subscribe after every connect."""
        return self.topics.subscriptions

    def attach(self, client: MqttClient, sender: Sender) -> None:
        """Publish through ``client``, set the NDEATH will before every CONNECT, and make ``sender``
        encode rows through this session (before the client starts)."""
        self._client = client
        # The will must change before each CONNECT (a new bdSeq): paho asks on_pre_connect first.
        client._client.on_pre_connect = self._pre_connect  # our own wrapper's paho client
        sender.encode = self.encode
        sender.gate = self.may_publish
        self._wake = sender.wake

    def message_handler(
        self, fallback: Callable[[str, bytes, Any], None]
    ) -> Callable[[str, bytes, Any], None]:
        """An ``on_message`` that handles NCMD, DCMD and STATE and passes every other topic on."""
        ncmd, dcmd, state = self.topics.node("NCMD"), self.topics.dev("DCMD"), self.topics.state

        def on_message(topic: str, payload: bytes, properties: Any = None) -> None:
            if topic == ncmd:
                self._on_ncmd(payload)
            elif topic == dcmd:
                self._on_dcmd(payload)
            elif state is not None and topic == state:
                self._on_state(payload)
            else:
                fallback(topic, payload, properties)

        return on_message

    # ------------------------------------------------------------------ state (any thread)

    @property
    def bdseq_value(self) -> int | None:
        """The bdSeq of the current (or next) connection's will and NBIRTH."""
        with self._lock:
            return self._s.bdseq

    @property
    def host_online(self) -> bool | None:
        """The primary host's last STATE (``None``: not known yet, or no primary host)."""
        with self._lock:
            return self._s.host_online

    def _host_ok(self) -> bool:
        return self.topics.primary_host is None or self._s.host_online is True

    def may_publish(self) -> bool:
        """Whether DATA may go out now: births sent on this connection, no rebirth pending, and the
        primary host (if any) online."""
        with self._lock:
            return self._s.births_sent and not self._s.rebirth and self._host_ok()

    def observe(self, payload: Mapping[str, Any]) -> None:
        """Remember a payload just stored (post thread): the births carry the newest values."""
        schema = payload.get("schema")
        if schema in self._by_schema:
            with self._lock:
                self._s.latest[str(schema)] = dict(payload)

    def request_rebirth(self) -> None:
        """Stop DATA and send the births again soon (on the sender thread)."""
        with self._lock:
            self._s.rebirth = True
            self.stats.rebirth_requests += 1
        self._wake()

    # ------------------------------------------------------------------ paho thread

    def _pre_connect(self, paho_client: Any, _userdata: Any) -> None:
        try:
            bdseq = self.bdseq.next()
            with self._lock:
                self._s.bdseq = bdseq
                self._s.births_sent = False
                self._s.rebirth = False
                self._s.epoch += 1
                if self.topics.primary_host is not None:
                    self._s.host_online = None  # wait for this connection's (retained) STATE
            paho_client.will_set(self.topics.node("NDEATH"), self.death_payload(bdseq), qos=1, retain=False)
            log.info("Sparkplug: connecting as %s with bdSeq %d", self.topics.node("*"), bdseq)
        except Exception:  # never into paho's loop
            log.exception("Sparkplug: setting the NDEATH will failed")

    def _on_state(self, payload: bytes) -> None:
        self.stats.state_messages += 1
        online: Any = False
        ts: Any = None
        if payload.strip():
            try:
                data = json.loads(payload.decode("utf-8"))
                online, ts = data["online"], data.get("timestamp")
            except (UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
                log.warning(
                    "Sparkplug STATE of %s is not JSON {online, timestamp} (%s); ignored",
                    self.topics.primary_host,
                    exc,
                )
                return
        if not isinstance(online, bool) or (
            ts is not None and (isinstance(ts, bool) or not isinstance(ts, int | float))
        ):
            log.warning(
                "Sparkplug STATE of %s has bad online/timestamp values; ignored", self.topics.primary_host
            )
            return
        ts = None if ts is None else int(ts)
        with self._lock:
            if ts is not None and ts < self._s.state_ts:
                log.info(
                    "Sparkplug STATE of %s older than the last one seen; ignored", self.topics.primary_host
                )
                return
            if ts is not None:
                self._s.state_ts = ts
            before = self._s.host_online
            self._s.host_online = online
            if not online:
                self._s.births_sent = False  # born again when the host is back
                self._s.epoch += 1
        if before != online:
            if online:
                log.info(
                    "Sparkplug primary host %s online: births, then the stored data", self.topics.primary_host
                )
            else:
                log.warning(
                    "Sparkplug primary host %s offline: publishing paused, results kept in the outbox",
                    self.topics.primary_host,
                )
        self._wake()

    def _on_ncmd(self, payload: bytes) -> None:
        try:
            command = decode(payload)
        except DecodeError as exc:
            self.stats.commands_ignored += 1
            log.warning("Sparkplug NCMD is not a Sparkplug B payload (%s); ignored", exc)
            return
        for metric in command.metrics:
            if metric.HasField("name"):
                name = metric.name
            elif metric.HasField("alias"):
                name = self.names.get(metric.alias, f"alias {metric.alias}")
            else:
                name = "(no name or alias)"
            if name == NODE_CONTROL_REBIRTH:
                if metric_value(metric) is True:
                    log.info("Sparkplug NCMD: rebirth requested")
                    self.request_rebirth()
                continue
            self.stats.commands_ignored += 1
            log.warning("Sparkplug NCMD writes %r, which this edge node does not accept; ignored", name)

    def _on_dcmd(self, _payload: bytes) -> None:
        self.stats.commands_ignored += 1
        log.warning("Sparkplug DCMD for %s ignored: the camera has no writable metrics", self.topics.device)

    # ------------------------------------------------------------------ sender thread

    def on_status(self, reason: str) -> None:
        """The publisher's status request: births on ``birth``/``rebirth``, else an NDATA with the
        node's changed status values."""
        if reason == "rebirth":
            self.request_rebirth()
            self.service()
        elif reason == "birth":
            self.service()
        else:
            self.publish_node_status()

    def service(self) -> None:
        """Publish the births when they are due (after a connect, a rebirth request, the primary
        host coming online); called on the sender thread before rows are sent."""
        client = self._client
        if client is None or not client.connected:
            return
        with self._lock:
            due = (not self._s.births_sent or self._s.rebirth) and self._host_ok()
            epoch = self._s.epoch
            waiting = self.topics.primary_host is not None and self._s.host_online is None
            first_wait = waiting and self._waiting_logged != epoch
            if first_wait:
                self._waiting_logged = epoch
        if first_wait:
            log.info(
                "Sparkplug: waiting for the primary host's STATE on %s before the births", self.topics.state
            )
        if due:
            self._births(client, epoch)

    def _births(self, client: MqttClient, epoch: int) -> None:
        try:
            cut = int(self._newest_row_id())
        except OSError as exc:  # a failing outbox must not keep the node unborn
            log.warning("Sparkplug: newest stored row unknown (%s); history cut kept", exc)
            with self._lock:
                cut = self._s.cut
        now = self._clock()
        values = dict(self._node_values())
        with self._lock:
            bdseq = self._s.bdseq if self._s.bdseq is not None else 0
            latest = dict(self._s.latest)
        last: dict[int, tuple[Any, Any]] = {}
        nbirth = pb.Payload(timestamp=now, seq=0)
        self._birth_metric(nbirth, MetricDef(BDSEQ, UINT64), bdseq, now)
        self._birth_metric(nbirth, MetricDef(NODE_CONTROL_REBIRTH, BOOLEAN), False, now)
        for definition in NODE_INFO:
            self._birth_metric(nbirth, definition, values.get(definition.name), now)
        dbirth = pb.Payload(timestamp=now, seq=1)
        for pmap in self.maps:
            source = latest.get(pmap.schema)
            target = dbirth if pmap.device else nbirth
            ts = source.get("ts") if source is not None else None
            quality = quality_properties(source, always_detail=True) if source and pmap.quality else []
            for definition in pmap.metrics:
                value = None if source is None else definition.extract(source)
                metric = self._birth_metric(target, definition, value, ts if isinstance(ts, int) else now)
                add_properties(metric, quality)
                last[metric.alias] = _rbe_key(value, source.get("quality_code") if source else None)
        tickets = [
            client.publish(self.topics.node("NBIRTH"), nbirth.SerializeToString(), qos=0, retain=False),
            client.publish(self.topics.dev("DBIRTH"), dbirth.SerializeToString(), qos=0, retain=False),
        ]
        if not all(t.queued for t in tickets):
            log.warning(
                "Sparkplug births not taken by the client (rc %s); tried again", [t.rc for t in tickets]
            )
            return
        with self._lock:
            if epoch != self._s.epoch:  # reconnected, or the host went offline, meanwhile
                return
            self._s.seq = 2
            self._s.births_sent = True
            self._s.rebirth = False
            self._s.cut = cut
        self._last = last
        self._node_last = {d.name: values.get(d.name) for d in NODE_INFO}
        self.stats.births += 1
        log.info(
            "Sparkplug NBIRTH/DBIRTH published (bdSeq %d, %d node and %d device metrics); stored rows "
            "up to id %d follow as history",
            bdseq,
            len(nbirth.metrics),
            len(dbirth.metrics),
            cut,
        )

    def _birth_metric(self, payload: Any, definition: MetricDef, value: Any, ts: int) -> Any:
        metric = payload.metrics.add()
        metric.name = definition.name
        metric.alias = self.aliases[definition.name]
        metric.timestamp = int(ts)
        metric.datatype = definition.datatype
        self._set(metric, definition, value)
        if definition.unit:
            add_properties(metric, [("engUnit", STRING, definition.unit)])
        return metric

    @staticmethod
    def _set(metric: Any, definition: MetricDef, value: Any) -> None:
        try:
            set_value(metric, definition.datatype, value)
        except (ValueError, TypeError, OverflowError) as exc:
            log.warning(
                "Sparkplug metric %s: value %r not encodable (%s); sent as null", definition.name, value, exc
            )
            metric.ClearField("value")
            metric.is_null = True

    def _next_seq(self) -> int:
        with self._lock:
            seq = self._s.seq
            self._s.seq = (seq + 1) % 256
        return seq

    def encode(self, row: OutboxRow, backfill: bool) -> Encoded | None:
        """The NDATA/DDATA of a stored JSON row (sender thread, just before it is published).

        ``None`` while DATA may not go out (the sender holds the row); ``Encoded(drop=True)`` for a
        row with no Sparkplug form or, when live, no changed value.
        """
        with self._lock:
            if not (self._s.births_sent and not self._s.rebirth and self._host_ok()):
                return None
            cut = self._s.cut
        try:
            payload = json.loads(row.payload)
        except (UnicodeDecodeError, ValueError):
            payload = None
        schema = payload.get("schema") if isinstance(payload, dict) else None
        pmap = self._by_schema.get(schema) if isinstance(schema, str) else None
        if pmap is None:
            self.stats.dropped += 1
            key = str(schema)
            if key not in self._unknown_schemas:
                self._unknown_schemas.add(key)
                log.warning(
                    "Sparkplug: rows of schema %s on %s have no Sparkplug form; dropped", key, row.topic
                )
            return Encoded(drop=True)
        assert isinstance(payload, dict)
        historical = backfill or row.id <= cut
        ts = payload.get("ts")
        ts = ts if isinstance(ts, int) and ts >= 0 else row.created_ms
        quality = quality_properties(payload, always_detail=False) if pmap.quality else []
        quality_code = payload.get("quality_code")
        message = pb.Payload(timestamp=self._clock())
        for definition in pmap.metrics:
            value = definition.extract(payload)
            alias = self.aliases[definition.name]
            if not historical:
                key = _rbe_key(value, quality_code)
                if self._last.get(alias, _MISSING) == key:
                    continue
                self._last[alias] = key
            metric = message.metrics.add()
            metric.alias = alias
            metric.timestamp = ts
            metric.datatype = definition.datatype
            if historical:
                metric.is_historical = True
            self._set(metric, definition, value)
            add_properties(metric, quality)
        if not message.metrics:
            self.stats.unchanged += 1
            return Encoded(drop=True)
        message.seq = self._next_seq()
        self.stats.data += 1
        if historical:
            self.stats.historical += 1
        topic = self.topics.dev("DDATA") if pmap.device else self.topics.node("NDATA")
        return Encoded(topic, message.SerializeToString(), qos=0, retain=False)

    def publish_node_status(self) -> None:
        """An NDATA with the node's status/version values that changed (nothing when none did, or
        while DATA may not go out: the next births carry them)."""
        client = self._client
        if client is None or not client.connected or not self.may_publish():
            return
        values = dict(self._node_values())
        changed = [d for d in NODE_INFO if values.get(d.name) != self._node_last.get(d.name, _MISSING)]
        if not changed:
            return
        now = self._clock()
        message = pb.Payload(timestamp=now)
        for definition in changed:
            metric = message.metrics.add()
            metric.alias = self.aliases[definition.name]
            metric.timestamp = now
            metric.datatype = definition.datatype
            self._set(metric, definition, values.get(definition.name))
        message.seq = self._next_seq()
        ticket = client.publish(self.topics.node("NDATA"), message.SerializeToString(), qos=0, retain=False)
        if ticket.queued:
            self._node_last.update({d.name: values.get(d.name) for d in changed})
            self.stats.data += 1

    # ------------------------------------------------------------------ death

    def death_payload(self, bdseq: int) -> bytes:
        """The NDEATH payload: only the bdSeq metric (by name), no seq."""
        now = self._clock()
        message = pb.Payload(timestamp=now)
        metric = message.metrics.add()
        metric.name = BDSEQ
        metric.timestamp = now
        metric.datatype = UINT64
        metric.long_value = bdseq
        return message.SerializeToString()

    def publish_death(self) -> PublishTicket | None:
        """Publish the NDEATH before a clean disconnect (QoS 1); ``None`` when not connected."""
        client = self._client
        with self._lock:
            bdseq = self._s.bdseq
            self._s.births_sent = False
            self._s.epoch += 1
        if client is None or bdseq is None or not client.connected:
            return None
        return client.publish(self.topics.node("NDEATH"), self.death_payload(bdseq), qos=1, retain=False)
