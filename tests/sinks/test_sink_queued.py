"""QueuedSink: a slow or broken sink never blocks the writer; drops are counted."""

from __future__ import annotations

import threading
import time

import pytest
from sinks_helpers import classify_result

from edgekit.errors import ConfigError
from edgekit.results import StreamEvent
from edgekit.sinks import QueuedSink, close_sinks
from edgekit.sinks.queued import sink_names


class GatedSink:
    """A sink whose ``write`` blocks until the test opens the gate."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.items: list[object] = []
        self.closed = False

    def write(self, item, frame=None, stats=None) -> None:  # noqa: ANN001
        self.entered.set()
        self.gate.wait()
        self.items.append(item)

    def close(self) -> None:
        self.closed = True


def _write_in_thread(fn) -> threading.Thread:  # noqa: ANN001
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    thread.join(20)  # generous: a blocking write would never finish at all
    return thread


def test_writes_to_a_blocked_sink_return_and_drop_the_oldest_results() -> None:
    inner = GatedSink()
    sink = QueuedSink(inner, maxsize=4)
    sink.write(classify_result(0))
    assert inner.entered.wait(10), "the worker never called the inner sink"
    thread = _write_in_thread(lambda: [sink.write(classify_result(i)) for i in range(1, 100)])
    assert not thread.is_alive(), "write() blocked on a stuck sink"
    assert sink.dropped == 95  # 99 written while stuck, 4 kept
    assert sink.pending == 4
    inner.gate.set()
    assert sink.close(timeout=10)
    assert [r.frame for r in inner.items] == [0, 96, 97, 98, 99]
    assert inner.closed


def test_events_are_kept_when_the_queue_is_full_of_results() -> None:
    inner = GatedSink()
    sink = QueuedSink(inner, maxsize=3)
    sink.write(classify_result(0))
    assert inner.entered.wait(10)
    for i in range(1, 4):
        sink.write(classify_result(i))
    sink.write(StreamEvent("source_offline", time.time(), "test"))
    sink.write(classify_result(4))
    inner.gate.set()
    assert sink.close(timeout=10)
    kinds = [getattr(item, "event", None) or item.frame for item in inner.items]
    assert kinds == [0, 3, "source_offline", 4]
    assert sink.dropped == 2


def test_the_result_a_rule_event_was_made_from_is_kept_with_it() -> None:
    inner = GatedSink()
    sink = QueuedSink(inner, maxsize=3)
    sink.write(classify_result(0))
    assert inner.entered.wait(10)
    sink.write(classify_result(1))
    sink.write(StreamEvent("rule", time.time(), "test", rule="door", state="on", frame=1))
    for i in range(2, 6):
        sink.write(classify_result(i))
    inner.gate.set()
    assert sink.close(timeout=10)
    kinds = [getattr(item, "state", None) or item.frame for item in inner.items]
    assert kinds == [0, 1, "on", 5], "a snapshot of the event can draw its result"


def test_close_delivers_everything_queued_then_closes_the_inner_sink() -> None:
    inner = GatedSink()
    sink = QueuedSink(inner, maxsize=50)
    for i in range(20):
        sink.write(classify_result(i))
    inner.gate.set()
    assert sink.close(timeout=10) is True
    assert [r.frame for r in inner.items] == list(range(20))
    assert inner.closed and sink.dropped == 0 and sink.written == 20


def test_close_gives_up_on_a_stuck_sink_and_counts_what_it_could_not_deliver() -> None:
    inner = GatedSink()
    sink = QueuedSink(inner, maxsize=10)
    for i in range(5):
        sink.write(classify_result(i))
    assert inner.entered.wait(10)
    assert sink.close(timeout=0.2) is False
    assert sink.dropped == 4  # the one in the stuck write() may still land
    sink.write(classify_result(99))  # after close: dropped, not queued
    assert sink.dropped == 5
    inner.gate.set()


def test_a_sink_that_raises_is_counted_and_the_queue_keeps_going() -> None:
    class Flaky:
        name = "flaky"

        def __init__(self) -> None:
            self.items: list[int] = []

        def write(self, item, frame=None, stats=None) -> None:  # noqa: ANN001
            if item.frame % 2:
                raise OSError("disk full")
            self.items.append(item.frame)

        def close(self) -> None:
            pass

    inner = Flaky()
    sink = QueuedSink(inner, maxsize=100)
    for i in range(10):
        sink.write(classify_result(i))
    assert sink.close(timeout=10)
    assert inner.items == [0, 2, 4, 6, 8]
    assert sink.errors == 5


def test_dropped_includes_what_the_inner_sink_dropped_itself() -> None:
    class Lossy(GatedSink):
        dropped = 7

    inner = Lossy()
    inner.gate.set()
    sink = QueuedSink(inner, maxsize=5)
    assert sink.dropped == 7
    sink.close()


def test_queue_size_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="maxsize must be >= 1, got 0"):
        QueuedSink(GatedSink(), maxsize=0)


def test_close_sinks_closes_all_even_when_one_raises() -> None:
    class Broken(GatedSink):
        name = "broken"

        def close(self) -> None:
            raise RuntimeError("boom")

    good, bad = GatedSink(), Broken()
    result = close_sinks([good, bad], timeout=5)
    assert result == {"gated": True, "broken": False}
    assert good.closed


def test_close_sinks_reports_each_sink_even_when_two_share_a_name() -> None:
    class Broken(GatedSink):
        def close(self) -> None:
            raise RuntimeError("boom")

    first, second, third = GatedSink(), Broken(), GatedSink()
    assert sink_names([first, second, third]) == ["gated", "gated#2", "gated#3"]
    assert close_sinks([first, second, third], timeout=5) == {"gated": True, "gated#2": False,
                                                             "gated#3": True}
    assert first.closed and third.closed
