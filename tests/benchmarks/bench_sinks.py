"""Sink cost on the inference thread, measured side by side in one run (issues 4 and 8).

Run: pytest --benchmarks tests/benchmarks/bench_sinks.py -s
Prints ratio tables; asserts nothing about speed except that it measured.

1. ``write()`` time seen by the inference loop: each sink called directly vs behind
   a ``QueuedSink`` (what ``build_sinks`` returns), including a deliberately slow sink.
2. The web preview's JPEG encodings per frame with 1 and 4 viewers (encoded once, shared).
"""

from __future__ import annotations

import http.client
import io
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "sinks"))
sys.path.insert(0, str(HERE.parent))

import zoo  # noqa: E402
from sinks_helpers import detect_result, stats_for  # noqa: E402

from edgekit.sinks import JsonLinesSink, QueuedSink, VideoSink, WebSink  # noqa: E402

pytestmark = pytest.mark.benchmark
FRAMES = 150


class SlowSink:
    """Stands in for a stalled disk or network: 30 ms per write."""

    name = "slow"

    def write(self, item, frame=None, stats=None) -> None:  # noqa: ANN001
        time.sleep(0.03)

    def close(self) -> None:
        pass


def _frames() -> list[np.ndarray]:
    import cv2

    return [cv2.resize(p, (640, 480)) for p in zoo.skimage_photos()]


def _write_times(sink, frames: list[np.ndarray]) -> list[float]:  # noqa: ANN001
    times = []
    for i in range(FRAMES):
        t0 = time.perf_counter()
        sink.write(detect_result(i), frames[i % len(frames)], stats_for(i))
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.005)  # the "inference" between results
    sink.close()
    return times


def test_bench_write_cost_direct_vs_queued(tmp_path: Path) -> None:
    frames = _frames()
    makers = {
        "jsonl (file)": lambda i: JsonLinesSink(tmp_path / f"r{i}.jsonl"),
        "jsonl (StringIO)": lambda i: JsonLinesSink(io.StringIO()),
        "video mp4v 640x480": lambda i: VideoSink(tmp_path / f"v{i}.mp4", fps=30),
        "slow sink (30 ms)": lambda i: SlowSink(),
    }
    print(f"\nwrite() time on the inference thread, ms ({FRAMES} results, 640x480 frames)")
    print(f"{'sink':<22}{'direct p50':>12}{'direct p95':>12}{'queued p50':>12}{'queued p95':>12}"
          f"{'ratio p95':>11}{'dropped':>9}")
    for name, make in makers.items():
        direct = _write_times(make(0), frames)
        queued_sink = QueuedSink(make(1), maxsize=32)
        queued = _write_times(queued_sink, frames)
        d95, q95 = np.percentile(direct, 95), np.percentile(queued, 95)
        print(f"{name:<22}{statistics.median(direct):>12.3f}{d95:>12.3f}"
              f"{statistics.median(queued):>12.3f}{q95:>12.3f}{d95 / q95:>10.0f}x{queued_sink.dropped:>9}")
        assert len(direct) == len(queued) == FRAMES


def _viewer(port: int, stop: threading.Event, counts: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/stream.mjpg")
    resp = conn.getresponse()
    n = 0
    while not stop.is_set():
        if resp.fp.readline().strip() == b"--edgekitframe":
            n += 1
    counts.append(n)
    conn.close()


def test_bench_web_encodes_once_per_frame_for_any_number_of_viewers() -> None:
    frames = _frames()
    print("\nweb preview: JPEG encodings per written frame")
    print(f"{'viewers':>8}{'frames written':>16}{'encodes':>9}{'encodes/frame':>15}{'parts received':>16}")
    for viewers in (1, 4):
        sink = WebSink("127.0.0.1", 0)
        stop, counts = threading.Event(), []
        threads = [threading.Thread(target=_viewer, args=(sink.port, stop, counts), daemon=True)
                   for _ in range(viewers)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        for i in range(FRAMES):
            sink.write(detect_result(i), frames[i % len(frames)], stats_for(i))
            time.sleep(1 / 30)
        stop.set()
        sink.close()
        for t in threads:
            t.join(5)
        print(f"{viewers:>8}{FRAMES:>16}{sink.encodes:>9}{sink.encodes / FRAMES:>15.2f}"
              f"{sum(counts):>16}")
        assert sink.encodes <= FRAMES
