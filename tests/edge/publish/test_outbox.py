"""The SQLite outbox keeps every stored message until it is acknowledged or evicted by a cap.

Real files in ``tmp_path``, real SQLite errors (a full database through ``max_page_count``), a
real SIGKILL of a process that stored rows.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.config import OutboxSection
from edge.metrics import PipelineMetrics
from edge.publish import Outbox, OutboxError, OutboxRow
from edge.publish.outbox import EVICTION_ORDER, KINDS

REPO = Path(__file__).resolve().parents[3]
T0 = 1_700_000_000_000  # a fixed wall-clock time in UTC ms


def _json(seq: int, **fields: object) -> bytes:
    return json.dumps({"seq": seq, **fields}).encode()


def _fill(n: int) -> Callable[[int], bytes]:
    """A payload builder of ``n`` bytes."""
    return lambda seq: b"x" * n


def test_put_pending_ack_in_order(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite") as outbox:
        rows = [
            outbox.put("p/slag/thickness", _json, kind="measurement", now_ms=T0),
            outbox.put("p/status", _json, kind="status", qos=1, retain=True, now_ms=T0 + 1),
            outbox.put(
                "p/weld/result",
                _json,
                kind="mask",
                qos=2,
                properties={"content_type": "application/json", "schema": "weld.result/1"},
                now_ms=T0 + 2,
            ),
            outbox.put("p/metrics", _json, kind="metrics", qos=0, now_ms=T0 + 3),
        ]
        assert [r.seq for r in rows] == [0, 1, 2, 3]
        pending = outbox.pending(10)
        assert pending == rows
        assert pending[2] == OutboxRow(
            rows[2].id,
            2,
            "p/weld/result",
            b'{"seq": 2}',
            2,
            False,
            "mask",
            T0 + 2,
            {"content_type": "application/json", "schema": "weld.result/1"},
        )
        assert pending[1].retain is True and pending[3].qos == 0
        assert outbox.pending(2) == rows[:2]
        assert outbox.pending(2, newest_first=True) == [rows[3], rows[2]]

        assert outbox.ack(rows[0].id) is True
        assert outbox.ack(rows[0].id) is False  # already gone
        assert outbox.ack_many([rows[1].id, rows[3].id, 999]) == 2
        assert outbox.pending(10) == [rows[2]]
        depth = outbox.depth()
        assert (depth.rows, depth.bytes, depth.oldest_created_ms) == (1, len(b'{"seq": 2}'), T0 + 2)
        assert depth.rows_by_kind == {"measurement": 0, "mask": 1, "status": 0, "metrics": 0, "event": 0}
        assert depth.as_dict()["bytes_by_kind"]["mask"] == 10
    assert outbox.closed
    with pytest.raises(ValueError, match="closed"):
        outbox.pending(1)


def test_pending_skips_excluded_and_filters_kinds(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite") as outbox:
        rows = [outbox.put("p/x", _json, kind=KINDS[i % len(KINDS)]) for i in range(1200)]
        in_flight = {rows[0].id, rows[2].id}
        assert [r.seq for r in outbox.pending(3, exclude=in_flight)] == [1, 3, 4]
        # Beyond the SQL variable limit the exclusion is done in Python, with the same result.
        many = {r.id for r in rows[:1000]}
        assert [r.seq for r in outbox.pending(3, exclude=many)] == [1000, 1001, 1002]
        assert outbox.pending(5, exclude={r.id for r in rows}) == []
        masks = outbox.pending(3, kinds=["mask"])
        assert [r.seq for r in masks] == [1, 6, 11] and {r.kind for r in masks} == {"mask"}
        assert [r.seq for r in outbox.pending(2, kinds=("mask", "event"), newest_first=True)] == [1199, 1196]
        assert outbox.pending(5, kinds=[]) == []
        assert outbox.pending(0) == []


def test_build_sees_the_stored_seq_and_seq_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state" / "outbox.sqlite"  # the folder is created
    seen: list[int] = []

    def build(seq: int) -> bytes:
        seen.append(seq)
        return _json(seq, value=1.5)

    with Outbox(path) as outbox:
        assert outbox.next_seq() == 0
        for _ in range(3):
            outbox.put("p/slag/thickness", build, kind="measurement")

        def broken(seq: int) -> bytes:
            raise RuntimeError("encoder failed")

        with pytest.raises(RuntimeError, match="encoder failed"):
            outbox.put("p/slag/thickness", broken, kind="measurement")
        with pytest.raises(TypeError, match="bytes"):
            outbox.put("p/slag/thickness", lambda seq: "text", kind="measurement")  # type: ignore[arg-type,return-value]
        assert outbox.next_seq() == 3  # failed puts used no seq and stored nothing
        assert outbox.depth().rows == 3
    with Outbox(path) as outbox:
        assert outbox.next_seq() == 3
        row = outbox.put("p/slag/thickness", build, kind="measurement")
        assert row.seq == 3
        stored = outbox.pending(10)
    assert seen == [0, 1, 2, 3]
    assert [json.loads(r.payload)["seq"] for r in stored] == [r.seq for r in stored] == [0, 1, 2, 3]
    assert Outbox(tmp_path / "other.sqlite", start_seq=10**12).next_seq() == 10**12


def test_bad_arguments_store_nothing(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite", max_bytes=1000) as outbox:
        for kwargs, error in [
            ({"kind": "thing"}, "kind must be one of"),
            ({"kind": "mask", "qos": 3}, "qos"),
            ({"kind": "mask", "topic": "p/#"}, "wildcards"),
            ({"kind": "mask", "topic": ""}, "topic"),
        ]:
            topic = kwargs.pop("topic", "p/x")
            with pytest.raises(ValueError, match=error):
                outbox.put(topic, _json, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="1001 bytes exceeds the outbox cap max_bytes 1000"):
            outbox.put("p/x", _fill(1001), kind="measurement")
        assert outbox.depth().rows == 0 and outbox.next_seq() == 0
    with pytest.raises(ValueError, match="synchronous"):
        Outbox(tmp_path / "outbox.sqlite", synchronous="OFF")


def test_byte_cap_evicts_masks_first_then_others_then_measurements(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = PipelineMetrics()
    path = tmp_path / "outbox.sqlite"
    with Outbox(path, max_bytes=10_000, metrics=metrics) as outbox:
        kept_measurements = [outbox.put("p/m", _fill(500), kind="measurement") for _ in range(4)]
        masks = [outbox.put("p/w", _fill(4000), kind="mask") for _ in range(2)]  # 10000: at the cap
        assert outbox.evictions == dict.fromkeys(KINDS, 0)
        status = outbox.put("p/status", _fill(400), kind="status")  # 10400: the oldest mask goes
        assert outbox.evictions["mask"] == 1
        assert outbox.ack(masks[0].id) is False  # evicted while "in flight": the sender sees False
        metric_rows = [outbox.put("p/metrics", _fill(300), kind="metrics") for _ in range(3)]
        event = outbox.put("p/event", _fill(700), kind="event")  # 8000
        kept_measurements += [outbox.put("p/m", _fill(500), kind="measurement") for _ in range(5)]
        assert outbox.evictions == {"measurement": 0, "mask": 2, "status": 0, "metrics": 0, "event": 0}
        kept_measurements += [outbox.put("p/m", _fill(500), kind="measurement") for _ in range(7)]
        assert outbox.depth().bytes == 10_000  # at the cap, not over it: nothing evicted
        kept_measurements.append(outbox.put("p/m", _fill(500), kind="measurement"))  # over by 500
        assert outbox.evictions == {"measurement": 0, "mask": 2, "status": 0, "metrics": 2, "event": 0}
        # Over by 900: the last metrics row (300), then status (400), then event (700).
        kept_measurements.append(outbox.put("p/m", _fill(1000), kind="measurement"))
        assert outbox.evictions == {"measurement": 0, "mask": 2, "status": 1, "metrics": 3, "event": 1}
        assert outbox.depth().rows_by_kind == {
            "measurement": 18,
            "mask": 0,
            "status": 0,
            "metrics": 0,
            "event": 0,
        }
        # A mask put into an outbox full of measurements is itself the first to go.
        late_mask = outbox.put("p/w", _fill(1000), kind="mask")
        assert outbox.evictions["mask"] == 3
        assert outbox.ack(late_mask.id) is False
        # Only measurements are left: the oldest ones go, last of all.
        kept_measurements.append(outbox.put("p/m", _fill(1200), kind="measurement"))
        kept = outbox.pending(100)
        assert [r.id for r in kept] == [r.id for r in kept_measurements[2:]]
        assert outbox.evictions["measurement"] == 2
        assert outbox.depth().bytes == 9700
        for row in (status, event, *metric_rows):
            assert outbox.ack(row.id) is False
        depth = outbox.depth()
    expected = {"measurement": 2, "mask": 3, "status": 1, "metrics": 3, "event": 1}
    assert {kind: metrics.counter(f"outbox_evicted_{kind}") for kind in KINDS} == expected
    assert metrics.snapshot()["queue_depth"]["outbox"] == len(kept)
    assert metrics.snapshot()["queue_depth"]["outbox_bytes"] == 9700
    # Six evictions in a burst: one warning at once, one with the rest at close (rate-limited).
    warnings = [
        r.getMessage() for r in caplog.records if r.name == "edge.publish.outbox" and r.levelname == "WARNING"
    ]
    assert len(warnings) == 2, warnings
    assert "over the byte cap of 9.8 KiB: 1 mask; older than 72.0 h: none" in warnings[0]
    assert "9.8 KiB: 2 mask, 3 metrics, 1 status, 1 event, 2 measurement;" in warnings[1]
    with Outbox(path, max_bytes=10_000) as reopened:
        assert reopened.evictions == expected  # kept in the file
        assert reopened.depth() == depth  # the per-kind totals are rebuilt from the file


def test_eviction_order_is_masks_first_measurements_last() -> None:
    assert EVICTION_ORDER[0] == "mask" and EVICTION_ORDER[-1] == "measurement"
    assert sorted(EVICTION_ORDER) == sorted(KINDS)


def test_age_cap_evicts_stale_rows_of_every_kind(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    hour = 3_600_000
    metrics = PipelineMetrics()
    with Outbox(tmp_path / "outbox.sqlite", max_age_s=2 * 3600, metrics=metrics) as outbox:
        old = [outbox.put("p/x", _json, kind=kind, now_ms=T0) for kind in KINDS]
        newer = outbox.put("p/m", _json, kind="measurement", now_ms=T0 + hour)
        assert outbox.depth().rows == 6
        current = outbox.put("p/m", _json, kind="measurement", now_ms=T0 + 2 * hour + 1)
        assert outbox.pending(10) == [newer, current]
        assert outbox.evictions == dict.fromkeys(KINDS, 1)
        assert all(outbox.ack(r.id) is False for r in old)
        assert outbox.enforce_caps(now_ms=T0 + 3 * hour) == {}  # `newer` is exactly 2 h old: kept
        assert outbox.enforce_caps(now_ms=T0 + 3 * hour + 1) == {"measurement": 1}
        assert outbox.pending(10) == [current]
    assert metrics.counter("outbox_evicted_measurement") == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("older than 2.0 h: 1 mask, 1 metrics, 1 status, 1 event, 1 measurement" in m for m in warnings)


def test_reopening_with_a_smaller_cap_evicts_at_open(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as outbox:
        for _ in range(10):
            outbox.put("p/m", _fill(100), kind="measurement")
    with Outbox(path, max_bytes=450) as outbox:
        assert outbox.depth().rows == 4
        assert outbox.evictions["measurement"] == 6


def test_read_only_location_fails_at_construction(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        existing = tmp_path / "rw" / "outbox.sqlite"
        Outbox(existing).close()
        folder.chmod(0o555)
        existing.chmod(0o444)
        try:
            for path in (folder / "outbox.sqlite", existing):
                with pytest.raises(OutboxError) as info:
                    Outbox(path)
                assert str(path) in str(info.value) and "writable" in str(info.value)
                assert info.value.reason in ("read-only", "cannot-open")
        finally:
            folder.chmod(0o755)
            existing.chmod(0o644)
        return
    # Root ignores file permissions, so chmod cannot make a folder read-only here: use places
    # where nobody can create a file (a "folder" that is a regular file, and /proc).
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    for path in (blocker / "outbox.sqlite", Path("/proc/steelsight-outbox.sqlite")):
        with pytest.raises(OutboxError) as info:
            Outbox(path)
        message = str(info.value)
        assert str(path) in message and "writable" in message, message
        assert info.value.reason in ("read-only", "cannot-open")
        assert isinstance(info.value, OSError) and info.value.filename == str(path)


def test_corrupt_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    garbage = bytes(range(256)) * 64
    path.write_bytes(garbage)
    with pytest.raises(OutboxError) as info:
        Outbox(path)
    message = str(info.value)
    assert info.value.reason == "corrupt" and info.value.errno == errno.EIO
    assert str(path) in message and f"mv {path} {path}.corrupt" in message
    assert path.read_bytes() == garbage  # never deleted or rewritten


def test_foreign_or_newer_database_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE readings (x REAL)")
    conn.close()
    with pytest.raises(OutboxError, match="not a SteelSight outbox") as info:
        Outbox(foreign)
    assert info.value.reason == "foreign"

    newer = tmp_path / "newer.sqlite"
    Outbox(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 0)")
    conn.close()
    with pytest.raises(OutboxError, match="newer SteelSight") as info:
        Outbox(newer)
    assert info.value.reason == "newer"


def test_full_disk_raises_with_the_file_and_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as outbox:
        # Let SQLite's page limit play the full disk: the same SQLITE_FULL error, for real.
        conn = outbox._conn
        assert conn is not None
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 40}")
        stored: list[OutboxRow] = []
        with pytest.raises(OutboxError) as info:
            for _ in range(100):
                stored.append(outbox.put("p/w", _fill(20 * 1024), kind="mask"))
        error = info.value
        assert error.reason == "disk-full" and error.errno == errno.ENOSPC
        assert (
            str(path) in str(error)
            and "df -h" in str(error)
            and "nothing from this call was stored" in str(error)
        )
        assert 0 < len(stored) < 100
        assert outbox.next_seq() == len(stored)  # the failed put used no seq
        assert [r.seq for r in outbox.pending(200)] == [r.seq for r in stored]
        # Acknowledged rows free pages: storing works again, no restart needed.
        assert outbox.ack_many([r.id for r in stored[:3]]) == 3
        assert outbox.put("p/w", _fill(20 * 1024), kind="mask").seq == len(stored)


def test_two_threads_put_and_ack_every_row_exactly_once_in_order(tmp_path: Path) -> None:
    total = 2000
    outbox = Outbox(tmp_path / "outbox.sqlite", synchronous="NORMAL")
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for _ in range(total):
                outbox.put("p/slag/thickness", _json, kind="measurement")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    producer = threading.Thread(target=produce)
    producer.start()
    seen: list[int] = []
    in_flight: list[OutboxRow] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        batch = outbox.pending(20, exclude={r.id for r in in_flight})
        assert not {r.id for r in batch} & {r.id for r in in_flight}
        seen.extend(json.loads(r.payload)["seq"] for r in batch)
        # Acknowledge the previous window only now, so rows stay "in flight" across one read.
        assert outbox.ack_many([r.id for r in in_flight]) == len(in_flight)
        in_flight = batch
        if not batch and not producer.is_alive():
            break
    producer.join()
    outbox.close()
    assert not errors
    assert seen == list(range(total))


_KILLED_WRITER = """
import sys
from pathlib import Path
from edge.publish import Outbox

