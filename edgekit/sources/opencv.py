"""OpenCV sources: USB cameras (V4L2), video files and network streams (FFmpeg).

A plain ``cap.read()`` loop is late: V4L2 keeps several buffers and FFmpeg
reads ahead, so each frame it returns has waited there. These sources ask the
driver for one buffer (``CAP_PROP_BUFFERSIZE``) and are read by the stream's
capture thread, which keeps only the newest frame (:mod:`edgekit.sources.live`).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, FrameInvalid, SourceOpenError

__all__ = ["CameraSource", "VideoSource", "check_frame"]

# A live source whose reads fail this many times in a row has lost its device.
MAX_FAILED_READS = 5
DEFAULT_TIMEOUT = 5.0  # seconds FFmpeg may take to open a stream or read from it


def check_frame(frame: Any) -> np.ndarray:
    """Return ``frame`` if it is a usable BGR image, else raise :class:`FrameInvalid`."""
    if not isinstance(frame, np.ndarray) or frame.size == 0:
        raise FrameInvalid("the source returned an empty frame")
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or min(frame.shape[:2]) < 1:
        raise FrameInvalid(f"the source returned a {frame.dtype}{list(frame.shape)} frame, "
                           "not an H×W×3 uint8 image")
    return frame


def _cv2() -> Any:
    import cv2

    return cv2


def _quiet_ffmpeg(cv2: Any) -> None:
    """Our one-line errors say what failed; FFmpeg's and OpenCV's own log lines only add noise.

    Users who want them set ``OPENCV_FFMPEG_LOGLEVEL`` / ``OPENCV_LOG_LEVEL`` themselves.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class _CaptureSource:
    """Shared by cameras and videos: a ``cv2.VideoCapture`` and its reads."""

    name: str
    live: bool

    def __init__(self) -> None:
        self._cap: Any = None
        self._failures = 0
        self.position = -1

    def _open_capture(self) -> Any:
        raise NotImplementedError

    def open(self) -> None:
        """Open the capture (closing a previous one)."""
        self.close()
        self._cap = self._open_capture()
        self._failures = 0
        self.position = -1

    @property
    def native_fps(self) -> float | None:
        """The frame rate the device or file reports, when it reports one."""
        if self._cap is None:
            return None
        fps = float(self._cap.get(_cv2().CAP_PROP_FPS) or 0.0)
        return fps if 0.5 <= fps <= 1000 else None

    def read(self) -> tuple[np.ndarray, float] | None:
        cap = self._cap
        if cap is None:
            return None
        ok, frame = cap.read()
        ts = time.time()
        if not ok:
            return self._failed_read()
        self._failures = 0
        self.position += 1
        return check_frame(frame), ts

    def _failed_read(self) -> tuple[np.ndarray, float] | None:
        if not self.live:
            return None  # end of the file
        self._failures += 1
        if self._failures >= MAX_FAILED_READS:
            return None  # lost: the stream reopens us
        raise FrameInvalid(f"{self.name}: the read failed ({self._failures} in a row)")

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


def camera_device(spec: int | str) -> int | str:
    """``0`` / ``"0"`` → 0, ``"/dev/video2"`` → ``"/dev/video2"``; anything else is a ``ConfigError``."""
    if isinstance(spec, int):
        if spec < 0:
            raise ConfigError(f"camera {spec}: a camera index is 0 or more")
        return spec
    text = str(spec).strip()
    if text.isdigit():
        return int(text)
    if text.startswith("/dev/"):
        return text
    raise ConfigError(f"camera {text!r}: use an index (0, 1, …), a device (/dev/video0) or picam")


class CameraSource(_CaptureSource):
    """A USB (UVC) camera through OpenCV's V4L2 backend.

    Args:
        device: Index (``0``) or device path (``"/dev/video0"``).
        width, height, fps: Requested capture format (the driver picks the closest).
        fourcc: Pixel format to request, e.g. ``"MJPG"`` (most USB cameras need
            it for full frame rates at 640×480 and above).
    """

    live = True

    def __init__(self, device: int | str = 0, width: int | None = None, height: int | None = None,
                 fps: float | None = None, fourcc: str | None = None) -> None:
        super().__init__()
        self.device = camera_device(device)
        self.name = f"camera:{self.device}"
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc

    def _open_capture(self) -> Any:
        cv2 = _cv2()
        _quiet_ffmpeg(cv2)
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        if isinstance(self.device, str) and not os.path.exists(self.device):
            raise SourceOpenError(f"{self.name}: {self.device} does not exist (see `ls /dev/video*`)")
        cap = cv2.VideoCapture(self.device, api)
        if not cap.isOpened():
            cap.release()
            raise SourceOpenError(
                f"{self.name}: cannot open the camera (is it plugged in, in use by another program, "
                "or a CSI camera? use the picam source for those; see `v4l2-ctl --list-devices`)"
            )
        if self.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self.fourcc[:4].ljust(4)))
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, self.width),
                            (cv2.CAP_PROP_FRAME_HEIGHT, self.height), (cv2.CAP_PROP_FPS, self.fps)):
            if value:
                cap.set(prop, float(value))
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not the oldest of four
        return cap


def is_url(spec: str) -> bool:
    """Whether ``spec`` is a network stream URL (rtsp, rtmp, http, https, udp, tcp, srt)."""
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    return scheme in ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")


def _redact(url: str) -> str:
    """``rtsp://user:pass@host/x`` → ``rtsp://***@host/x`` (names end up in logs and JSON)."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


class VideoSource(_CaptureSource):
    """A video file (read frame by frame) or a network stream URL (live) via FFmpeg.

    Args:
        target: File path, or ``rtsp://`` / ``http://`` (MJPEG, HLS …) / ``udp://`` URL.
        timeout: Seconds FFmpeg may take to open the stream or deliver a frame.
        width, height: Resize frames to this size (files and streams have their own).
    """

    def __init__(self, target: str | os.PathLike[str], timeout: float = DEFAULT_TIMEOUT,
                 width: int | None = None, height: int | None = None) -> None:
        super().__init__()
        self.target = str(target)
        self.live = is_url(self.target)
        self.name = _redact(self.target)
        self.timeout = timeout
        self.size = (int(width), int(height)) if width and height else None

    def _open_capture(self) -> Any:
        cv2 = _cv2()
        _quiet_ffmpeg(cv2)
        if not self.live and not Path(self.target).is_file():
            what = "is a directory" if Path(self.target).is_dir() else "no such file"
            raise SourceOpenError(f"{self.target}: {what}")
        if self.target.lower().startswith("rtsp"):
            # UDP loses packets on Wi-Fi and shows smeared frames; TCP is what users expect.
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
        ms = int(self.timeout * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        cap = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            why = "cannot connect or no video in the stream" if self.live else \
                "not a video OpenCV/FFmpeg can decode"
            raise SourceOpenError(f"{self.name}: {why}")
        if self.live:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    def read(self) -> tuple[np.ndarray, float] | None:
        item = super().read()
        if item is not None and self.size is not None and item[0].shape[1::-1] != self.size:
            item = (_cv2().resize(item[0], self.size, interpolation=_cv2().INTER_AREA), item[1])
        return item
