"""The source protocol: something that yields ``(frame, timestamp)``."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Source"]


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
