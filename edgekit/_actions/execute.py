"""``Exec``: run a command when a rule turns on (or off) — an argument list, never a shell.

The command gets the event as one JSON line on its standard input and as
``EDGEKIT_*`` environment variables (``EDGEKIT_RULE``, ``EDGEKIT_STATE``,
``EDGEKIT_LABEL``, ``EDGEKIT_SCORE``, ``EDGEKIT_COUNT``, ``EDGEKIT_FRAME``,
``EDGEKIT_TS``, ``EDGEKIT_SOURCE``, ``EDGEKIT_SNAPSHOT``, ``EDGEKIT_CLIP``, and the
whole event in ``EDGEKIT_EVENT_JSON``). Its standard output and error go to
edgekit's standard error, so JSON results on standard output stay clean.

One command runs at a time, on this sink's own thread: an event that arrives
while one runs is skipped (counted in ``skipped``), never queued up behind it.
A command that runs longer than ``timeout`` is stopped (SIGTERM to its process
group, SIGKILL a second later). None of this touches the stream's thread.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from .._jsonout import dumps
from ..errors import ConfigError
from ..results import StreamEvent, StreamStats

__all__ = ["Exec", "event_environment", "resolve_command"]

log = logging.getLogger("edgekit.actions")

KILL_GRACE_S = 1.0
STATES = ("on", "off")


def resolve_command(command: Sequence[str]) -> list[str]:
    """``command`` with its program as an absolute path.

    Raises:
        ConfigError: The list is empty, holds something other than strings, or
            names a program that does not exist or is not executable.
    """
    argv = list(command)
    if not argv or not all(isinstance(a, str) for a in argv) or not argv[0]:
        raise ConfigError(f"a command is a non-empty list of strings, got {command!r}")
    program = argv[0]
    if os.sep in program:
        found = program if os.path.isfile(program) and os.access(program, os.X_OK) else None
    else:
        found = shutil.which(program)
    if found is None:
        where = "is not an executable file" if os.sep in program else "is not on the PATH"
        raise ConfigError(f"command {program!r} {where}")
    return [os.path.abspath(found), *argv[1:]]


def event_environment(event: StreamEvent) -> dict[str, str]:
    """The ``EDGEKIT_*`` variables describing ``event`` (unset fields are left out)."""
    data = event.to_dict()
    env = {f"EDGEKIT_{key.upper()}": str(value) for key, value in data.items()}
    env["EDGEKIT_EVENT_JSON"] = dumps(data)
    return env


def _output_fd() -> int:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (embedded, captured)
        return subprocess.DEVNULL


class Exec:
    """Runs ``command`` for rule events (see the module docstring).

    Args:
        command: The program and its arguments, e.g. ``["pinctrl", "set", "17", "op", "dh"]``.
        timeout: Seconds a run may take before it is stopped.
        states: Which rule events run it: ``("on",)`` (default), ``("off",)`` or both.
        rules: Only events of these rule names (default: every rule).
        snapshot_wait: Seconds to wait for the event's snapshot file before the run.
        close_timeout: Seconds :meth:`close` lets a running command finish before it is
            stopped (a stream closes its sinks within about a second).

    Attributes:
        runs, failures, timeouts, skipped: Commands started, that exited non-zero,
            that were stopped (gone) at the timeout, and events skipped while one ran.

    Raises:
        ConfigError: The command does not exist, or an option is out of range.
    """

    queue_size = 64

    def __init__(self, command: Sequence[str], *, timeout: float = 30.0,
                 states: Iterable[str] = ("on",), rules: Iterable[str] | None = None,
                 snapshot_wait: float = 2.0, close_timeout: float = 1.0) -> None:
        self.argv = resolve_command(command)
        if not timeout > 0:
            raise ConfigError(f"a command's timeout must be > 0 s, got {timeout}")
        self.states = tuple(states)
        if not self.states or any(s not in STATES for s in self.states):
            raise ConfigError(f"states must be 'on' and/or 'off', got {self.states}")
        self.timeout, self.snapshot_wait, self.close_timeout = timeout, snapshot_wait, close_timeout
        self.rules = None if rules is None else frozenset(rules)
        self.name = f"exec:{os.path.basename(self.argv[0])}"
        self.runs = self.failures = self.timeouts = self.skipped = 0
        self._cond = threading.Condition()
        self._job: StreamEvent | None = None
        self._busy = False
        self._closing = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._work, name=f"edgekit-{self.name}", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether a command runs (or is about to) right now."""
        with self._cond:
            return self._busy or self._job is not None

    def write(self, item: Any, frame: Any = None, stats: StreamStats | None = None) -> None:
        """Start the command for a matching rule event, or skip it if one is running."""
        if not (isinstance(item, StreamEvent) and item.event == "rule" and item.state in self.states):
            return
        if self.rules is not None and item.rule not in self.rules:
            return
        with self._cond:
            if self._closing:
                return
            if self._busy or self._job is not None:
                self.skipped += 1
                log.warning("%s: still running; event %s %s skipped", self.name, item.rule, item.state)
                return
            self._job = item
            self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                job, self._job, self._busy = self._job, None, True
            try:
                self._run(job)  # type: ignore[arg-type]
            except OSError as exc:  # e.g. the program was removed after the start
                self.failures += 1
                log.warning("%s: cannot start: %s", self.name, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._proc = None
                    self._cond.notify_all()

    def _run(self, event: StreamEvent) -> None:
        if event.snapshot:
            deadline = time.monotonic() + self.snapshot_wait
            while not os.path.exists(event.snapshot) and time.monotonic() < deadline:
                time.sleep(0.02)
        out = _output_fd()
        proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=out, stderr=out,
                                env={**os.environ, **event_environment(event)},
                                start_new_session=True, close_fds=True)
        with self._cond:
            self._proc = proc
        self.runs += 1
        try:
            assert proc.stdin is not None
            proc.stdin.write((dumps(event.to_dict()) + "\n").encode("utf-8"))
            proc.stdin.close()
        except OSError:
            pass  # the command does not read its input
        try:
            code = proc.wait(self.timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            self.timeouts += 1
            log.warning("%s: still running after %g s; stopped", self.name, self.timeout)
            return
        if code != 0:
            self.failures += 1
            log.warning("%s: exited with %d", self.name, code)

    def close(self, timeout: float | None = None) -> None:
        """Let a running command finish (at most ``timeout`` s, default ``close_timeout``,
        then stop it); end the thread."""
        deadline = time.monotonic() + (self.close_timeout if timeout is None else timeout)
        with self._cond:
            self._closing = True
            self._job = None
            self._cond.notify_all()
            while self._busy and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            proc = self._proc
        if proc is not None and proc.poll() is None:
            log.warning("%s: still running at the end; stopped", self.name)
            _stop(proc)
        self._thread.join(KILL_GRACE_S + 0.5)

    def __enter__(self) -> Exec:  # noqa: PYI034 - Python 3.10 has no typing.Self
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, SIGKILL it after a grace period."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
