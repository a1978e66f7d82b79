"""The source protocol: something that yields ``(frame, timestamp)``.

Contract of :meth:`Source.read` (what the capture layer relies on):

- returns ``(frame, ts)``: a BGR ``uint8`` frame and its capture time (epoch s);
- returns ``None``: the end of a file, or a live source that lost its device
  or connection (the stream then reopens it with backoff);
- raises :class:`~edgekit.errors.InputError` for one unreadable frame: the
  stream counts it in ``bad_frames`` and reads on;
- raises :class:`~edgekit.errors.SourceError` when the source broke; a live
  source is then reopened.

A source may also expose ``position`` (:class:`PositionedSource`), the index of
the frame ``read`` returned last, counting frames it skipped itself (a camera
that missed frames, the demo source after a pause), and ``input``, the path or
URL the last frame came from (folders of images), and ``finite = True``: a live
source whose end ends the stream instead of a reconnection (a file played with
``--realtime``), and ``interrupt()``: wakes a ``read`` blocked in the source from
another thread (safe to call concurrently, unlike ``close``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Frame", "PositionedSource", "Source"]


@runtime_checkable
class Source(Protocol):
    """A frame source.

    Attributes:
        name: How results name it (``"camera:0"``, ``"demo"``, a path or URL).
        live: True for cameras and streams (newest frame wins, drops counted);
            False for files read frame by frame (nothing dropped).
    """

    name: str
    live: bool

    def open(self) -> None:
        """Open the device or file. Raises ``SourceOpenError`` with what to do."""

    def read(self) -> tuple[np.ndarray, float] | None:
        """The next frame and its capture time (epoch seconds); ``None`` at the end."""

    def close(self) -> None:
        """Release the device. Safe to call twice."""


@runtime_checkable
class PositionedSource(Source, Protocol):
    """A source that numbers its own frames (see the module docstring)."""

    position: int


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured frame as the pipeline sees it.

    Attributes:
        image: The BGR ``uint8`` pixels.
        index: Index of the frame in its source (dropped frames count too).
        ts: Capture time, seconds since the epoch.
        input: The file or URL the frame came from, when it is one of many.
        tensor, transform, pre_ms: The model input, its :class:`~edgekit.preprocess.Transform`
            and the pre-processing time (ms), when it was pre-processed ahead of the model.
    """

    image: np.ndarray = field(repr=False)
    index: int
    ts: float
    input: str | None = None
    tensor: Any = field(default=None, repr=False)
    transform: Any = field(default=None, repr=False)
    pre_ms: float = 0.0
