"""The on-disk store-and-forward outbox (contract 3 of DESIGN.md): SQLite in WAL mode.

The pipeline only inserts (:meth:`Outbox.put`); one sender thread reads the oldest rows
(:meth:`Outbox.pending`), publishes them and deletes a row only when the broker acknowledges it
(:meth:`Outbox.ack`). What was stored survives a broker outage, a process kill and a restart.

Durability
    Every :meth:`~Outbox.put` is one transaction: it takes the next ``seq`` from a counter kept in
    the same file, calls ``build(seq)`` for the payload, inserts the row, bumps the counter and
    commits. Once ``put`` returns, the row survives a killed process (SIGKILL, OOM, crash): in WAL
    mode a commit is in the operating system's file cache before ``put`` returns, whatever the
    ``synchronous`` setting. Power loss is the choice: ``synchronous="FULL"`` (the default) fsyncs
    the WAL on every put, so an acknowledged row also survives a power cut or kernel panic, at the
    price of one fsync per put (about 2 ms on an SSD, more on eMMC/SD); ``"NORMAL"`` skips that fsync
    (the last puts before a power cut may vanish; the file stays consistent). Acks are committed
    without their own fsync even in FULL mode: a lost ack only means the row is sent again (delivery
    is at least once; consumers dedupe on ``(device, seq)``), and the next put's fsync makes it
    durable anyway.

Sequence numbers
    ``seq`` starts at 0 in a new file (or at ``start_seq``) and goes up by one per put, across
    restarts; a put whose ``build`` raises consumes none. It is stored as SQLite's signed 64-bit
    integer, so it is a uint64 that stops at 2**63 - 1 (centuries at any real rate). A new file
    restarts the count: if the outbox is ever moved aside, pass ``start_seq`` above the last seq
    sent, or consumers that dedupe on ``(device, seq)`` will drop the new rows as duplicates.

Caps and eviction
    After each put, and at open, rows older than ``max_age_s`` are deleted (all kinds: stale data
    is dropped; judged in insertion order, see :meth:`Outbox.enforce_caps`), then while the
    payload bytes exceed ``max_bytes`` the oldest rows are deleted in :data:`EVICTION_ORDER`:
    masks first (big, and the full-resolution image stays on the camera), then metrics (periodic,
    superseded by the next), status (re-published at every connect), events, and measurements last
    (they are the product). Every eviction is counted per kind in the file
    (:attr:`Outbox.evictions`, since the file was created) and in ``metrics`` as
    ``outbox_evicted_<kind>``, and logged (at most one warning per 10 s with the counts in between).
    A put whose payload alone exceeds ``max_bytes`` is refused (``ValueError``), never stored and
    evicted. Call :meth:`Outbox.enforce_caps` now and then when no puts come (the age cap then).

Errors
    A full disk, a read-only file or folder, a damaged or foreign file, or a lock held by another
    process raise :class:`OutboxError` (an ``OSError``) whose message names the file and the fix;
    nothing is dropped silently. A read-only or unopenable path fails at construction. A damaged
    file is never deleted or rewritten: the message says to move it aside.

Threads
    One connection guarded by one lock: any thread may call any method. ``build`` runs under that
    lock, inside the transaction, so it must be quick (format the JSON; encode masks beforehand) and
    must not call back into the outbox. One process writes a file at a time (the per-kind totals are
    kept in memory, read once at open); two runtimes on one outbox would also send each other's rows.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.config import OutboxSection
    from edge.metrics import PipelineMetrics

__all__ = [
    "EVICTION_ORDER",
    "KINDS",
    "SCHEMA_VERSION",
    "SYNCHRONOUS_MODES",
    "Outbox",
    "OutboxDepth",
    "OutboxError",
    "OutboxRow",
]

log = logging.getLogger(__name__)

KINDS = ("measurement", "mask", "status", "metrics", "event")
"""The kinds of row the outbox stores."""

EVICTION_ORDER = ("mask", "metrics", "status", "event", "measurement")
"""Which kind's oldest rows go first when the byte cap is exceeded (measurements last)."""

SCHEMA_VERSION = 1
"""The version of the file layout this module writes (table ``schema_version``)."""

