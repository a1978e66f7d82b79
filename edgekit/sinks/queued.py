"""``QueuedSink``: a bounded queue and a thread in front of any sink.

A slow sink (a disk that stalls, a network that drops, a window that is being
dragged) must never block inference. ``QueuedSink.write`` only appends to a
bounded queue and returns; a worker thread hands the items to the inner sink in
order. When the queue is full the **oldest queued result is dropped** (in real
time the newest result is the one that matters) and counted in ``dropped``;
stream events (``source_offline``, ``stopped``, …) are never dropped in favour
of a result, nor is the result a ``rule`` event was made from (a snapshot draws it).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..results import FrameResult, StreamEvent, StreamStats
from .base import Sink

__all__ = ["QueuedSink", "close_sinks", "sink_names"]

log = logging.getLogger("edgekit.sinks")

_Item = tuple[Any, "np.ndarray | None", "StreamStats | None"]


class QueuedSink:
    """Wraps ``sink`` with a bounded queue served by its own thread.

    Args:
        sink: Any object with the :class:`~edgekit.sinks.Sink` protocol.
        maxsize: Items the queue holds before it drops the oldest result.
        close_timeout: Seconds :meth:`close` waits for the queue to drain.

    Attributes:
        name: The inner sink's name.
        inner: The wrapped sink.
        written: Items the inner sink accepted.
        errors: Items whose ``write`` raised (logged once per error type).
    """

    def __init__(self, sink: Sink, maxsize: int = 64, close_timeout: float = 1.5) -> None:
        if maxsize < 1:
            raise ConfigError(f"QueuedSink maxsize must be >= 1, got {maxsize}")
        self.inner = sink
        self.name = getattr(sink, "name", type(sink).__name__)
        self.maxsize = maxsize
        self.close_timeout = close_timeout
        self.written = 0
        self.errors = 0
        self._queue: collections.deque[_Item] = collections.deque()
        self._dropped = 0
        self._cond = threading.Condition()
        self._closing = False
        self._abandon = False
        self._inner_closed = threading.Event()
        self._logged: set[str] = set()
        self._thread = threading.Thread(target=self._run, name=f"edgekit-sink-{self.name}",
                                        daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Items dropped: by this queue when full, plus what the inner sink itself dropped."""
        return self._dropped + int(getattr(self.inner, "dropped", 0) or 0)

    @property
    def pending(self) -> int:
        """Items waiting in the queue."""
        with self._cond:
            return len(self._queue)

    def write(
        self,
        item: FrameResult | StreamEvent,
        frame: np.ndarray | None = None,
        stats: StreamStats | None = None,
    ) -> None:
        """Queue ``item``; never blocks (beyond a short lock)."""
        with self._cond:
            if self._closing:
                self._dropped += 1
                return
            if len(self._queue) >= self.maxsize and not self._drop_one():
                self._dropped += 1  # the queue is full of events: drop this one
                return
            self._queue.append((item, frame, stats))
            self._cond.notify()

    def _drop_one(self) -> bool:
        """Drop the oldest queued result (not an event, nor the result of a rule event that
        follows it); ``False`` if there is none."""
        for index, queued in enumerate(self._queue):
            if isinstance(queued[0], StreamEvent) or self._has_event(index):
                continue
            del self._queue[index]
            self._dropped += 1
            return True
        return False

    def _has_event(self, index: int) -> bool:
        """Whether the result at ``index`` is followed by a rule event made from it."""
        if index + 1 >= len(self._queue):
            return False
        following = self._queue[index + 1][0]
        return isinstance(following, StreamEvent) and following.frame is not None \
            and following.frame == getattr(self._queue[index][0], "frame", None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._abandon or (self._closing and not self._queue):
                    self._dropped += len(self._queue)
                    self._queue.clear()
                    break
                item, frame, stats = self._queue.popleft()
            self._deliver(item, frame, stats)
        try:
            self.inner.close()
        except Exception as exc:  # noqa: BLE001 - a sink's failure must not kill the stream
            log.warning("sink %s: close failed: %s: %s", self.name, type(exc).__name__, exc)
        finally:
            self._inner_closed.set()

    def _deliver(self, item: Any, frame: np.ndarray | None, stats: StreamStats | None) -> None:
        try:
            self.inner.write(item, frame, stats)
            self.written += 1
        except Exception as exc:  # noqa: BLE001 - a sink's failure must not kill the stream
            self.errors += 1
            kind = type(exc).__name__
            if kind not in self._logged:
                self._logged.add(kind)
                log.warning("sink %s: write failed: %s: %s", self.name, kind, exc)

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what is queued (at most ``timeout`` s), then close the inner sink.

        Returns:
            ``True`` when everything queued was delivered and the inner sink closed;
            ``False`` when the timeout expired (the rest is counted in ``dropped``).
        """
        timeout = self.close_timeout if timeout is None else timeout
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._cond:
                self._abandon = True
                lost = len(self._queue)
                self._dropped += lost
                self._queue.clear()
                self._cond.notify_all()
            log.warning("sink %s: not drained within %.1f s; %d queued results dropped",
                        self.name, timeout, lost)
            self._inner_closed.wait(0.2)
            return False
        return True

    def __enter__(self) -> QueuedSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sink_names(sinks: list[Any]) -> list[str]:
    """One distinct name per sink, in order: its ``name``, then ``name#2``, ``name#3`` … for
    sinks that share one (two ``--out`` files, two MQTT topics on one broker)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for sink in sinks:
        name = getattr(sink, "name", type(sink).__name__)
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return names


def close_sinks(sinks: list[Any], timeout: float = 1.5) -> dict[str, bool]:
    """Close ``sinks`` in parallel, waiting at most ``timeout`` seconds in all.

    Returns:
        ``{sink name: closed cleanly}``, one entry per sink (see :func:`sink_names`).
        A sink whose ``close`` raised or did not return in time is ``False`` (and
        logged); nothing is raised.
    """
    names = sink_names(sinks)
    done = [False] * len(sinks)

    def _close(index: int, sink: Any) -> None:
        try:
            done[index] = sink.close() is not False
        except Exception as exc:  # noqa: BLE001 - closing must go on for the others
            log.warning("sink %s: close failed: %s: %s", names[index], type(exc).__name__, exc)

    threads = [threading.Thread(target=_close, args=(i, s), daemon=True) for i, s in enumerate(sinks)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return dict(zip(names, done))
