"""``--save``: the annotated stream as a video file (OpenCV ``VideoWriter``, ``mp4v``).

The frame rate of the file is the rate results actually arrive at (estimated
from the capture timestamps of the first frames, unless given), so the video
plays back at the speed things happened. :meth:`VideoSink.close` finalises the
container; the stream calls it on SIGINT/SIGTERM, so the file plays. An MP4 whose
process was killed hard (SIGKILL, power loss) has no index and does not play;
a ``.mkv`` name gives a Matroska file that plays up to the last written frame.
"""

from __future__ import annotations

import logging
import os
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..results import FrameResult, StreamStats
from .jsonl import check_new_file
from .overlay import annotate

__all__ = ["VideoSink", "estimate_fps"]

log = logging.getLogger("edgekit.sinks")

ESTIMATE_FRAMES = 10  # frames buffered to measure the rate before the file is opened
MIN_FPS, MAX_FPS, DEFAULT_FPS = 1.0, 60.0, 10.0


def estimate_fps(timestamps: list[float]) -> float:
    """Frame rate from capture timestamps (median interval), clamped to 1..60 FPS."""
    gaps = [b - a for a, b in zip(timestamps, timestamps[1:], strict=False) if b > a]
    if not gaps:
        return DEFAULT_FPS
    return min(MAX_FPS, max(MIN_FPS, 1.0 / statistics.median(gaps)))


def _open_writer(path: Path, fourcc: str, fps: float, size: tuple[int, int]) -> Any:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise ConfigError(f"--save {str(path)!r}: OpenCV cannot write {fourcc!r} video there "
                          "(use a .mp4, .avi or .mkv name)")
    return writer


class VideoSink:
    """Writes annotated frames to a video file.

    Args:
        path: Output file (``.mp4`` recommended; ``.avi``/``.mkv`` work too).
        fps: Frame rate of the file; ``None`` estimates it from the first frames.
        force: Overwrite an existing file.
        fourcc: OpenCV codec code (``mp4v`` plays in VLC, ffplay, mpv, most players).

    Attributes:
        frames: Frames written so far.

    Raises:
        ConfigError: The file exists without ``force``, or cannot be written.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float | None = None,
                 force: bool = False, fourcc: str = "mp4v") -> None:
        self.path = check_new_file(path, force, "--save")
        if fps is not None and not fps > 0:
            raise ConfigError(f"video fps must be > 0, got {fps}")
        self.name = f"video:{os.fspath(path)}"
        self.fps = fps
        self.fourcc = fourcc
        self.frames = 0
        # Opening a tiny writer checks codec and path now and claims the file name.
        _open_writer(self.path, fourcc, DEFAULT_FPS, (16, 16)).release()
        self._writer: Any = None
        self._size: tuple[int, int] | None = None
        self._pending: list[tuple[float, np.ndarray]] = []
        self._closed = False

    def write(self, item: Any, frame: np.ndarray | None = None,
              stats: StreamStats | None = None) -> None:
        """Draw ``item`` on ``frame`` and append it (events and frameless items are skipped)."""
        if self._closed or frame is None or not isinstance(item, FrameResult):
            return
        image = annotate(frame, item, stats)
        if self._writer is None:
            self._pending.append((item.ts, image))
            if self.fps is not None or len(self._pending) >= ESTIMATE_FRAMES:
                self._start()
            return
        self._append(image)

    def _start(self) -> None:
        fps = self.fps or estimate_fps([ts for ts, _ in self._pending])
        h, w = self._pending[0][1].shape[:2]
        self._size = (w, h)
        self._writer = _open_writer(self.path, self.fourcc, fps, self._size)
        self.fps = fps
        pending, self._pending = self._pending, []
        for _, image in pending:
            self._append(image)

    def _append(self, image: np.ndarray) -> None:
        import cv2

        if self._size is not None and (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        """Write what is buffered and finalise the file (it plays from here on)."""
        if self._closed:
            return
        self._closed = True
        if self._writer is None and self._pending:
            self._start()
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        elif self.frames == 0:
            log.warning("--save %s: no frames were received; nothing saved", self.path)
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
