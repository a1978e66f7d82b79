"""Small helpers several test areas share (video read-back, signals to children, stopping them)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

# For a runtime test that needs TensorFlow in a child process (the runtime tests run without it).
needs_tensorflow = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                                      reason="needs TensorFlow (the train extra)")


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


def default_signals() -> None:
    """``preexec_fn`` for a child the test will signal: SIGINT, SIGTERM and SIGHUP at their defaults.

    A child inherits ignored dispositions; the suite may itself run with SIGINT
    ignored (``nohup``, a background ``&`` job, some CI runners), and a child
    started that way would never see the SIGINT the test sends.
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def wall_limit(seconds: float) -> float:
    """A wall-clock requirement (``seconds`` on an idle machine), stretched by the CPU contention now.

    Requirements such as "exits within 2 s of the signal" hold on an idle machine; when other
    work competes for the cores, every step of the child takes proportionally longer. The
    factor is the 1-minute load average per core, from 1 (idle: the bare requirement) up to 5.
    """
    per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return seconds * min(5.0, max(1.0, per_core))
