"""Where stream results go: JSON lines, a status line, video, web preview, window, MQTT.

Every sink has the :class:`Sink` protocol (``name``, ``write(item, frame, stats)``,
``close()``). :func:`build_sinks` opens the sinks the CLI options of
:func:`sink_options` ask for, each behind a :class:`QueuedSink` so that a slow
sink never blocks inference; the same classes are usable from Python::

    from edgekit.sinks import JsonLinesSink, MqttSink, QueuedSink
    sink = QueuedSink(MqttSink("mqtt://localhost", topic="cam/1"))

How a stream drives them (what ``edgekit run`` / ``edgekit.stream`` do)::

    sinks = build_sinks(stdout_is_tty=sys.stdout.isatty(), **pop_sink_options(kwargs))
    for result, frame in ...:                 # never blocks: every sink is queued
        stats = StreamStats(..., sink_drops={s.name: s.dropped for s in sinks})
        for sink in sinks:
            sink.write(result, frame, stats)
    for sink in sinks:
        sink.write(StreamEvent("stopped", time.time(), source))
    close_sinks(sinks, timeout=1.5)          # in parallel, bounded: flush, finalise, report
"""

from __future__ import annotations

from .base import Sink, StreamStats
from .jsonl import JsonLinesSink
from .mqtt import MqttSink
from .options import (
    SINK_OPTION_NAMES,
    build_sinks,
    check_sink_options,
    parse_mqtt_url,
    parse_serve,
    pop_sink_options,
    sink_options,
)
from .queued import QueuedSink, close_sinks
from .status import StatusSink
from .video import VideoSink
from .web import WebSink
from .window import WindowSink

__all__ = [
    "SINK_OPTION_NAMES",
    "JsonLinesSink",
    "MqttSink",
    "QueuedSink",
    "Sink",
    "StatusSink",
    "StreamStats",
    "VideoSink",
    "WebSink",
    "WindowSink",
    "build_sinks",
    "check_sink_options",
    "close_sinks",
    "parse_mqtt_url",
    "parse_serve",
    "pop_sink_options",
    "sink_options",
]
