"""Capture: how frames get from a source to the pipeline.

Two ways, one interface (``start``, ``take``, ``finished``, ``drain_events``,
``stop`` and the counters):

- :class:`~edgekit.sources.live.LiveCapture` (cameras, streams, ``demo``): a
  thread reads as fast as the source delivers and keeps only the newest frame
  in a :class:`Mailbox`; frames replaced before the model took them are dropped.
- :class:`FileCapture` (files, folders): a thread decodes ahead into a short
  queue and the pipeline takes *every* frame in order; nothing is dropped.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import InputError, SourceError, SourceOpenError
from ..results import StreamEvent
from .base import Frame, Source

__all__ = ["FileCapture", "Mailbox", "frame_input", "open_with_timeout"]

log = logging.getLogger("edgekit.sources")

PREFETCH = 4  # frames a file reader decodes ahead of the model


class Mailbox:
    """A one-slot mailbox: ``put`` replaces, ``take`` waits for the newest frame.

    A frame replaced before it was taken is counted as ``dropped`` when the
    consumer was busy, or as ``skipped`` when the consumer chose not to take
    it (waiting for ``not_before`` or for an index ``>= min_index``).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._idle = False
        self._min_index = 0
        self._closed = False
        self.published = 0
        self.dropped = 0
        self.skipped = 0

    def put(self, frame: Frame) -> None:
        """Publish ``frame`` (never blocks)."""
        with self._cond:
            old = self._frame
            if old is not None:
                if self._idle or old.index < self._min_index:
                    self.skipped += 1
                else:
                    self.dropped += 1
            self._frame = frame
            self.published += 1
            self._cond.notify_all()

    def take(self, timeout: float, min_index: int = 0, not_before: float = 0.0) -> Frame | None:
        """The newest frame with ``index >= min_index``, not before ``not_before`` (monotonic).

        Returns ``None`` when ``timeout`` passes first or the mailbox is closed.
        """
        end = time.monotonic() + timeout
        with self._cond:
            self._min_index = min_index
            self._idle = True
            try:
                while time.monotonic() < not_before and not self._closed:
                    if not self._cond.wait(min(not_before, end) - time.monotonic()) \
                            and time.monotonic() >= end:
                        return None
            finally:
                self._idle = False
            while not self._closed and (self._frame is None or self._frame.index < min_index):
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame, self._frame = self._frame, None
            return frame

    @property
    def pending(self) -> bool:
        with self._cond:
            return self._frame is not None

    def close(self) -> None:
        """Wake every waiting ``take``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def frame_input(source: Source) -> str | None:
    """The path the source's last frame came from (image folders), else ``None``."""
    value = getattr(source, "input", None)
    return value if isinstance(value, str) else None


def open_with_timeout(source: Source, timeout: float) -> None:
    """``source.open()``, but give up after ``timeout`` s (a stream that never answers).

    An open that finishes after the caller gave up closes the source again, so a
    late camera or stream is not left open with nobody to release it.

    Raises:
        SourceOpenError: The open failed or did not finish in time.
    """
    outcome: list[BaseException | None] = []
    lock = threading.Lock()
    abandoned = False

    def _open() -> None:
        try:
            source.open()
            result = None
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            result = exc
        with lock:
            outcome.append(result)
            late = abandoned
        if late:
            _close_late(source)

    thread = threading.Thread(target=_open, name=f"edgekit-open-{source.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    with lock:
        abandoned = not outcome
    if abandoned:
        raise SourceOpenError(f"{source.name}: did not open within {timeout:g} s")
    error = outcome[0]
    if isinstance(error, SourceError):
        raise error
    if isinstance(error, OSError | RuntimeError | ValueError):
        raise SourceOpenError(f"{source.name}: {type(error).__name__}: {error}") from error
    if error is not None:
        raise error


def _close_late(source: Source) -> None:
    """Release a source whose open finished after its caller gave up on it."""
    log.info("%s: opened after the timeout; closing it", source.name)
    try:
        source.close()
    except Exception as exc:  # noqa: BLE001 - nobody is left to report it to
        log.warning("%s: close after a late open failed: %s", source.name, exc)


class FileCapture:
    """Reads a non-live source ahead of the model; hands over every frame in order."""

    live = False

    def __init__(self, source: Source, open_timeout: float = 30.0,
                 prepare: Callable[[Any], tuple[Any, Any]] | None = None) -> None:
        self.source = source
        self._prepare = prepare
        self.name = source.name
        self.open_timeout = open_timeout
        self.bad_frames = 0
        self.frames = 0
        self.skipped = 0
        self.dropped = 0  # always 0: a file never drops
        self.error: str | None = None
        self._queue: collections.deque[Frame | None] = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Open the source (raises ``SourceOpenError``) and start reading ahead."""
        open_with_timeout(self.source, self.open_timeout)
        self._thread = threading.Thread(target=self._read_all, name="edgekit-file-reader", daemon=True)
        self._thread.start()

    def _read_all(self) -> None:
        counter = -1
        try:
            while not self._stopping:
                try:
                    item = self.source.read()
                except InputError as exc:
                    self.bad_frames += 1
                    log.info("%s: bad frame skipped: %s", self.name, exc)
                    continue
                if item is None:
                    break
                counter += 1
                index = getattr(self.source, "position", counter)
                self.frames += 1
                frame = Frame(item[0], int(index), item[1], frame_input(self.source))
                self._push(self._prepared(frame) if self._prepare else frame)
        except Exception as exc:  # noqa: BLE001 - a broken file ends the stream, with a reason
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("%s: reading stopped: %s", self.name, self.error)
        finally:
            self._push(None, force=True)
            try:
                self.source.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("%s: close failed: %s", self.name, exc)

    def _prepared(self, frame: Frame) -> Frame:
        """Pre-process on this thread, in parallel with the model (no frame is wasted)."""
        assert self._prepare is not None
        t0 = time.perf_counter()
        try:
            tensor, transform = self._prepare(frame.image)
        except InputError:
            return frame  # the model's thread counts it as bad
        pre_ms = (time.perf_counter() - t0) * 1e3
        return dataclasses.replace(frame, tensor=tensor, transform=transform, pre_ms=pre_ms)

    def _push(self, frame: Frame | None, force: bool = False) -> None:
        with self._cond:
            while not force and len(self._queue) >= PREFETCH and not self._stopping:
                self._cond.wait(0.5)
            self._queue.append(frame)
            self._cond.notify_all()

    def take(self, timeout: float, min_index: int = 0, not_before: float = 0.0) -> Frame | None:
        """The next frame with ``index >= min_index`` (earlier ones are skipped on purpose)."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                wait = max(not_before - time.monotonic(), 0.0)
                if not wait and self._queue:
                    frame = self._queue[0]
                    if frame is None:
                        return None  # the end marker stays: finished
                    self._queue.popleft()
                    self._cond.notify_all()
                    if frame.index >= min_index:
                        return frame
                    self.skipped += 1
                    continue
                remaining = end - time.monotonic()
                if remaining <= 0 or self._stopping:
                    return None
                self._cond.wait(min(remaining, wait) if wait else remaining)

    @property
    def finished(self) -> bool:
        """True once every frame was taken."""
        with self._cond:
            return bool(self._queue) and self._queue[0] is None

    def drain_events(self) -> list[StreamEvent]:
        return []

    def stop(self, timeout: float = 1.0) -> None:
        """Stop reading; the reader closes the source (waits at most ``timeout`` s)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def counters(self) -> dict[str, Any]:
        return {"frames": self.frames, "dropped": 0, "skipped": self.skipped,
                "bad_frames": self.bad_frames}
