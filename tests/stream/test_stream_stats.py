"""Rolling statistics: FPS over a window, latency percentiles, counters, the summary line."""

from __future__ import annotations

import pytest

from edgekit._stream.stats import RollingStats, percentile
from edgekit.results import Latency, StreamStats


def _feed(stats: RollingStats, start: float, rate: float, count: int, total_ms: float) -> float:
    now = start
    for _ in range(count):
        now += 1 / rate
        stats.add(Latency(pre=1, invoke=total_ms - 3, post=1, age=1), now)
    return now


def test_fps_is_the_rate_of_results_in_the_window() -> None:
    stats = RollingStats(start=0.0, window=5.0)
    now = _feed(stats, 0.0, rate=20, count=100, total_ms=10)
    assert stats.fps(now) == pytest.approx(20, rel=0.01)


def test_fps_decays_when_results_stop_and_is_zero_after_the_window() -> None:
    stats = RollingStats(start=0.0, window=5.0)
    now = _feed(stats, 0.0, rate=20, count=100, total_ms=10)
    assert stats.fps(now + 2) < 15
    assert stats.fps(now + 6) == 0.0


def test_snapshot_reports_percentiles_and_counters() -> None:
    stats = RollingStats(start=0.0)
    now = _feed(stats, 0.0, rate=10, count=19, total_ms=10)
    now = _feed(stats, now, rate=10, count=1, total_ms=100)
    snap = stats.snapshot(now, {"frames": 50, "dropped": 28, "bad_frames": 2},
                          sink_drops={"mqtt": 3}, thermal={"temp_c": 51.0})
    assert isinstance(snap, StreamStats)
    assert snap.latency_p50 == pytest.approx(10)
    assert 10 < snap.latency_p95 <= 100
    assert (snap.frames, snap.inferred, snap.dropped, snap.bad_frames) == (50, 20, 28, 2)
    assert snap.sink_drops == {"mqtt": 3} and snap.thermal == {"temp_c": 51.0}
    assert snap.age_p50 == pytest.approx(1)


def test_summary_line_names_the_counts_and_the_reason() -> None:
    stats = RollingStats(start=0.0)
    now = _feed(stats, 0.0, rate=10, count=30, total_ms=12)
    summary = stats.summary("demo", now, {"frames": 40, "dropped": 8, "skipped": 2,
                                          "bad_frames": 0, "reconnects": 1},
                            {"jsonl": 0, "mqtt": 4}, reason="SIGTERM received")
    line = summary.line()
    assert summary.fps == pytest.approx(10)
    for part in ("30 inferred of 40 frames", "8 dropped", "2 skipped", "1 reconnection",
                 "sinks dropped 4", "SIGTERM received", "p50 12.0 ms"):
        assert part in line
    assert summary.to_dict()["inferred"] == 30


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([1, 2, 3, 4], 50) == 2.5


def test_live_percentiles_are_recomputed_at_most_every_tenth_of_a_second_counters_always() -> None:
    stats = RollingStats(start=0.0)
    now = _feed(stats, 0.0, rate=100, count=3, total_ms=10)
    first = stats.snapshot(now, {})
    for _ in range(5):
        now += 0.01
        stats.add(Latency(pre=1, invoke=497, post=1, age=1), now)
    soon = stats.snapshot(now, {})
    assert (soon.latency_p50, soon.inferred) == (first.latency_p50, 8)
    later = stats.snapshot(now + 0.1, {})
    assert later.latency_p50 == pytest.approx(500)