SYNCHRONOUS_MODES = ("FULL", "NORMAL")
"""SQLite ``synchronous`` settings accepted (see the module docstring: FULL survives power loss)."""

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_AGE_S = 72 * 3600.0
MAX_SEQ = 2**63 - 1
APPLICATION_ID = 0x53534F42  # "SSOB": SteelSight outbox, in the SQLite header
EVICTION_LOG_INTERVAL_S = 10.0
_SQL_EXCLUDE_LIMIT = 500  # above this many excluded ids, filter in Python (SQLite's variable limit)
_EVICT_BATCH = 512
_JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024

# Few pages change per put (table leaf, kind index leaf, the seq counter) and per ack (table leaf,
# kind index leaf): every changed page is a 4 KiB WAL write, and flash storage wears. The payload
# is the last column, so reading the small columns of a mask row never walks its overflow pages.
_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_ms INTEGER NOT NULL)",
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    """CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        qos INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
        retain INTEGER NOT NULL CHECK (retain IN (0, 1)),
        topic TEXT NOT NULL,
        properties TEXT NOT NULL,
        payload BLOB NOT NULL
    )""",
    # Covers the per-kind totals at open and the byte-cap eviction (oldest rows of one kind).
    "CREATE INDEX outbox_kind ON outbox (kind, id, size)",
)

_COLUMNS = "id, seq, topic, payload, qos, retain, kind, created_ms, properties"  # OutboxRow order

# SQLite primary result codes -> our reasons (Python >= 3.11 exposes the code; older: the text).
_CODE_REASONS = {5: "locked", 6: "locked", 8: "read-only", 10: "io-error", 11: "corrupt", 13: "disk-full"}
_CODE_REASONS.update({14: "cannot-open", 26: "corrupt"})
_TEXT_REASONS = (
    ("disk is full", "disk-full"),
    ("readonly", "read-only"),
    ("read-only", "read-only"),
    ("unable to open", "cannot-open"),
    ("not a database", "corrupt"),
    ("malformed", "corrupt"),
    ("locked", "locked"),
    ("disk i/o", "io-error"),
)
_ERRNOS = {
    "disk-full": errno.ENOSPC,
    "read-only": errno.EROFS,
    "cannot-open": errno.EACCES,
    "corrupt": errno.EIO,
    "foreign": errno.EINVAL,
    "newer": errno.EINVAL,
    "locked": errno.EBUSY,
    "io-error": errno.EIO,
}


class OutboxError(OSError):
    """The outbox file cannot be used: disk full, read-only, damaged, foreign or locked.

    ``str(error)`` names the file, what went wrong and what to do. ``reason`` is one of
    ``disk-full``, ``read-only``, ``cannot-open``, ``corrupt``, ``foreign`` (an SQLite file that
    is not an outbox), ``newer`` (written by a newer schema), ``locked``, ``io-error`` or
    ``sqlite-error``; ``path`` is the file; ``errno`` is set accordingly (``ENOSPC`` when full).
    """

    def __init__(self, message: str, path: Path, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = Path(path)
        self.reason = reason
        self.errno = _ERRNOS.get(reason, errno.EIO)
        self.strerror = message
        self.filename = str(path)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.path, self.reason))


