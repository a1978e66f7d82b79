"""Helpers for the serve tests: a server in this process or as `edgekit serve`, real images."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from testkit import default_signals

HERE = Path(__file__).resolve().parent
LOADGEN = HERE / "loadgen.py"


def encode(image: np.ndarray, ext: str = ".jpg") -> bytes:
    import cv2

    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


class Running:
    """An :class:`InferenceServer` serving on a free loopback port from a thread of this process."""

    def __init__(self, model: Any, **kwargs: Any) -> None:
        from edgekit._serve.server import InferenceServer

        self.events: list[dict[str, Any]] = []
        kwargs.setdefault("on_event", lambda event: self.events.append(event.to_dict()))
        self.server = InferenceServer(model, host="127.0.0.1", port=0, **kwargs)
        self.url = self.server.url.rstrip("/")
        self.summary: Any = None
        self._thread = threading.Thread(target=self._run, name="test-server", daemon=True)

    def _run(self) -> None:
        self.summary = self.server.run()

    def __enter__(self) -> Running:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start within 30 s"
            assert self._thread.is_alive(), "the server thread died"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop("test done")
        self._thread.join(30)
        assert not self._thread.is_alive(), "the server did not stop within 30 s"


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONUNBUFFERED": "1"}


class Cli:
    """`edgekit serve ... --port 0` as a child process; :attr:`url` read from its start line."""

    def __init__(self, args: list[str], command: str = "serve") -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "edgekit", command, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=child_env(), stdin=subprocess.DEVNULL,
                                     preexec_fn=default_signals)  # noqa: PLW1509 - the test's own disposition
        self.stderr_lines: list[str] = []
        self.stdout_lines: list[str] = []
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr_lines), daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout_lines), daemon=True)]
        for thread in self._threads:
            thread.start()
        self.url = ""

    @staticmethod
    def _pump(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, where: str = "stderr", timeout: float = 60.0) -> re.Match[str]:
        lines = self.stderr_lines if where == "stderr" else self.stdout_lines
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(lines):
                found = re.search(pattern, line)
                if found:
                    return found
            if self.proc.poll() is not None and all(not t.is_alive() for t in self._threads):
                break
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} on {where} within {timeout} s; stderr: {self.stderr_lines}")

    def start(self) -> Cli:
        self.url = self.wait_for(r"on (http://127\.0\.0\.1:\d+)/").group(1)
        return self

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.stdout_lines) if line.startswith("{")]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"edgekit did not stop within {timeout} s after {signum}") from None
        for thread in self._threads:
            thread.join(5)
        return code


def load(url: str, body: bytes, tmp: Path, *, clients: int, duration: float = 3600.0,
         count: int = 10**9, content_type: str = "image/jpeg") -> dict[str, Any]:
    """Run tests/serve/loadgen.py in its own process against ``url``; its JSON summary."""
    path = tmp / f"body-{time.monotonic_ns()}"
    path.write_bytes(body)
    done = subprocess.run([sys.executable, str(LOADGEN), url, str(path), "--clients", str(clients),
                           "--duration", str(duration), "--count", str(count), "--type", content_type],
                          capture_output=True, text=True, timeout=duration + 120 if duration < 3600 else 600,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
