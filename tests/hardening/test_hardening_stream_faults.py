"""Faults injected through the public stream API with fake sources and sinks.

Each test prints the recovery it measured (run with ``-s``): time from the
fault to the next result. Only lower bounds that the design guarantees
(backoff delays) are asserted on time; upper bounds are hang guards.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import zoo

import edgekit
from edgekit.errors import FrameInvalid, SourceOpenError
from edgekit.results import FrameResult, StreamEvent

FRAME_PERIOD = 1 / 60


@pytest.fixture(scope="module")
def model() -> edgekit.Model:
    with edgekit.load(zoo.digits_classifier("uint8"), threads=1) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    images, _ = zoo.digits()
    return np.repeat(images[0][:, :, None], 3, axis=2)


class Script:
    """Shared log of a fake source's instances; ``plans[i]`` drives instance ``i``."""

    def __init__(self, frame: np.ndarray, plans: list[Callable[[int], Any]]) -> None:
        self.frame, self.plans = frame, plans
        self.opens: list[float] = []
        self.closes = 0
        self.release = threading.Event()  # unblocks hung reads when the test ends
        self.made = 0

    def factory(self) -> FakeSource:
        plan = self.plans[min(self.made, len(self.plans) - 1)]
        self.made += 1
        return FakeSource(self, plan)


class FakeSource:
    """A live source that follows a plan: ``plan(n)`` → a frame, None, or an action."""

    live = True
    name = "fake"

    def __init__(self, script: Script, plan: Callable[[int], Any]) -> None:
        self.script, self.plan, self.n = script, plan, 0

    def open(self) -> None:
        self.script.opens.append(time.monotonic())
        if self.plan(-1) == "refuse":
            raise SourceOpenError("fake: camera unplugged")

    def read(self) -> tuple[np.ndarray, float] | None:
        action = self.plan(self.n)
        self.n += 1
        image = action
        if isinstance(action, str):
            if action == "hang":
                self.script.release.wait()
                return None
            if action == "lost":
                return None
            if action == "bad":
                raise FrameInvalid("fake: corrupt frame")
            image = self.script.frame
        time.sleep(FRAME_PERIOD)
        return image, time.time()

    def close(self) -> None:
        self.script.closes += 1


def good(n: int) -> str:
    return "good"


def then(count: int, fault: str) -> Callable[[int], str]:
    return lambda n: "good" if n < count else fault


def _drive(model: edgekit.Model, script: Script, onlines: int = 1, after_online: int = 10,
           limit_s: float = 30.0, **kwargs: Any) -> tuple[list[tuple[float, Any]], Any]:
    """Iterate a stream, keeping ``(time, item)`` for each result and event, until
    ``onlines`` ``source_online`` events came and ``after_online`` results followed the last
    (or ``limit_s`` passed: a hang guard)."""
    seen: list[tuple[float, Any]] = []
    online_count, results_since = 0, 0
    running = edgekit.stream(model, source=script.factory, events=True, **kwargs)
    guard = threading.Timer(limit_s, running.stop, args=("test time limit",))
    guard.start()
    try:
        for item in running:
            seen.append((time.monotonic(), item))
            if isinstance(item, StreamEvent) and item.event == "source_online":
                online_count, results_since = online_count + 1, 0
            elif isinstance(item, FrameResult):
                results_since += 1
            if online_count >= onlines and results_since >= after_online:
                break
        summary = running.close()
    finally:
        guard.cancel()
        script.release.set()
    return seen, summary


def _events(seen: list[tuple[float, Any]]) -> list[tuple[float, StreamEvent]]:
    return [(t, i) for t, i in seen if isinstance(i, StreamEvent)]


def _recovery(seen: list[tuple[float, Any]], which: int = 0) -> float:
    """Seconds from the last result before a ``source_offline`` (the first, or ``which``-th)
    to the first result after it."""
    offline = [k for k, (_, i) in enumerate(seen)
               if isinstance(i, StreamEvent) and i.event == "source_offline"][which]
    before = max(t for t, i in seen[:offline] if isinstance(i, FrameResult))
    after = min(t for t, i in seen[offline:] if isinstance(i, FrameResult))
    return after - before


def test_a_read_that_hangs_forever_is_caught_by_the_watchdog_and_the_source_replaced(model, frame) -> None:
    script = Script(frame, [then(15, "hang"), good])
    seen, summary = _drive(model, script, stall_timeout=1.0)
    names = [e.event for _, e in _events(seen)]
    assert names[:2] == ["source_offline", "source_online"], names
    offline = _events(seen)[0][1]
    assert "no frame for 1 s" in (offline.message or "")
    assert script.made >= 2  # the hung instance and its replacement
    results = [i for _, i in seen if isinstance(i, FrameResult)]
    assert len(results) >= 25
    assert [r.frame for r in results] == sorted(r.frame for r in results)
    print(f"\nhung read: recovered in {_recovery(seen):.2f} s (stall_timeout 1 s, backoff 1 s); "
          f"reconnects {summary.reconnects}")


