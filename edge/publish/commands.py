"""Commands from SCADA on ``<prefix>/cmd/<name>`` and their replies (contract 3).

A command is a message on ``<prefix>/cmd/<name>`` whose payload is empty or a JSON object; an
``id`` field (string or number) is echoed in the reply so the caller can match it. Every command,
good or bad, is answered with a ``cmd.reply/1`` payload on ``<prefix>/cmd/reply`` (or, with
MQTT 5, on the command's *response topic*, with its *correlation data*):

``rebirth``
    Publish the status (birth) again. ``result``: ``{"rebirth": true}``.
``reload-calibration``
    Reload the calibration file (the callback the runtime registers); ``ok`` is its boolean
    result, ``error`` says the old calibration was kept when it is ``False``.
``snapshot``
    Save the next frame and its overlay (a flag the post handler reads, and the runtime's callback
    when one is registered). The first reply says it is pending; a second reply with the same
    ``id`` carries the saved files' paths and sha256.

A payload that is not JSON, not an object, a command name that is unknown (or a handler that
raises) gets ``ok: false`` with the reason in ``error``; nothing of it reaches the pipeline.
Commands run one at a time on their own thread (never on paho's network thread), from a bounded
queue; when the queue is full the command is dropped, logged and counted.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.metrics import PipelineMetrics
from edge.publish.topics import REPLY_NAME, Topics

__all__ = ["COMMANDS", "Command", "CommandError", "CommandHandler", "Reply", "parse_command"]

log = logging.getLogger(__name__)

COMMANDS = ("rebirth", "reload-calibration", "snapshot")
"""The command names the camera knows."""

_MAX_PAYLOAD = 64 * 1024
_QUEUE_SIZE = 32


class CommandError(ValueError):
    """A command that cannot be carried out; the message goes into the reply's ``error``."""


@dataclass(frozen=True)
class Command:
    """One parsed command.

    ``name`` is the last topic level (``None`` when the topic holds none); ``args`` the JSON object
    (empty for an empty payload); ``request_id`` the ``id`` field; ``response_topic`` and
    ``correlation`` the MQTT 5 request/response properties; ``error`` why it cannot run (then the
    reply is an error).
    """

    name: str | None
    args: dict[str, Any]
    request_id: Any = None
    response_topic: str | None = None
    correlation: bytes | None = None
    error: str | None = None


@dataclass(frozen=True)
class Reply:
    """The answer to send: to ``topic``, for ``command``."""

    topic: str
    command: str | None
    ok: bool
    request_id: Any = None
    result: Any = None
    error: str | None = None
    correlation: bytes | None = None


def parse_command(topics: Topics, topic: str, payload: bytes, properties: Any = None) -> Command | None:
    """Turn a received message into a :class:`Command` (``None`` for messages that are not commands).

    Never raises: a malformed command comes back with ``error`` set.
    """
    name = topics.command_name(topic)
    if name is None or name == REPLY_NAME:
        return None
    response_topic = getattr(properties, "ResponseTopic", None) if properties is not None else None
    correlation = getattr(properties, "CorrelationData", None) if properties is not None else None
    if response_topic is not None and (not response_topic or any(c in response_topic for c in "#+")):
        response_topic = None
    base = {"response_topic": response_topic, "correlation": correlation}
    if not name:
        return Command(None, {}, error="no command name after cmd/", **base)
    if len(payload) > _MAX_PAYLOAD:
        return Command(
            name, {}, error=f"payload of {len(payload)} bytes is larger than {_MAX_PAYLOAD}", **base
        )
    args: Any = {}
    if payload.strip():
        try:
            args = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return Command(name, {}, error=f"payload is not valid JSON: {exc}", **base)
    if not isinstance(args, dict):
        return Command(name, {}, error=f"payload must be a JSON object, got {type(args).__name__}", **base)
    request_id = args.get("id")
    if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, str | int)):
        request_id = json.dumps(request_id)
    if name not in COMMANDS:
        return Command(
            name, args, request_id, error=f"unknown command {name!r}; known: {', '.join(COMMANDS)}", **base
        )
    return Command(name, args, request_id, **base)


class CommandHandler:
    """Runs commands on a worker thread and hands each reply to ``send_reply``.

    Parameters
    ----------
    topics
        The camera's topics (command names come from ``<prefix>/cmd/<name>``).
    handlers
        ``name -> handler(command) -> result`` for the names in :data:`COMMANDS`; a handler returns
        the reply's ``result`` (JSON-ready), raises :class:`CommandError` for a refusal, or returns
        a :class:`Reply` itself. A missing handler answers "not available on this camera".
    send_reply
        Publishes a :class:`Reply` (called on the worker thread).
    metrics
        Where commands and their failures are counted.
    """

    def __init__(
        self,
        topics: Topics,
        handlers: Mapping[str, Callable[[Command], Any]],
        send_reply: Callable[[Reply], None],
        metrics: PipelineMetrics | None = None,
    ) -> None:
        self.topics = topics
        self.handlers = dict(handlers)
        self.send_reply = send_reply
        self.metrics = metrics
        self._queue: queue.Queue[Command | None] = queue.Queue(maxsize=_QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self.handled = 0
        self.failed = 0
        self.dropped = 0

    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mqtt-commands", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Let the queued commands finish (up to ``timeout`` s) and end the worker."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("command queue still full at shutdown; %d command(s) not run", self._queue.qsize())
        self._thread.join(timeout)
        self._thread = None

    def on_message(self, topic: str, payload: bytes, properties: Any = None) -> None:
        """paho's ``on_message`` (network thread): parse and queue; never blocks, never raises."""
        command = parse_command(self.topics, topic, payload, properties)
        if command is None:
            return
        try:
            self._queue.put_nowait(command)
        except queue.Full:
            self.dropped += 1
            if self.metrics is not None:
                self.metrics.count("commands_dropped")
            log.warning("command %r dropped: %d commands are already waiting", command.name, _QUEUE_SIZE)

    def reply_topic(self, command: Command) -> str:
        """Where the answer to ``command`` goes."""
        return command.response_topic or self.topics.reply

    def execute(self, command: Command) -> Reply:
        """Run one command and build its reply (never raises)."""
        topic = self.reply_topic(command)

        def fail(error: str) -> Reply:
            return Reply(topic, command.name, False, command.request_id, None, error, command.correlation)

        if command.error is not None:
            return fail(command.error)
        handler = self.handlers.get(command.name or "")
        if handler is None:
            return fail(f"command {command.name!r} is not available on this camera")
        try:
            result = handler(command)
        except CommandError as exc:
            return fail(str(exc))
        except Exception as exc:
            log.exception("command %r failed", command.name)
            return fail(f"command {command.name!r} failed: {exc}")
        if isinstance(result, Reply):
            return result
        return Reply(topic, command.name, True, command.request_id, result, None, command.correlation)

    def _run(self) -> None:
        while True:
            command = self._queue.get()
            if command is None:
                return
            reply = self.execute(command)
            self.handled += 1
            if not reply.ok:
                self.failed += 1
                if self.metrics is not None:
                    self.metrics.count("commands_failed")
                log.warning("command %r answered with an error: %s", command.name, reply.error)
            else:
                log.info("command %r done", command.name)
            if self.metrics is not None:
                self.metrics.count("commands")
            try:
                self.send_reply(reply)
            except Exception:
                log.exception("reply to command %r not sent", command.name)
