"""Newest-frame capture of a live source, with a watchdog that reopens it.

A reader thread reads the source as fast as it delivers and puts each frame
in a one-slot :class:`~edgekit.sources.capture.Mailbox`. A watchdog thread
checks that good frames keep coming: when none came for ``stall_timeout``
seconds (a camera unplugged, a stream gone, a read stuck in a driver, a run of
unreadable frames), it emits ``source_offline``, abandons the reader (a stuck
native call cannot be interrupted; the thread is a daemon and closes its handle
if the call ever returns) and opens a fresh source in a new thread, waiting
1, 2, 4 … (at most 30) seconds between attempts. The first good frame after
that emits ``source_online``.
"""

from __future__ import annotations

import collections
import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputError, SourceError
from ..results import StreamEvent
from .base import Frame, Source
from .capture import Mailbox, frame_input, open_with_timeout

__all__ = ["Backoff", "LiveCapture", "looks_like_image"]

log = logging.getLogger("edgekit.sources")

BAD_FRAME_PAUSE = 0.005  # after a bad frame: a source that fails instantly must not spin a core


def looks_like_image(frame: Any) -> bool:
    """A non-empty ``H×W`` or ``H×W×{1,3,4}`` array (what pre-processing can convert)."""
    return (isinstance(frame, np.ndarray) and frame.ndim in (2, 3) and frame.size > 0
            and min(frame.shape[:2]) > 0 and (frame.ndim == 2 or frame.shape[2] in (1, 3, 4)))


