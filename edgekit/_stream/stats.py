"""Rolling stream statistics (FPS, latency percentiles, frame age) and the run summary.

:class:`RollingStats` is pure bookkeeping: every method takes the current time,
so tests drive it with made-up clocks. It feeds the :class:`StreamStats` handed
to sinks with each result; :class:`StreamSummary` is what ``edgekit run`` prints
when it stops. :class:`ThermalSampler` reads the board temperature on a thread,
every few seconds (never per frame: ``vcgencmd`` takes milliseconds).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..results import Latency, StreamStats

__all__ = ["RollingStats", "StreamSummary", "ThermalSampler", "percentile"]

log = logging.getLogger("edgekit.stream")

WINDOW_S = 5.0  # rolling window of the live numbers
WINDOW_MAX = 1024  # results kept in the window at most
HISTORY_MAX = 20_000  # results kept for the end-of-run percentiles
PERCENTILES_EVERY_S = 0.1  # live percentiles are recomputed at most this often (each costs ~0.1 ms)
THERMAL_EVERY_S = 5.0


def percentile(values: Any, q: float) -> float:
    """The ``q``-th percentile of ``values`` (0.0 when empty)."""
    if len(values) == 0:
        return 0.0
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """What a finished stream did.

    Attributes:
        source: The source's name.
        seconds: Wall time from start to stop.
        frames: Frames the source delivered.
        inferred: Frames that went through the model.
        dropped: Frames replaced by newer ones before the model could take them.
        skipped: Frames passed over on purpose (``--every``, ``--max-fps``).
        bad_frames: Frames that could not be used.
        reconnects: Attempts to reopen the source.
        fps: ``inferred / seconds``.
        latency_p50, latency_p95, age_p50: Over the whole run, in ms.
        sink_drops: Results each sink dropped because it was too slow.
        reason: Why the stream stopped.
    """

    source: str
    seconds: float
    frames: int
    inferred: int
    dropped: int
    skipped: int
    bad_frames: int
    reconnects: int
    fps: float
    latency_p50: float
    latency_p95: float
    age_p50: float
    sink_drops: dict[str, int] = field(default_factory=dict)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = round(value, 2) if isinstance(value, float) else value
        return out

    def line(self) -> str:
        """One human line, e.g. for stderr at exit."""
        drops = sum(self.sink_drops.values())
        text = (f"{self.source}: {self.inferred} inferred of {self.frames} frames in "
                f"{self.seconds:.1f} s ({self.fps:.1f} FPS), {self.dropped} dropped, "
                f"{self.skipped} skipped, {self.bad_frames} bad; latency p50 "
                f"{self.latency_p50:.1f} ms p95 {self.latency_p95:.1f} ms, age p50 {self.age_p50:.1f} ms")
        if self.reconnects:
            text += f"; {self.reconnects} reconnection attempts"
        if drops:
            text += f"; sinks dropped {drops} results"
        return text + (f" — {self.reason}" if self.reason else "")


class _Ring:
    """A fixed-size float32 ring: memory is allocated once, so a long run's RSS stays flat."""

    def __init__(self, size: int) -> None:
        self._data = np.zeros(size, np.float32)
        self._count = 0

    def append(self, value: float) -> None:
        self._data[self._count % self._data.size] = value
        self._count += 1

    def values(self) -> np.ndarray:
        return self._data[: min(self._count, self._data.size)]


class RollingStats:
    """Keeps the recent results' timing and the run's counters.

    Args:
        start: Monotonic time the stream started.
        window: Seconds of results the live numbers cover.
    """

    def __init__(self, start: float, window: float = WINDOW_S) -> None:
        self.start = start
        self.window = window
        self.inferred = 0
        self._recent: collections.deque[tuple[float, float, float]] = collections.deque(
            maxlen=WINDOW_MAX)
        self._totals = _Ring(HISTORY_MAX)
        self._ages = _Ring(HISTORY_MAX)
        self._live: tuple[float, float, float, float] | None = None  # (at, p50, p95, age p50)

    def add(self, latency: Latency, now: float) -> None:
        """Record one result finished at monotonic time ``now``."""
        self.inferred += 1
        self._recent.append((now, latency.total, latency.age))
        self._totals.append(latency.total)
        self._ages.append(latency.age)

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - self.window:
            self._recent.popleft()

    def fps(self, now: float) -> float:
        """Results per second over the window (decays when results stop coming)."""
        self._trim(now)
        if len(self._recent) < 2:
            return 0.0
        span = now - self._recent[0][0]
        return (len(self._recent) - 1) / span if span > 0 else 0.0

    def snapshot(self, now: float, counters: Mapping[str, int],
                 sink_drops: Mapping[str, int] | None = None,
                 thermal: Mapping[str, object] | None = None) -> StreamStats:
        """The :class:`StreamStats` at ``now``; ``counters`` come from the capture."""
        fps = self.fps(now)
        # Sinks get stats with every result: on the stream's thread, the percentiles were
        # most of their cost. They move slowly; counters and FPS stay exact.
        if self._live is None or not 0 <= now - self._live[0] < PERCENTILES_EVERY_S:
            totals = [t for _, t, _ in self._recent]
            ages = [a for _, _, a in self._recent]
            self._live = (now, percentile(totals, 50), percentile(totals, 95), percentile(ages, 50))
        return StreamStats(
            fps=fps,
            latency_p50=self._live[1],
            latency_p95=self._live[2],
            age_p50=self._live[3],
            frames=int(counters.get("frames", 0)),
            inferred=self.inferred,
            dropped=int(counters.get("dropped", 0)),
            bad_frames=int(counters.get("bad_frames", 0)),
            sink_drops=dict(sink_drops or {}),
            thermal=dict(thermal or {}),
        )

    def summary(self, source: str, now: float, counters: Mapping[str, int],
                sink_drops: Mapping[str, int] | None = None, reason: str = "") -> StreamSummary:
        """The end-of-run :class:`StreamSummary`."""
        seconds = max(now - self.start, 1e-9)
        return StreamSummary(
            source=source,
            seconds=seconds,
            frames=int(counters.get("frames", 0)),
            inferred=self.inferred,
            dropped=int(counters.get("dropped", 0)),
            skipped=int(counters.get("skipped", 0)),
            bad_frames=int(counters.get("bad_frames", 0)),
            reconnects=int(counters.get("reconnects", 0)),
            fps=self.inferred / seconds,
            latency_p50=percentile(self._totals.values(), 50),
            latency_p95=percentile(self._totals.values(), 95),
            age_p50=percentile(self._ages.values(), 50),
            sink_drops=dict(sink_drops or {}),
            reason=reason,
        )


class ThermalSampler:
    """Samples the board temperature every few seconds on a thread (``vcgencmd`` is slow)."""

    def __init__(self) -> None:
        self.value: dict[str, object] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgekit-thermal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from .._device.thermal import read_thermal

        while True:
            try:
                self.value = read_thermal()
            except Exception as exc:  # noqa: BLE001 - stats must never stop the stream
                log.debug("thermal: %s", exc)
            if self._stop.wait(THERMAL_EVERY_S):
                return

    def close(self) -> None:
        self._stop.set()
