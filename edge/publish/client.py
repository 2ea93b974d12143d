"""The MQTT connection: a thin wrapper round a paho-mqtt 2.x client (``CallbackAPIVersion.VERSION2``).

:class:`MqttClient` turns the ``[mqtt]`` config section into a paho client and owns its network
thread:

* MQTT 5 by default, 3.1.1 as an option (``mqtt.protocol``); client id from the camera id unless
  ``mqtt.client_id`` is set; ``clean_start`` and a session expiry (MQTT 5) so the command
  subscription survives reconnects; keepalive.
* TLS with the broker's CA (``ca_file``) and optionally a client certificate (``cert_file`` /
  ``key_file``); username and password (read from ``password_file``). Every file is checked when
  the client is made: a missing or unreadable one is a :class:`~edge.config_loader.ConfigError`
  naming the key and the file. The password is never logged, and nor is the file's content.
* The last will (retained offline status) is set before the first connect.
* Reconnects: paho's own loop thread (``loop_start``) retries from the first connect on, waiting
  ``reconnect_min_s`` doubling up to ``reconnect_max_s``. A refused CONNACK (bad password, not
  authorised...) is logged with its reason code and kept in :attr:`MqttClient.last_error`.
* Callbacks never raise into paho's loop: each is wrapped, and an exception is logged (the first
  few and then every 100th) and counted as ``mqtt_callback_errors``.

The client knows nothing about the outbox: the sender (:mod:`edge.publish.sender`) publishes through
:meth:`MqttClient.publish` and learns about acknowledgements from the ``on_publish`` callback.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.config import MqttSection
from edge.config_loader import ConfigError
from edge.metrics import PipelineMetrics

__all__ = ["MqttClient", "PublishTicket", "Will", "read_password_file", "user_properties"]

log = logging.getLogger(__name__)
_PAHO_LOG = logging.getLogger("edge.publish.paho")

CONTENT_TYPE_KEY = "content_type"
"""The key of an outbox row's properties that becomes the MQTT 5 content type (not a user property)."""

_MAX_PASSWORD_BYTES = 65535


@dataclass(frozen=True)
class Will:
    """The last will: what the broker publishes when the camera vanishes without a clean disconnect."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True
    properties: Mapping[str, str] | None = None


@dataclass(frozen=True)
class PublishTicket:
    """What :meth:`MqttClient.publish` hands back.

    ``mid`` is paho's message id (``None`` when the message was not taken); ``queued`` is ``True``
    when paho holds the message (sent now, or at the next connect when offline); ``info`` is paho's
    ``MQTTMessageInfo`` (``wait_for_publish``), ``None`` when not taken.
    """

    mid: int | None
    queued: bool
    rc: int
    info: Any = None


def read_password_file(path: Path) -> str:
    """The password in ``path`` (one line; a trailing newline is dropped).

    Raises
    ------
    ConfigError
        When the file is missing, unreadable, empty or too long; the message names the file, never
        its content.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"mqtt.password_file: file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"mqtt.password_file: cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"mqtt.password_file: {path} is not UTF-8 text") from None
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise ConfigError(f"mqtt.password_file: {path} is empty; it must hold the password")
    if len(password.encode()) > _MAX_PASSWORD_BYTES or "\n" in password:
        raise ConfigError(
            f"mqtt.password_file: {path} must hold one line (the password) of at most 65535 bytes"
        )
    return password


def _check_file(key: str, path: Path | None) -> str | None:
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"mqtt.{key}: file not found: {path}")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"mqtt.{key}: file not readable by this user: {path}")
    return str(path)


def user_properties(
    properties: Mapping[str, str] | None, packet: int = PacketTypes.PUBLISH
) -> Properties | None:
    """MQTT 5 properties of a message: ``content_type`` becomes the content type (with payload
    format UTF-8 for JSON), every other key a user property."""
    if not properties:
        return None
    props = Properties(packet)
    users = []
    for key, value in properties.items():
        if key == CONTENT_TYPE_KEY:
            props.ContentType = value
            if value.startswith(("application/json", "text/")):
                props.PayloadFormatIndicator = 1
        else:
            users.append((key, value))
    if users:
        props.UserProperty = users
    return props


