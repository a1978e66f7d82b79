"""Run model files through the native interpreter in a worker process (never in pytest).

:func:`native_outcomes` feeds paths to ``hardening_worker.py`` and reads one
verdict line per file. If the worker dies (a signal, a hang past ``per_file``
seconds), the file it was loading is marked ``crash:<SIGNAME>`` / ``hang`` and a
fresh worker continues with the next file.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

WORKER = Path(__file__).with_name("hardening_worker.py")


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one file ended in the native worker."""

    kind: str  # loaded | error | unexpected | crash | hang
    detail: str
    seconds: float


def _start() -> subprocess.Popen[str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen(
        [sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, bufsize=1, env=env,
    )


_pending: dict[int, bytes] = {}


def _readline(proc: subprocess.Popen[str], deadline: float) -> str | None:
    """One line from the worker, ``""`` at EOF, ``None`` past ``deadline``.

    Reads the pipe's file descriptor directly and keeps what follows the line:
    a buffered ``readline()`` could swallow the next line into Python's buffer,
    where ``select`` cannot see it (a false "hang").
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = _pending.get(fd, b"")
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _pending[fd] = buf
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            _pending[fd] = buf
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            _pending.pop(fd, None)
            return ""
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    _pending[fd] = rest
    return line.decode("utf-8", "replace") + "\n"


def native_outcomes(paths: list[Path], per_file: float = 30.0) -> list[Outcome]:
    """Load (and predict once on) every path natively; one :class:`Outcome` per path."""
    results: dict[int, Outcome] = {}
    index = 0
    while index < len(paths):
        proc = _start()
        assert proc.stdin is not None
        try:
            index = _drive(proc, paths, index, per_file, results)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                _pending.pop(proc.stdout.fileno(), None)
    return [results[i] for i in range(len(paths))]


def _drive(proc: subprocess.Popen[str], paths: list[Path], index: int, per_file: float,
           results: dict[int, Outcome]) -> int:
    """Feed files from ``index`` until the worker dies or all are done; next index to do."""
    assert proc.stdin is not None
    startup = time.monotonic() + 60.0
    while index < len(paths):
        proc.stdin.write(f"{index} {paths[index]}\n")
        proc.stdin.flush()
        started = _readline(proc, startup)
        t0 = time.monotonic()
        line = _readline(proc, t0 + per_file) if started else None
        elapsed = time.monotonic() - t0
        if not line:
            if line == "" or started == "":  # EOF: the worker is dying; let it be reaped
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None:
                proc.kill()
                proc.wait()
                results[index] = Outcome("hang", f"no verdict within {per_file:g} s", elapsed)
            else:
                rc = proc.returncode
                name = signal.Signals(-rc).name if rc < 0 else f"exit {rc}"
                results[index] = Outcome("crash", name, elapsed)
            return index + 1
        _, rest = line.rstrip("\n").split(" ", 1)
        kind, _, detail = rest.partition(" ")
        results[index] = Outcome(kind, detail, elapsed)
        startup = time.monotonic() + per_file
        index += 1
    proc.stdin.close()
    return index
