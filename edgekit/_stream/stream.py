"""The real-time loop behind :func:`edgekit.stream`: newest frame → model → results, sinks, events.

A :class:`Stream` owns the capture (a :class:`~edgekit.sources.live.LiveCapture` that keeps only
the newest frame, or a :class:`~edgekit.sources.capture.FileCapture` that hands over every
frame), runs the model on the stream's thread, and hands each result to the callbacks and to
the sinks (each behind a bounded queue) with rolling :class:`~edgekit.results.StreamStats`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .._actions.hooks import StreamActions
from .._actions.rules import Rule
from ..errors import ConfigError, InputError
from ..model import Model
from ..results import FrameResult, Latency, StreamEvent, StreamStats
from ..sources import SourceOptions, SourceSpec, source_factory
from ..sources.base import Frame
from ..sources.capture import FileCapture
from ..sources.live import LiveCapture
from .sdnotify import notify, watchdog_interval
from .stats import RollingStats, StreamSummary, ThermalSampler
from .updates import ModelUpdates

__all__ = ["Stream"]

log = logging.getLogger("edgekit.stream")

Capture = LiveCapture | FileCapture
POLL_S = 0.1  # longest the loop waits for a frame before it looks at stop/limits/events
CAPTURE_STOP_S = 0.5  # shutdown budget: capture threads, then sinks (2 s in all)
SINKS_CLOSE_S = 1.2


def _names(sinks: list[Any]) -> list[str]:
    if not sinks:
        return []
    from ..sinks.queued import (
        sink_names,  # only then: the sinks package imports every sink
    )

    return sink_names(sinks)


class Stream:
    """A running (or ready) real-time stream; create it with :func:`edgekit.stream`.

    Iterate it for :class:`FrameResult`\\ s, or call :meth:`run` to drive it for
    the callbacks and sinks only. It is a context manager; :meth:`close` (or
    leaving the ``with`` block, or the end of the iteration) stops the capture,
    flushes and closes every sink, and releases the camera.
    """

    def __init__(self, model: Model, source: SourceSpec, *, own_model: bool, sinks: list[Any],
                 on_result: list[Callable[[FrameResult], Any]],
                 on_event: list[Callable[[StreamEvent], Any]], events: bool,
                 source_options: SourceOptions, max_fps: float | None, every: int,
                 max_frames: int | None, duration: float | None, stall_timeout: float,
                 prepare_ahead: bool = True, rules: tuple[Rule, ...] = (),
                 reloader: Any = None) -> None:
        self.model = model
        self._updates = ModelUpdates(reloader, model, own_model)  # live model updates
        self.sinks = sinks
        self._sink_names = _names(sinks)
        self._own_model = own_model
        self._on_result, self._on_event, self._events = on_result, on_event, events
        self._factory = source_factory(source, source_options)
        self._stall_timeout = stall_timeout
        self._interval = 1.0 / max_fps if max_fps else 0.0
        self._every, self._max_frames, self._duration = every, max_frames, duration
        self._prepare_ahead = prepare_ahead
        self._capture: Capture | None = None
        self._stop = threading.Event()
        self._reason = ""
        self._started = False
        self._closed = False
        self._pipeline_bad = 0
        self._stats = RollingStats(time.monotonic())
        self._thermal: ThermalSampler | None = None
        self._summary: StreamSummary | None = None
        self._last_frame: Frame | None = None
        self._actions = StreamActions(rules, sinks)
        self.source_name = "?"

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> Stream:
        """Open the source and start capturing (done by the first iteration otherwise).

        A stream that cannot start is closed at once: its sinks, and the model
        when it loaded it.

        Raises:
            SourceOpenError: The source cannot be opened (one-line reason).
        """
        if self._started:
            return self
        if self._closed:
            raise ConfigError("this stream is closed; create a new one with edgekit.stream()")
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        first = self._factory()
        self.source_name = first.name
        # Files: pre-process on the reader thread, in parallel with the model (every
        # frame is inferred, so none is pre-processed for nothing). Live sources:
        # only the frame the model takes is pre-processed, on this thread.
        prepare = (lambda image: self.model.preprocess(image)) if self._prepare_ahead else None
        if first.live:
            factory = self._factory
            once = [first]
            capture: Capture = LiveCapture(
                lambda: once.pop() if once else factory(), stall_timeout=self._stall_timeout,
                reconnect=not getattr(first, "finite", False))
        else:
            capture = FileCapture(first, prepare=prepare)
        capture.start()
        self._capture = capture
        self._started = True
        self._stats = RollingStats(time.monotonic())
        self._thermal = ThermalSampler()
        self._updates.start()

    def stop(self, reason: str = "stopped") -> None:
        """Ask the stream to stop after the current frame (thread- and signal-safe)."""
        if not self._stop.is_set():
            self._reason = self._reason or reason
            self._stop.set()

    def __enter__(self) -> Stream:  # noqa: PYI034 - Python 3.10 has no typing.Self
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[FrameResult | StreamEvent]:
        self.start()
        try:
            yield from self._loop()
            if self._events:
                yield self._stopped_event()
        finally:
            self.close()

    def run(self) -> StreamSummary:
        """Drive the stream to its end (limits, end of file, :meth:`stop`); return the summary."""
        for _ in self:
            pass
        assert self._summary is not None
        return self._summary

    # -- the pipeline -----------------------------------------------------------------
    def _loop(self) -> Iterator[FrameResult | StreamEvent]:
        capture = self._capture
        assert capture is not None
        ready = False
        last_index = -self._every
        next_slot = 0.0
        ping_every = watchdog_interval()
        last_ping = time.monotonic()
        while True:
            self.model, swapped = self._updates.poll(self.model, self.source_name)  # between frames
            for event in swapped:
                self._emit_event(event)
                if self._events:
                    yield event
            for event in capture.drain_events() + self._actions.reported(self.source_name):
                self._emit_event(event)
                if self._events:
                    yield event
            if self._should_stop(capture):
                return
            frame = capture.take(POLL_S, min_index=last_index + self._every, not_before=next_slot)
            if frame is None:
                continue
            started = time.monotonic()
            result = self._infer(frame)
            if result is None:
                continue
            last_index, self._last_frame = frame.index, frame
            if self._interval:
                next_slot = started + self._interval
            self._emit_result(result, frame)
            acted = self._act(result, frame)
            if not ready:
                ready = notify("READY=1") or True
            if ping_every and time.monotonic() - last_ping >= ping_every:
                last_ping = time.monotonic()
                notify("WATCHDOG=1")
                notify(f"STATUS={self._stats.fps(last_ping):.1f} FPS, {self._stats.inferred} frames")
            yield result
            if self._events:
                yield from acted

    def _should_stop(self, capture: Capture) -> bool:
        if self._stop.is_set():
            return True
        if self._max_frames is not None and self._stats.inferred >= self._max_frames:
            self._reason = f"{self._max_frames} frames done"
            return True
        if self._duration is not None and time.monotonic() - self._stats.start >= self._duration:
            self._reason = f"{self._duration:g} s done"
            return True
        if capture.finished:
            error = getattr(capture, "error", None)
            self._reason = f"the source failed: {error}" if error else "end of the source"
            return True
        return False

    def _infer(self, frame: Frame) -> FrameResult | None:
        """Pre-process (unless done ahead), invoke, post-process one frame, timing each step.

        ``age + pre`` is always the frame's age when invoke started and
        ``total`` the time from capture to result: for a frame pre-processed
        ahead, ``age`` is that age minus the pre-processing time.
        """
        wall = time.time()
        t0 = time.perf_counter()
        tensor, transform, pre_ms = frame.tensor, frame.transform, frame.pre_ms
        if tensor is not None and self._updates.stale():  # pre-processed for a replaced model
            tensor = None
        if tensor is None:
            try:
                tensor, transform = self.model.preprocess(frame.image)
            except InputError as exc:
                self._pipeline_bad += 1
                log.info("%s: frame %d skipped: %s", self.source_name, frame.index, exc)
                return None
            pre_ms = (time.perf_counter() - t0) * 1e3
        t1 = time.perf_counter()
        outputs = self.model.invoke(tensor)
        t2 = time.perf_counter()
        pred = self.model.postprocess(outputs, transform)
        t3 = time.perf_counter()
        waited = (wall - frame.ts) * 1e3 + (t1 - t0) * 1e3 - pre_ms  # capture → start of pre
        latency = Latency(pre=pre_ms, invoke=(t2 - t1) * 1e3, post=(t3 - t2) * 1e3,
                          age=max(0.0, waited))
        pred = dataclasses.replace(pred, latency=latency, input=frame.input)
        self._stats.add(latency, time.monotonic())
        return FrameResult(frame=frame.index, ts=frame.ts, source=self.source_name, prediction=pred)

    def reload(self, path: str | None = None, sha256: str | None = None) -> None:
        """Load ``path`` (default: the model's file again) beside the running model; it takes
        over between two frames (a ``model_changed`` or ``model_rejected`` event follows).

        Raises:
            ConfigError: The stream was created without ``reload``.
        """
        if self._updates.reloader is None:
            raise ConfigError("this stream does not reload its model; create it with reload=True")
        self._updates.reloader.request("reload()", path, sha256)

    def _counters(self) -> dict[str, int]:
        counters = self._capture.counters() if self._capture is not None else {}
        counters["bad_frames"] = counters.get("bad_frames", 0) + self._pipeline_bad
        return counters

    def _sink_drops(self) -> dict[str, int]:
        return {name: int(getattr(s, "dropped", 0) or 0) for name, s in zip(self._sink_names, self.sinks)}

    @property
    def stats(self) -> StreamStats:
        """The rolling statistics now."""
        thermal = self._thermal.value if self._thermal else {}
        return self._stats.snapshot(time.monotonic(), self._counters(), self._sink_drops(), thermal)

    @property
    def last_frame(self) -> Frame | None:
        """The frame of the latest result (its ``image`` is the BGR array)."""
        return self._last_frame

    def _emit_result(self, result: FrameResult, frame: Frame) -> None:
        if self.sinks:  # the percentiles cost a little: only when someone reads them
            stats = self.stats
            for sink in self.sinks:
                sink.write(result, frame.image, stats)
        for callback in self._on_result:
            callback(result)

    def _act(self, result: FrameResult, frame: Frame) -> list[StreamEvent]:
        """The rule events of ``result``, sent to the sinks with the frame that caused them."""
        events = self._actions.update(result)
        for event in events:
            self._emit_event(event, frame.image)
        return events

    @property
    def rules(self) -> dict[str, bool]:
        """``{rule name: on}``: which rules hold now."""
        return self._actions.active

    def _emit_event(self, event: StreamEvent, image: Any = None) -> None:
        log.info("%s: %s %s", event.source, event.event, event.message or "")
        stats = self.stats
        for sink in self.sinks:
            sink.write(event, image, stats)
        for callback in self._on_event:
            callback(event)

    def _stopped_event(self) -> StreamEvent:
        return StreamEvent("stopped", time.time(), self.source_name, self._reason or "stopped")

    # -- shutdown -------------------------------------------------------------------
    def close(self) -> StreamSummary | None:
        """Stop capturing, flush and close the sinks, release the source; idempotent.

        Returns:
            The run's :class:`StreamSummary` (``None`` if it never started).
        """
        if self._closed:
            return self._summary
        self._closed = True
        self._stop.set()
        if self._started:
            notify("STOPPING=1")
            assert self._capture is not None
            self._capture.stop(CAPTURE_STOP_S)
            try:
                for event in self._actions.reported(self.source_name):  # e.g. a last storage_full
                    self._emit_event(event)
                self._emit_event(self._stopped_event())
            except Exception as exc:  # noqa: BLE001 - a failing callback must not block cleanup
                log.warning("stopped event: %s: %s", type(exc).__name__, exc)
        self._close_sinks()
        if self._thermal is not None:
            self._thermal.close()
        self._updates.close(self.model)  # the model runs (closed unless it is the caller's)
        if not self._started:
            return None
        self._summary = self._stats.summary(self.source_name, time.monotonic(), self._counters(),
                                            self._sink_drops(), self._reason or "stopped")
        return self._summary

    def _close_sinks(self) -> None:
        if not self.sinks:
            return
        from ..sinks.queued import close_sinks

        close_sinks(self.sinks, timeout=SINKS_CLOSE_S)

    def summary(self) -> StreamSummary:
        """The summary so far (final once the stream is closed)."""
        if self._summary is not None:
            return self._summary
        return self._stats.summary(self.source_name, time.monotonic(), self._counters(),
                                   self._sink_drops(), self._reason)
