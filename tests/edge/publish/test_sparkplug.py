"""Sparkplug B 3.0 mode against a real Mosquitto: births, aliases, seq, bdSeq, rebirth, STATE gate.

A plain paho subscriber records everything under ``spBv1.0/#`` and decodes it with our generated
protobuf classes. The last test regenerates those classes from the ``.proto`` and compares.
"""

from __future__ import annotations

import filecmp
import json
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.config import MqttSection, load_runtime_config
from edge.config_loader import ConfigError
from edge.metrics import PipelineMetrics
from edge.publish.client import PublishTicket
from edge.publish.outbox import Outbox, OutboxRow
from edge.publish.publisher import Publisher
from edge.publish.sparkplug import (
    SparkplugSession,
    SparkplugTopics,
    decode,
    metric_value,
    properties_dict,
    sparkplug_b_pb2,
)
from edge.publish.sparkplug.codec import DATETIME, DOUBLE, UINT64
from tests.edge.publish.helpers import (
    DEVICE,
    PREFIX,
    Collector,
    Message,
    python_process,
    slag_result,
    wait_until,
)
from tests.mosquitto import Mosquitto

GROUP = "meltshop"
NODE = DEVICE  # the edge node id defaults to the camera id
BASE = f"spBv1.0/{GROUP}"
NBIRTH, DBIRTH = f"{BASE}/NBIRTH/{NODE}", f"{BASE}/DBIRTH/{NODE}/{DEVICE}"
NDATA, DDATA = f"{BASE}/NDATA/{NODE}", f"{BASE}/DDATA/{NODE}/{DEVICE}"
NDEATH, NCMD, DCMD = f"{BASE}/NDEATH/{NODE}", f"{BASE}/NCMD/{NODE}", f"{BASE}/DCMD/{NODE}/{DEVICE}"
SEQ_TOPICS = (NBIRTH, DBIRTH, NDATA, DDATA)
SPARKPLUG = {"mode": "sparkplug", "sparkplug_group_id": GROUP}
"""The ``[mqtt]`` keys of Sparkplug mode."""


# ------------------------------------------------------------------ helpers


@pytest.fixture
def spb(broker: Mosquitto) -> Any:
    """A subscriber to the whole Sparkplug namespace (and the camera's JSON prefix)."""
    sub = Collector(broker.port, ("spBv1.0/#", f"{PREFIX}/#"), client_id="sparkplug-host")
    sub.wait_subscribed()
    yield sub
    sub.close()


def on(collector: Collector, topic: str) -> list[Any]:
    """The decoded Sparkplug payloads received on ``topic``."""
    return [decode(m.payload) for m in collector.on(topic)]


def count_on(topic: str, n: int) -> Callable[[list[Message]], bool]:
    return lambda ms: sum(m.topic == topic for m in ms) >= n


def sparkplug_messages(collector: Collector) -> list[tuple[str, Any]]:
    """(topic, payload) of every NBIRTH/DBIRTH/NDATA/DDATA in arrival order."""
    with collector._cond:
        messages = list(collector.messages)
    return [(m.topic, decode(m.payload)) for m in messages if m.topic in SEQ_TOPICS]


def by_name(payload: Any) -> dict[str, Any]:
    return {m.name: m for m in payload.metrics}


def thickness_payload(i: int, *, quality: str = "GOOD", ts: int | None = None) -> dict[str, Any]:
    """A ``slag.thickness/1`` payload whose values encode ``i``."""
    return {
        "schema": "slag.thickness/1",
        "device": DEVICE,
        "seq": None,
        "ts": 1_700_000_000_000 + i if ts is None else ts,
        "model": {"name": "slagnet", "version": "1.2.0"},
        "software": {"name": "steelsight", "version": "0"},
        "thickness_mm": 10.0 + i * 0.01,
        "p10_mm": 9.5,
        "p90_mm": 10.5 + i * 0.01,
        "coverage": 0.9,
        "lines": 40,
        "confidence": None,
        "unit": "mm",
        "quality": quality,
        "quality_code": {"GOOD": 192, "UNCERTAIN": 64, "BAD": 0}[quality],
        "quality_reason": "" if quality == "GOOD" else "few lines",
        "frame": i,
    }


def store_thickness(publisher: Publisher, i: int, **kwargs: Any) -> None:
    assert (
        publisher.store(f"{PREFIX}/slag/thickness", thickness_payload(i, **kwargs), kind="measurement")
        is not None
    )


