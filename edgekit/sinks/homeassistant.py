"""``--ha-discovery``: the device appears in Home Assistant through MQTT discovery, no YAML.

On connecting, the sink publishes (retained) one discovery config per entity
under ``<prefix>/<component>/<node>/<object>/config``, the layout Home Assistant's
MQTT discovery documents:

- a ``binary_sensor`` per rule: ``ON`` / ``OFF`` as the rule turns on and off, the
  rule event as its attributes;
- a ``sensor`` per label: how many of it the latest frame shows (a classifier: 1
  when it is the top class, else 0), sent when it changes, at most once a second;
- an ``image``: the annotated frame as a JPEG, when a rule turns on and every
  ``snapshot_interval`` seconds.

Every entity is available while ``<base>/availability`` says ``online``: sent on
each connection, and replaced by ``offline`` by the broker (the MQTT Last Will)
when the connection is lost, or by the sink when it closes.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._jsonout import dumps
from .._version import __version__
from ..errors import ConfigError
from ..results import FrameResult, Prediction, StreamEvent, StreamStats
from .mqtt import MqttSink, parse_mqtt_url

__all__ = ["HomeAssistantSink", "discovery_configs", "label_counts", "object_id"]

ONLINE, OFFLINE = b"online", b"offline"


def object_id(text: str) -> str:
    """``text`` as a discovery id: only ``[a-z0-9_]`` (the documented ``[a-zA-Z0-9_-]``)."""
    out = "".join(c if c.isascii() and c.isalnum() else "_" for c in text.lower())
    return "_".join(part for part in out.split("_") if part) or "x"


def label_counts(prediction: Prediction, labels: Sequence[str]) -> dict[str, int]:
    """How many of each label ``prediction`` shows (classifiers: 1 for the top class)."""
    counts = dict.fromkeys(labels, 0)
    if prediction.task == "classify":
        top = prediction.top
        name = None if top is None else (top.label if top.label is not None else str(top.id))
        if name in counts:
            counts[name] = 1
    else:
        for det in prediction.detections:
            name = det.label if det.label is not None else str(det.id)
            if name in counts:
                counts[name] += 1
    return counts


def discovery_configs(node: str, device_name: str, base: str, prefix: str, rules: Sequence[str],
                      labels: Sequence[str], model: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """``(config topic, payload)`` of every entity (pure; see the module docstring)."""
    common = {
        "availability": [{"topic": f"{base}/availability", "payload_available": "online",
                          "payload_not_available": "offline"}],
        "device": {"identifiers": [f"edgekit_{node}"], "name": device_name, "manufacturer": "edgekit",
                   "model": model or "edgekit run", "sw_version": __version__},
        "origin": {"name": "edgekit", "sw_version": __version__},
    }
    out = []
    for rule in rules:
        oid = object_id(rule)
        out.append((f"{prefix}/binary_sensor/{node}/rule_{oid}/config", {
            "name": rule, "unique_id": f"edgekit_{node}_rule_{oid}",
            "state_topic": f"{base}/rule/{oid}/state", "payload_on": "ON", "payload_off": "OFF",
            "json_attributes_topic": f"{base}/rule/{oid}/attributes", **common}))
    for label in labels:
        oid = object_id(label)
        out.append((f"{prefix}/sensor/{node}/count_{oid}/config", {
            "name": f"{label} count", "unique_id": f"edgekit_{node}_count_{oid}",
            "state_topic": f"{base}/count/{oid}/state", "state_class": "measurement",
            "icon": "mdi:counter", **common}))
    out.append((f"{prefix}/image/{node}/snapshot/config", {
        "name": "snapshot", "unique_id": f"edgekit_{node}_snapshot",
        "image_topic": f"{base}/snapshot", "content_type": "image/jpeg", **common}))
    return out


class HomeAssistantSink:
    """Publishes Home Assistant discovery configs and entity states (see the module docstring).

    Args:
        url: The broker, ``mqtt://host[:1883]`` or ``mqtts://host[:8883]``.
        rules: Rule names, one binary sensor each.
        labels: Labels to count, one sensor each.
        device: The device's name in Home Assistant (default: the host name).
        prefix: Home Assistant's discovery prefix.
        base: Topic under which states are published (default ``edgekit/<node>``).
        model: What Home Assistant shows as the device model (e.g. the model file).
        snapshot_interval: Seconds between two periodic snapshots (``0``: only on rules).
        min_interval: Seconds between two updates of one count at least.
        qos, username, password, cafile, connect_wait: As for :class:`MqttSink`.

    Raises:
        ConfigError: A bad URL or prefix, refused credentials.
        ExtraMissing: paho-mqtt is not installed.
    """

    queue_size = 8

    def __init__(self, url: str, *, rules: Sequence[str] = (), labels: Sequence[str] = (),
                 device: str | None = None, prefix: str = "homeassistant", base: str | None = None,
                 model: str | None = None, snapshot_interval: float = 60.0, min_interval: float = 1.0,
                 qos: int = 1, username: str | None = None, password: str | None = None,
                 cafile: str | None = None, connect_wait: float = 2.0) -> None:
        if not prefix or any(c in prefix for c in "#+\0 ") or prefix.strip("/") != prefix:
            raise ConfigError(f"discovery prefix {prefix!r}: give a topic level such as 'homeassistant'")
        target = parse_mqtt_url(url)
        device = device or socket.gethostname()
        self.node = object_id(device)
        self.base = base or f"edgekit/{self.node}"
        self.rules, self.labels = tuple(rules), tuple(dict.fromkeys(labels))
        for kind, names in (("rules", self.rules), ("labels", self.labels)):
            ids = [object_id(n) for n in names]
            clash = sorted({n for n, i in zip(names, ids) if ids.count(i) > 1})
            if clash:
                raise ConfigError(f"{kind} {clash} get the same Home Assistant id; rename one")
        self.snapshot_interval, self.min_interval = snapshot_interval, min_interval
        self.configs = discovery_configs(self.node, device, self.base, prefix, self.rules,
                                         self.labels, model)
        availability = f"{self.base}/availability"
        self._mqtt = MqttSink(url, topic=f"{self.base}/events", qos=qos, username=username,
                              password=password, cafile=cafile, connect_wait=connect_wait,
                              will=(availability, OFFLINE), birth=(availability, ONLINE))
        self.name = f"homeassistant:{target.host}:{target.port}"
        self._availability = availability
        self._sent: dict[str, tuple[int, float]] = {}
        self._last_snapshot = -math.inf
        self._last: tuple[FrameResult, StreamStats | None] | None = None
        for topic, payload in self.configs:
            self._mqtt.publish(topic, dumps(payload).encode("utf-8"), retain=True)

    @property
    def connected(self) -> bool:
        """Whether the client is connected to the broker right now."""
        return self._mqtt.connected

    @property
    def dropped(self) -> int:
        """Messages dropped while the broker was away (see :class:`MqttSink`)."""
        return self._mqtt.dropped

    def write(self, item: Any, frame: np.ndarray | None = None,
              stats: StreamStats | None = None) -> None:
        """Update counts (results), rule states and the snapshot (rule events)."""
        if isinstance(item, FrameResult):
            self._last = (item, stats)
            self._counts(item)
            if frame is not None and self.snapshot_interval and \
                    time.monotonic() - self._last_snapshot >= self.snapshot_interval:
                self._snapshot(frame, self._last)
        elif isinstance(item, StreamEvent) and item.event == "rule" and item.rule in self.rules:
            oid = object_id(item.rule)
            self._mqtt.publish(f"{self.base}/rule/{oid}/state",
                               b"ON" if item.state == "on" else b"OFF", retain=True)
            self._mqtt.publish(f"{self.base}/rule/{oid}/attributes",
                               dumps(item.to_dict()).encode("utf-8"), retain=True)
            if item.state == "on" and frame is not None:
                last = self._last if self._last and self._last[0].frame == item.frame else None
                self._snapshot(frame, last)

    def _counts(self, result: FrameResult) -> None:
        now = time.monotonic()
        for label, count in label_counts(result.prediction, self.labels).items():
            sent = self._sent.get(label)
            if sent is None or (sent[0] != count and now - sent[1] >= self.min_interval):
                self._mqtt.publish(f"{self.base}/count/{object_id(label)}/state",
                                   str(count).encode(), retain=True)
                self._sent[label] = (count, now)

    def _snapshot(self, frame: np.ndarray, last: tuple[FrameResult, StreamStats | None] | None) -> None:
        import cv2

        from .overlay import annotate

        image = annotate(frame, *last) if last is not None else frame
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            self._mqtt.publish(f"{self.base}/snapshot", data.tobytes(), retain=True)
            self._last_snapshot = time.monotonic()

    def close(self) -> None:
        """Say ``offline`` (a clean goodbye does not fire the Last Will), then disconnect."""
        self._mqtt.publish(self._availability, OFFLINE, retain=True)
        self._mqtt.close()

    def __enter__(self) -> HomeAssistantSink:  # noqa: PYI034 - Python 3.10 has no typing.Self
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
