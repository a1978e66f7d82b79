"""Clips: a pre-roll ring buffer of JPEG frames, the schedule of a clip, and its writer.

The ring buffer keeps the last ``pre_roll`` seconds as JPEG bytes, at most
``fps`` frames a second and ``max_bytes`` in all: a 640×480 frame is 0.9 MB as
pixels and ~40 KB as a JPEG, so five seconds at 15 FPS take ~3 MB, not 70.

A clip starts ``pre_roll`` s before the event that opens it and runs while the
rules that opened it are on, then ``post_roll`` s more, ``max_seconds`` at most
after the event. The writer muxes the JPEG bytes as they are into Matroska
(OpenCV's raw-video mode: no decoding, no re-encoding; older OpenCV re-encodes)
under a hidden temporary name, renamed into place when the clip is complete.
"""

from __future__ import annotations

import collections
import errno
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .storage import temp_path

__all__ = ["ClipPlan", "ClipWriter", "Clips", "JpegRing"]

RESERVE = 1 << 20  # bytes a clip leaves free on the disk: the muxer must not run into a full one


@dataclass(frozen=True, slots=True)
class Clips:
    """How clips are recorded (see the module docstring).

    Attributes:
        pre_roll: Seconds before the event, from the ring buffer.
        post_roll: Seconds after the last rule that held the clip turned off.
        max_seconds: Longest clip, counted from the event.
        fps: Frames per second kept at most (fewer when the model is slower).
        quality: JPEG quality of the buffered frames, 1..100.
        max_buffer_mb: Memory the ring buffer may use, in megabytes.

    Raises:
        ConfigError: A value out of range.
    """

    pre_roll: float = 5.0
    post_roll: float = 5.0
    max_seconds: float = 60.0
    fps: float = 15.0
    quality: int = 80
    max_buffer_mb: float = 64.0

    def __post_init__(self) -> None:
        for name in ("pre_roll", "post_roll"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ConfigError(f"clip {name} must be >= 0 s, got {getattr(self, name)}")
        for name in ("max_seconds", "fps", "max_buffer_mb"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ConfigError(f"clip {name} must be > 0, got {getattr(self, name)}")
        if not 1 <= self.quality <= 100:
            raise ConfigError(f"clip JPEG quality must be in 1..100, got {self.quality}")


class JpegRing:
    """The newest frames as JPEG bytes, bounded in time, rate and bytes.

    Attributes:
        bytes: Bytes held now.
        peak_bytes: The most it ever held.
    """

    def __init__(self, seconds: float, fps: float, max_bytes: int, quality: int = 80) -> None:
        self.seconds, self.interval, self.max_bytes = seconds, 1.0 / fps, max_bytes
        self.quality = quality
        self.bytes = self.peak_bytes = 0
        self._frames: collections.deque[tuple[float, bytes, tuple[int, int]]] = collections.deque()

    def __len__(self) -> int:
        return len(self._frames)

    def wants(self, ts: float) -> bool:
        """Whether a frame captured at ``ts`` would be kept (the rate limit)."""
        return not self._frames or ts - self._frames[-1][0] >= self.interval * 0.999

    def add(self, ts: float, image: np.ndarray) -> tuple[float, bytes, tuple[int, int]] | None:
        """Encode and keep ``image`` unless the rate limit skips it; return what was kept."""
        if not self.wants(ts):
            return None
        import cv2

        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return None
        item = (ts, data.tobytes(), (image.shape[1], image.shape[0]))
        self._frames.append(item)
        self.bytes += len(item[1])
        self._trim(ts)
        self.peak_bytes = max(self.peak_bytes, self.bytes)
        return item

    def _trim(self, now: float) -> None:
        while self._frames and (now - self._frames[0][0] > self.seconds or self.bytes > self.max_bytes):
            self.bytes -= len(self._frames.popleft()[1])

    def since(self, ts: float) -> list[tuple[float, bytes, tuple[int, int]]]:
        """The frames captured at or after ``ts``, oldest first."""
        return [f for f in self._frames if f[0] >= ts]


@dataclass
class ClipPlan:
    """Which clip an event starts, extends or ends (the same logic on both sides of the queue).

    The stream's thread uses it to announce clip names in events; the recorder
    replays the same events to know when a clip ends, so both always agree.
    """

    options: Clips
    path: str | None = None
    limit: float = -math.inf
    end: float = math.inf
    holders: set[str] = field(default_factory=set)

    def open_at(self, ts: float) -> bool:
        """Whether the current clip still takes frames captured at ``ts``."""
        return self.path is not None and ts < min(self.end, self.limit)

    def on(self, rule: str, ts: float, new_path: str) -> tuple[str, bool]:
        """A rule turned on at ``ts``: ``(clip path, whether it is a new clip)``."""
        if self.open_at(ts):
            self.holders.add(rule)
            self.end = math.inf
            return self.path, False  # type: ignore[return-value]
        self.path, self.limit, self.end, self.holders = new_path, ts + self.options.max_seconds, \
            math.inf, {rule}
        return new_path, True

    def off(self, rule: str, ts: float) -> str | None:
        """A rule turned off at ``ts``: the clip it held (now ending after the post-roll)."""
        if not self.open_at(ts) or rule not in self.holders:
            return None
        self.holders.discard(rule)
        if not self.holders:
            self.end = ts + self.options.post_roll
        return self.path


class ClipWriter:
    """Writes JPEG frames into a Matroska file, atomically (see the module docstring).

    Raises:
        OSError: The temporary file cannot be created.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        import cv2

        self.path, self.size, self.frames, self.jpeg_bytes = path, size, 0, 0
        self._tmp = temp_path(path)
        fourcc = cv2.VideoWriter_fourcc(*"MJPG")
        raw = getattr(cv2, "VIDEOWRITER_PROP_RAW_VIDEO", None)
        self._raw = raw is not None
        writer: Any = None
        if self._raw:
            writer = cv2.VideoWriter(str(self._tmp), cv2.CAP_FFMPEG, fourcc, fps, size, [raw, 1])
        if writer is None or not writer.isOpened():
            self._raw = False
            writer = cv2.VideoWriter(str(self._tmp), fourcc, fps, size)
        if not writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise OSError(f"cannot write a video at {self._tmp}")
        self._writer = writer

    def add(self, jpeg: bytes, size: tuple[int, int]) -> None:
        """Append one frame (frames of another size are skipped).

        Raises:
            OSError: ``ENOSPC`` when the frame would leave less than 1 MB free on the
                disk (the muxer would fail on a full disk, noisily and unreported).
        """
        if size != self.size:
            return
        if shutil.disk_usage(self._tmp.parent).free < len(jpeg) + RESERVE:
            raise OSError(errno.ENOSPC, "the disk is (nearly) full", str(self._tmp))
        if self._raw:
            self._writer.write(np.frombuffer(jpeg, np.uint8).reshape(1, -1))
            self.jpeg_bytes += len(jpeg)
        else:
            import cv2

            self._writer.write(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
        self.frames += 1

    def finish(self) -> int:
        """Close the container and rename it into place; return its size in bytes.

        Raises:
            OSError: Nothing usable was written, or less than was given (the muxer does
                not report a full disk; a short file does). The temporary file is removed.
        """
        self._writer.release()
        try:
            size = self._tmp.stat().st_size
            if not self.frames or not size:
                raise OSError(f"{self._tmp}: no frames written")
            if size < 0.95 * self.jpeg_bytes:
                raise OSError(errno.ENOSPC, f"clip cut short ({size} of {self.jpeg_bytes} bytes on disk)",
                              str(self._tmp))
            with open(self._tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(self._tmp, self.path)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        return size

    def abort(self) -> None:
        """Drop the clip: nothing is left on disk."""
        self._writer.release()
        self._tmp.unlink(missing_ok=True)