def publish_state(collector: Collector, host: str, online: bool, ts: int) -> None:
    """The primary host's STATE, as a Sparkplug 3.0 host publishes it (retained, QoS 1)."""
    payload = json.dumps({"online": online, "timestamp": ts})
    collector.client.publish(f"spBv1.0/STATE/{host}", payload, qos=1, retain=True).wait_for_publish(5)


def rebirth_command(*, alias: int | None = None) -> bytes:
    command = sparkplug_b_pb2.Payload(timestamp=int(time.time() * 1000))
    metric = command.metrics.add()
    if alias is None:
        metric.name = "Node Control/Rebirth"
    else:
        metric.alias = alias
    metric.datatype = sparkplug_b_pb2.Boolean
    metric.boolean_value = True
    return command.SerializeToString()


def drop_connection(publisher: Publisher) -> None:
    """Cut the client's TCP connection without an MQTT DISCONNECT: the broker sends the will."""
    sock = publisher.client._client.socket()
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)


# ------------------------------------------------------------------ births, aliases, data


def test_births_declare_every_metric_and_data_uses_aliases_only(
    broker: Mosquitto,
    spb: Collector,
    section: Callable[..., MqttSection],
    make_publisher: Callable[..., Publisher],
) -> None:
    publisher = make_publisher(section(broker.port, **SPARKPLUG), metrics=PipelineMetrics())
    stored = slag_result(1)
    publisher(stored)  # stored before the connection: history after the births
    publisher.start()
    spb.wait_for(count_on(DDATA, 1))

    nbirth, dbirth = on(spb, NBIRTH)[0], on(spb, DBIRTH)[0]
    assert nbirth.seq == 0 and dbirth.seq == 1 and nbirth.timestamp > 0 and dbirth.timestamp > 0
    node, device = by_name(nbirth), by_name(dbirth)
    assert node["bdSeq"].datatype == UINT64 and metric_value(node["bdSeq"]) == 0  # a new node starts at 0
    rebirth = node["Node Control/Rebirth"]
    assert rebirth.datatype == sparkplug_b_pb2.Boolean and rebirth.boolean_value is False
    assert metric_value(node["Properties/Model Version"]) == "1.2.0"
    assert metric_value(node["status/quality_code"]) == 192
    assert {"metrics/pipeline/fps", "metrics/outbox/rows"} <= set(node)
    expected = {
        f"slag/thickness/{f}" for f in ("thickness_mm", "p10_mm", "p90_mm", "coverage", "confidence", "lines")
    } | {f"slag/measurement/{f}" for f in ("thickness_mm", "spread_mm", "std_mm", "frames", "cycle")}
    assert expected <= set(device) and not any(name.startswith("weld/") for name in device)
    aliases = [m.alias for m in (*nbirth.metrics, *dbirth.metrics)]
    assert all(m.HasField("alias") and m.name for m in (*nbirth.metrics, *dbirth.metrics))
    assert len(set(aliases)) == len(aliases), "aliases are unique across the edge node"
    assert all(m.HasField("timestamp") and m.HasField("datatype") for m in dbirth.metrics)

    thickness = device["slag/thickness/thickness_mm"]
    assert thickness.datatype == DOUBLE
    assert thickness.double_value == pytest.approx(stored.measurement.thickness_mm)
    assert thickness.timestamp == 1_700_000_000_001
    props = properties_dict(thickness)
    assert props["engUnit"] == "mm" and props["Quality"] in (0, 192) and "qualityCode" in props
    assert thickness.properties.values[list(thickness.properties.keys).index("Quality")].type == 3  # Int32
    assert device["slag/measurement/first_ts"].datatype == DATETIME
    assert device["slag/measurement/thickness_mm"].is_null  # no dip cycle yet

    history = on(spb, DDATA)[0]
    assert history.seq == 2 and all(m.is_historical for m in history.metrics)
    assert {m.alias for m in history.metrics} == {
        device[n].alias for n in device if n.startswith("slag/thickness/")
    }

    # Live data: aliases only, no names, and only what changed since the birth.
    store_thickness(publisher, 7)
    spb.wait_for(count_on(DDATA, 2))
    live = on(spb, DDATA)[1]
    assert live.seq == 3 and not any(m.is_historical for m in live.metrics)
    assert all(not m.HasField("name") and m.HasField("alias") for m in live.metrics)
    names = {publisher.sparkplug.names[m.alias]: m for m in live.metrics}
    assert metric_value(names["slag/thickness/frame"]) == 7
    assert metric_value(names["slag/thickness/thickness_mm"]) == pytest.approx(10.07)
    assert properties_dict(names["slag/thickness/thickness_mm"]) == {"Quality": 192}
    store_thickness(publisher, 7, ts=1_700_000_009_999)  # nothing changed: report by exception
    store_thickness(publisher, 8, quality="UNCERTAIN")
    spb.wait_for(count_on(DDATA, 3))
    time.sleep(0.3)
    assert len(on(spb, DDATA)) == 3 and publisher.sparkplug.stats.unchanged == 1
    uncertain = {publisher.sparkplug.names[m.alias]: m for m in on(spb, DDATA)[2].metrics}
    assert on(spb, DDATA)[2].seq == 4
    assert properties_dict(uncertain["slag/thickness/thickness_mm"]) == {
        "Quality": 0,  # the specification knows only GOOD 192, BAD 0 and STALE 500
        "qualityCode": 64,
        "qualityReason": "few lines",
    }
    assert "slag/thickness/p10_mm" in uncertain  # unchanged value, changed quality
    assert publisher.outbox.depth().rows == 0

    # Runtime metrics and status changes are node data (NDATA), aliases only.
    publisher.publish_metrics()
    spb.wait_for(count_on(NDATA, 1))
    publisher.set_model(None)
    spb.wait_for(count_on(NDATA, 2))
    ndata = on(spb, NDATA)
    named = [{publisher.sparkplug.names[m.alias]: m for m in p.metrics} for p in ndata]
    assert "metrics/outbox/rows" in named[0] and "metrics/pipeline/fps" in named[0]
    assert named[1]["Properties/Model Version"].is_null and [p.seq for p in ndata] == [5, 6]
    assert not on(spb, f"{PREFIX}/status"), "no JSON status in Sparkplug mode"


