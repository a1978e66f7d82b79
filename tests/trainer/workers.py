"""Real ``edgekit train`` worker processes on this host (loopback ports only), for the multi-worker tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def free_ports(n: int) -> list[int]:
    """``n`` loopback ports that were free a moment ago."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


@dataclass
class Proc:
    """One ``edgekit train`` process; its output goes to files in ``folder``."""

    proc: subprocess.Popen[bytes]
    folder: Path

    @property
    def stdout(self) -> str:
        return (self.folder / "stdout").read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return (self.folder / "stderr").read_text(errors="replace")

    @property
    def last_error_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    @property
    def tmpdir(self) -> Path:
        return self.folder / "tmp"


def start(args: list[str], folder: Path, ports: list[int] | None = None, index: int = 0) -> Proc:
    """Start ``python -m edgekit train ARGS`` (a worker of ``ports`` when given), with its own TMPDIR."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(folder / "tmp"), "PYTHONUNBUFFERED": "1"}
    env.pop("TF_CONFIG", None)
    if ports is not None:
        env["TF_CONFIG"] = tf_config(ports, index)
    with open(folder / "stdout", "wb") as out, open(folder / "stderr", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "edgekit", "train", *args], stdout=out, stderr=err,
                                env=env, start_new_session=True)
    return Proc(proc, folder)


def wait(procs: list[Proc], timeout: float) -> list[int | None]:
    """Exit codes of ``procs``; whatever still runs after ``timeout`` seconds is killed (code ``None``)."""
    deadline = time.monotonic() + timeout
    codes: list[int | None] = []
    for p in procs:
        try:
            codes.append(p.proc.wait(timeout=max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            codes.append(None)
    stop(procs)
    return codes


def stop(procs: list[Proc]) -> None:
    """Kill whatever is still running of ``procs`` (and anything it started)."""
    for p in procs:
        if p.proc.poll() is None:
            os.killpg(p.proc.pid, signal.SIGKILL)
            p.proc.wait()


def wait_for(condition: Callable[[], bool], timeout: float, procs: list[Proc], step: float = 0.2) -> bool:
    """Poll ``condition()`` until true, ``timeout`` passes, or one of ``procs`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if any(p.proc.poll() is not None for p in procs):
            return condition()
        time.sleep(step)
    return False