@dataclass(frozen=True)
class OutboxRow:
    """One stored message.

    ``id`` orders rows by insertion and is never reused (it equals ``seq`` in this version: ack by
    ``id``, dedupe by ``seq``); ``seq`` is the number ``build`` put in the payload; ``kind`` is one
    of :data:`KINDS`; ``created_ms`` is the wall-clock insertion time (UTC ms) that the age cap
    uses; ``properties`` holds MQTT 5 user properties and ``content_type``.
    """

    id: int
    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    kind: str
    created_ms: int
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboxDepth:
    """What the outbox holds: rows and payload bytes, in all and per kind, and ``created_ms`` of the
    first stored row (by insertion; ``None`` when empty)."""

    rows: int
    bytes: int
    oldest_created_ms: int | None
    rows_by_kind: dict[str, int]
    bytes_by_kind: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain JSON-ready values."""
        return {
            "rows": self.rows,
            "bytes": self.bytes,
            "oldest_created_ms": self.oldest_created_ms,
            "rows_by_kind": dict(self.rows_by_kind),
            "bytes_by_kind": dict(self.bytes_by_kind),
        }


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _classify(exc: BaseException) -> str:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _CODE_REASONS:
        return _CODE_REASONS[code & 0xFF]
    text = str(exc).lower()
    for needle, reason in _TEXT_REASONS:
        if needle in text:
            return reason
    return "sqlite-error"


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - unreachable


def _counts(counts: Mapping[str, int]) -> str:
    order = {kind: i for i, kind in enumerate(EVICTION_ORDER)}
    items = sorted(counts.items(), key=lambda item: (order.get(item[0], -1), item[0]))
    return ", ".join(f"{n} {kind}" for kind, n in items if n) or "none"


class Outbox:
    """A store-and-forward queue of MQTT messages in one SQLite file (WAL mode).

    Parameters
    ----------
    path
        The SQLite file; created (with its folder) when missing. SQLite keeps ``<name>-wal`` and
        ``<name>-shm`` next to it, so the folder must be writable.
    max_bytes
        Cap on the stored payload bytes (the file itself is somewhat larger: row headers, indexes).
    max_age_s
        Rows older than this (by ``created_ms``) are evicted.
    metrics
        Where evictions are counted (``outbox_evicted_<kind>``) and the depth reported
        (``set_depth("outbox", rows)`` and ``set_depth("outbox_bytes", bytes)``).
    synchronous
        ``"FULL"`` (default: an acknowledged put survives power loss) or ``"NORMAL"`` (survives a
        process kill only); see the module docstring.
    busy_timeout_s
        How long a statement waits for a lock held by another connection before failing.
    start_seq
        The first ``seq`` of a newly created file (ignored when the file exists).

    Raises
    ------
    OutboxError
        The file or folder cannot be created or written (read-only, disk full), the file is not an
        SQLite database or is damaged, belongs to something else, or was written by a newer schema.
    ValueError
        A cap, ``synchronous`` or ``start_seq`` out of range.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        metrics: PipelineMetrics | None = None,
        synchronous: str = "FULL",
        busy_timeout_s: float = 5.0,
        start_seq: int = 0,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if not max_age_s > 0:
            raise ValueError(f"max_age_s must be positive, got {max_age_s}")
        sync = str(synchronous).upper()
        if sync not in SYNCHRONOUS_MODES:
            raise ValueError(
                f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}; got {synchronous!r}"
            )
        if not 0 <= start_seq <= MAX_SEQ:
            raise ValueError(f"start_seq must be in 0..{MAX_SEQ}, got {start_seq}")
        self.path = Path(path)
        self.max_bytes = int(max_bytes)
        self.max_age_s = float(max_age_s)
        self.synchronous = sync
        self._metrics = metrics
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._rows: Counter[str] = Counter()  # per-kind totals of what the file holds
        self._bytes: Counter[str] = Counter()
        self._unlogged_bytes: Counter[str] = Counter()  # evictions not yet logged
        self._unlogged_age: Counter[str] = Counter()
        self._last_eviction_log = -math.inf
        self._conn: sqlite3.Connection | None = None
        self._conn = self._open(start_seq)
        try:
            with self._lock:
                totals = self._query(
                    "SELECT kind, COUNT(*), COALESCE(SUM(size), 0) FROM outbox GROUP BY kind", (), "opening"
                )
                for kind, rows, size in totals:
                    self._rows[kind], self._bytes[kind] = int(rows), int(size)
                self._enforce_caps_locked(_now_ms(), raise_errors=True)
                self._report_depth_locked()
        except BaseException:
            self._conn.close()
            self._conn = None
            raise

    @classmethod
    def from_config(cls, section: OutboxSection, metrics: PipelineMetrics | None = None) -> Outbox:
        """Open the outbox that the ``[outbox]`` config section describes."""
        return cls(
            section.path,
            max_bytes=section.max_bytes,
            max_age_s=section.max_age_h * 3600.0,
            metrics=metrics,
            synchronous=section.synchronous,
        )

    # ------------------------------------------------------------------ opening and errors

    def _error(self, exc: BaseException, action: str, reason: str | None = None) -> OutboxError:
        """An :class:`OutboxError` for ``exc`` that names the file and what to do."""
        reason = reason or _classify(exc)
        path = self.path.absolute()
        folder = path.parent
        writable_fix = (
            f"make {path} and its folder {folder} writable by this user (SQLite also creates "
            f"{path.name}-wal and {path.name}-shm there), remount the file system read-write, or set "
            "[outbox] path to a writable place"
        )
        what, fix = {
            "disk-full": (
                "the disk is full",
                f"free space on the file system holding {folder} (see `df -h {folder}`) or lower "
                "[outbox] max_bytes; nothing from this call was stored",
            ),
            "read-only": ("the file or its folder is read-only", writable_fix),
            "cannot-open": (
                "the file cannot be opened or created",
                f"check that {folder} is a folder that exists or can be created, and {writable_fix}",
            ),
            "corrupt": (
                "the file is not a valid SQLite database or is damaged",
                f"stop the runtime and move the file aside (`mv {path} {path}.corrupt`, and its -wal and "
                "-shm files if any); a new empty outbox is created at the next start. The file is left "
                f"as it is: rows may be recoverable with `sqlite3 {path}.corrupt .recover`",
            ),
            "foreign": (
                "the file is an SQLite database but not a SteelSight outbox",
                "set [outbox] path to another file, or move this one aside",
            ),
            "newer": (
                "the file was written by a newer SteelSight version",
                "upgrade the runtime, or move the file aside to start a new outbox",
            ),
            "locked": (
                "another process holds a lock on the file",
                "make sure only one runtime uses this outbox (is a second runtime for this camera running?)",
            ),
            "io-error": ("the storage reported an I/O error", "check the storage device (dmesg, SMART)"),
        }.get(reason, ("SQLite reported an error", "see the SQLite message"))
        return OutboxError(f"outbox {path}: {action} failed: {what} ({exc}). Fix: {fix}.", path, reason)

    def _open(self, start_seq: int) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = "read-only" if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else "cannot-open"
            if exc.errno == errno.ENOSPC:
                reason = "disk-full"
            raise self._error(exc, f"creating the folder {self.path.parent}", reason) from exc
        try:
            conn = sqlite3.connect(
                str(self.path),
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._error(exc, "opening") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            if mode != "wal":
                raise sqlite3.OperationalError(
                    f"could not switch to WAL mode (journal mode is {mode}): attempt to write a readonly "
                    "database, or a file system without shared-memory support"
                )
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")
            self._prepare_schema(conn, start_seq)
        except OutboxError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc, "opening") from exc
        return conn

    def _prepare_schema(self, conn: sqlite3.Connection, start_seq: int) -> None:
        """Create the tables in a new file, check an existing one, and prove the file is writable."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            now = _now_ms()
            if not tables:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)", (SCHEMA_VERSION, now)
                )
                conn.executemany(
                    "INSERT INTO counters (name, value) VALUES (?, ?)",
                    [("next_seq", start_seq), ("created_ms", now)] + [(f"evicted_{k}", 0) for k in KINDS],
                )
                log.info(
                    "created outbox %s (schema %d); seq starts at %d", self.path, SCHEMA_VERSION, start_seq
                )
            elif app_id != APPLICATION_ID or not {"schema_version", "counters", "outbox"} <= tables:
                raise self._error(
                    ValueError(f"application_id {app_id:#x}, tables {', '.join(sorted(tables))}"),
                    "opening",
                    "foreign",
                )
            else:
                version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
                if version is None or version > SCHEMA_VERSION:
                    raise self._error(
                        ValueError(f"schema version {version}, this runtime knows {SCHEMA_VERSION}"),
                        "opening",
                        "newer",
                    )
            # A write at every open: a read-only file or a full disk fails here, at construction.
            conn.execute(
                "INSERT INTO counters (name, value) VALUES ('opened_ms', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (now,),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError(f"outbox {self.path} is closed")
        return self._conn

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any error; SQLite errors as OutboxError."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.exception("outbox %s: rollback failed", self.path)
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc, action) from exc
            raise

    def _query(self, sql: str, params: Collection[Any], action: str) -> list[tuple[Any, ...]]:
        try:
            return self._connection().execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc, action) from exc

    # ------------------------------------------------------------------ the API

    def put(
        self,
        topic: str,
        build: Callable[[int], bytes],
        *,
        kind: str,
        qos: int = 1,
        retain: bool = False,
        properties: Mapping[str, str] | None = None,
        now_ms: int | None = None,
    ) -> OutboxRow:
        """Store one message durably and return it; then apply the caps.

        Parameters
        ----------
        topic
            The MQTT topic (no wildcards).
        build
            Called once, inside the transaction, with the row's ``seq``; returns the payload bytes.
            If it raises, nothing is stored and no seq is used.
        kind
            One of :data:`KINDS`; decides the eviction order.
        qos, retain
            MQTT delivery settings kept with the row.
        properties
            MQTT 5 user properties and ``content_type`` (strings), kept as JSON.
        now_ms
            Insertion time in UTC ms (default: the wall clock); the age cap counts from it.

        Returns
        -------
        OutboxRow
            The stored row. It may already be evicted when the caps demanded it (a mask put into an
            outbox full of measurements); that eviction is counted like any other.

        Raises
        ------
        OutboxError
            The row could not be stored (disk full, read-only, damaged file); nothing was stored.
        ValueError, TypeError
            A bad argument, ``build`` returned something other than bytes, or the payload alone
            exceeds ``max_bytes``; nothing was stored.
        """
        if not isinstance(topic, str) or not topic or "#" in topic or "+" in topic or "\0" in topic:
            raise ValueError(f"topic must be a non-empty MQTT topic name without wildcards, got {topic!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        if qos not in (0, 1, 2) or isinstance(qos, bool):
            raise ValueError(f"qos must be 0, 1 or 2, got {qos!r}")
        props = dict(properties or {})
        for key, value in props.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"properties must map str to str, got {key!r}: {value!r}")
        props_json = json.dumps(props, sort_keys=True, separators=(",", ":"))
        created = _now_ms() if now_ms is None else int(now_ms)
        with self._lock:
            with self._transaction(f"storing a {kind} row on {topic}") as conn:
                seq = conn.execute("SELECT value FROM counters WHERE name = 'next_seq'").fetchone()[0]
                if seq > MAX_SEQ:
                    raise OverflowError(f"outbox {self.path}: seq is exhausted ({seq})")
                payload = build(seq)
                if not isinstance(payload, (bytes, bytearray, memoryview)):
                    raise TypeError(f"build must return bytes, got {type(payload).__name__}")
                payload = bytes(payload)
                if len(payload) > self.max_bytes:
                    raise ValueError(
                        f"a {kind} payload of {len(payload)} bytes exceeds the outbox cap max_bytes "
                        f"{self.max_bytes}; not stored"
                    )
                # The id is the seq: unique and never reused (the counter only goes up), so a late
                # ack of an evicted row can never delete a newer one.
                conn.execute(
                    "INSERT INTO outbox (id, seq, kind, size, created_ms, qos, retain, topic, properties, "
                    "payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        seq,
                        seq,
                        kind,
                        len(payload),
                        created,
                        qos,
                        int(bool(retain)),
                        topic,
                        props_json,
                        payload,
                    ),
                )
                conn.execute("UPDATE counters SET value = ? WHERE name = 'next_seq'", (seq + 1,))
            self._rows[kind] += 1
            self._bytes[kind] += len(payload)
            row = OutboxRow(seq, seq, topic, payload, qos, bool(retain), kind, created, props)
            # The row is committed: a failure while evicting must not look like a failed put.
            self._enforce_caps_locked(created, raise_errors=False)
            self._report_depth_locked()
        return row

    def next_seq(self) -> int:
        """The ``seq`` that the next :meth:`put` will use."""
        with self._lock:
            rows = self._query("SELECT value FROM counters WHERE name = 'next_seq'", (), "reading next_seq")
        return int(rows[0][0])

    def pending(
        self,
        limit: int,
        *,
        exclude: Collection[int] = (),
        kinds: Collection[str] | None = None,
        newest_first: bool = False,
    ) -> list[OutboxRow]:
        """Up to ``limit`` stored rows, oldest first by insertion (``id``) unless ``newest_first``.

        Rows whose ``id`` is in ``exclude`` (in flight) are skipped; ``kinds`` keeps only those kinds.
        """
        if limit <= 0:
            return []
        excluded = {int(i) for i in exclude}
        where: list[str] = []
        params: list[Any] = []
        fetch = limit
        if excluded and len(excluded) <= _SQL_EXCLUDE_LIMIT:
            where.append(f"id NOT IN ({', '.join('?' * len(excluded))})")
            params.extend(sorted(excluded))
        elif excluded:
            fetch = limit + len(excluded)
        order = "DESC" if newest_first else "ASC"
        # One query per kind walks the (kind, id) index in order; `kind IN (...)` would sort them all.
        kind_list: list[str | None] = [None] if kinds is None else list(dict.fromkeys(kinds))
        rows: list[tuple[Any, ...]] = []
        with self._lock:
            for kind in kind_list:
                clauses = where if kind is None else ["kind = ?", *where]
                sql = (
                    f"SELECT {_COLUMNS} FROM outbox {'WHERE ' + ' AND '.join(clauses) if clauses else ''} "
                    f"ORDER BY id {order} LIMIT ?"
                )
                args = [*([] if kind is None else [kind]), *params, fetch]
                rows.extend(self._query(sql, args, "reading pending rows"))
        if len(kind_list) > 1:
            rows.sort(key=lambda r: r[0], reverse=newest_first)
        out = [
            OutboxRow(r[0], r[1], r[2], bytes(r[3]), r[4], bool(r[5]), r[6], r[7], json.loads(r[8]))
            for r in rows
            if r[0] not in excluded
        ]
        return out[:limit]

    def ack(self, row_id: int) -> bool:
        """Delete row ``row_id`` (the broker acknowledged it); ``False`` when it was already gone."""
        return self.ack_many((row_id,)) == 1

    def ack_many(self, row_ids: Collection[int]) -> int:
        """Delete several acknowledged rows in one transaction; returns how many were still there."""
        ids = [int(i) for i in row_ids]
        if not ids:
            return 0
        with self._lock:
            conn = self._connection()
            relaxed = self.synchronous == "FULL"
            try:
                if relaxed:  # a lost ack only means a resend; the next put's fsync makes it durable
                    conn.execute("PRAGMA synchronous = NORMAL")
                gone: list[tuple[str, int]] = []
                with self._transaction("deleting acknowledged rows") as tx:
                    for row_id in ids:
                        found = tx.execute("SELECT kind, size FROM outbox WHERE id = ?", (row_id,)).fetchone()
                        if found is not None:
                            tx.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                            gone.append(found)
            except sqlite3.Error as exc:
                raise self._error(exc, "deleting acknowledged rows") from exc
            finally:
                if relaxed and self._conn is not None:
                    try:
                        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
                    except sqlite3.Error:
                        log.exception("outbox %s: could not restore synchronous mode", self.path)
            for kind, size in gone:
                self._rows[kind] -= 1
                self._bytes[kind] -= size
            self._report_depth_locked()
        return len(gone)

    def depth(self) -> OutboxDepth:
        """Rows, payload bytes and the oldest row's ``created_ms``, in all and by kind."""
        with self._lock:
            return self._depth_locked()

    @property
    def evictions(self) -> dict[str, int]:
        """Rows evicted by the caps, per kind, since the file was created (kept in the file)."""
        with self._lock:
            rows = self._query(
                "SELECT name, value FROM counters WHERE name LIKE 'evicted\\_%' ESCAPE '\\'",
                (),
                "reading eviction counts",
            )
        counts = dict.fromkeys(KINDS, 0)
        counts.update({name.removeprefix("evicted_"): int(value) for name, value in rows})
        return counts

    def enforce_caps(self, now_ms: int | None = None) -> dict[str, int]:
        """Apply the age and byte caps now; returns the rows evicted per kind (empty when none).

        Age is judged in insertion order: eviction stops at the first stored row younger than
        ``max_age_s``, so rows stored after a backward step of the clock wait behind it (the byte cap
        still holds). The sender should call this now and then: puts apply the caps, but when no puts
        come (camera stopped, broker down) the age cap would otherwise not run.
        """
        with self._lock:
            evicted = self._enforce_caps_locked(
                _now_ms() if now_ms is None else int(now_ms), raise_errors=True
            )
            if evicted:
                self._report_depth_locked()
        return evicted

    def close(self) -> None:
        """Close the file (the WAL is checkpointed into it). Safe to call twice."""
        with self._lock:
            self._flush_eviction_log()
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._conn is None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"Outbox({str(self.path)!r}, {state}, max_bytes={self.max_bytes}, max_age_s={self.max_age_s})"

    # ------------------------------------------------------------------ caps, depth, logging

    def _oldest_created_ms(self) -> int | None:
        """``created_ms`` of the first row by insertion (what the age cap looks at)."""
        rows = self._query("SELECT created_ms FROM outbox ORDER BY id LIMIT 1", (), "reading the oldest row")
        return int(rows[0][0]) if rows else None

    def _depth_locked(self) -> OutboxDepth:
        rows_by_kind = {kind: self._rows[kind] for kind in KINDS}
        bytes_by_kind = {kind: self._bytes[kind] for kind in KINDS}
        return OutboxDepth(
            rows=sum(self._rows.values()),
            bytes=sum(self._bytes.values()),
            oldest_created_ms=self._oldest_created_ms(),
            rows_by_kind=rows_by_kind,
            bytes_by_kind=bytes_by_kind,
        )

    def _report_depth_locked(self) -> None:
        if self._metrics is not None:
            self._metrics.set_depth("outbox", sum(self._rows.values()))
            self._metrics.set_depth("outbox_bytes", sum(self._bytes.values()))

    def _enforce_caps_locked(self, now_ms: int, *, raise_errors: bool) -> dict[str, int]:
        """Evict by age, then by bytes in :data:`EVICTION_ORDER`; count, persist and log it.

        Age is judged in insertion order: eviction stops at the first row younger than the cap, so
        a row stored after a backward clock step waits behind it (the byte cap still holds).
        """
        cutoff = now_ms - int(self.max_age_s * 1000)
        try:
            oldest = self._oldest_created_ms()
            if sum(self._bytes.values()) <= self.max_bytes and (oldest is None or oldest >= cutoff):
                return {}
            by_age: Counter[str] = Counter()
            by_bytes: Counter[str] = Counter()
            freed: Counter[str] = Counter()
            with self._transaction("evicting rows over the caps") as conn:
                after = -1
                while oldest is not None and oldest < cutoff:
                    batch = conn.execute(
                        "SELECT id, kind, size, created_ms FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                        (after, _EVICT_BATCH),
                    ).fetchall()
                    stale = batch[: next((k for k, row in enumerate(batch) if row[3] >= cutoff), len(batch))]
                    if not stale:
                        break
                    after = stale[-1][0]
                    conn.execute("DELETE FROM outbox WHERE id <= ?", (after,))
                    for _, kind, size, _ in stale:
                        by_age[kind] += 1
                        freed[kind] += size
                    if len(stale) < len(batch) or len(batch) < _EVICT_BATCH:
                        break
                excess = sum(self._bytes.values()) - sum(freed.values()) - self.max_bytes
                for kind in EVICTION_ORDER:
                    while excess > 0:
                        batch = conn.execute(
                            "SELECT id, size FROM outbox WHERE kind = ? ORDER BY id LIMIT ?",
                            (kind, _EVICT_BATCH),
                        ).fetchall()
                        if not batch:
                            break
                        last_id = batch[0][0]
                        for row_id, size in batch:
                            last_id, excess = row_id, excess - size
                            by_bytes[kind] += 1
                            freed[kind] += size
                            if excess <= 0:
                                break
                        conn.execute("DELETE FROM outbox WHERE kind = ? AND id <= ?", (kind, last_id))
                    if excess <= 0:
                        break
                evicted = by_age + by_bytes
                conn.executemany(
                    "INSERT INTO counters (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                    [(f"evicted_{kind}", n) for kind, n in evicted.items()],
                )
        except OutboxError:
            if raise_errors:
                raise
            log.exception("outbox %s: applying the caps failed; retried at the next put", self.path)
            if self._metrics is not None:
                self._metrics.count("outbox_errors")
            return {}
        for kind, n in evicted.items():
            self._rows[kind] -= n
            self._bytes[kind] -= freed[kind]
            if self._metrics is not None:
                self._metrics.count(f"outbox_evicted_{kind}", n)
        self._unlogged_age.update(by_age)
        self._unlogged_bytes.update(by_bytes)
        if time.monotonic() - self._last_eviction_log >= EVICTION_LOG_INTERVAL_S:
            self._flush_eviction_log()
        return dict(evicted)

    def _flush_eviction_log(self) -> None:
        if not self._unlogged_age and not self._unlogged_bytes:
            return
        log.warning(
            "outbox %s: rows evicted since the last report: over the byte cap of %s: %s; older than "
            "%.1f h: %s",
            self.path,
            _human_bytes(self.max_bytes),
            _counts(self._unlogged_bytes),
            self.max_age_s / 3600.0,
            _counts(self._unlogged_age),
        )
        self._unlogged_age.clear()
        self._unlogged_bytes.clear()
        self._last_eviction_log = time.monotonic()
