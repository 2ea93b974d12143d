"""The sender thread: publishes the outbox's rows and deletes each one when the broker acknowledges it.

One :class:`Sender` thread per camera is the only reader of the outbox (the pipeline only inserts).

Flow
    While connected it keeps up to ``window`` rows *in flight* (published, not yet acknowledged),
    reading the oldest rows not in flight (:meth:`Outbox.pending` with ``exclude``). paho's
    ``on_publish`` (its network thread) only appends ``(mid, ok)`` to a queue and wakes the sender;
    the sender itself maps the mid to its row and deletes acknowledged rows in batches
    (:meth:`Outbox.ack_many`). The mid is recorded by the sender right after ``publish()`` returns,
    and acknowledgements are processed on the same thread only after that, so an ``on_publish``
    that paho runs before ``publish()`` has even returned is handled like any other (no lock is
    held across ``publish()``: paho calls ``on_publish`` under its own message lock, and a lock of
    ours held across ``publish()`` would invert that order and could deadlock).
Acknowledgement
    A QoS 1 row is deleted when its PUBACK arrives; a QoS 0 row (metrics) when paho has written it
    to the socket. A row is never deleted before that. An MQTT 5 PUBACK with a failure reason
    (not authorised, quota exceeded...) keeps the row: it is set aside for ``reject_retry_s`` and
    tried again (counted and logged), so a broker ACL mistake delays data but never drops it; the
    outbox's age cap is what finally removes it.
Reconnects
    paho keeps the in-flight messages of a lost connection and sends them again, oldest first with
    the DUP flag, as soon as the next connection is up; the sender leaves them in flight (so they
    are not published twice by us) and goes on from there. A killed process loses paho's copies,
    not the rows: the next start sends them again from the outbox. Delivery is therefore at least
    once, in order per topic; consumers dedupe on ``(device, seq)``.
Order
    ``in-order``: rows go out strictly by insertion (history first, then live). ``live-first``: at
    every connect the sender notes the newest row id (the *cut*); rows above it are live and go to
    their own topics at once, oldest of them first; rows at or below it are history and go to
    ``<prefix>/backfill/<subtopic>`` (same payload, same seq) at most ``backfill_rate_hz`` per
    second, only when no live row waits.
Encoding (Sparkplug B mode)
    With :attr:`Sender.encode` set, each row is turned into the message to publish just before it
    goes out (so a per-message counter such as Sparkplug's ``seq`` follows the send order), or
    dropped (deleted unsent), or held back (the pass stops); :attr:`Sender.gate` closed stops all
    rows. paho drops QoS 0 messages that were not written when a connection ends, without an
    ``on_publish``: such rows are taken out of flight at the next connect and sent again.
Errors
    A failing outbox (disk full, read-only) never ends the thread: the error is logged (the first
    and then every 30 s), counted (``outbox_errors``), reported through ``on_outbox_error``, and
    the sender retries with backoff. Rows the broker acknowledged but that could not be deleted are
    kept out of the resend until the delete succeeds.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.metrics import PipelineMetrics
from edge.publish.client import MqttClient
from edge.publish.outbox import Outbox, OutboxError, OutboxRow
from edge.publish.topics import Topics

__all__ = ["Encoded", "InFlight", "Sender", "SenderStats"]

log = logging.getLogger(__name__)

_IDLE_WAIT_S = 0.5
_ERROR_LOG_INTERVAL_S = 30.0
_MAX_ERROR_BACKOFF_S = 10.0
_BACKFILL_BURST_S = 0.1  # the backfill may run this far ahead of its rate


@dataclass(frozen=True)
class InFlight:
    """A row published and not yet acknowledged: its id, seq, kind, topic and when it went out."""

    row_id: int
    seq: int
    kind: str
    topic: str
    sent: float
    qos: int = 1


@dataclass(frozen=True)
class Encoded:
    """What :attr:`Sender.encode` makes of a row: the message to publish, or ``drop`` (nothing to
    send: the row is deleted unsent)."""

    topic: str = ""
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    drop: bool = False


@dataclass
class SenderStats:
    """Counters of one sender (since it started)."""

    published: int = 0
    acked: int = 0
    rejected: int = 0
    backfilled: int = 0
    outbox_errors: int = 0
    connections: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return dict(self.__dict__)


class Sender:
    """Publishes stored rows in order with a bounded in-flight window.

    Parameters
    ----------
    outbox
        The store; this thread is its only reader and deleter.
    topics
        The camera's topics (for the backfill topics of ``live-first``).
    window
        The most rows in flight at once (lowered to the broker's *receive maximum* when it
        announces a smaller one).
    order
        ``"in-order"`` or ``"live-first"``.
    backfill_rate_hz
        The cap on backfill messages per second (``live-first``).
    metrics
        Where ``mqtt_published``, ``mqtt_acked``, ``mqtt_rejected``, ``outbox_errors`` are counted
        and the ``inflight`` depth is set.
    reject_retry_s
        How long a row the broker refused waits before it is tried again.
    """

    def __init__(
        self,
        outbox: Outbox,
        topics: Topics,
        *,
        window: int = 20,
        order: str = "in-order",
        backfill_rate_hz: float = 50.0,
        metrics: PipelineMetrics | None = None,
        reject_retry_s: float = 60.0,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if order not in ("in-order", "live-first"):
            raise ValueError(f"order must be in-order or live-first, got {order!r}")
        if backfill_rate_hz <= 0:
            raise ValueError(f"backfill_rate_hz must be positive, got {backfill_rate_hz}")
        self.outbox = outbox
        self.topics = topics
        self.window = int(window)
        self.order = order
        self.backfill_rate_hz = float(backfill_rate_hz)
        self.metrics = metrics
        self.reject_retry_s = reject_retry_s
        self.stats = SenderStats()
        self.client: MqttClient | None = None
        self.on_connected: Callable[[], None] | None = None
        """Called on the sender thread after each new connection, before any row (the birth)."""
        self.on_tick: Callable[[], None] | None = None
        """Called on the sender thread on every loop pass (periodic work: status, metrics)."""
        self.on_outbox_error: Callable[[OutboxError | None], None] | None = None
        """Called with the error when the outbox fails, and with ``None`` when it works again."""
        self.encode: Callable[[OutboxRow, bool], Encoded | None] | None = None
        """``encode(row, backfill)`` on the sender thread just before a row is published: the
        message to send instead of the stored one, ``Encoded(drop=True)``, or ``None`` to hold the
        row and stop the pass (Sparkplug B mode)."""
        self.gate: Callable[[], bool] | None = None
        """Rows are published only while this returns ``True`` (Sparkplug B: births sent, primary
        host online); checked on every pass."""
        self.read_lock = threading.Lock()
        """Held while rows are read: a caller that puts and deletes a row under it (a seq
        reservation) is never seen half done."""
        self._cond = threading.Condition()
        self._acks: deque[tuple[int, bool, str]] = deque()
        self._inflight: dict[int, InFlight] = {}
        self._to_delete: set[int] = set()
        self._parked: dict[int, float] = {}
        self._generation = 0
        self._seen_generation = 0
        self._cut = 0
        self._tokens = 1.0
        self._token_time = time.monotonic()
        self._thread: threading.Thread | None = None
        self._stop = False
        self._dirty = False
        self._drain_deadline = 0.0
        self._failing: OutboxError | None = None
        self._last_error_log = -1e9
        self._backoff = 0.5

    # ------------------------------------------------------------------ wiring

    def attach(self, client: MqttClient) -> None:
        """Use ``client`` for publishing (its callbacks must be :meth:`on_publish` and friends)."""
        self.client = client

    def on_publish(self, mid: int, ok: bool, reason: str) -> None:
        """paho ``on_publish`` (network thread): queue the acknowledgement and wake the sender."""
        with self._cond:
            self._acks.append((mid, ok, reason))
            self._dirty = True
            self._cond.notify()

    def on_connect(self, ok: bool, _reason: str, _properties: dict[str, Any]) -> None:
        """paho ``on_connect``: a new connection starts a new generation (birth, live-first cut)."""
        if ok:
            with self._cond:
                self._generation += 1
                self._dirty = True
                self._cond.notify()

    def on_disconnect(self, _reason: str) -> None:
        """paho ``on_disconnect``: wake the sender so it stops publishing."""
        self.wake()

    def wake(self) -> None:
        """Tell the sender that rows were stored (called by the post handler after a put)."""
        with self._cond:
            self._dirty = True
            self._cond.notify()

    # ------------------------------------------------------------------ state

    @property
    def inflight(self) -> int:
        """Rows published and not yet acknowledged."""
        with self._cond:
            return len(self._inflight)

    @property
    def failing(self) -> OutboxError | None:
        """The outbox error the sender last met, or ``None`` when the outbox works."""
        return self._failing

    def effective_window(self) -> int:
        """The window, capped by the broker's receive maximum."""
        receive_max = self.client.receive_maximum if self.client is not None else None
        return max(1, min(self.window, receive_max)) if receive_max else self.window

    # ------------------------------------------------------------------ thread

    def start(self) -> None:
        """Start the sender thread."""
        if self.client is None:
            raise RuntimeError("attach an MqttClient before starting the sender")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mqtt-sender", daemon=True)
            self._thread.start()

    def stop(self, drain_s: float = 5.0) -> None:
        """Stop after the stored rows are sent and acknowledged, or after ``drain_s`` seconds.

        What is not acknowledged by then stays in the outbox for the next start.
        """
        with self._cond:
            self._stop = True
            self._dirty = True
            self._drain_deadline = time.monotonic() + max(0.0, drain_s)
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(max(0.0, drain_s) + 5.0)
            if self._thread.is_alive():
                log.error("MQTT sender did not stop within %.1f s", drain_s + 5.0)
            self._thread = None

    def _run(self) -> None:
        while True:
            try:
                if self._pass():
                    return
                if self._failing is not None:
                    self.outbox.depth()  # a pass may not have touched the outbox: prove it works
                    self._failing = None
                    self._backoff = 0.5
                    log.info("outbox %s works again", self.outbox.path)
                    if self.on_outbox_error is not None:
                        self.on_outbox_error(None)
            except OutboxError as exc:
                self._outbox_failed(exc)
                with self._cond:
                    if self._stop and time.monotonic() >= self._drain_deadline:
                        return
                    self._cond.wait(self._backoff)
                self._backoff = min(self._backoff * 2, _MAX_ERROR_BACKOFF_S)
            except Exception:
                log.exception("MQTT sender pass failed; retrying in 1 s")
                if self.metrics is not None:
                    self.metrics.count("mqtt_sender_errors")
                with self._cond:
                    if self._stop:
                        return
                    self._cond.wait(1.0)

    def _outbox_failed(self, exc: OutboxError) -> None:
        self.stats.outbox_errors += 1
        if self.metrics is not None:
            self.metrics.count("outbox_errors")
        now = time.monotonic()
        first = self._failing is None
        self._failing = exc
        if first or now - self._last_error_log >= _ERROR_LOG_INTERVAL_S:
            self._last_error_log = now
            log.error(
                "MQTT sender cannot use the outbox (%d errors so far): %s", self.stats.outbox_errors, exc
            )
        if first and self.on_outbox_error is not None:
            try:
                self.on_outbox_error(exc)
            except Exception:
                log.exception("on_outbox_error callback failed")

    def _pass(self) -> bool:
        """One loop pass; ``True`` when the thread should end."""
        with self._cond:
            self._dirty = False
        self._process_acks()
        client = self.client
        assert client is not None
        connected = client.connected
        with self._cond:
            generation = self._generation
            stopping = self._stop
            deadline = self._drain_deadline
        if connected and generation != self._seen_generation:
            self._seen_generation = generation
            self._new_connection()
        if self.on_tick is not None and not stopping:
            self.on_tick()
        open_ = connected and (self.gate is None or self.gate())
        sent, wait_s = self._fill() if open_ else (0, _IDLE_WAIT_S)
        if stopping:
            now = time.monotonic()
            if now >= deadline or not connected:
                return True
            if sent == 0 and not self._inflight and not self._pending_exists():
                return True
        if sent == 0:
            with self._cond:
                if not self._dirty:
                    self._cond.wait(wait_s)
        return False

    def _pending_exists(self) -> bool:
        with self.read_lock:
            return bool(self.outbox.pending(1, exclude=self._excluded()))

    # ------------------------------------------------------------------ acknowledgements

    def flush_acks(self) -> None:
        """Delete the rows acknowledged since the thread ended (call only after :meth:`stop`)."""
        if self._thread is not None:
            raise RuntimeError("flush_acks is for after stop(); the sender thread owns the acks")
        self._process_acks()

    def _process_acks(self) -> None:
        with self._cond:
            acks = list(self._acks)
            self._acks.clear()
        done: list[int] = []
        now = time.monotonic()
        for mid, ok, reason in acks:
            with self._cond:
                entry = self._inflight.pop(mid, None)
            if entry is None:
                continue  # a status or reply published directly, not a row
            if ok:
                done.append(entry.row_id)
                continue
            self.stats.rejected += 1
            if self.metrics is not None:
                self.metrics.count("mqtt_rejected")
            self._parked[entry.row_id] = now + self.reject_retry_s
            log.error(
                "broker refused seq %d on %s: %s; kept in the outbox, retried in %.0f s",
                entry.seq,
                entry.topic,
                reason,
                self.reject_retry_s,
            )
        self._to_delete.update(done)
        self.stats.acked += len(done)
        if self.metrics is not None and done:
            self.metrics.count("mqtt_acked", len(done))
        if self._parked:
            for row_id in [r for r, until in self._parked.items() if until <= now]:
                del self._parked[row_id]
        if self._to_delete:
            self.outbox.ack_many(sorted(self._to_delete))  # OutboxError: kept, excluded, retried
            self._to_delete.clear()
        if self.metrics is not None:
            self.metrics.set_depth("mqtt_inflight", len(self._inflight))

    # ------------------------------------------------------------------ publishing

    def _new_connection(self) -> None:
        self.stats.connections += 1
        self._parked.clear()  # the broker may accept them now
        with self._cond:  # QoS 0 rows paho did not write before the connection ended: send again
            lost = [mid for mid, entry in self._inflight.items() if entry.qos == 0]
            for mid in lost:
                del self._inflight[mid]
        if self.order == "live-first":
            with self.read_lock:
                newest = self.outbox.pending(1, newest_first=True)
            self._cut = newest[0].id if newest else 0
            if newest:
                log.info(
                    "live-first: rows up to id %d are history, replayed to %s",
                    self._cut,
                    self.topics.sub("backfill/..."),
                )
        if self.on_connected is not None:
            self.on_connected()

    def _excluded(self) -> set[int]:
        with self._cond:
            ids = {entry.row_id for entry in self._inflight.values()}
        return ids | self._to_delete | set(self._parked)

    def _fill(self) -> tuple[int, float]:
        """Publish rows up to the window; returns (rows sent, how long to wait when idle)."""
        free = self.effective_window() - len(self._inflight)
        if free <= 0:
            return 0, _IDLE_WAIT_S
        if self.order == "in-order":
            with self.read_lock:
                rows = self.outbox.pending(free, exclude=self._excluded())
            return self._send(rows), _IDLE_WAIT_S
        # live-first
        with self.read_lock:
            newest = self.outbox.pending(free, exclude=self._excluded(), newest_first=True)
        live = [row for row in newest if row.id > self._cut]
        live.reverse()
        sent = self._send(live)
        if len(live) == len(newest) and len(newest) == free:
            return sent, _IDLE_WAIT_S  # the window is full of live rows
        free -= sent
        now = time.monotonic()
        burst = max(1.0, self.backfill_rate_hz * _BACKFILL_BURST_S)
        self._tokens = min(burst, self._tokens + (now - self._token_time) * self.backfill_rate_hz)
        self._token_time = now
        budget = min(free, int(self._tokens))
        if budget <= 0:
            return sent, min(_IDLE_WAIT_S, (1.0 - self._tokens) / self.backfill_rate_hz)
        with self.read_lock:
            history = [r for r in self.outbox.pending(budget, exclude=self._excluded()) if r.id <= self._cut]
        backfilled = self._send(history, backfill=True)
        self._tokens -= backfilled
        return sent + backfilled, _IDLE_WAIT_S if not history else min(
            _IDLE_WAIT_S, 1.0 / self.backfill_rate_hz
        )

    def _send(self, rows: list[OutboxRow], backfill: bool = False) -> int:
        client = self.client
        assert client is not None
        sent = 0
        for row in rows:
            message = Encoded(row.topic, row.payload, row.qos, row.retain)
            properties: dict[str, str] | None = row.properties
            if self.encode is not None:
                encoded = self.encode(row, backfill)
                if encoded is None:
                    break  # held back (the gate closed meanwhile)
                if encoded.drop:
                    self._to_delete.add(row.id)
                    continue
                message, properties = encoded, None
            elif backfill:
                with contextlib.suppress(ValueError):
                    message = Encoded(self.topics.backfill(row.topic), row.payload, row.qos, row.retain)
            topic = message.topic
            ticket = client.publish(
                topic, message.payload, qos=message.qos, retain=message.retain, properties=properties
            )
            if not ticket.queued or ticket.mid is None:
                log.debug("paho did not take seq %d (rc %d); retried", row.seq, ticket.rc)
                break
            with self._cond:
                self._inflight[ticket.mid] = InFlight(
                    row.id, row.seq, row.kind, topic, time.monotonic(), message.qos
                )
            sent += 1
        if sent:
            self.stats.published += sent
            if backfill:
                self.stats.backfilled += sent
            if self.metrics is not None:
                self.metrics.count("mqtt_published", sent)
                if backfill:
                    self.metrics.count("mqtt_backfilled", sent)
        return sent