def test_weld_device_birth_and_value_encoding_without_a_broker(tmp_path: Path) -> None:
    """The session's encoder on its own: weld metrics, nulls, history flag, seq wrap."""

    class Client:
        connected = True

        def __init__(self) -> None:
            self.sent: list[tuple[str, bytes, int, bool]] = []

        def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool, **_: Any) -> PublishTicket:
            self.sent.append((topic, payload, qos, retain))
            return PublishTicket(len(self.sent), True, 0)

    session = SparkplugSession(SparkplugTopics("g", "n", "d"), task="weld", bdseq_path=tmp_path / "b")
    client = Client()
    session._client = client  # type: ignore[assignment]
    session._pre_connect(type("Paho", (), {"will_set": lambda *a, **k: None})(), None)
    session.service()
    (nb_topic, _, nb_qos, nb_retain), (db_topic, db, _, _) = client.sent
    assert (nb_topic, db_topic) == ("spBv1.0/g/NBIRTH/n", "spBv1.0/g/DBIRTH/n/d")
    assert nb_qos == 0 and nb_retain is False
    device = by_name(decode(db))
    assert {"weld/result/area_mm2", "weld/result/width_mm", "weld/result/depth_mm"} <= set(device)
    assert properties_dict(device["weld/result/area_mm2"])["engUnit"] == "mm2"
    assert not any(n.startswith("slag/") for n in device)
    weld = {
        "schema": "weld.result/1",
        "ts": 5,
        "area_mm2": 12.5,
        "width_mm": None,
        "depth_mm": float("nan"),
        "regions": 1,
        "frame": 3,
        "contour_mm": [[0.0, 1.0]],
        "mask": {"encoding": "coco_rle", "counts": "abc"},
        "reference": None,
        "quality": "BAD",
        "quality_code": 0,
        "quality_reason": "no weld",
    }
    row = OutboxRow(9, 9, "p/weld/result", json.dumps(weld).encode(), 1, False, "mask", 1)
    encoded = session.encode(row, backfill=True)
    assert encoded is not None and encoded.topic == "spBv1.0/g/DDATA/n/d" and encoded.qos == 0
    data = {session.names[m.alias]: m for m in decode(encoded.payload).metrics}
    assert all(m.is_historical for m in data.values())
    assert data["weld/result/area_mm2"].double_value == 12.5 and data["weld/result/width_mm"].is_null
    assert data["weld/result/depth_mm"].is_null and metric_value(data["weld/result/regions"]) == 1
    assert json.loads(data["weld/result/mask"].string_value)["counts"] == "abc"
    assert properties_dict(data["weld/result/area_mm2"])["qualityReason"] == "no weld"
    unknown = OutboxRow(10, 10, "p/x", b'{"schema": "x/1"}', 1, False, "event", 1)
    assert session.encode(unknown, backfill=False).drop  # type: ignore[union-attr]
    seqs = [decode(session.encode(row, backfill=True).payload).seq for _ in range(300)]  # type: ignore[union-attr]
    assert seqs == [(3 + i) % 256 for i in range(300)], "one more per message, 255 -> 0"


