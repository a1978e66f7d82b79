"""The sink protocol: where stream results go (JSON lines, video, web, MQTT, …)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..results import FrameResult, StreamEvent, StreamStats

__all__ = ["Sink"]


@runtime_checkable
class Sink(Protocol):
    """Receives every result (and event) of a stream, in order.

    ``frame`` is the source frame the result was computed on (BGR ``uint8``),
    for sinks that draw; for a ``rule`` event, the frame that changed the rule;
    ``None`` for other events. A sink must not block for long:
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
