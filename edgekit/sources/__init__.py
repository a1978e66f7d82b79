"""Frame sources: cameras, picamera2, video files, stream URLs, images, and ``demo``.

:func:`source_factory` turns what a user typed (``0``, ``"/dev/video2"``,
``"picam"``, ``"demo"``, ``"clip.mp4"``, ``"rtsp://…"``, ``"photos/"``,
``"shots/*.jpg"``) or a :class:`Source` into a zero-argument factory; the
stream calls it again to reopen a live source that stalled.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, SourceOpenError
from ..imagefile import IMAGE_SUFFIXES
from .base import Frame, PositionedSource, Source
from .demo import DEMO_MODES, DemoSource
from .images import ImageSource
from .opencv import CameraSource, VideoSource, camera_device, is_url
from .pacing import Looped, Paced
from .picam import PicamSource

__all__ = [
    "CameraSource",
    "DemoSource",
    "Frame",
    "ImageSource",
    "Looped",
    "Paced",
    "PicamSource",
    "PositionedSource",
    "Source",
    "SourceOptions",
    "SourceSpec",
    "VideoSource",
    "source_factory",
]

SourceSpec = int | str | os.PathLike[str] | Source | Callable[[], Source]


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """How to open a source given by name.

    Attributes:
        width, height: Requested frame size (cameras, demo; resizes video/streams).
        fps: Requested frame rate (cameras, demo: default 30; files with
            ``realtime``: overrides the file's own rate).
        loop: Start files again at their end.
        realtime: Play files at their frame rate, as a live source.
        timeout: Seconds a stream may take to open or deliver a frame.
    """

    width: int | None = None
    height: int | None = None
    fps: float | None = None
    loop: bool = False
    realtime: bool = False
    timeout: float = 5.0

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and value < 8:
                raise ConfigError(f"{name} must be at least 8 pixels, got {value}")
        if self.fps is not None and not 0 < self.fps <= 1000:
            raise ConfigError(f"fps must be in (0, 1000], got {self.fps}")


def _is_camera_name(text: str) -> bool:
    return text.isdigit() or text.startswith("/dev/video")


def _file_source(spec: str, opts: SourceOptions) -> Source:
    path = Path(spec)
    if glob.has_magic(spec) or path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(spec)
    return VideoSource(spec, timeout=opts.timeout, width=opts.width, height=opts.height)


def _named(spec: str, opts: SourceOptions) -> Callable[[], Source]:
    """Factory for a source given by name; checks now what can be checked now."""
    text = spec.strip()
    if text == "demo" or text.startswith("demo:"):
        mode = text.partition(":")[2] or "classify"
        if mode not in DEMO_MODES:
            raise ConfigError(f"{text!r}: use demo (a digit per frame) or demo:detect (digits on a photo)")
        return lambda: DemoSource(opts.width or 320, opts.height or 240, opts.fps or 30.0, mode=mode)
    if text == "picam" or text.startswith("picam:"):
        number = text.partition(":")[2] or "0"
        if not number.isdigit():
            raise ConfigError(f"{text!r}: use picam or picam:N (N = camera number)")
        return lambda: PicamSource(int(number), opts.width, opts.height, opts.fps)
    if is_url(text):
        return lambda: VideoSource(text, timeout=opts.timeout, width=opts.width, height=opts.height)
    if _is_camera_name(text) and not os.path.isfile(text):
        device = camera_device(text)
        return lambda: CameraSource(device, opts.width, opts.height, opts.fps)
    if not glob.has_magic(text) and not os.path.exists(text):
        raise SourceOpenError(f"{text}: no such file, folder, camera or URL "
                              "(sources: demo, demo:detect, 0, /dev/videoN, picam, a file, a folder, a glob, "
                              "a URL)")

    def file_source() -> Source:
        source: Source = _file_source(text, opts)
        if opts.loop:
            source = Looped(source)
        if opts.realtime:
            source = Paced(source, opts.fps or _native_fps(text))
        return source

    return file_source


def _native_fps(path: str) -> float:
    """A video file's frame rate (30 when it does not say; 1 for still images)."""
    if Path(path).suffix.lower() in IMAGE_SUFFIXES or Path(path).is_dir() or glob.has_magic(path):
        return 1.0
    probe = VideoSource(path)
    try:
        probe.open()
        return probe.native_fps or 30.0
    except SourceOpenError:
        return 30.0
    finally:
        probe.close()


def source_factory(spec: SourceSpec, options: SourceOptions | None = None) -> Callable[[], Source]:
    """Turn a source spec into a factory of fresh, unopened sources.

    Args:
        spec: A camera index, ``"/dev/videoN"``, ``"picam"``, ``"demo"``, a video or
            image file, a folder, a glob, a stream URL, a :class:`Source` instance
            (reopened in place when it stalls) or a zero-argument callable returning one.
        options: Frame size, rate, ``loop``, ``realtime``.

    Raises:
        ConfigError: The spec has a malformed camera name.
        SourceOpenError: It names a file or folder that does not exist.
    """
    opts = options or SourceOptions()
    if isinstance(spec, bool):
        raise ConfigError(f"source must be a camera index, a name, a path or a Source, got {spec!r}")
    if isinstance(spec, int):
        device = camera_device(spec)
        return lambda: CameraSource(device, opts.width, opts.height, opts.fps)
    if isinstance(spec, str | os.PathLike):
        return _named(os.fspath(spec), opts)
    if isinstance(spec, Source):
        instance: Any = spec
        return lambda: instance
    if callable(spec):
        return spec
    raise ConfigError(f"source must be a camera index, a name, a path, a URL or a Source, "
                      f"got {type(spec).__name__}")
