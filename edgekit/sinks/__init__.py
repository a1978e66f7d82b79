"""Where stream results go: JSON lines, a status line, video, web preview, window, MQTT,
Home Assistant (MQTT discovery).

Every sink has the :class:`Sink` protocol (``name``, ``write(item, frame, stats)``,
``close()``). ``edgekit.stream`` puts each behind a :class:`QueuedSink` so that a
slow sink never blocks inference (``edgekit run`` builds them from its options in
:mod:`edgekit.cli.sinks`); from Python::

    from edgekit.sinks import JsonLinesSink, MqttSink, QueuedSink
    sink = QueuedSink(MqttSink("mqtt://localhost", topic="cam/1"))

How a stream drives them (what ``edgekit run`` / ``edgekit.stream`` do)::

    sinks = [QueuedSink(JsonLinesSink("results.jsonl")), ...]
    for result, frame in ...:                 # never blocks: every sink is queued
        stats = StreamStats(..., sink_drops={s.name: s.dropped for s in sinks})
        for sink in sinks:
            sink.write(result, frame, stats)
    for sink in sinks:
        sink.write(StreamEvent("stopped", time.time(), source))
    close_sinks(sinks, timeout=1.5)          # in parallel, bounded: flush, finalise, report
"""

from __future__ import annotations

from ..results import StreamStats
from .base import Sink
from .homeassistant import HomeAssistantSink
from .jsonl import JsonLinesSink
from .mqtt import MqttSink, parse_mqtt_url
from .overlay import annotate
from .queued import QueuedSink, close_sinks
from .status import StatusSink
from .video import VideoSink
from .web import WebSink, parse_serve
from .window import WindowSink

__all__ = [
    "HomeAssistantSink",
    "JsonLinesSink",
    "MqttSink",
    "QueuedSink",
    "Sink",
    "StatusSink",
    "StreamStats",
    "VideoSink",
    "WebSink",
    "WindowSink",
    "annotate",
    "close_sinks",
    "parse_mqtt_url",
    "parse_serve",
]
