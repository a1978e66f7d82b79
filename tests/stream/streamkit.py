"""Helpers for the stream tests: a loopback MJPEG camera, test videos, a recording sink."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from testkit import terminate

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SERVER = HERE / "mjpeg_server.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MjpegCamera:
    """The ``mjpeg_server.py`` subprocess (ffmpeg testsrc at ``fps``) on a loopback port."""

    def __init__(self, port: int | None = None, fps: int = 30, size: str = "320x240",
                 barcode: bool = False, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.fps, self.size, self.barcode, self.log = fps, size, barcode, log
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> MjpegCamera:
        cmd = [sys.executable, str(SERVER), "--port", str(self.port), "--fps", str(self.fps),
               "--size", self.size]
        if self.barcode:
            cmd.append("--barcode")
        if self.log:
            cmd += ["--log", str(self.log)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"mjpeg server did not start: {line!r}")
        return self

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_video(path: Path, frames: int = 30, size: tuple[int, int] = (160, 120),
                fps: float = 30.0) -> Path:
    """An MJPG ``.avi`` whose frame i is a flat grey of level ``(i * 8) % 256``."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (i * 8) % 256, np.uint8))
    writer.release()
    return path


def write_ffmpeg_video(path: Path, seconds: float = 2.0, fps: int = 30, size: str = "320x240") -> Path:
    """An H.264-or-MPEG-4 ``.mp4`` of ffmpeg's ``testsrc``."""
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=size={size}:rate={fps}", "-t", str(seconds), "-pix_fmt", "yuv420p",
                    str(path)], check=True, timeout=60)
    return path


class RecordingSink:
    """A sink that keeps everything written to it (and can be made slow)."""

    def __init__(self, name: str = "recorder", delay: float = 0.0) -> None:
        self.name = name
        self.delay = delay
        self.items: list[Any] = []
        self.frames: list[Any] = []
        self.stats: list[Any] = []
        self.closed = False
        self._lock = threading.Lock()

    def write(self, item: Any, frame: Any = None, stats: Any = None) -> None:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.items.append(item)
            self.frames.append(frame)
            self.stats.append(stats)

    def close(self) -> None:
        self.closed = True

    def events(self) -> list[str]:
        return [i.event for i in self.items if hasattr(i, "event")]


def edgekit_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    env.update({"PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}, **extra)
    return env


def edgekit_cmd(*args: str) -> list[str]:
    """``edgekit ARGS`` run by this test's Python."""
    return [sys.executable, "-c", "import sys; from edgekit.cli import main; main(sys.argv[1:])",
            *args]
