"""The terminal status line: FPS, latency, drops, top result, temperature."""

from __future__ import annotations

import io
import time

from sinks_helpers import classify_result, detect_result

from edgekit.results import FrameResult, Prediction
from edgekit.sinks import StatusSink, StreamStats
from edgekit.sinks.status import status_text


def test_status_text_names_fps_latency_drops_top_class_and_temperature() -> None:
    stats = StreamStats(fps=29.84, latency_p50=12.14, latency_p95=15.0, dropped=3,
                        thermal={"temp_c": 54.2, "throttled": ["throttled", "throttling-occurred"]})
    text = status_text(classify_result(120, label="three", score=0.971), stats)
    assert text == ("frame 120 | 29.8 fps | latency p50 12.1 ms p95 15.0 ms | dropped 3 | "
                    "top three (score 0.97) | 54.2°C throttled")


def test_status_text_counts_sink_drops_and_summarises_detections() -> None:
    stats = StreamStats(fps=5.0, dropped=1, sink_drops={"mqtt": 4, "video": 0})
    text = status_text(detect_result(3), stats)
    assert "dropped 1 (+4 in sinks)" in text
    assert text.endswith("1 objects: person")


def test_status_text_without_stats_shows_the_frame_latency_and_class_ids() -> None:
    from edgekit.results import Classification

    result = FrameResult(4, time.time(), "demo",
                         Prediction("classify", (Classification(7, None, 0.5),)))
    assert status_text(result, None) == "frame 4 | latency 0.0 ms | top 7 (score 0.50)"
    assert status_text(None, None) == "waiting for the first frame…"


def test_status_sink_draws_the_line_and_prints_events_on_a_rich_console() -> None:
    from rich.console import Console

    from edgekit.results import StreamEvent

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    sink = StatusSink(console=console, refresh_per_second=1000)
    for i in range(5):
        sink.write(classify_result(i, label="koala"), None,
                   StreamStats(fps=10.0 + i, latency_p50=8.0, latency_p95=9.5, dropped=i))
    sink.write(StreamEvent("source_offline", time.time(), "camera:0", "stalled"))
    sink.close()
    text = out.getvalue()
    assert "frame 4 | 14.0 fps | latency p50 8.0 ms p95 9.5 ms | dropped 4 | top koala (score 0.90)" in text
    assert "camera:0: source_offline — stalled" in text
    assert text.rstrip().endswith("top koala (score 0.90)") or "top koala (score 0.90)\n" in text


def test_at_stop_the_line_is_drawn_once_and_the_reason_left_to_the_summary() -> None:
    from rich.console import Console

    from edgekit.results import StreamEvent

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    sink = StatusSink(console=console, refresh_per_second=0.001)  # only the first write draws
    for i in range(5):
        sink.write(classify_result(i, label="koala"), None, StreamStats(fps=10.0, dropped=i))
    sink.write(StreamEvent("stopped", time.time(), "camera:0", "60 s done"))
    sink.close()
    text = out.getvalue()
    assert text.count("frame 4 |") == 1, text
    assert "stopped" not in text and "60 s done" not in text