def test_seq_counts_every_message_in_send_order_and_wraps_after_255(
    spb: Collector, start_publisher: Callable[..., Publisher]
) -> None:
    publisher = start_publisher(SPARKPLUG)
    spb.wait_for(count_on(DBIRTH, 1))
    for i in range(300):
        store_thickness(publisher, i)
        if i == 150:
            publisher.publish_metrics()  # node data shares the edge node's seq
    spb.wait_for(lambda ms: sum(m.topic in (NDATA, DDATA) for m in ms) >= 301, timeout=30)
    messages = sparkplug_messages(spb)
    seqs = [payload.seq for _, payload in messages]
    assert seqs == [i % 256 for i in range(len(messages))] and len(messages) == 303
    frames = [metric_value(p.metrics[-1]) for t, p in messages if t == DDATA]
    assert frames == list(range(300)), "rows go out in order, one DDATA each"
    # QoS 0 rows are deleted by the sender after the socket write, which may trail the receipt.
    assert wait_until(lambda: publisher.outbox.depth().rows == 0, timeout=5)


# ------------------------------------------------------------------ bdSeq


def test_bdseq_of_the_will_matches_the_nbirth_and_grows_across_reconnects_and_restarts(
    broker: Mosquitto,
    spb: Collector,
    section: Callable[..., MqttSection],
    make_publisher: Callable[..., Publisher],
    tmp_path: Path,
) -> None:
    def bdseq(payload: Any) -> int:
        return metric_value(by_name(payload)["bdSeq"])

    outbox_path = tmp_path / "camera.sqlite"

    def make() -> Publisher:
        outbox = Outbox(outbox_path, max_bytes=1 << 24, max_age_s=3600, synchronous="NORMAL")
        return make_publisher(section(broker.port, **SPARKPLUG), outbox=outbox)

    first = make()
    first.start()
    spb.wait_for(count_on(NBIRTH, 1))
    drop_connection(first)  # the broker publishes the will, then the client reconnects
    spb.wait_for(count_on(NBIRTH, 2))
    spb.wait_for(count_on(NDEATH, 1))
    drop_connection(first)
    spb.wait_for(count_on(NBIRTH, 3))
    spb.wait_for(count_on(NDEATH, 2))
    first.stop(drain_s=0.0)  # a clean stop publishes the NDEATH itself
    spb.wait_for(count_on(NDEATH, 3))
    second = make()  # a restart on the same outbox
    second.start()
    spb.wait_for(count_on(NBIRTH, 4))

    births = [bdseq(p) for p in on(spb, NBIRTH)]
    deaths = on(spb, NDEATH)
    assert births == [0, 1, 2, 3]
    assert [bdseq(p) for p in deaths] == [0, 1, 2], "each NDEATH names the NBIRTH it ends"
    assert all(not d.HasField("seq") and [m.name for m in d.metrics] == ["bdSeq"] for d in deaths)
    assert all(m.retain is False for m in spb.on(NDEATH))
    assert Path(f"{outbox_path}.bdseq").read_text().strip() == "3"


def test_bdseq_will_is_published_when_the_camera_process_is_killed(
    broker: Mosquitto, spb: Collector, tmp_path: Path
) -> None:
    script = f"""
import logging, sys, time
from edge.config import MqttSection
from edge.publish.outbox import Outbox
from edge.publish.publisher import Publisher
logging.basicConfig(level=logging.INFO)
section = MqttSection(host="127.0.0.1", port={broker.port}, topic_prefix="{PREFIX}", mode="sparkplug",
                      sparkplug_group_id="{GROUP}", reconnect_min_s=0.1, reconnect_max_s=0.5)
publisher = Publisher(section, Outbox(sys.argv[1]), device="{DEVICE}", task="slag")
publisher.start()
while True:
    time.sleep(1)
"""
    outbox = tmp_path / "killed.sqlite"

    for n in (1, 2):
        process = python_process("-c", script, str(outbox), stderr=(tmp_path / "camera.log").open("ab"))
        try:
            spb.wait_for(count_on(NBIRTH, n), timeout=60)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        spb.wait_for(count_on(NDEATH, n), timeout=20)
    births = [metric_value(by_name(p)["bdSeq"]) for p in on(spb, NBIRTH)]
    deaths = [metric_value(by_name(p)["bdSeq"]) for p in on(spb, NDEATH)]
    assert births == deaths == [0, 1]


