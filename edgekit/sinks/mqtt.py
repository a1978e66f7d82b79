"""``--mqtt``: publish every result (the JSON schema) to an MQTT broker with paho-mqtt.

The client runs in paho's own network thread (``loop_start``) and reconnects by
itself with backoff (1 s doubling to 30 s) when the broker goes away. Results
written while the client is disconnected wait in a bounded queue and are sent,
in order, when it reconnects; when that queue overflows the oldest waiting
result is dropped and counted in ``dropped``. ``close`` waits (bounded) for
in-flight messages and reports in ``unsent`` (and the log) what did not go out.

For other publishers on the same connection (Home Assistant discovery):
:meth:`MqttSink.publish` sends to any topic (retained or not) through the same
queue, ``will`` is the Last-Will message the broker publishes (retained) if the
connection is lost, ``birth`` the message sent (retained) on every (re)connection.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ..errors import ConfigError, ExtraMissing
from ..results import StreamStats
from .jsonl import to_json_line

__all__ = ["MqttSink", "MqttTarget", "parse_mqtt_url", "require_paho"]

log = logging.getLogger("edgekit.sinks")

# CONNACK reason codes that retrying will not fix (MQTT 3.1.1 return codes 1..5 as v5 reasons).
_FATAL_REASONS = ("Bad user name or password", "Not authorized", "Unsupported protocol version",
                  "Client identifier not valid")


def require_paho(feature: str = "MqttSink") -> Any:
    """The paho-mqtt client module.

    Raises:
        ExtraMissing: paho-mqtt is not installed (``feature`` names what needs it).
    """
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise ExtraMissing(feature, "mqtt", "paho-mqtt") from None
    return mqtt

@dataclass(frozen=True, slots=True)
class MqttTarget:
    """A parsed ``--mqtt`` URL."""

    host: str
    port: int
    tls: bool


def parse_mqtt_url(url: str) -> MqttTarget:
    """Parse ``mqtt://host[:port]`` (1883) or ``mqtts://host[:port]`` (8883, TLS).

    Raises:
        ConfigError: Another scheme, no host, or a bad port.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ConfigError(f"MQTT URL {url!r}: it must start with mqtt:// or mqtts://")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"MQTT URL {url!r}: the port must be a number in 0..65535") from None
    if not parts.hostname:
        raise ConfigError(f"MQTT URL {url!r}: no host name")
    if parts.username or parts.password:
        raise ConfigError(f"MQTT URL {url!r}: give the user name and password as options "
                          "(username=, password=), not in the URL")
    tls = parts.scheme == "mqtts"
    return MqttTarget(parts.hostname, port or (8883 if tls else 1883), tls)



