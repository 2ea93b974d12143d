"""The publisher against a real Mosquitto: what SCADA sees, and the bad inputs, each with its message."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge.config import MqttSection
from edge.config_loader import ConfigError
from edge.measure import measure_weld
from edge.measure.dip_cycle import SlagCycleMeasurement
from edge.measure.quality import MeasureQuality
from edge.metrics import PipelineMetrics
from edge.publish.outbox import Outbox
from edge.publish.publisher import Publisher
from edge.synth.weld import render_weld
from tests.edge.publish.helpers import (
    DEVICE,
    PREFIX,
    Collector,
    Message,
    make_result,
    python_process,
    slag_result,
    validate,
    wait_until,
)
from tests.mosquitto import Mosquitto, free_port

STATUS = f"{PREFIX}/status"
THICKNESS = f"{PREFIX}/slag/thickness"


def weld_result(seq: int = 0, *, speckle: float = 0.0):
    scene = render_weld(0, 1, (256, 256))
    mask = scene.mask.copy()
    if speckle:
        mask[np.random.default_rng(seq).random(mask.shape) < speckle] = 1
    measurement = measure_weld(mask, mm_per_px=scene.truth.mm_per_px)
    image = np.ascontiguousarray(scene.image[:, :, ::-1])
    return make_result(
        seq=seq,
        ts_ms=1_700_000_000_000 + seq,
        image=image,
        classes=mask,
        measurement=measurement,
        weld_mask=mask,
    )


def statuses(collector: Collector) -> list[dict]:
    return [m.json() for m in collector.on(STATUS)]


def wait_status(collector: Collector, predicate: Callable[[dict], bool], timeout: float = 10.0) -> dict:
    def found(messages: list[Message]) -> bool:
        return any(m.topic == STATUS and m.payload and predicate(m.json()) for m in messages)

    collector.wait_for(found, timeout)
    return next(s for s in reversed(statuses(collector)) if predicate(s))


# ------------------------------------------------------------------ what SCADA sees


def test_mosquitto_sub_sees_retained_status_and_a_valid_thickness(
    broker: Mosquitto, start_publisher: Callable[..., Publisher]
) -> None:
    publisher = start_publisher(frame_rate_hz=5.0)
    assert publisher.client.wait_connected(10)
    time.sleep(0.3)  # the birth is published right after the connect
    sub = subprocess.Popen(
        [
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.port),
            "-v",
            "-q",
            "1",
            "-V",
            "mqttv5",
            "-t",
            STATUS,
            "-t",
            THICKNESS,
            "-C",
            "2",
            "-W",
            "20",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sub.stdout is not None
    first = sub.stdout.readline()  # the retained birth arrives at once on subscribing
    publisher(slag_result(3))
    second = sub.stdout.readline()
    sub.wait(20)
    lines = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in (first, second)}
    status, thickness = lines[STATUS], lines[THICKNESS]
    validate(status)
    validate(thickness)
    assert status["online"] is True and status["reason"] == "birth" and status["device"] == DEVICE
    assert status["model"] == {"name": "slagnet", "version": "1.2.0"} and status["software"]["version"]
    units = {(m["topic"], m["field"]): (m["unit"], m["rate_hz"]) for m in status["metrics"]}
    assert units[("slag/thickness", "thickness_mm")] == ("mm", 5.0)
    assert thickness["frame"] == 3 and thickness["ts"] == 1_700_000_000_003 and thickness["unit"] == "mm"


def test_every_payload_kind_the_publisher_emits_validates(
    collector: Collector, start_publisher: Callable[..., Publisher]
) -> None:
    metrics = PipelineMetrics()
    metrics.add_time("infer", 0.02)
    metrics.frame_done()
    publisher = start_publisher({"metrics_interval_s": 0.3}, task=None, metrics=metrics)
    cycle = SlagCycleMeasurement(100.0, 2.0, 0.5, 10, 1, 2, 1, MeasureQuality.good())
    publisher(slag_result(1, cycle=cycle))
    publisher(weld_result(2))
    collector.publish(f"{PREFIX}/cmd/rebirth", b'{"id": 1}')
    collector.publish(f"{PREFIX}/cmd/nope", b"{}")
    kinds = {
        "status/1",
        "slag.thickness/1",
        "slag.measurement/1",
        "weld.result/1",
        "metrics/1",
        "cmd.reply/1",
    }

    def ours(messages: list[Message]) -> list[Message]:  # not the commands the test sent
        return [m for m in messages if "/cmd/" not in m.topic or m.topic.endswith("/cmd/reply")]

    messages = ours(collector.wait_for(lambda ms: kinds <= {m.json()["schema"] for m in ours(ms)}))
    for message in messages:
        payload = message.json()
        validate(payload)
        assert payload["device"] == DEVICE
        # MQTT 5: content type and user properties on every message
        assert message.properties.get("ContentType") == "application/json", message.topic
        assert ["schema", payload["schema"]] in [list(p) for p in message.properties["UserProperty"]]
    seqs = [m.json()["seq"] for m in messages]
    assert len(seqs) == len(set(seqs)), "(device, seq) is unique across topics"


def test_protocol_3_1_1_publishes_without_properties(
    collector: Collector, start_publisher: Callable[..., Publisher]
) -> None:
    publisher = start_publisher({"protocol": "3.1.1"})
    publisher(slag_result(1))
    message = collector.wait_for(lambda ms: any(m.topic == THICKNESS for m in ms))[-1]
    validate(message.json())
    assert "UserProperty" not in message.properties
    # MQTT 3.1.1 has no "no local": the camera gets its own reply back on cmd/# and must ignore it
    collector.publish(f"{PREFIX}/cmd/nope", b"{}")
    collector.wait_for(lambda ms: any(m.topic.endswith("/cmd/reply") for m in ms))
    time.sleep(0.5)
    assert len(collector.on(f"{PREFIX}/cmd/reply")) == 1 and publisher.counters()["commands"] == 1


def test_thickness_rate_cap(collector: Collector, start_publisher: Callable[..., Publisher]) -> None:
    publisher = start_publisher({"thickness_rate_hz": 2.0})
    result = slag_result(1)
    for _ in range(10):  # 10 frames within well under half a second: one goes out
        publisher(result)
    assert publisher.counters()["thickness_skipped"] == 9
    collector.wait_for(lambda ms: any(m.topic == THICKNESS for m in ms))


# ------------------------------------------------------------------ store and forward


def test_broker_unreachable_at_start_then_everything_arrives(
    make_broker: Callable[..., Mosquitto],
    section: Callable[..., MqttSection],
    make_publisher: Callable[..., Publisher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = make_broker(port=free_port(), persistence=True).start()
    # A historian's persistent session exists before the camera's first message.
    sub = Collector(broker.port, (THICKNESS,), client_id="historian", persistent=True)
    sub.wait_subscribed()
    time.sleep(1.2)
    broker.stop()  # clean stop: the session is saved
    try:
        caplog.set_level(logging.WARNING, "edge.publish")
        publisher = make_publisher(section(broker.port, reconnect_max_s=0.5))
        publisher.start()
        for i in range(50):
            publisher(slag_result(i))
        time.sleep(1.0)
        assert publisher.outbox.depth().rows == 50, "rows stay in the outbox while the broker is down"
        counters = publisher.counters()
        assert counters["connected"] is False and counters["published"] == 0
        assert f"cannot reach MQTT broker 127.0.0.1:{broker.port}" in counters["last_error"]
        assert any("results stay in the outbox" in r.getMessage() for r in caplog.records)
        broker.start()
        messages = sub.wait_for(lambda ms: len({m.json()["seq"] for m in ms}) >= 50, timeout=20)
        frames = [m.json()["frame"] for m in messages]
        assert sorted(set(frames)) == list(range(50))
        assert list(dict.fromkeys(frames)) == list(range(50)), "history arrives in order"
        assert wait_until(lambda: publisher.outbox.depth().rows == 0, 5), "acknowledged rows are deleted"
    finally:
        sub.close()


def test_live_first_sends_live_values_first_and_history_to_backfill_at_a_capped_rate(
    make_broker: Callable[..., Mosquitto],
    section: Callable[..., MqttSection],
    make_publisher: Callable[..., Publisher],
) -> None:
    port = free_port()
    publisher = make_publisher(section(port, order="live-first", backfill_rate_hz=20.0))
    for i in range(30):  # history: stored before the camera could reach a broker
        publisher(slag_result(i))
    make_broker(port=port).start()
    sub = Collector(port, (THICKNESS, f"{PREFIX}/backfill/#"))
    try:
        sub.wait_subscribed()  # before the publisher connects, so no backfill message can pass unseen
        publisher.start()
        assert publisher.client.wait_connected(10)
        for i in range(30, 35):
            publisher(slag_result(i))
        backfill = f"{PREFIX}/backfill/slag/thickness"
        messages = sub.wait_for(
            lambda ms: (
                sum(m.topic == backfill for m in ms) >= 30 and sum(m.topic == THICKNESS for m in ms) >= 5
            ),
            timeout=20,
        )
        live = [m.json()["frame"] for m in messages if m.topic == THICKNESS]
        history = [m for m in messages if m.topic == backfill]
        assert live == list(range(30, 35)), "new values go to the live topic"
        assert sorted({m.json()["frame"] for m in history}) == list(range(30)), (
            "history is replayed on backfill/"
        )
        last_live = max(i for i, m in enumerate(messages) if m.topic == THICKNESS)
        last_history = max(i for i, m in enumerate(messages) if m.topic == backfill)
        assert last_live < last_history, "live values do not wait for the history"
        span = history[-1].received - history[0].received
        assert span >= 1.2, f"30 backfill messages at 20/s came within {span:.2f} s"
    finally:
        sub.close()


def test_outbox_failing_turns_the_status_bad_and_the_camera_keeps_running(
    collector: Collector,
    start_publisher: Callable[..., Publisher],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = Outbox(
        tmp_path / "small.sqlite", max_bytes=64 * 1024 * 1024, max_age_s=3600, synchronous="NORMAL"
    )
    metrics = PipelineMetrics()
    publisher = start_publisher(outbox=outbox, metrics=metrics)
    wait_status(collector, lambda s: s["reason"] == "birth")
    # A real SQLITE_FULL: cap the database file at its current size (what a full disk does).
    conn = outbox._conn  # the outbox's own connection: the pragma is per connection
    assert conn is not None
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    caplog.set_level(logging.ERROR, "edge.publish")
    result = weld_result(1, speckle=0.02)  # large rows fill the last pages at once
    for _ in range(20):
        publisher(result)  # never raises
    bad = wait_status(collector, lambda s: s["quality"] == "BAD")
    validate(bad)
    assert bad["online"] is True and "outbox failing" in bad["quality_reason"]
    assert "disk is full" in bad["quality_reason"] or "full" in bad["outbox"]["failing"]
    assert publisher.counters()["lost"] > 0 and metrics.counter("outbox_errors") > 0
    errors = [r.getMessage() for r in caplog.records if "not stored" in r.getMessage()]
    assert errors and len(errors) <= 2, "logged once, not per frame"
    conn.execute("PRAGMA max_page_count = 1073741823")
    publisher(slag_result(2))
    good = wait_status(collector, lambda s: s["reason"] == "outbox works again")
    assert good["quality"] == "GOOD"
    collector.wait_for(lambda ms: any(m.topic == THICKNESS for m in ms))


# ------------------------------------------------------------------ weld payloads


def test_oversized_weld_result_carries_a_reference_with_path_and_sha256(
    collector: Collector, start_publisher: Callable[..., Publisher], tmp_path: Path
) -> None:
    publisher = start_publisher({"max_payload_bytes": 4096}, task="weld")
    publisher(weld_result(1, speckle=0.05))
    publisher(weld_result(2))
    weld = f"{PREFIX}/weld/result"
    messages = collector.wait_for(lambda ms: sum(m.topic == weld for m in ms) >= 2)
    big, small = (m for m in messages if m.topic == weld)
    assert len(big.payload) <= 4096
    payload = big.json()
    validate(payload)
    assert payload["mask"] is None and payload["area_mm2"] > 0
    for key in ("image", "mask"):
        ref = payload["reference"][key]
        path = Path(ref["path"])
        assert path.parent == tmp_path / "images" and path.exists()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == ref["sha256"]
    assert small.json()["mask"]["encoding"] == "coco_rle" and small.json()["reference"] is None


# ------------------------------------------------------------------ bad input


def test_wrong_password_is_a_clear_error_without_the_password(
    make_broker: Callable[..., Mosquitto],
    section: Callable[..., MqttSection],
    make_publisher: Callable[..., Publisher],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "Wr0ng-pa55word-xyz"
    broker = make_broker(users={"cam": "right-password"}).start()
    password_file = tmp_path / "mqtt.pass"
    password_file.write_text(secret + "\n")
    caplog.set_level(logging.DEBUG)
    publisher = make_publisher(section(broker.port, username="cam", password_file=password_file))
    publisher.start()
    assert wait_until(lambda: "refused" in (publisher.client.last_error or "")), publisher.client.last_error
    error = publisher.client.last_error
    assert "refused the connection" in error and "CONNACK reason code" in error
    assert "Bad user name or password" in error or "Not authorized" in error
    assert "mqtt.password_file" in error
    assert not publisher.client.connected
    assert any(
        "refused the connection" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records
    )
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert secret not in text, "the password must never be logged"
    # the right password connects
    password_file.write_text("right-password\n")
    good = make_publisher(
        section(broker.port, username="cam", password_file=password_file, client_id="cam-2")
    )
    good.start()
    assert good.client.wait_connected(10)


@pytest.mark.parametrize("key", ["ca_file", "cert_file", "key_file", "password_file"])
def test_missing_tls_or_password_file_is_named_at_start(
    key: str, section: Callable[..., MqttSection], make_publisher: Callable[..., Publisher], tmp_path: Path
) -> None:
    existing = tmp_path / "exists.pem"
    existing.write_text("x")
    missing = tmp_path / "nowhere" / f"{key}.pem"
    files = {"ca_file": existing, "cert_file": existing, "key_file": existing}
    extra: dict = {}
    if key == "password_file":
        extra = {"username": "cam", "password_file": missing}
    else:
        files[key] = missing
        extra = files
    with pytest.raises(ConfigError, match=rf"mqtt\.{key}: file not found: .*{missing.name}"):
        make_publisher(section(free_port(), **extra))


def test_tls_files_that_are_not_certificates_are_refused_at_start(
    section: Callable[..., MqttSection], make_publisher: Callable[..., Publisher], tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"TLS files .*ca\.pem"):
        make_publisher(section(free_port(), ca_file=ca))


def test_mqtt_section_checks_new_fields() -> None:
    with pytest.raises(ValueError, match="order"):
        MqttSection(order="newest")
    with pytest.raises(ValueError, match="mask_encoding"):
        MqttSection(mask_encoding="jpeg")
    with pytest.raises(ValueError, match="inflight"):
        MqttSection(inflight=0)
    with pytest.raises(ValueError, match="cert_file and key_file"):
        MqttSection(ca_file=Path("ca"), cert_file=Path("c"))
    with pytest.raises(ValueError, match="password_file needs username"):
        MqttSection(password_file=Path("p"))
    with pytest.raises(ValueError, match="reconnect_max_s"):
        MqttSection(reconnect_min_s=5, reconnect_max_s=1)
    with pytest.raises(ValueError, match="max_payload_bytes"):
        MqttSection(max_payload_bytes=10)


# ------------------------------------------------------------------ commands


def replies(collector: Collector) -> list[dict]:
    return [m.json() for m in collector.on(f"{PREFIX}/cmd/reply")]


def test_malformed_and_unknown_commands_get_error_replies_and_publishing_goes_on(
    collector: Collector, start_publisher: Callable[..., Publisher]
) -> None:
    publisher = start_publisher()
    wait_status(collector, lambda s: s["reason"] == "birth")
    collector.publish(f"{PREFIX}/cmd/rebirth", b"{not json")
    collector.publish(f"{PREFIX}/cmd/self-destruct", b'{"id": "x1"}')
    collector.publish(f"{PREFIX}/cmd/rebirth", b"[1, 2]")
    collector.publish(f"{PREFIX}/cmd/reload-calibration", b"")
    collector.wait_for(lambda ms: len([m for m in ms if m.topic.endswith("/cmd/reply")]) >= 4)
    got = replies(collector)
    for reply in got:
        validate(reply)
        assert reply["ok"] is False
    assert "not valid JSON" in got[0]["error"] and got[0]["command"] == "rebirth"
    assert got[1]["error"].startswith("unknown command 'self-destruct'") and got[1]["id"] == "x1"
    assert "must be a JSON object" in got[2]["error"]
    assert "no calibration to reload" in got[3]["error"]
    # still publishing, and rebirth republishes the status
    publisher(slag_result(1))
    collector.wait_for(lambda ms: any(m.topic == THICKNESS for m in ms))
    collector.publish(f"{PREFIX}/cmd/rebirth", b'{"id": 7}')
    status = wait_status(collector, lambda s: s["reason"] == "rebirth")
    validate(status)
    assert status["online"] is True
    reply = collector.wait_for(
        lambda ms: any(m.topic.endswith("/cmd/reply") and m.json()["id"] == 7 for m in ms)
    )
    assert (
        next(m.json() for m in reply if m.topic.endswith("/cmd/reply") and m.json()["id"] == 7)["ok"] is True
    )
    assert publisher.client.connected and publisher.counters()["commands_failed"] == 4


def test_reload_calibration_and_snapshot_commands(
    collector: Collector, start_publisher: Callable[..., Publisher], tmp_path: Path
) -> None:
    answers = [True, False]
    seen: list[str] = []
    publisher = start_publisher(
        on_reload_calibration=lambda: answers.pop(0),
        on_snapshot=lambda command: seen.append(command.name or ""),
    )
    wait_status(collector, lambda s: s["reason"] == "birth")
    collector.publish(f"{PREFIX}/cmd/reload-calibration", b'{"id": "r1"}')
    collector.publish(f"{PREFIX}/cmd/reload-calibration", b'{"id": "r2"}')
    collector.publish(f"{PREFIX}/cmd/snapshot", b'{"id": "s1"}')
    collector.wait_for(lambda ms: len([m for m in ms if m.topic.endswith("/cmd/reply")]) >= 3)
    assert publisher.snapshot_requested.is_set() and seen == ["snapshot"]
    by_id = {r["id"]: r for r in replies(collector)}
    assert by_id["r1"]["ok"] is True and by_id["r1"]["result"] == {"reloaded": True}
    assert by_id["r2"]["ok"] is False and "previous calibration is kept" in by_id["r2"]["error"]
    assert by_id["s1"]["ok"] is True and by_id["s1"]["result"]["pending"] is True
    publisher(slag_result(5))  # the next frame is saved

    def snapshot_saved(message: Message) -> bool:
        return message.topic.endswith("/cmd/reply") and bool((message.json()["result"] or {}).get("frame"))

    done = collector.wait_for(lambda ms: any(snapshot_saved(m) for m in ms))
    saved = next(m.json() for m in done if snapshot_saved(m))
    assert saved["id"] == "s1" and saved["command"] == "snapshot"
    validate(saved)
    for key in ("frame", "overlay"):
        ref = saved["result"][key]
        path = Path(ref["path"])
        assert path.parent == tmp_path / "snapshots"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == ref["sha256"]
    assert not publisher.snapshot_requested.is_set()


def test_mqtt5_command_with_response_topic_is_answered_there_with_its_correlation_data(
    broker: Mosquitto, start_publisher: Callable[..., Publisher]
) -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    publisher = start_publisher()
    assert publisher.client.wait_connected(10)
    requester = Collector(broker.port, ("scada/replies/42",), client_id="scada")
    try:
        requester.wait_subscribed()
        time.sleep(0.3)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "scada/replies/42"
        props.CorrelationData = b"\x01\x02req"
        requester.publish(f"{PREFIX}/cmd/rebirth", b"{}", properties=props)
        message = requester.wait_for(bool)[0]
        validate(message.json())
        assert message.json()["ok"] is True
        assert message.properties["CorrelationData"] == b"\x01\x02req".hex()
        assert message.json()["command"] == "rebirth"
    finally:
        requester.close()


# ------------------------------------------------------------------ last will


def _publisher_process(port: int, outbox: Path, *extra: str) -> subprocess.Popen[bytes]:
    return python_process(
        "-m", "tests.edge.publish.publisher_process", "--port", str(port), "--outbox", str(outbox), *extra
    )


def test_clean_stop_publishes_offline_and_the_will_is_not_sent(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    process = _publisher_process(broker.port, tmp_path / "o.sqlite", "--count", "5", "--stop")
    assert process.wait(30) == 0
    time.sleep(1.0)  # a will would arrive right after the disconnect
    reasons = [(s["online"], s["reason"]) for s in statuses(collector)]
    assert reasons[0] == (True, "birth") and reasons[-1] == (False, "clean shutdown")
    assert (False, "connection lost") not in reasons, "the last will must not be sent on a clean disconnect"
    offline = statuses(collector)[-1]
    validate(offline)
    assert (
        collector.on(STATUS)[-1].retain is False
    )  # live delivery; the broker keeps it as the retained value
    late = Collector(broker.port, (STATUS,), client_id="late")
    try:
        retained = late.wait_for(bool)[0]
        assert retained.retain and retained.json()["reason"] == "clean shutdown"
    finally:
        late.close()


def test_killed_publisher_process_gets_its_last_will_delivered(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    process = _publisher_process(broker.port, tmp_path / "o.sqlite", "--count", "5")
    wait_status(collector, lambda s: s["reason"] == "birth", timeout=30)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    will = wait_status(collector, lambda s: s["online"] is False)
    validate(will)
    assert will["reason"] == "connection lost" and will["quality"] == "BAD"
    assert will["device"] == DEVICE and isinstance(will["seq"], int)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_tls_files(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all EC P-256 (openssl)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        name: folder / f"{name}"
        for name in (
            "ca.key",
            "ca.pem",
            "server.key",
            "server.csr",
            "server.pem",
            "client.key",
            "client.csr",
            "client.pem",
            "ext.cnf",
        )
    }
    for key in ("ca.key", "server.key", "client.key"):
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(files[key]))
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        str(files["ca.key"]),
        "-subj",
        "/CN=test-ca",
        "-days",
        "2",
        "-out",
        str(files["ca.pem"]),
    )
    files["ext.cnf"].write_text("subjectAltName=IP:127.0.0.1\n")
    for name, cn in (("server", "127.0.0.1"), ("client", "slagcam01")):
        _openssl(
            "req",
            "-new",
            "-key",
            str(files[f"{name}.key"]),
            "-subj",
            f"/CN={cn}",
            "-out",
            str(files[f"{name}.csr"]),
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            str(files[f"{name}.csr"]),
            "-CA",
            str(files["ca.pem"]),
            "-CAkey",
            str(files["ca.key"]),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            str(files["ext.cnf"]),
            "-out",
            str(files[f"{name}.pem"]),
        )
    return files


@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl is not installed (needed to make test certificates)"
)
def test_tls_with_a_client_certificate(
    make_broker: Callable[..., Mosquitto],
    section: Callable[..., MqttSection],
    make_publisher: Callable[..., Publisher],
    tmp_path: Path,
) -> None:
    tls = make_tls_files(tmp_path / "tls")
    broker = make_broker(
        extra=(
            f"cafile {tls['ca.pem']}",
            f"certfile {tls['server.pem']}",
            f"keyfile {tls['server.key']}",
            "require_certificate true",
        )
    ).start()
    publisher = make_publisher(
        section(broker.port, ca_file=tls["ca.pem"], cert_file=tls["client.pem"], key_file=tls["client.key"])
    )
    publisher.start()
    assert publisher.client.wait_connected(15), publisher.client.last_error
    publisher(slag_result(1))
    assert wait_until(lambda: publisher.counters()["acked"] >= 1), publisher.counters()
    # without the client certificate the broker refuses the TLS handshake
    plain = make_publisher(section(broker.port, ca_file=tls["ca.pem"], client_id="no-cert"))
    plain.start()
    time.sleep(1.0)
    error = plain.client.last_error or ""
    assert not plain.client.connected and "closed the connection before accepting it" in error
    assert "mqtt.cert_file" in error


def test_outbox_that_cannot_be_opened_at_start_does_not_stop_the_camera(
    broker: Mosquitto, collector: Collector, section: Callable[..., MqttSection], tmp_path: Path
) -> None:
    from edge.config import CameraSection, ModelSection, OutboxSection, RuntimeConfig

    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the outbox folder should be")
    config = RuntimeConfig(
        camera=CameraSection(id=DEVICE, source="synthetic://slag"),
        model=ModelSection(bundle=tmp_path),
        mqtt=section(broker.port),
        outbox=OutboxSection(path=blocker / "outbox.sqlite", synchronous="normal"),
    )
    publisher = Publisher.from_config(config, outbox_retry_s=0.3)
    try:
        publisher.start()
        status = wait_status(collector, lambda s: s["reason"] == "birth")
        validate(status)
        assert status["quality"] == "BAD" and str(blocker) in status["quality_reason"]
        assert status["seq"] is None, "no seq while the outbox is unavailable"
        publisher(slag_result(1))  # counted as lost, never raised
        assert publisher.counters()["lost"] == 1
        blocker.unlink()
        time.sleep(0.4)
        publisher(slag_result(2))
        messages = collector.wait_for(lambda ms: any(m.topic == THICKNESS for m in ms))
        assert [m.json()["frame"] for m in messages if m.topic == THICKNESS] == [2]
        good = wait_status(collector, lambda s: s["reason"] == "outbox works again")
        assert (
            good["quality"] == "GOOD" and isinstance(good["seq"], int) and good["outbox"]["failing"] is None
        )
    finally:
        publisher.stop()


def test_weld_image_that_cannot_be_saved_still_publishes_the_geometry(
    collector: Collector, start_publisher: Callable[..., Publisher], tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the image folder should be")
    metrics = PipelineMetrics()
    publisher = start_publisher(
        {"save_weld_images": True, "image_dir": blocker / "images"}, task="weld", metrics=metrics
    )
    publisher(weld_result(1))  # never raises
    message = collector.wait_for(lambda ms: any(m.topic.endswith("/weld/result") for m in ms))[-1]
    payload = message.json()
    validate(payload)
    assert payload["area_mm2"] > 0 and payload["mask"] is None and payload["reference"] is None
    assert metrics.counter("weld_image_errors") == 1