# ------------------------------------------------------------------ commands


def test_ncmd_rebirth_by_name_or_alias_sends_new_births(
    spb: Collector, start_publisher: Callable[..., Publisher]
) -> None:
    publisher = start_publisher(SPARKPLUG)
    spb.wait_for(count_on(DBIRTH, 1))
    store_thickness(publisher, 1)
    spb.wait_for(count_on(DDATA, 1))
    spb.client.publish(NCMD, rebirth_command(), qos=0).wait_for_publish(5)
    spb.wait_for(count_on(DBIRTH, 2))
    alias = publisher.sparkplug.aliases["Node Control/Rebirth"]
    spb.client.publish(NCMD, rebirth_command(alias=alias), qos=0).wait_for_publish(5)
    spb.wait_for(count_on(DBIRTH, 3))
    spb.client.publish(NCMD, b"\xff\xfe not protobuf", qos=0).wait_for_publish(5)  # ignored, logged
    spb.client.publish(DCMD, rebirth_command(), qos=0).wait_for_publish(5)  # nothing writable there
    store_thickness(publisher, 2)
    spb.wait_for(count_on(DDATA, 2))

    messages = sparkplug_messages(spb)
    assert [(t, p.seq) for t, p in messages] == [
        (NBIRTH, 0),
        (DBIRTH, 1),
        (DDATA, 2),
        (NBIRTH, 0),
        (DBIRTH, 1),
        (NBIRTH, 0),
        (DBIRTH, 1),
        (DDATA, 2),
    ]
    births = [p for t, p in messages if t == NBIRTH]
    assert len({metric_value(by_name(p)["bdSeq"]) for p in births}) == 1, "a rebirth keeps the bdSeq"
    assert publisher.sparkplug.stats.commands_ignored == 2
    # The JSON rebirth command does the same.
    spb.publish(f"{PREFIX}/cmd/rebirth", b"{}")
    spb.wait_for(count_on(DBIRTH, 4))


# ------------------------------------------------------------------ primary host STATE


def test_state_gate_holds_data_while_the_host_is_offline_and_flushes_it_as_history(
    spb: Collector, start_publisher: Callable[..., Publisher]
) -> None:
    host = "scada1"
    publisher = start_publisher({**SPARKPLUG, "sparkplug_primary_host_id": host})
    assert publisher.client.wait_connected(10)
    store_thickness(publisher, 0)
    time.sleep(1.0)
    assert not sparkplug_messages(spb), "nothing before the primary host is online"
    assert publisher.outbox.depth().rows == 1

    publish_state(spb, host, True, 1000)
    spb.wait_for(count_on(DDATA, 1))
    store_thickness(publisher, 1)
    spb.wait_for(count_on(DDATA, 2))
    first = on(spb, DDATA)
    assert all(m.is_historical for m in first[0].metrics) and not any(
        m.is_historical for m in first[1].metrics
    )

    publish_state(spb, host, False, 2000)
    wait_until(lambda: not publisher.sparkplug.may_publish(), 5, 0.02)
    for i in range(2, 7):
        store_thickness(publisher, i)
    publish_state(spb, host, True, 1500)  # older than the last STATE: ignored
    time.sleep(1.0)
    assert len(on(spb, DDATA)) == 2 and publisher.outbox.depth().rows == 5, "held in the outbox"
    assert publisher.sparkplug.host_online is False

    publish_state(spb, host, True, 3000)
    spb.wait_for(count_on(DDATA, 7))
    messages = sparkplug_messages(spb)
    assert [t for t, _ in messages] == [NBIRTH, DBIRTH, DDATA, DDATA, NBIRTH, DBIRTH, *[DDATA] * 5]
    assert [p.seq for _, p in messages] == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6]
    flushed = [p for _, p in messages[6:]]
    assert all(m.is_historical for p in flushed for m in p.metrics), "stored data comes as history"
    frame_alias = publisher.sparkplug.aliases["slag/thickness/frame"]
    frames = [next(metric_value(m) for m in p.metrics if m.alias == frame_alias) for p in flushed]
    assert frames == [2, 3, 4, 5, 6]
    assert publisher.outbox.depth().rows == 0
    store_thickness(publisher, 7)
    spb.wait_for(count_on(DDATA, 8))
    assert not any(m.is_historical for m in on(spb, DDATA)[-1].metrics)