class MqttClient:
    """One MQTT connection for one camera.

    Parameters
    ----------
    section
        The ``[mqtt]`` config section.
    client_id
        The MQTT client id (the camera id unless the config names one).
    will
        The last will, set before the first connect.
    on_connect
        ``on_connect(ok, reason, properties)`` after each CONNACK (``properties``: a dict of the
        CONNACK's MQTT 5 properties, e.g. ``ReceiveMaximum``).
    on_disconnect
        ``on_disconnect(reason)`` when the connection is lost or closed.
    on_publish
        ``on_publish(mid, ok, reason)`` when the broker acknowledged a QoS 1 message, or a QoS 0
        message was written to the socket (``ok`` is ``False`` for an MQTT 5 failure reason code).
    on_message
        ``on_message(topic, payload, properties)`` for every message received (``properties``: the
        MQTT 5 publish properties or ``None``).
    subscriptions
        Topic filters subscribed (QoS 1; MQTT 5 with *no local*) after every connect.
    metrics
        Where connects, disconnects and callback errors are counted.

    Raises
    ------
    ConfigError
        A TLS or password file is missing or unreadable (the message names the key and the file).
    """

    def __init__(
        self,
        section: MqttSection,
        *,
        client_id: str,
        will: Will | None = None,
        on_connect: Callable[[bool, str, dict[str, Any]], None] | None = None,
        on_disconnect: Callable[[str], None] | None = None,
        on_publish: Callable[[int, bool, str], None] | None = None,
        on_message: Callable[[str, bytes, Any], None] | None = None,
        subscriptions: tuple[str, ...] = (),
        metrics: PipelineMetrics | None = None,
    ) -> None:
        if not client_id:
            raise ConfigError("mqtt.client_id: the client id must not be empty")
        self.section = section
        self.client_id = client_id
        self.v5 = section.protocol == "5"
        self.metrics = metrics
        self.subscriptions = tuple(subscriptions)
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._on_publish = on_publish
        self._on_message = on_message
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._callback_failures = 0
        self._refusals = 0
        self._connect_failures = 0
        self._started = False
        self._stopped = False
        self.last_error: str | None = None
        self.connects = 0
        self.receive_maximum: int | None = None

        ca = _check_file("ca_file", section.ca_file)
        cert = _check_file("cert_file", section.cert_file)
        key = _check_file("key_file", section.key_file)
        password = read_password_file(section.password_file) if section.password_file is not None else None

        protocol = paho.MQTTv5 if self.v5 else paho.MQTTv311
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=None if self.v5 else section.clean_start,
            protocol=protocol,
            reconnect_on_failure=True,
        )
        client.suppress_exceptions = True  # a second guard behind our own wrappers
        client.on_log = self._paho_log
        client.reconnect_delay_set(section.reconnect_min_s, section.reconnect_max_s)  # type: ignore[arg-type]
        client.max_inflight_messages_set(section.inflight + 16)  # room for status and replies
        client.max_queued_messages_set(0)
        if ca is not None:
            try:
                client.tls_set(ca_certs=ca, certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED)
            except (ssl.SSLError, OSError) as exc:
                files = ", ".join(f for f in (ca, cert, key) if f)
                raise ConfigError(f"mqtt TLS files ({files}) cannot be used: {exc}") from None
        if section.username is not None:
            client.username_pw_set(section.username, password)
        client.on_connect = self._guard("on_connect", self._handle_connect)
        client.on_disconnect = self._guard("on_disconnect", self._handle_disconnect)
        client.on_publish = self._guard("on_publish", self._handle_publish)
        client.on_message = self._guard("on_message", self._handle_message)
        client.on_connect_fail = self._guard("on_connect_fail", self._handle_connect_fail)
        client.on_subscribe = self._guard("on_subscribe", self._handle_subscribe)
        self._client = client
        if will is not None:
            self.set_will(will)

    def set_will(self, will: Will) -> None:
        """Set the last will (before :meth:`start`)."""
        if self._started:
            raise RuntimeError("the last will must be set before the client starts")
        self._client.will_set(
            will.topic,
            will.payload,
            qos=will.qos,
            retain=will.retain,
            properties=user_properties(will.properties, PacketTypes.WILLMESSAGE) if self.v5 else None,
        )

    # ------------------------------------------------------------------ control

    @property
    def broker(self) -> str:
        """``host:port`` (with ``tls`` when TLS is on), for messages."""
        tls = " (TLS)" if self.section.ca_file is not None else ""
        return f"{self.section.host}:{self.section.port}{tls}"

    @property
    def connected(self) -> bool:
        """Whether the broker accepted the current connection."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a connection; ``True`` when connected."""
        return self._connected.wait(timeout)

    def start(self) -> None:
        """Start connecting in paho's network thread (returns at once; a broker that is down is retried)."""
        if self._started:
            return
        self._started = True
        properties = None
        if self.v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = int(self.section.session_expiry_s)
        log.info(
            "MQTT %s: connecting to %s as %r (clean start %s%s)",
            self.section.protocol,
            self.broker,
            self.client_id,
            self.section.clean_start,
            f", session expiry {self.section.session_expiry_s} s" if self.v5 else "",
        )
        self._client.connect_async(
            self.section.host,
            self.section.port,
            keepalive=self.section.keepalive_s,
            clean_start=self.section.clean_start if self.v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly (the broker then drops the last will) and end the network thread."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._client.disconnect()
        except Exception as exc:  # already closed: nothing to tell the broker
            log.debug("MQTT disconnect: %s", exc)
        # Joins paho's thread: it ends once the DISCONNECT is written (or at once when offline).
        self._client.loop_stop()
        self._connected.clear()

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        properties: Mapping[str, str] | None = None,
        correlation: bytes | None = None,
    ) -> PublishTicket:
        """Hand one message to paho.

        ``properties`` become MQTT 5 properties (:func:`user_properties`), ``correlation`` the
        correlation data of a reply (both ignored with MQTT 3.1.1). A message published while
        disconnected is kept by paho (``queued``) and sent when the connection is back; its
        ``on_publish`` then comes as usual.
        """
        props = user_properties(properties) if self.v5 else None
        if correlation is not None and self.v5:
            props = props or Properties(PacketTypes.PUBLISH)
            props.CorrelationData = correlation
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        except (ValueError, TypeError) as exc:
            log.error("MQTT publish to %s refused by the client: %s", topic, exc)
            return PublishTicket(None, False, int(MQTTErrorCode.MQTT_ERR_INVAL))
        rc = int(info.rc)
        queued = rc in (int(MQTTErrorCode.MQTT_ERR_SUCCESS), int(MQTTErrorCode.MQTT_ERR_NO_CONN))
        return PublishTicket(info.mid if queued else None, queued, rc, info if queued else None)

    # ------------------------------------------------------------------ callbacks

    @staticmethod
    def _paho_log(_client: paho.Client, _userdata: Any, level: int, text: str) -> None:
        # paho's own messages go to DEBUG (our callbacks log what matters, once and clearly);
        # an exception paho caught in a callback is a warning.
        if "exception" in text.lower():
            _PAHO_LOG.warning("paho: %s", text)
        elif _PAHO_LOG.isEnabledFor(logging.DEBUG):
            _PAHO_LOG.debug("paho (%d): %s", level, text)

    def _guard(self, name: str, func: Callable[..., None]) -> Callable[..., None]:
        def guarded(*args: Any) -> None:
            try:
                func(*args)
            except Exception as exc:
                with self._lock:
                    self._callback_failures += 1
                    failures = self._callback_failures
                if self.metrics is not None:
                    self.metrics.count("mqtt_callback_errors")
                if failures <= 3 or failures % 100 == 0:
                    log.error(
                        "MQTT %s callback failed (%d so far): %s", name, failures, exc, exc_info=failures == 1
                    )

        guarded.__name__ = name
        return guarded

    def _handle_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        props = properties.json() if properties is not None and hasattr(properties, "json") else {}
        if reason.is_failure:
            self._connected.clear()
            with self._lock:
                self._refusals += 1
                refusals = self._refusals
            message = (
                f"MQTT broker {self.broker} refused the connection of {self.client_id!r}: "
                f"{reason.getName()} (CONNACK reason code {reason.value})"
            )
            if reason.value in (134, 135, 4, 5):
                message += (
                    "; check mqtt.username and the password in mqtt.password_file"
                    if self.section.username is not None
                    else "; the broker needs a username and password (mqtt.username, mqtt.password_file)"
                )
            self.last_error = message
            if self.metrics is not None:
                self.metrics.count("mqtt_refused")
            if refusals <= 3 or refusals % 50 == 0:
                log.error("%s (refusal %d; retrying with backoff)", message, refusals)
            if self._on_connect is not None:
                self._on_connect(False, message, props)
            return
        self.connects += 1
        self._refusals = 0
        self._connect_failures = 0
        self.last_error = None
        receive_max = props.get("ReceiveMaximum")
        self.receive_maximum = int(receive_max) if receive_max else None
        for topic_filter in self.subscriptions:
            if self.v5:
                client.subscribe(topic_filter, options=SubscribeOptions(qos=1, noLocal=True))
            else:
                client.subscribe(topic_filter, qos=1)
        if self.metrics is not None:
            self.metrics.count("mqtt_connects")
        log.info("MQTT connected to %s (connection %d)", self.broker, self.connects)
        self._connected.set()
        if self._on_connect is not None:
            self._on_connect(True, str(reason), props)

    def _handle_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _properties: Any
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        text = reason.getName() if isinstance(reason, ReasonCode) else str(reason)
        if was_connected:
            if self.metrics is not None:
                self.metrics.count("mqtt_disconnects")
            if self._stopped:
                log.info("MQTT disconnected from %s", self.broker)
            else:
                log.warning("MQTT connection to %s lost (%s); reconnecting with backoff", self.broker, text)
                self.last_error = f"connection to {self.broker} lost: {text}"
        elif not self._stopped and (self.last_error is None or "refused" not in self.last_error):
            # Closed before any CONNACK: e.g. a TLS client certificate the broker did not accept.
            with self._lock:
                self._connect_failures += 1
                failures = self._connect_failures
            message = f"MQTT broker {self.broker} closed the connection before accepting it ({text})"
            if self.section.ca_file is not None:
                message += "; check the TLS files (mqtt.ca_file, mqtt.cert_file, mqtt.key_file)"
            self.last_error = message
            if failures in (1, 3) or failures % 20 == 0:
                log.error("%s (attempt %d; retrying with backoff)", message, failures)
        if self._on_disconnect is not None:
            self._on_disconnect(text)

    def _handle_connect_fail(self, _client: paho.Client, _userdata: Any) -> None:
        with self._lock:
            self._connect_failures += 1
            failures = self._connect_failures
        message = f"cannot reach MQTT broker {self.broker}"
        if self.last_error is None or not self.last_error.startswith("MQTT broker"):
            self.last_error = message
        if self.metrics is not None:
            self.metrics.count("mqtt_connect_failures")
        if failures in (1, 3) or failures % 20 == 0:
            log.warning(
                "%s (attempt %d); results stay in the outbox; retrying every %g..%g s",
                message,
                failures,
                self.section.reconnect_min_s,
                self.section.reconnect_max_s,
            )

    def _handle_publish(
        self, _client: paho.Client, _userdata: Any, mid: int, reason: ReasonCode, _properties: Any
    ) -> None:
        if self._on_publish is not None:
            ok = not (isinstance(reason, ReasonCode) and reason.is_failure)
            self._on_publish(mid, ok, reason.getName() if isinstance(reason, ReasonCode) else str(reason))

    def _handle_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        if self._on_message is not None:
            self._on_message(message.topic, bytes(message.payload), getattr(message, "properties", None))

    def _handle_subscribe(
        self, _client: paho.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode], _properties: Any
    ) -> None:
        bad = [r for r in reasons if isinstance(r, ReasonCode) and r.is_failure]
        if bad:
            log.error(
                "MQTT broker %s refused the command subscription %s: %s",
                self.broker,
                ", ".join(self.subscriptions),
                ", ".join(r.getName() for r in bad),
            )
