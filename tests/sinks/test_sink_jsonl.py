"""JSON lines: the DESIGN.md schema, one complete line per item, files never overwritten silently."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sinks_helpers import classify_result, detect_result

from edgekit.errors import ConfigError
from edgekit.results import StreamEvent
from edgekit.sinks import JsonLinesSink


def test_each_result_and_event_is_one_line_with_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    with JsonLinesSink(path) as sink:
        sink.write(classify_result(1, label="three", score=0.97, ts=1764395000.123))
        sink.write(detect_result(2, ts=1764395000.2))
        sink.write(StreamEvent("source_offline", 1764395001.0, "camera:0", "no frame for 5 s"))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    first, second, event = (json.loads(line) for line in lines)
    assert first == {
        "frame": 1, "ts": 1764395000.123, "source": "test", "task": "classify",
        "classes": [{"id": 1, "label": "three", "score": 0.97}, {"id": 99, "label": "dog", "score": 0.05}],
        "latency_ms": {"age": 2.0, "pre": 1.0, "invoke": 11.0, "post": 0.5, "total": 14.5},
    }
    assert second["detections"] == [{"id": 0, "label": "person", "score": 0.88,
                                      "box": [40.0, 30.0, 200.0, 180.0]}]
    assert event == {"event": "source_offline", "ts": 1764395001.0, "source": "camera:0",
                     "message": "no frame for 5 s"}


def test_an_existing_file_is_refused_without_force(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text("precious\n")
    with pytest.raises(ConfigError, match=r"results\.jsonl' already exists; pass --force"):
        JsonLinesSink(path)
    assert path.read_text() == "precious\n"


def test_force_overwrites_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text("old\n")
    with JsonLinesSink(path, force=True) as sink:
        sink.write(classify_result(5))
    assert [json.loads(line)["frame"] for line in path.read_text().splitlines()] == [5]


def test_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        JsonLinesSink(tmp_path / "nope" / "results.jsonl")


def test_a_stream_gets_the_lines_and_is_left_open() -> None:
    stream = io.StringIO()
    sink = JsonLinesSink(stream)
    sink.write(classify_result(7))
    sink.close()
    assert json.loads(stream.getvalue())["frame"] == 7
    assert not stream.closed


def test_a_killed_process_leaves_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl"
    script = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
from sinks_helpers import classify_result
from edgekit.sinks import JsonLinesSink
sink = JsonLinesSink({str(path)!r})
i = 0
while True:
    sink.write(classify_result(i)); i += 1
    if i == 50:
        print("ready", flush=True)
    time.sleep(0.001)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    frames = [json.loads(line)["frame"] for line in text.splitlines()]
    assert len(frames) >= 50 and frames == list(range(len(frames)))


def test_a_closed_pipe_stops_writing_and_counts_the_lost_lines() -> None:
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    sink = JsonLinesSink(ClosedPipe())
    sink.write(classify_result(1))
    sink.write(classify_result(2))
    assert sink.dropped == 2 and sink.lines == 0
