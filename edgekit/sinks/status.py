"""The live status line on a terminal (through ``rich``).

One line, rewritten in place at most a few times a second: FPS, latency
p50/p95, dropped frames, the top result and the board temperature when the
board exposes it. Stream events are printed above it as they happen, except
``stopped``: why a stream stopped is the summary's to say (``edgekit run``
prints it), once.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..errors import ExtraMissing
from ..results import FrameResult, StreamEvent, StreamStats

__all__ = ["StatusSink", "status_text", "top_text"]


def top_text(result: FrameResult) -> str:
    """The best class or the detections of ``result`` in a few words."""
    pred = result.prediction
    if pred.task == "classify":
        if not pred.classes:
            return "-"
        best = pred.classes[0]
        return f"top {best.label if best.label is not None else best.id} (score {best.score:.2f})"
    if pred.task == "detect":
        if not pred.detections:
            return "0 objects"
        names: dict[str, int] = {}
        for det in pred.detections:
            key = str(det.label if det.label is not None else det.id)
            names[key] = names.get(key, 0) + 1
        listed = ", ".join(f"{n}×{k}" if n > 1 else k for k, n in list(names.items())[:4])
        return f"{len(pred.detections)} objects: {listed}"
    return f"{len(pred.tensors)} tensors"


def status_text(result: FrameResult | None, stats: StreamStats | None) -> str:
    """The status line for the latest ``result`` and ``stats`` (pure).

    Example: ``frame 120 | 29.8 fps | latency p50 12.1 ms p95 15.0 ms | dropped 3 | top three (score 0.97) | 54.2°C``
    """
    parts: list[str] = []
    if result is not None:
        parts.append(f"frame {result.frame}")
    if stats is not None:
        parts.append(f"{stats.fps:.1f} fps")
        parts.append(f"latency p50 {stats.latency_p50:.1f} ms p95 {stats.latency_p95:.1f} ms")
        drops = stats.dropped + sum(stats.sink_drops.values())
        parts.append(f"dropped {stats.dropped}" if drops == stats.dropped
                     else f"dropped {stats.dropped} (+{drops - stats.dropped} in sinks)")
        if stats.bad_frames:
            parts.append(f"bad {stats.bad_frames}")
    elif result is not None:
        parts.append(f"latency {result.latency.total:.1f} ms")
    if result is not None:
        parts.append(top_text(result))
    if stats is not None and isinstance(stats.thermal.get("temp_c"), (int, float)):
        temp = f"{stats.thermal['temp_c']:.1f}°C"
        throttled = [t for t in stats.thermal.get("throttled", []) or [] if "occurred" not in t]
        parts.append(f"{temp} {','.join(throttled)}".rstrip())
    return " | ".join(parts) if parts else "waiting for the first frame…"


class StatusSink:
    """Shows :func:`status_text` as a live line on a ``rich`` console.

    Args:
        console: A ``rich.console.Console`` (default: a new one on stdout).
        refresh_per_second: At most this many redraws per second.
    """

    name = "status"

    def __init__(self, console: Any = None, refresh_per_second: float = 4.0) -> None:
        try:
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text
        except ImportError:  # rich is a runtime dependency; say so if it went missing
            raise ExtraMissing("the status line", "rich", "rich") from None
        self._text = Text
        self.console = console if console is not None else Console()
        self._live = Live(Text(status_text(None, None)), console=self.console,
                          auto_refresh=False, transient=False, redirect_stdout=False,
                          redirect_stderr=False)
        self._live.start()
        self._interval = 1.0 / refresh_per_second
        self._last = 0.0
        self._result: FrameResult | None = None
        self._stats: StreamStats | None = None
        self._closed = False

    def write(self, item: FrameResult | StreamEvent, frame: np.ndarray | None = None,
              stats: StreamStats | None = None) -> None:
        """Update the line (throttled); print events other than ``stopped`` above it."""
        if self._closed:
            return
        if isinstance(item, StreamEvent):
            if item.event != "stopped":
                stamp = time.strftime("%H:%M:%S", time.localtime(item.ts))
                message = f" — {item.message}" if item.message else ""
                # rich draws the live line again below what is printed: no refresh of our own
                self._live.console.print(f"[{stamp}] {item.source}: {item.event}{message}",
                                         markup=False, highlight=False)
            return
        self._result = item
        if stats is not None:
            self._stats = stats
        self._refresh()

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._live.update(self._text(status_text(self._result, self._stats)), refresh=True)

    def close(self) -> None:
        """Draw the last line once and leave it on the terminal."""
        if self._closed:
            return
        self._closed = True
        self._live.update(self._text(status_text(self._result, self._stats)), refresh=False)
        self._live.stop()  # draws it
