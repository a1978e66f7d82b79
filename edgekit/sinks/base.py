"""The sink protocol: where stream results go (JSON lines, video, web, MQTT, …)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ..results import FrameResult, StreamEvent

__all__ = ["Sink", "StreamStats"]


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Rolling statistics of a running stream, handed to sinks with each result.

    Attributes:
        fps: Results per second over the rolling window.
        latency_p50, latency_p95: Total latency percentiles (ms) over the window.
        age_p50: Frame age at invoke start, median (ms).
        frames: Frames the source produced so far.
        inferred: Frames that went through the model.
        dropped: Frames never inferred (newer ones replaced them).
        bad_frames: Frames that could not be used (unreadable, invalid).
        sink_drops: Results dropped per sink because it was too slow.
        thermal: Temperature (°C) and throttling flags when the board exposes them.
    """

    fps: float = 0.0
    latency_p50: float = 0.0
    latency_p95: float = 0.0
    age_p50: float = 0.0
    frames: int = 0
    inferred: int = 0
    dropped: int = 0
    bad_frames: int = 0
    sink_drops: dict[str, int] = field(default_factory=dict)
    thermal: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "fps": round(self.fps, 2),
            "latency_p50": round(self.latency_p50, 2),
            "latency_p95": round(self.latency_p95, 2),
            "age_p50": round(self.age_p50, 2),
            "frames": self.frames,
            "inferred": self.inferred,
            "dropped": self.dropped,
            "bad_frames": self.bad_frames,
            "sink_drops": dict(self.sink_drops),
            "thermal": dict(self.thermal),
        }


@runtime_checkable
class Sink(Protocol):
    """Receives every result (and event) of a stream, in order.

    ``frame`` is the source frame the result was computed on (BGR ``uint8``),
    for sinks that draw; ``None`` for events. A sink must not block for long:
    the stream wraps slow sinks in a bounded queue and counts what it drops.
    """

    name: str

    def write(
        self,
        item: FrameResult | StreamEvent,
        frame: np.ndarray | None = None,
        stats: StreamStats | None = None,
    ) -> None: ...

    def close(self) -> None: ...