class MqttSink:
    """Publishes results and events as JSON to ``topic``.

    Args:
        url: ``mqtt://host[:1883]`` or ``mqtts://host[:8883]`` (TLS).
        topic: Topic to publish to.
        qos: MQTT QoS 0, 1 or 2.
        username, password: Broker credentials.
        cafile: CA certificate for ``mqtts://`` (default: the system's CAs).
        queue_size: Results kept while disconnected before the oldest is dropped.
        connect_wait: Seconds to wait for the first connection; a broker that
            refuses the credentials within it is a ``ConfigError``, one that is
            not reachable yet only a warning (results queue until it is).
        close_timeout: Seconds :meth:`close` waits for queued and in-flight messages.
        will: ``(topic, payload)`` the broker publishes, retained, when the
            connection is lost without a goodbye (MQTT Last Will).
        birth: ``(topic, payload)`` published, retained, on every (re)connection.

    Attributes:
        sent: Messages the broker acknowledged (QoS 1/2) or that were written out (QoS 0).
        dropped: Results dropped because the disconnected queue was full.
        unsent: After :meth:`close`, results that were never sent.

    Raises:
        ConfigError: A bad URL, QoS or CA file, or credentials the broker refuses.
        ExtraMissing: paho-mqtt is not installed.
    """

    def __init__(self, url: str, topic: str = "edgekit/results", qos: int = 0, *,
                 username: str | None = None, password: str | None = None,
                 cafile: str | None = None, queue_size: int = 1000,
                 connect_wait: float = 2.0, close_timeout: float = 1.0,
                 will: tuple[str, bytes] | None = None, birth: tuple[str, bytes] | None = None) -> None:
        target = parse_mqtt_url(url)
        if qos not in (0, 1, 2):
            raise ConfigError(f"qos must be 0, 1 or 2, got {qos!r}")
        if not topic or any(c in topic for c in "#+\0"):
            raise ConfigError(f"topic {topic!r}: a publish topic must be non-empty, without # + or NUL")
        mqtt = require_paho()
        self.name = f"mqtt:{target.host}:{target.port}/{topic}"
        self.topic, self.qos, self.close_timeout = topic, qos, close_timeout
        self.sent = self.dropped = self.unsent = 0
        self._pending: collections.deque[tuple[str, bytes, bool]] = collections.deque()
        self._birth = birth
        self._queue_size = queue_size
        self._infos: collections.deque[Any] = collections.deque()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._refused: str | None = None
        self._warned = False
        self._closed = False
        self._no_conn = mqtt.MQTT_ERR_NO_CONN
        client_id = f"edgekit-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=mqtt.MQTTv311)
        if username is not None:
            self._client.username_pw_set(username, password)
        if will is not None:
            self._client.will_set(will[0], will[1], qos=1, retain=True)
        if target.tls:
            self._tls(cafile)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.connect_timeout = 3.0
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.connect_async(target.host, target.port, keepalive=15)
        self._client.loop_start()
        self._wait_first(target, connect_wait)

    def _tls(self, cafile: str | None) -> None:
        import ssl

        try:
            self._client.tls_set(ca_certs=cafile, cert_reqs=ssl.CERT_REQUIRED)
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise ConfigError(f"cafile {cafile!r}: {exc}") from None

    def _wait_first(self, target: Any, wait: float) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not self._connected.is_set() and not self._refused:
            time.sleep(0.02)
        if self._refused:
            self._stop_client()
            raise ConfigError(f"MQTT broker {target.host}:{target.port} refused the connection: "
                              f"{self._refused}")
        if not self._connected.is_set():
            log.warning("mqtt: %s:%d not reachable yet; results queue (up to %d) until it is",
                        target.host, target.port, self._queue_size)

    @property
    def connected(self) -> bool:
        """Whether the client is connected to the broker right now."""
        return self._connected.is_set()

    @property
    def pending(self) -> int:
        """Results waiting for a connection."""
        with self._lock:
            return len(self._pending)

    # paho callbacks (run in paho's network thread) -------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            text = str(reason)
            if text in _FATAL_REASONS:
                self._refused = text
            log.warning("mqtt: connection refused: %s", text)
            return
        if self._warned:
            log.warning("mqtt: reconnected")
        self._warned = False
        if self._birth is not None:
            client.publish(self._birth[0], self._birth[1], qos=1, retain=True)
        self._connected.set()
        with self._lock:
            self._flush_locked()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                       properties: Any = None) -> None:
        self._connected.clear()
        if not self._closed and not self._warned:
            self._warned = True
            log.warning("mqtt: disconnected (%s); reconnecting with backoff", reason)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any = None,
                    properties: Any = None) -> None:
        self.sent += 1

    # the sink --------------------------------------------------------------------

    def write(self, item: Any, frame: np.ndarray | None = None,
              stats: StreamStats | None = None) -> None:
        """Publish ``item.to_dict()`` as JSON (queued while disconnected)."""
        self.publish(self.topic, to_json_line(item).rstrip("\n").encode("utf-8"))

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish ``payload`` to ``topic`` with the sink's QoS, in order with the results."""
        with self._lock:
            if self._closed:
                self.dropped += 1
                return
            if len(self._pending) >= self._queue_size:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append((topic, payload, retain))
            if self._connected.is_set():
                self._flush_locked()

    def _flush_locked(self) -> None:
        """Hand the waiting payloads to paho in order while connected (lock held)."""
        while self._infos and self._infos[0].is_published():
            self._infos.popleft()
        # Unacknowledged messages count against the queue too: a broker that is connected
        # but slow must not make paho's own (unbounded) queue grow.
        while self._pending and self._connected.is_set() and len(self._infos) < self._queue_size:
            topic, payload, retain = self._pending[0]
            info = self._client.publish(topic, payload, qos=self.qos, retain=retain)
            if info.rc == self._no_conn and self.qos == 0:
                self._connected.clear()  # the socket is gone; keep the payload for later
                break
            self._pending.popleft()
            self._infos.append(info)

    def close(self) -> None:
        """Send what is queued and wait (at most ``close_timeout`` s) for it to go out."""
        deadline = time.monotonic() + self.close_timeout
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._connected.is_set():
                self._flush_locked()
        while time.monotonic() < deadline:
            with self._lock:
                if self._connected.is_set():
                    self._flush_locked()
                if not self._pending and all(i.is_published() for i in self._infos):
                    break
            time.sleep(0.02)
        with self._lock:
            self.unsent = len(self._pending) + sum(not i.is_published() for i in self._infos)
        if self.unsent:
            log.warning("mqtt: %d results were not sent (broker unreachable or slow)", self.unsent)
        self._stop_client()

    def _stop_client(self) -> None:
        self._closed = True
        self._client.disconnect()
        stopper = threading.Thread(target=self._client.loop_stop, daemon=True)
        stopper.start()
        stopper.join(0.5)  # paho's thread may sleep up to 1 s in its reconnect backoff

    def __enter__(self) -> MqttSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
