"""Wrappers for file sources: ``--loop`` (start again at the end) and ``--realtime``.

``--realtime`` plays a file at its native frame rate, so that it behaves like
a camera: frames come at their own pace whether or not the model keeps up, and
the stream hands the model the newest one (dropping the others).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from ..errors import ConfigError
from .base import Source

__all__ = ["Looped", "Paced"]


class Looped:
    """Reads ``inner`` again from the start each time it ends (``--loop``).

    ``position`` keeps counting across passes, so frame indices stay unique.
    """

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.name = inner.name
        self.live = inner.live
        self.position = -1
        self.input: str | None = None
        self._offset = 0

    def open(self) -> None:
        self.inner.open()

    def read(self) -> tuple[np.ndarray, float] | None:
        item = self.inner.read()
        if item is None:
            self._offset = self.position + 1
            self.inner.close()
            self.inner.open()
            item = self.inner.read()
            if item is None:
                return None  # empty even after a restart: stop instead of spinning
        inner_pos = getattr(self.inner, "position", None)
        self.position = self._offset + inner_pos if inner_pos is not None else self.position + 1
        self.input = getattr(self.inner, "input", None)
        return item

    def close(self) -> None:
        self.inner.close()


class Paced:
    """Plays ``inner`` at ``fps`` frames per second and presents it as live (``--realtime``).

    Frame ``i`` is released at ``start + i / fps``; its timestamp is that time.
    """

    live = True
    finite = True  # its end ends the stream (no reconnection)

    def __init__(self, inner: Source, fps: float) -> None:
        if not fps or fps <= 0:
            raise ConfigError(f"realtime needs a frame rate > 0, got {fps}")
        self.inner = inner
        self.name = inner.name
        self.fps = float(fps)
        self.position = -1
        self.input: str | None = None
        self._start: float | None = None
        self._count = 0
        self._closed = threading.Event()

    def open(self) -> None:
        self.inner.open()
        self._closed.clear()

    def read(self) -> tuple[np.ndarray, float] | None:
        item = self.inner.read()
        if item is None:
            return None
        if self._start is None:
            self._start = time.time()
        due = self._start + self._count / self.fps
        self._count += 1
        if self._closed.wait(max(0.0, due - time.time())):
            return None
        inner_pos = getattr(self.inner, "position", None)
        self.position = inner_pos if inner_pos is not None else self.position + 1
        self.input = getattr(self.inner, "input", None)
        return item[0], due

    def interrupt(self) -> None:
        """Wake a :meth:`read` waiting for its time (from any thread)."""
        self._closed.set()

    def close(self) -> None:
        self._closed.set()
        self.inner.close()
