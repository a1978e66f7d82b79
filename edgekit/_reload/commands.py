"""Model updates sent over MQTT: ``{"model": "path", "sha256": "hex"}`` on a command topic.

A fleet tool copies the new file to the device, then publishes the command; the
running ``edgekit run``/``serve`` loads it (refusing it unless its SHA-256 is the
one in the command) and swaps it in. The command carries the hash so that a file
that was only half copied, or replaced by someone else, is never run. A relative
path is taken from the folder of the model that runs now.

The subscriber is paho-mqtt (the ``mqtt`` extra), in its own network thread,
reconnecting by itself; a command is handed over as soon as it arrives.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..sinks.mqtt import parse_mqtt_url, require_paho

__all__ = ["ModelCommand", "ModelCommands", "parse_command"]

log = logging.getLogger("edgekit.reload")

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
MAX_COMMAND_BYTES = 4096  # a path and a hash; anything bigger is not a command


@dataclass(frozen=True, slots=True)
class ModelCommand:
    """A parsed update command: the file to load and the SHA-256 it must have."""

    path: str
    sha256: str


def parse_command(payload: bytes, base: str) -> ModelCommand:
    """Parse an update command; a relative ``model`` path is taken from the folder ``base``.

    Raises:
        ConfigError: Not a JSON object with a non-empty ``model`` string and a
            64-hex-digit ``sha256``.
    """
    if len(payload) > MAX_COMMAND_BYTES:
        raise ConfigError(f"model command of {len(payload)} bytes is too long (at most {MAX_COMMAND_BYTES})")
    try:
        command = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f'model command is not JSON ({exc}); '
                          'send {"model": "path", "sha256": "..."}') from None
    if not isinstance(command, dict):
        raise ConfigError('model command must be a JSON object {"model": "path", "sha256": "..."}')
    path, sha = command.get("model"), command.get("sha256")
    if not isinstance(path, str) or not path.strip() or "\0" in path:
        raise ConfigError('model command: "model" must be the path of the new .tflite file')
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha.strip()):
        raise ConfigError('model command: "sha256" must be the new file\'s SHA-256 (64 hex digits)')
    full = os.path.join(base, path.strip())
    return ModelCommand(os.path.normpath(full), sha.strip().lower())


class ModelCommands:
    """Listens for update commands on an MQTT topic and hands each payload to ``on_payload``.

    Args:
        url: ``mqtt://host[:1883]`` or ``mqtts://host[:8883]``.
        topic: The command topic (wildcards allowed).
        on_payload: Called with each message's payload, in paho's network thread.
        username, password, cafile: As for :class:`~edgekit.sinks.MqttSink`.
        connect_wait: Seconds to wait for the first connection (a broker that
            refuses the credentials then is a ``ConfigError``; one that is not
            reachable yet only a warning: the client keeps trying).

    Raises:
        ConfigError: A bad URL or topic, or credentials the broker refuses.
        ExtraMissing: paho-mqtt is not installed.
    """

    def __init__(self, url: str, topic: str, on_payload: Callable[[bytes], Any], *,
                 username: str | None = None, password: str | None = None,
                 cafile: str | None = None, connect_wait: float = 2.0) -> None:
        target = parse_mqtt_url(url)
        if not topic or "\0" in topic:
            raise ConfigError(f"model topic {topic!r} must be a non-empty MQTT topic")
        mqtt = require_paho("model updates over MQTT")
        self.topic = topic
        self.received = 0
        self._on_payload = on_payload
        self._subscribed = threading.Event()
        self._refused: str | None = None
        client_id = f"edgekit-model-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=mqtt.MQTTv311)
        if username is not None:
            self._client.username_pw_set(username, password)
        if target.tls:
            import ssl

            try:
                self._client.tls_set(ca_certs=cafile, cert_reqs=ssl.CERT_REQUIRED)
            except (OSError, ValueError, ssl.SSLError) as exc:
                raise ConfigError(f"cafile {cafile!r}: {exc}") from None
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args, **kw: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect_async(target.host, target.port, keepalive=15)
        self._client.loop_start()
        deadline = time.monotonic() + connect_wait
        while time.monotonic() < deadline and not self._subscribed.is_set() and not self._refused:
            time.sleep(0.02)
        if self._refused:
            self.close()
            raise ConfigError(f"MQTT broker {target.host}:{target.port} refused the connection: "
                              f"{self._refused}")
        if not self._subscribed.is_set():
            log.warning("model updates: MQTT broker %s:%d not reachable yet; still trying",
                        target.host, target.port)

    @property
    def subscribed(self) -> bool:
        """Whether the broker confirmed the subscription (on the current connection)."""
        return self._subscribed.is_set()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            text = str(reason)
            if text in ("Bad user name or password", "Not authorized"):
                self._refused = text
            log.warning("model updates: MQTT connection refused: %s", text)
            return
        self._subscribed.clear()
        client.subscribe(self.topic, qos=1)  # again on every reconnection

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.received += 1
        try:
            self._on_payload(bytes(message.payload))
        except Exception as exc:  # noqa: BLE001 - paho's thread must survive a bad callback
            log.warning("model updates: command not handled: %s: %s", type(exc).__name__, exc)

    def close(self) -> None:
        """Disconnect (bounded: paho's thread may sleep in its reconnect backoff)."""
        self._client.disconnect()
        stopper = threading.Thread(target=self._client.loop_stop, daemon=True)
        stopper.start()
        stopper.join(0.5)

    def __enter__(self) -> ModelCommands:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