# ------------------------------------------------------------------ config and generated code


def test_config_switch_and_its_errors_name_the_key(tmp_path: Path) -> None:
    base = '[camera]\nid = "slagcam01"\nsource = "synthetic://slag"\n[model]\nbundle = "b"\n'
    path = tmp_path / "camera.toml"
    path.write_text(base + '[mqtt]\nmode = "sparkplug"\nsparkplug_group_id = "meltshop"\n')
    mqtt = load_runtime_config(path).mqtt
    assert mqtt.mode == "sparkplug" and mqtt.sparkplug_edge_node_id is None
    assert mqtt.sparkplug_primary_host_id is None
    for text, key in (
        ('[mqtt]\nmode = "sparkplug"\n', "sparkplug_group_id"),
        ('[mqtt]\nmode = "protobuf"\n', "mode"),
        ('[mqtt]\nmode = "sparkplug"\nsparkplug_group_id = "a/b"\n', "sparkplug_group_id"),
        ('[mqtt]\nsparkplug_primary_host_id = "h#1"\n', "sparkplug_primary_host_id"),
    ):
        path.write_text(base + text)
        with pytest.raises(ConfigError, match=key):
            load_runtime_config(path)


def test_protobuf_field_numbers_are_the_specifications() -> None:
    """What makes our bytes readable by any Sparkplug B host: the numbers the specification fixes."""
    fields = {
        sparkplug_b_pb2.Payload: ("timestamp", "metrics", "seq", "uuid", "body"),
        sparkplug_b_pb2.Payload.Metric: (
            "name", "alias", "timestamp", "datatype", "is_historical", "is_transient", "is_null",
            "metadata", "properties", "int_value", "long_value", "float_value", "double_value",
            "boolean_value", "string_value", "bytes_value", "dataset_value", "template_value",
        ),
        sparkplug_b_pb2.Payload.PropertyValue: (
            "type", "is_null", "int_value", "long_value", "float_value", "double_value",
            "boolean_value", "string_value", "propertyset_value", "propertysets_value",
        ),
        sparkplug_b_pb2.Payload.PropertySet: ("keys", "values"),
    }  # fmt: skip
    for message, names in fields.items():
        by_name = message.DESCRIPTOR.fields_by_name
        assert [by_name[n].number for n in names] == list(range(1, len(names) + 1)), message.DESCRIPTOR.name
    assert (sparkplug_b_pb2.Int32, sparkplug_b_pb2.UInt64, sparkplug_b_pb2.Double) == (3, 8, 10)
    assert (sparkplug_b_pb2.Boolean, sparkplug_b_pb2.String, sparkplug_b_pb2.DateTime) == (11, 12, 13)
    assert sparkplug_b_pb2.PropertySetList == 21 and sparkplug_b_pb2.DateTimeArray == 34


def test_committed_protobuf_module_is_what_protoc_makes_of_the_proto(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (dev extra) is needed to regenerate")
    from google.protobuf import descriptor_pb2

    from edge.publish.sparkplug.generate import MODULE, ROOT, generate

    descriptors = tmp_path / "sparkplug.desc"
    generated = generate(tmp_path, descriptor_set=descriptors)
    committed = ROOT / MODULE
    # The schema itself, whatever protoc version wrote the module (it leaves out json_name there).
    fresh = descriptor_pb2.FileDescriptorSet.FromString(descriptors.read_bytes()).file[0]

    def strip_json_names(messages: Any) -> None:
        for message in messages:
            for f in message.field:
                f.ClearField("json_name")
            strip_json_names(message.nested_type)

    strip_json_names(fresh.message_type)
    embedded = descriptor_pb2.FileDescriptorProto.FromString(sparkplug_b_pb2.DESCRIPTOR.serialized_pb)
    assert embedded == fresh, "sparkplug_b_pb2.py is stale: python -m edge.publish.sparkplug.generate"

    # The file, byte for byte, when this grpcio-tools is the one that wrote it (its header line).
    def version(path: Path) -> str:
        return next(line for line in path.read_text().splitlines() if "Protobuf Python Version" in line)

    if version(generated) != version(committed):
        pytest.skip(
            f"schema matches; bytes not compared (committed {version(committed)}, here {version(generated)})"
        )
    assert filecmp.cmp(generated, committed, shallow=False), (
        "sparkplug_b_pb2.py differs from protoc's output: python -m edge.publish.sparkplug.generate"
    )
