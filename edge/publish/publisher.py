"""The camera's MQTT publisher: the pipeline's post handler, the status, metrics and commands.

:class:`Publisher` ties together the outbox, the sender thread, the paho client and the command
handler. The runtime makes one per camera and wires it like this::

    publisher = Publisher.from_config(config, model=ModelInfo(name, version), metrics=metrics,
                                      frame_rate_hz=config.pipeline.rate_hz or config.camera.fps)
    publisher.set_reload_calibration(stage.reload_calibration)   # optional
    publisher.start()                     # connects in the background; a TLS file missing raised already
    run_camera(config, post=[publisher])  # after the measurement stage; __call__ per result
    publisher.stop()                      # drain, offline status, clean disconnect, close outbox

Post handler (:meth:`Publisher.__call__`, the pipeline's post thread)
    Turns the result's measurement into payloads and *only* stores them in the outbox (never
    touches the network): ``slag/thickness`` per frame (or at ``thickness_rate_hz``),
    ``slag/measurement`` when a dip cycle completes, ``weld/result`` per weld measurement. A
    failing outbox (disk full, read-only) is logged (first and then every 30 s), counted
    (``outbox_errors``, ``publish_lost``) and turns the status BAD with the reason; the handler
    never raises for it, so the camera keeps running and recovers by itself when the disk does.
Status (``<prefix>/status``, retained, QoS 1)
    A birth on every connect (online, software and model versions, the metric list with units and
    expected rates, outbox depth and eviction counts), again on the ``rebirth`` command, when the
    outbox starts or stops failing (quality BAD with the reason), and when evictions happened
    (at most once a minute). The last will is the retained offline status (reason
    ``connection lost``); :meth:`Publisher.stop` publishes an offline status itself (reason
    ``clean shutdown``) and then disconnects cleanly, so the broker drops the will.
    Status and replies are published directly (a birth only means something on its connection);
    their ``seq`` is still taken from the outbox counter (a row stored and deleted at once), so
    ``(device, seq)`` stays unique. With a failing outbox they carry ``seq: null``.
Metrics (``<prefix>/metrics``, QoS 0)
    Every ``metrics_interval_s`` through the outbox: the pipeline's figures, the publisher's
    counters, outbox depth and evictions, temperatures.
Sparkplug B (``mode = "sparkplug"``)
    The outbox stores the same JSON rows; :class:`~edge.publish.sparkplug.SparkplugSession`
    encodes each as NDATA/DDATA when the sender publishes it, and takes the place of the status
    (NBIRTH/DBIRTH on connect and rebirth, the NDEATH will with bdSeq, status changes as NDATA).
    The JSON commands stay on ``<prefix>/cmd/...``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from edge.config import MqttSection
from edge.config_loader import ConfigError
from edge.frame import utc_ms
from edge.measure.quality import MeasureQuality
from edge.metrics import PipelineMetrics
from edge.publish import payloads
from edge.publish.client import CONTENT_TYPE_KEY, MqttClient, Will
from edge.publish.commands import Command, CommandError, CommandHandler, Reply
from edge.publish.outbox import Outbox, OutboxError
from edge.publish.payloads import MetricSpec, ModelInfo, PayloadContext
from edge.publish.sender import Sender
from edge.publish.topics import SUBTOPICS, Topics

if TYPE_CHECKING:
    from edge.config import RuntimeConfig
    from edge.pipeline import Result
    from edge.publish.sparkplug import SparkplugSession

__all__ = ["Publisher", "RetryingOutbox", "SnapshotFiles", "make_publisher"]

log = logging.getLogger(__name__)

_ERROR_LOG_INTERVAL_S = 30.0
_EVICTION_STATUS_INTERVAL_S = 60.0


@dataclasses.dataclass(frozen=True)
class SnapshotFiles:
    """What the ``snapshot`` command saved: the frame (PNG) and its overlay (JPEG) with their sha256."""

    frame: payloads.FileRef
    overlay: payloads.FileRef | None
    frame_seq: int


class RetryingOutbox:
    """Stands in for an outbox that could not be opened, and opens it when it can.

    Every outbox call raises the last :class:`OutboxError` (so the publisher reports it like any
    other outbox failure) until an attempt to open succeeds; attempts are made at most every
    ``retry_s`` seconds, on use. From then on every call goes to the real outbox.
    """

    def __init__(self, opener: Callable[[], Outbox], error: OutboxError, retry_s: float = 30.0) -> None:
        self._opener = opener
        self._error = error
        self._retry_s = retry_s
        self._next_try = time.monotonic() + retry_s
        self._real: Outbox | None = None
        self._lock = threading.Lock()
        self.path = error.path

    def _outbox(self) -> Outbox:
        with self._lock:
            if self._real is not None:
                return self._real
            now = time.monotonic()
            if now >= self._next_try:
                self._next_try = now + self._retry_s
                try:
                    self._real = self._opener()
                except OutboxError as exc:
                    self._error = exc
                else:
                    log.info("outbox %s opened", self._real.path)
                    return self._real
            raise self._error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outbox(), name)

    def close(self) -> None:
        """Close the real outbox when it was opened."""
        with self._lock:
            if self._real is not None:
                self._real.close()


class Publisher:
    """Publishes one camera's results over MQTT through the on-disk outbox.

    Parameters
    ----------
    section
        The ``[mqtt]`` config section.
    outbox
        The outbox (or a :class:`RetryingOutbox`); closed in :meth:`stop` when ``own_outbox``.
    device
        The camera id (the payloads' ``device``, the default client id and topic prefix).
    task
        ``"slag"`` or ``"weld"`` (which values the birth lists); ``None`` lists both.
    model
        The model bundle's name and version.
    metrics
        The pipeline's metrics (published on the metrics topic; the publisher counts into it).
    frame_rate_hz
        The expected processed-frame rate, for the birth's metric list (``None``: unknown).
    on_reload_calibration
        Called by the ``reload-calibration`` command; returns whether the new file was taken.
    on_snapshot
        Called (on the command thread) when a ``snapshot`` command arrives; the post handler
        saves the next frame and overlay by itself.
    own_outbox
        Close ``outbox`` in :meth:`stop`.

    Raises
    ------
    ConfigError
        A TLS or password file is missing or unreadable (named in the message).
    """

    def __init__(
        self,
        section: MqttSection,
        outbox: Outbox,
        *,
        device: str,
        task: str | None = None,
        model: ModelInfo | None = None,
        metrics: PipelineMetrics | None = None,
        frame_rate_hz: float | None = None,
        on_reload_calibration: Callable[[], bool] | None = None,
        on_snapshot: Callable[[Command], None] | None = None,
        own_outbox: bool = False,
    ) -> None:
        self.section = section
        self.outbox = outbox
        self.device = device
        self.task = task
        self.metrics = metrics
        self.frame_rate_hz = frame_rate_hz
        self.own_outbox = own_outbox
        self.topics = Topics(section.topic_prefix or device)
        self.ctx = PayloadContext(device, model)
        self.started_ms = utc_ms()
        self.snapshot_requested = threading.Event()
        """Set by the ``snapshot`` command; the post handler saves the next frame and clears it."""
        self._on_reload_calibration = on_reload_calibration
        self._on_snapshot = on_snapshot
        self._snapshot_command: Command | None = None
        self._lock = threading.Lock()
        self._status_reason: str | None = None
        self._put_failing: OutboxError | None = None
        self._put_errors = 0
        self._last_put_error_log = -math.inf
        self._lost = 0
        self._stored = 0
        self._image_errors = 0
        self._skipped = 0
        self._next_thickness: float | None = None
        self._next_metrics = time.monotonic() + section.metrics_interval_s
        self._last_eviction_total: int | None = None
        self._last_eviction_check = time.monotonic()
        self._started = False
        self._stopped = False

        self.sender = Sender(
            outbox,
            self.topics,
            window=section.inflight,
            order=section.order,
            backfill_rate_hz=section.backfill_rate_hz,
            metrics=metrics,
        )
        self.commands = CommandHandler(
            self.topics,
            {
                "rebirth": self._cmd_rebirth,
                "reload-calibration": self._cmd_reload_calibration,
                "snapshot": self._cmd_snapshot,
            },
            self._send_reply,
            metrics,
        )

        self.sparkplug: SparkplugSession | None = None
        if section.mode == "sparkplug":
            try:
                from edge.publish.sparkplug import SparkplugSession
            except ImportError as exc:
                raise ConfigError(f"mqtt.mode: {exc}") from None
            self.sparkplug = SparkplugSession.for_publisher(self)
        spb = self.sparkplug
        on_message = self.commands.on_message
        self.client = MqttClient(
            section if spb is None else spb.client_section(section),
            client_id=section.client_id or device,
            on_connect=self.sender.on_connect,
            on_disconnect=self.sender.on_disconnect,
            on_publish=self.sender.on_publish,
            on_message=on_message if spb is None else spb.message_handler(on_message),
            subscriptions=(self.topics.cmd_filter, *(() if spb is None else spb.subscriptions)),
            metrics=metrics,
        )
        self.sender.attach(self.client)
        self.sender.on_connected = self._on_connected
        self.sender.on_tick = self._tick
        self.sender.on_outbox_error = self._sender_outbox_error
        if spb is not None:
            spb.attach(self.client, self.sender)  # NDEATH will per CONNECT, rows encoded at send time

    @classmethod
    def from_config(
        cls,
        config: RuntimeConfig,
        *,
        model: ModelInfo | None = None,
        metrics: PipelineMetrics | None = None,
        frame_rate_hz: float | None = None,
        on_reload_calibration: Callable[[], bool] | None = None,
        on_snapshot: Callable[[Command], None] | None = None,
        outbox_retry_s: float = 30.0,
    ) -> Publisher:
        """The publisher of a runtime config, with its own outbox (``[outbox]``).

        An outbox that cannot be opened (read-only, disk full, a bad path) does not stop the camera
        (a runtime that exits would only be restarted into the same error): the error is logged,
        the status says BAD with the reason, results are counted as lost, and opening is retried
        every ``outbox_retry_s`` seconds.

        Raises
        ------
        ConfigError
            A TLS or password file is missing or unreadable.
        """
        outbox: Outbox | RetryingOutbox
        try:
            outbox = Outbox.from_config(config.outbox, metrics)
        except OutboxError as exc:
            log.error("the camera runs on without storing results until the outbox opens: %s", exc)
            if metrics is not None:
                metrics.count("outbox_errors")
            outbox = RetryingOutbox(lambda: Outbox.from_config(config.outbox, metrics), exc, outbox_retry_s)
        try:
            return cls(
                config.mqtt,
                outbox,  # type: ignore[arg-type]
                device=config.camera.id,
                task=config.measure.task,
                model=model,
                metrics=metrics,
                frame_rate_hz=frame_rate_hz,
                on_reload_calibration=on_reload_calibration,
                on_snapshot=on_snapshot,
                own_outbox=True,
            )
        except BaseException:
            outbox.close()
            raise

    # ------------------------------------------------------------------ runtime hooks

    def set_model(self, model: ModelInfo | None) -> None:
        """Set the model name/version carried by payloads from now on (and re-announce it)."""
        self.ctx = dataclasses.replace(self.ctx, model=model)
        self.request_status("model changed")

    def set_reload_calibration(self, callback: Callable[[], bool] | None) -> None:
        """Register what ``reload-calibration`` calls (returns whether the new file was taken)."""
        self._on_reload_calibration = callback

    def set_snapshot_callback(self, callback: Callable[[Command], None] | None) -> None:
        """Register a callback for ``snapshot`` commands (the frame is saved by the post handler anyway)."""
        self._on_snapshot = callback

    def request_status(self, reason: str) -> None:
        """Publish the status again soon (from the sender thread)."""
        with self._lock:
            self._status_reason = reason
        self.sender.wake()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Set the last will, start connecting (in the background), the sender and the command thread."""
        if self._started:
            return
        self._started = True
        if self.sparkplug is None:  # (Sparkplug: the NDEATH will is set before every CONNECT)
            will = self._status_message(online=False, reason="connection lost", ts_ms=self.started_ms)
            self.client.set_will(
                Will(self.topics.status, will, qos=1, retain=True, properties=self._props("status"))
            )
        self.commands.start()
        self.sender.start()
        self.client.start()

    def stop(self, drain_s: float = 5.0, offline_timeout_s: float = 3.0) -> None:
        """Stop publishing cleanly.

        Sends what is stored while connected (up to ``drain_s``), publishes the offline status and
        waits for the broker's acknowledgement (up to ``offline_timeout_s``), disconnects cleanly
        (so the broker drops the last will), and closes the outbox when the publisher owns it.
        Rows not acknowledged stay in the outbox for the next start.
        """
        if self._stopped:
            return
        self._stopped = True
        if self._started:
            self.commands.stop(timeout=2.0)
            self.sender.stop(drain_s=drain_s if self.client.connected else 0.0)
            if self.client.connected:
                if self.sparkplug is not None:
                    ticket = self.sparkplug.publish_death()
                else:
                    data = self._status_message(online=False, reason="clean shutdown")
                    ticket = self.client.publish(
                        self.topics.status, data, qos=1, retain=True, properties=self._props("status")
                    )
                if ticket is not None and ticket.info is not None:
                    try:
                        ticket.info.wait_for_publish(offline_timeout_s)
                    except (RuntimeError, ValueError) as exc:
                        log.warning("offline status not acknowledged: %s", exc)
                    if not ticket.info.is_published():
                        log.warning("offline status not acknowledged within %.1f s", offline_timeout_s)
            self.client.stop()
            try:
                self.sender.flush_acks()
            except OutboxError as exc:
                log.warning("last acknowledgements not stored (those rows are sent again): %s", exc)
        if self.own_outbox:
            self.outbox.close()
        log.info(
            "MQTT publisher stopped: %d stored, %d published, %d acknowledged, %d lost to outbox errors",
            self._stored,
            self.sender.stats.published,
            self.sender.stats.acked,
            self._lost,
        )

    def __enter__(self) -> Publisher:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ post handler

    def __call__(self, result: Result) -> None:
        """Store the result's payloads in the outbox (the pipeline's post thread; no network)."""
        if self.snapshot_requested.is_set():
            self._save_snapshot(result)
        measurement = result.measurement
        if measurement is None:
            return
        if hasattr(measurement, "thickness_mm"):
            self._slag(result, measurement)
        elif hasattr(measurement, "area_mm2"):
            self._weld(result, measurement)

    def _weld(self, result: Result, measurement: Any) -> None:
        frame = result.frame
        try:
            payload = payloads.weld_payload(
                self.ctx,
                measurement,
                frame.ts_ms,
                mask=result.weld_mask,
                image=frame.image,
                frame=frame.seq,
                encoding=self.section.mask_encoding,
                max_bytes=self.section.max_payload_bytes,
                image_dir=self.section.image_dir,
                save_image_always=self.section.save_weld_images,
            )
        except OSError as exc:  # the image folder is full or read-only: the geometry still goes out
            self._count("weld_image_errors")
            with self._lock:
                self._image_errors += 1
                errors = self._image_errors
            if errors == 1 or errors % 100 == 0:
                log.error(
                    "weld frame %d: image not saved to %s (%d so far); published without mask: %s",
                    frame.seq,
                    self.section.image_dir,
                    errors,
                    exc,
                )
            payload = payloads.weld_payload(self.ctx, measurement, frame.ts_ms, mask=None, frame=frame.seq)
        self.store(self.topics.weld, payload, kind="mask" if payload["mask"] is not None else "measurement")

    def _slag(self, result: Result, measurement: Any) -> None:
        frame = result.frame
        rate = self.section.thickness_rate_hz
        now = time.monotonic()
        due = self._next_thickness
        if rate is None or due is None or now >= due:
            if rate is not None:
                # Keep the grid of due times; restart it when more than a period late.
                period = 1.0 / rate
                self._next_thickness = (now if due is None or now - due > period else due) + period
            payload = payloads.thickness_payload(self.ctx, measurement, frame.ts_ms, frame=frame.seq)
            self.store(self.topics.thickness, payload, kind="measurement")
        else:
            with self._lock:
                self._skipped += 1
            self._count("thickness_skipped")
        if result.cycle is not None:
            self.store(
                self.topics.measurement,
                payloads.cycle_payload(self.ctx, result.cycle, frame.ts_ms),
                kind="measurement",
            )

    def store(self, topic: str, payload: dict[str, Any], *, kind: str, qos: int = 1) -> int | None:
        """Put one payload (``seq`` filled in by the outbox) and wake the sender.

        Returns the seq, or ``None`` when the outbox failed (logged, counted, status BAD) or the
        payload was refused (larger than the outbox cap).
        """
        schema = payload.get("schema", "")
        try:
            row = self.outbox.put(
                topic,
                lambda seq: payloads.with_seq(payload, seq),
                kind=kind,
                qos=qos,
                properties={CONTENT_TYPE_KEY: payloads.CONTENT_TYPE, "schema": schema, "device": self.device},
            )
        except OutboxError as exc:
            self._put_failed(exc)
            return None
        except ValueError as exc:  # larger than the outbox's byte cap
            with self._lock:
                self._lost += 1
            self._count("publish_lost")
            log.error("%s payload not stored: %s", schema, exc)
            return None
        with self._lock:
            self._stored += 1
        if self.sparkplug is not None:
            self.sparkplug.observe(payload)  # the births carry the newest values
        if self._put_failing is not None:
            with self._lock:
                self._put_failing = None
            log.info("outbox %s accepts rows again", self.outbox.path)
            if self.sender.failing is None:
                self.request_status("outbox works again")
        self.sender.wake()
        return row.seq

    def _put_failed(self, exc: OutboxError) -> None:
        now = time.monotonic()
        with self._lock:
            self._lost += 1
            self._put_errors += 1
            first = self._put_failing is None
            self._put_failing = exc
        self._count("outbox_errors")
        self._count("publish_lost")
        if first or now - self._last_put_error_log >= _ERROR_LOG_INTERVAL_S:
            self._last_put_error_log = now
            log.error("result not stored, the camera keeps running (%d lost so far): %s", self._lost, exc)
        if first:
            self.request_status("outbox failing")

    def _count(self, name: str, amount: int = 1) -> None:
        if self.metrics is not None:
            self.metrics.count(name, amount)

    def _sender_outbox_error(self, exc: OutboxError | None) -> None:
        if exc is not None:
            self.request_status("outbox failing")
        elif self._put_failing is None:
            self.request_status("outbox works again")

    # ------------------------------------------------------------------ snapshot

    def _save_snapshot(self, result: Result) -> None:
        with self._lock:
            command = self._snapshot_command
            self._snapshot_command = None
        self.snapshot_requested.clear()
        frame = result.frame
        folder = Path(self.section.snapshot_dir)
        stem = f"{self.device}_{frame.ts_ms}_f{frame.seq:08d}"
        try:
            ok, png = cv2.imencode(".png", frame.image)
            if not ok:
                raise OSError("PNG encoding failed")
            frame_ref = payloads.save_image(
                folder / f"{stem}_frame.png", png.tobytes(), "png", frame.image.shape[:2]
            )
            overlay_ref = None
            try:
                from edge.camera import measurement_text
                from edge.overlay import draw_overlay

                text = measurement_text(result)
                drawn = draw_overlay(
                    frame.image, np.asarray(result.classes), [f"#{frame.seq}", text] if text else None
                )
                ok, jpg = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, 90])
                if ok:
                    overlay_ref = payloads.save_image(
                        folder / f"{stem}_overlay.jpg", jpg.tobytes(), "jpeg", drawn.shape[:2]
                    )
            except Exception as exc:  # the frame alone is still a snapshot
                log.warning("snapshot overlay of frame %d not drawn: %s", frame.seq, exc)
            files = SnapshotFiles(frame_ref, overlay_ref, frame.seq)
        except OSError as exc:
            log.error("snapshot of frame %d not saved to %s: %s", frame.seq, folder, exc)
            if command is not None:
                self._send_reply(
                    Reply(
                        self.commands.reply_topic(command),
                        "snapshot",
                        False,
                        command.request_id,
                        None,
                        f"snapshot not saved: {exc}",
                        command.correlation,
                    )
                )
            return
        log.info("snapshot of frame %d saved to %s", frame.seq, folder)
        if command is not None:
            result_payload = {
                "frame": files.frame.as_payload(),
                "overlay": None if files.overlay is None else files.overlay.as_payload(),
                "frame_seq": files.frame_seq,
                "ts": frame.ts_ms,
            }
            self._send_reply(
                Reply(
                    self.commands.reply_topic(command),
                    "snapshot",
                    True,
                    command.request_id,
                    result_payload,
                    None,
                    command.correlation,
                )
            )

    # ------------------------------------------------------------------ commands

    def _cmd_rebirth(self, _command: Command) -> dict[str, Any]:
        self.request_status("rebirth")
        return {"rebirth": True}

    def _cmd_reload_calibration(self, _command: Command) -> Any:
        callback = self._on_reload_calibration
        if callback is None:
            raise CommandError("this camera has no calibration to reload (no callback registered)")
        taken = bool(callback())
        if not taken:
            raise CommandError(
                "the calibration file was not taken; the previous calibration is kept (see the log)"
            )
        return {"reloaded": True}

    def _cmd_snapshot(self, command: Command) -> dict[str, Any]:
        with self._lock:
            self._snapshot_command = command
        self.snapshot_requested.set()
        if self._on_snapshot is not None:
            self._on_snapshot(command)
        return {"pending": True, "folder": str(self.section.snapshot_dir)}

    def _send_reply(self, reply: Reply) -> None:
        payload = payloads.reply_payload(
            self.ctx,
            utc_ms(),
            command=reply.command,
            ok=reply.ok,
            request_id=reply.request_id,
            result=reply.result,
            error=reply.error,
        )
        data = self._reserve(reply.topic, payload, kind="event", retain=False)
        self.client.publish(
            reply.topic,
            data,
            qos=1,
            retain=False,
            properties=self._props("reply"),
            correlation=reply.correlation,
        )

    # ------------------------------------------------------------------ status and metrics

    def _props(self, kind: str) -> dict[str, str]:
        return {
            CONTENT_TYPE_KEY: payloads.CONTENT_TYPE,
            "schema": payloads.SCHEMAS[kind],
            "device": self.device,
        }

    def _reserve(self, topic: str, payload: dict[str, Any], *, kind: str, retain: bool) -> bytes:
        """``payload`` encoded with a seq taken from the outbox counter (``null`` when it fails)."""
        with self.sender.read_lock:
            try:
                row = self.outbox.put(
                    topic, lambda seq: payloads.with_seq(payload, seq), kind=kind, qos=1, retain=retain
                )
            except OutboxError as exc:
                log.debug("no seq for %s (outbox failing): %s", topic, exc)
                return payloads.encode(payload)
            try:
                self.outbox.ack(row.id)
            except OutboxError as exc:
                log.warning("reserved seq %d not released (it is sent again later): %s", row.seq, exc)
        return row.payload

    def outbox_summary(self) -> dict[str, Any]:
        """Outbox depth, evictions and errors as the status and metrics carry them."""
        failing = self._put_failing or self.sender.failing
        summary: dict[str, Any] = {
            "rows": 0,
            "bytes": 0,
            "oldest_ts": None,
            "by_kind": {},
            "evictions": {},
            "errors": self._put_errors + self.sender.stats.outbox_errors,
            "failing": None if failing is None else str(failing),
        }
        try:
            depth = self.outbox.depth()
            summary.update(
                rows=depth.rows,
                bytes=depth.bytes,
                oldest_ts=depth.oldest_created_ms,
                by_kind={k: v for k, v in depth.rows_by_kind.items() if v},
                evictions=self.outbox.evictions,
            )
        except OutboxError as exc:
            summary["failing"] = summary["failing"] or str(exc)
        return summary

    def metric_specs(self) -> list[MetricSpec]:
        """What the birth lists: each published value with its unit and expected rate."""
        frame_rate = self.frame_rate_hz
        thickness_rate = frame_rate
        if self.section.thickness_rate_hz is not None:
            thickness_rate = (
                self.section.thickness_rate_hz
                if frame_rate is None
                else min(frame_rate, self.section.thickness_rate_hz)
            )
        specs: list[MetricSpec] = []
        if self.task in (None, "slag"):
            thick = SUBTOPICS["thickness"]
            specs += [
                MetricSpec(thick, "thickness_mm", "mm", thickness_rate),
                MetricSpec(thick, "p10_mm", "mm", thickness_rate),
                MetricSpec(thick, "p90_mm", "mm", thickness_rate),
                MetricSpec(thick, "coverage", "", thickness_rate),
                MetricSpec(thick, "confidence", "", thickness_rate),
                MetricSpec(thick, "lines", "", thickness_rate, "int"),
            ]
            cycle = SUBTOPICS["measurement"]
            specs += [
                MetricSpec(cycle, "thickness_mm", "mm", None),
                MetricSpec(cycle, "spread_mm", "mm", None),
                MetricSpec(cycle, "std_mm", "mm", None),
                MetricSpec(cycle, "frames", "", None, "int"),
            ]
        if self.task in (None, "weld"):
            weld = SUBTOPICS["weld"]
            specs += [
                MetricSpec(weld, "area_mm2", "mm2", frame_rate),
                MetricSpec(weld, "width_mm", "mm", frame_rate),
                MetricSpec(weld, "depth_mm", "mm", frame_rate),
                MetricSpec(weld, "mask", "", frame_rate, "object"),
            ]
        rate = 1.0 / self.section.metrics_interval_s
        specs += [
            MetricSpec(SUBTOPICS["metrics"], "pipeline.fps", "1/s", rate),
            MetricSpec(SUBTOPICS["metrics"], "pipeline.latency_ms", "ms", rate, "object"),
            MetricSpec(SUBTOPICS["metrics"], "outbox.rows", "", rate, "int"),
            MetricSpec(SUBTOPICS["metrics"], "temperatures_c", "degC", rate, "object"),
        ]
        return specs

    def status_payload(self, *, online: bool, reason: str, ts_ms: int | None = None) -> dict[str, Any]:
        """The status payload now (``seq`` not yet filled in)."""
        outbox = self.outbox_summary()
        quality = None
        if online and outbox["failing"]:
            quality = MeasureQuality.bad(f"outbox failing: {outbox['failing']}").as_payload()
        return payloads.status_payload(
            self.ctx,
            utc_ms() if ts_ms is None else ts_ms,
            online=online,
            reason=reason,
            task=self.task,
            protocol=self.section.protocol,
            started_ts=self.started_ms,
            metrics=self.metric_specs(),
            outbox=outbox,
            quality=quality,
            topics={
                "status": self.topics.status,
                "thickness": self.topics.thickness,
                "measurement": self.topics.measurement,
                "weld": self.topics.weld,
                "metrics": self.topics.metrics,
                "commands": self.topics.cmd_filter,
                "reply": self.topics.reply,
                "backfill": self.topics.sub("backfill/#"),
            },
        )

    def _status_message(self, *, online: bool, reason: str, ts_ms: int | None = None) -> bytes:
        payload = self.status_payload(online=online, reason=reason, ts_ms=ts_ms)
        return self._reserve(self.topics.status, payload, kind="status", retain=True)

    def publish_status(self, reason: str) -> None:
        """Publish the birth/status now (retained, QoS 1; called on the sender thread).

        Sparkplug: the births (``birth``, ``rebirth``), or an NDATA of the changed status values.
        """
        if self.sparkplug is not None:
            self.sparkplug.on_status(reason)
            return
        data = self._status_message(online=True, reason=reason)
        self.client.publish(self.topics.status, data, qos=1, retain=True, properties=self._props("status"))
        log.info("status published (%s)", reason)

    def _on_connected(self) -> None:
        with self._lock:
            self._status_reason = None
        self.publish_status("birth")

    def _tick(self) -> None:
        if self.sparkplug is not None:
            self.sparkplug.service()  # births due after a connect, a rebirth request or STATE online
        with self._lock:
            reason = self._status_reason
            if reason is not None and self.client.connected:
                self._status_reason = None
        now = time.monotonic()
        if reason is None and now - self._last_eviction_check >= _EVICTION_STATUS_INTERVAL_S:
            self._last_eviction_check = now
            try:
                total = sum(self.outbox.evictions.values())
            except OutboxError:
                total = self._last_eviction_total
            if self._last_eviction_total is not None and total != self._last_eviction_total:
                reason = "outbox evictions"
            self._last_eviction_total = total
        if reason is not None and self.client.connected:
            self.publish_status(reason)
        if now >= self._next_metrics:
            self._next_metrics = now + self.section.metrics_interval_s
            self.publish_metrics()

    def publish_metrics(self) -> None:
        """Store one metrics message (QoS 0) in the outbox."""
        payload = payloads.metrics_payload(
            self.ctx,
            utc_ms(),
            pipeline=None if self.metrics is None else self.metrics.snapshot(),
            publish=self.counters(),
            outbox=self.outbox_summary(),
            temperatures=payloads.read_temperatures(),
        )
        self.store(self.topics.metrics, payload, kind="metrics", qos=0)

    def counters(self) -> dict[str, Any]:
        """The publisher's counters (for metrics, logs and tests)."""
        return {
            "connected": self.client.connected,
            "connects": self.client.connects,
            "stored": self._stored,
            "lost": self._lost,
            "thickness_skipped": self._skipped,
            "inflight": self.sender.inflight,
            "commands": self.commands.handled,
            "commands_failed": self.commands.failed,
            "last_error": self.client.last_error,
            **self.sender.stats.as_dict(),
        }


def make_publisher(
    config: RuntimeConfig,
    *,
    model: ModelInfo | None = None,
    metrics: PipelineMetrics | None = None,
    frame_rate_hz: float | None = None,
) -> Publisher | None:
    """The camera's publisher (not started), or ``None`` when ``mqtt.enabled`` is false.

    ``frame_rate_hz`` defaults to ``pipeline.rate_hz``, else ``camera.fps`` (for the birth's rates).

    Raises
    ------
    ConfigError
        A TLS or password file is missing or unreadable.
    """
    if not config.mqtt.enabled:
        log.info("MQTT publishing is off (mqtt.enabled = false)")
        return None
    rate = frame_rate_hz if frame_rate_hz is not None else (config.pipeline.rate_hz or config.camera.fps)
    return Publisher.from_config(config, model=model, metrics=metrics, frame_rate_hz=rate)
