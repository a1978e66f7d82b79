"""Small helpers several test areas share (video read-back, stopping helper processes)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np


def read_video(path: Path) -> list[np.ndarray]:
    """Every frame OpenCV can decode from ``path`` (the way a user's player would read it)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def terminate(proc: subprocess.Popen | None, timeout: float = 5.0) -> None:
    """SIGTERM ``proc``, then SIGKILL if it has not exited within ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