class Backoff:
    """Delays between reconnection attempts: ``first``, doubled each failure, at most ``cap``."""

    def __init__(self, first: float = 1.0, cap: float = 30.0) -> None:
        self.first, self.cap = first, cap
        self.delay = first

    def next(self) -> float:
        """The delay to wait now; the following one is doubled."""
        delay = self.delay
        self.delay = min(self.delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first


class _State(enum.Enum):
    ONLINE = "online"
    WAITING = "waiting"  # offline, waiting for the next attempt
    CONNECTING = "connecting"  # a reader is opening / waiting for its first frame


class LiveCapture:
    """Keeps the newest frame of a live source; reopens it when it stalls.

    Args:
        factory: Makes a fresh (unopened) source; called again for each reconnection.
        stall_timeout: Seconds without a good frame before the source counts as offline.
        reconnect: Reopen after a stall or loss (``False``: the end of the source ends
            the capture, as for a file played with ``--realtime``).
        backoff: Delays between reconnection attempts.
        open_timeout: Seconds the first open may take before ``SourceOpenError``.
    """

    live = True

    def __init__(self, factory: Callable[[], Source], stall_timeout: float = 5.0,
                 reconnect: bool = True, backoff: Backoff | None = None,
                 open_timeout: float | None = None) -> None:
        self._factory = factory
        self._first: Source = factory()
        self.name = self._first.name
        self.stall_timeout = stall_timeout
        self.reconnect = reconnect
        self.backoff = backoff or Backoff()
        self.open_timeout = open_timeout or max(10.0, stall_timeout)
        self.mailbox = Mailbox()
        self.bad_frames = 0
        self.reconnects = 0
        self._lock = threading.Lock()
        self._events: collections.deque[StreamEvent] = collections.deque()
        self._gen = 0
        self._current: Source | None = None
        self._current_gen = 0
        self._last_good = time.monotonic()
        self._attempt_start = 0.0
        self._lost: tuple[int, str] | None = None
        self._ended = threading.Event()
        self._stopping = threading.Event()
        self._last_index = -1
        self._watchdog: threading.Thread | None = None
        self._readers: list[threading.Thread] = []

    # -- public interface (shared with FileCapture) --------------------------------
    def start(self) -> None:
        """Open the source now (raises ``SourceOpenError``), then capture in the background."""
        open_with_timeout(self._first, self.open_timeout)
        self._last_good = time.monotonic()
        self._spawn(self._first, opened=True)
        self._watchdog = threading.Thread(target=self._watch, name="edgekit-watchdog", daemon=True)
        self._watchdog.start()

    def take(self, timeout: float, min_index: int = 0, not_before: float = 0.0) -> Frame | None:
        """The newest frame (see :meth:`Mailbox.take`)."""
        return self.mailbox.take(timeout, min_index, not_before)

    @property
    def finished(self) -> bool:
        """True when the source ended and will not be reopened, and its last frame was taken."""
        return self._ended.is_set() and not self.mailbox.pending

    @property
    def frames(self) -> int:
        return self.mailbox.published

    @property
    def dropped(self) -> int:
        return self.mailbox.dropped

    @property
    def skipped(self) -> int:
        return self.mailbox.skipped

    def drain_events(self) -> list[StreamEvent]:
        """Events since the last call (``source_offline``, ``source_online``)."""
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out

    def stop(self, timeout: float = 1.0) -> None:
        """Stop capturing; readers close their sources (waits at most ``timeout`` s)."""
        self._stopping.set()
        with self._lock:
            self._gen += 1
            current = self._current
        interrupt = getattr(current, "interrupt", None)
        if callable(interrupt):
            interrupt()
        self.mailbox.close()
        deadline = time.monotonic() + timeout
        for thread in [*self._readers, self._watchdog]:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in self._readers if t.is_alive()]
        if stuck:
            log.warning("%s: %d capture thread(s) still blocked in the source; abandoned",
                        self.name, len(stuck))

    # -- reader threads ------------------------------------------------------------
    def _spawn(self, source: Source, opened: bool) -> None:
        with self._lock:
            self._gen += 1
            gen = self._gen
            self._current, self._current_gen = source, gen
        self._readers = [t for t in self._readers if t.is_alive()]
        thread = threading.Thread(target=self._read, args=(gen, source, opened),
                                  name=f"edgekit-capture-{gen}", daemon=True)
        self._readers.append(thread)
        thread.start()

    def _is_current(self, gen: int) -> bool:
        return gen == self._gen and not self._stopping.is_set()

    def _read(self, gen: int, source: Source, opened: bool) -> None:
        try:
            if not opened:
                source.open()
            self._read_loop(gen, source)
        except SourceError as exc:
            self._lose(gen, str(exc))
        except Exception as exc:  # noqa: BLE001 - e.g. cv2.error: the watchdog reopens
            self._lose(gen, f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                shared = source is self._current and self._current_gen > gen
            if not shared:  # a reused Source instance may already serve a newer reader
                try:
                    source.close()
                except Exception as exc:  # noqa: BLE001
                    log.warning("%s: close failed: %s", self.name, exc)

    def _read_loop(self, gen: int, source: Source) -> None:
        offset: int | None = None
        counter = -1
        while self._is_current(gen):
            try:
                item = source.read()
            except InputError as exc:
                self.bad_frames += 1
                log.info("%s: bad frame skipped: %s", self.name, exc)
                time.sleep(BAD_FRAME_PAUSE)
                continue
            if item is None:
                self._lose(gen, "the source ended")
                return
            if not self._is_current(gen):
                return
            if not looks_like_image(item[0]):  # not a good frame: the stall clock runs on
                self.bad_frames += 1
                log.info("%s: bad frame skipped: %r", self.name, getattr(item[0], "shape", item[0]))
                time.sleep(BAD_FRAME_PAUSE)
                continue
            counter += 1
            position = getattr(source, "position", None)
            position = counter if not isinstance(position, int) else position
            if offset is None:  # keep indices increasing across reconnections
                offset = 0 if position > self._last_index else self._last_index + 1 - position
            index = position + offset
            self._last_index = index
            self._last_good = time.monotonic()
            self.mailbox.put(Frame(item[0], index, item[1], frame_input(source)))

    def _lose(self, gen: int, why: str) -> None:
        with self._lock:
            if gen == self._gen:
                self._lost = (gen, why)

    # -- watchdog ---------------------------------------------------------------------
    def _event(self, name: str, message: str | None = None) -> None:
        self._events.append(StreamEvent(name, time.time(), self.name, message))

    def _watch(self) -> None:
        state = _State.ONLINE
        next_attempt = 0.0
        tick = min(0.1, self.stall_timeout / 10)
        while not self._stopping.wait(tick):
            now = time.monotonic()
            with self._lock:
                lost, self._lost = self._lost, None
            stalled = now - self._last_good > self.stall_timeout
            if state is _State.ONLINE and (lost or stalled):
                why = lost[1] if lost else f"no frame for {self.stall_timeout:g} s"
                if not self.reconnect:
                    self._abandon()
                    self._ended.set()
                    return
                self._abandon()
                self._event("source_offline", why)
                state, next_attempt = _State.WAITING, now + self.backoff.next()
            elif state is _State.WAITING and now >= next_attempt:
                self._attempt()
                state = _State.CONNECTING
            elif state is _State.CONNECTING:
                if self._last_good > self._attempt_start:
                    self.backoff.reset()
                    self._event("source_online")
                    state = _State.ONLINE
                elif lost or now - self._attempt_start > self.stall_timeout:
                    self._abandon()
                    why = lost[1] if lost else f"no frame within {self.stall_timeout:g} s"
                    log.info("%s: reconnection failed: %s", self.name, why)
                    state, next_attempt = _State.WAITING, now + self.backoff.next()

    def _abandon(self) -> None:
        with self._lock:
            self._gen += 1

    def _attempt(self) -> None:
        self.reconnects += 1
        self._attempt_start = time.monotonic()
        try:
            source = self._factory()
        except Exception as exc:  # noqa: BLE001 - a failing factory is one more failed attempt
            self._lose(self._gen, f"{type(exc).__name__}: {exc}")
            return
        self._spawn(source, opened=False)

    def counters(self) -> dict[str, Any]:
        return {"frames": self.frames, "dropped": self.dropped, "skipped": self.skipped,
                "bad_frames": self.bad_frames, "reconnects": self.reconnects}