outbox = Outbox(Path(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    outbox.put("p/slag/thickness", lambda seq: b'{"seq": %d}' % seq, kind="measurement")
print("done", flush=True)
while True:
    row = outbox.put("p/slag/thickness", lambda seq: b'{"seq": %d}' % seq, kind="measurement")
    print("put", row.seq, flush=True)
"""


def test_rows_survive_sigkill_and_seq_continues(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    n = 100
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(path), str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "done", proc.stderr.read() if proc.stderr else ""
        for _ in range(20):  # let it be killed in the middle of a stream of puts
            assert proc.stdout.readline().startswith("put")
    finally:
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    printed = [int(line.split()[1]) for line in rest.splitlines() if line.startswith("put")]
    acknowledged = n + 20 + len(printed)  # every put that returned before the kill
    with Outbox(path) as outbox:
        seqs = [r.seq for r in outbox.pending(10_000)]
        assert seqs == list(range(len(seqs)))  # nothing lost in between, in order
        assert len(seqs) in (acknowledged, acknowledged + 1)  # + a put that committed but did not print
        assert outbox.next_seq() == len(seqs)
        assert outbox.put("p/slag/thickness", _json, kind="measurement").seq == len(seqs)


def test_outbox_from_config(tmp_path: Path) -> None:
    section = OutboxSection(path=tmp_path / "o.sqlite", max_bytes=4096, max_age_h=0.5, synchronous="normal")
    with Outbox.from_config(section) as outbox:
        assert (outbox.max_bytes, outbox.max_age_s, outbox.synchronous) == (4096, 1800.0, "NORMAL")
    with pytest.raises(ValueError, match="synchronous"):
        OutboxSection(synchronous="off")