@pytest.mark.slow  # real backoff waits
def test_a_disconnect_reconnects_with_doubling_backoff(model, frame) -> None:
    refuse = lambda n: "refuse" if n < 0 else "good"
    script = Script(frame, [then(10, "lost"), then(30, "lost"), refuse, refuse, good])
    seen, summary = _drive(model, script, onlines=2, stall_timeout=2.0)
    names = [e.event for _, e in _events(seen)]
    assert names[:4] == ["source_offline", "source_online", "source_offline", "source_online"], names
    attempts = script.opens[-3:]  # two refused opens, then the one that worked
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 1.9 and gaps[1] >= 3.9, gaps  # backoff 1, 2, 4 s: each wait at least doubles
    assert summary.reconnects >= 4
    print(f"\ndisconnect: recovered in {_recovery(seen):.2f} s; with 2 refused reopens in "
          f"{_recovery(seen, -1):.2f} s; the gaps between attempts "
          f"were {', '.join(f'{g:.2f}' for g in gaps)} s (backoff doubling)")


def test_a_stream_of_unreadable_frames_makes_the_source_reconnect(model, frame) -> None:
    script = Script(frame, [then(8, "bad"), good])
    seen, summary = _drive(model, script, stall_timeout=1.0)
    assert [e.event for _, e in _events(seen)][:2] == ["source_offline", "source_online"]
    assert summary.bad_frames > 10
    assert sum(isinstance(i, FrameResult) for _, i in seen) >= 18
    print(f"\nunreadable frames (InputError): recovered in {_recovery(seen):.2f} s; "
          f"bad frames counted {summary.bad_frames}")


@pytest.mark.parametrize("bad", ["none-image", "empty", "two-channel", "nan"])
def test_invalid_frame_arrays_are_counted_and_never_kill_the_pipeline(model, frame, bad: str) -> None:
    arrays = {"none-image": None, "empty": np.zeros((0, 0, 3), np.uint8),
              "two-channel": np.zeros((8, 8, 2), np.uint8),
              "nan": np.full((8, 8, 3), np.nan, np.float32)}
    plan = lambda n: arrays[bad] if 5 <= n < 25 else "good"
    script = Script(frame, [plan])
    running = edgekit.stream(model, source=script.factory, max_frames=15, stall_timeout=5.0)
    results = list(running)
    summary = running.summary()
    script.release.set()
    assert len(results) == 15
    assert summary.bad_frames >= 10  # live: a bad frame replaced by a newer one is dropped, not counted


def test_a_source_stuck_on_invalid_frame_arrays_is_reconnected(model, frame) -> None:
    stuck = lambda n: "good" if n < 5 else np.zeros((0, 0, 3), np.uint8)
    script = Script(frame, [stuck, good])
    seen, _ = _drive(model, script, stall_timeout=1.0, limit_s=8.0)
    assert "source_online" in [e.event for _, e in _events(seen)]


class SlowSink:
    name = "slow"

    def __init__(self, delay: float) -> None:
        self.delay, self.items = delay, 0

    def write(self, item: Any, frame: Any = None, stats: Any = None) -> None:
        time.sleep(self.delay)
        self.items += 1

    def close(self) -> None:
        pass


class RecordingSink:
    name = "fast"

    def __init__(self) -> None:
        self.results: list[FrameResult] = []
        self.events: list[StreamEvent] = []

    def write(self, item: Any, frame: Any = None, stats: Any = None) -> None:
        (self.results if isinstance(item, FrameResult) else self.events).append(item)

    def close(self) -> None:
        pass


class BrokenSink:
    name = "broken"

    def write(self, item: Any, frame: Any = None, stats: Any = None) -> None:
        raise OSError("disk full")

    def close(self) -> None:
        raise OSError("disk still full")


def test_a_slow_sink_never_blocks_inference_and_its_drops_are_counted(model, frame) -> None:
    slow, fast = SlowSink(0.3), RecordingSink()
    script = Script(frame, [good])
    t0 = time.monotonic()
    running = edgekit.stream(model, source=script.factory, sinks=[slow, fast, BrokenSink()],
                             queue_size=4, max_frames=60)
    results = list(running)
    elapsed = time.monotonic() - t0
    summary = running.summary()
    script.release.set()
    assert len(results) == 60 and len(fast.results) == 60
    assert fast.events and fast.events[-1].event == "stopped"
    assert summary.sink_drops["slow"] > 0 and summary.sink_drops.get("fast", 0) == 0
    assert elapsed < 60 * slow.delay / 2  # inference did not wait for the slow sink
    print(f"\nslow sink (0.3 s/write): 60 results in {elapsed:.2f} s, slow sink wrote {slow.items}, "
          f"dropped {summary.sink_drops['slow']}")
