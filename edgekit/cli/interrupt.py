"""How the ``edgekit`` command stops: Ctrl-C, SIGTERM and a closed stdout, from its first instant.

:func:`install` runs first thing in :func:`edgekit.cli.main`, before click, NumPy or
the interpreter are imported, so a signal gets the same answer whenever it comes:

- ``run`` (a *clean-stop* command): SIGINT and SIGTERM end it normally. Once the stream
  exists, a signal asks it to stop (:func:`stopping`): it flushes every sink and exits 0
  with its summary. Before that, nothing is open yet: it prints
  ``stopped: SIGINT received while starting`` and exits 0 too.
- every other command: SIGINT prints ``Interrupted`` and exits 130 (``batch`` first
  closes its output cleanly); SIGTERM keeps its default action (``batch`` sets its own).
- a second signal exits at once with ``128 + signal``: the user insists.
- a signal the command was started with ignored (``nohup``, ``&`` in a script) stays ignored.
- ``serve`` stops like ``run``: the server finishes the requests in hand and exits 0.
- SIGHUP, while ``run`` or ``serve`` is inside :func:`hangup`, reloads the model instead of
  ending the process (``systemctl reload``).

When the reader of stdout goes away (``edgekit run | head``), :func:`request_stop` takes
the same clean-stop path and the command exits :data:`EXIT_PIPE` (141, as a
tool killed by SIGPIPE), quietly: no error line.

Only the standard library is imported here: this module must be cheap to import.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "CLEAN_STOP_COMMANDS",
    "EXIT_PIPE",
    "Interrupted",
    "finish",
    "hangup",
    "install",
    "interrupted_exit",
    "request_stop",
    "signal_name",
    "silence_stdout",
    "stop_requested",
    "stopping",
]

CLEAN_STOP_COMMANDS = frozenset({"run", "serve"})
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head`

# What the handler does; module state, as signal handlers are process-wide.
_received: list[int] = []
_command: list[str | None] = [None]
_on_stop: Callable[[str], Any] | None = None
_stop_code: list[int] = []


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived before the command could stop cleanly (raised by the handler).

    A ``KeyboardInterrupt``, so that code already prepared for Ctrl-C (``batch``
    closing its output file) handles SIGTERM-while-starting the same way.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _handler(signum: int, _frame: Any) -> None:
    _received.append(signum)
    if len(_received) > 1:
        os._exit(128 + signum)  # the user insists: no more cleanup
    if _on_stop is not None:
        _on_stop(f"{signal.Signals(signum).name} received")
        return
    raise Interrupted(signum)


def install(command: str | None) -> None:
    """Take over SIGINT (and, for a clean-stop ``command``, SIGTERM); call it first in ``main``.

    Must run in the main thread. A signal that is ignored now stays ignored.
    """
    global _on_stop
    _received.clear()
    _stop_code.clear()
    _on_stop = None
    _command[0] = command
    signals = [signal.SIGINT]
    if command in CLEAN_STOP_COMMANDS:
        signals.append(signal.SIGTERM)
    for signum in signals:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _handler)


@contextlib.contextmanager
def stopping(stop: Callable[[str], Any]) -> Iterator[None]:
    """While inside, a signal (or :func:`request_stop`) calls ``stop(reason)`` instead of raising."""
    global _on_stop
    _stop_code.clear()
    _on_stop = stop
    try:
        yield
    finally:
        _on_stop = None


@contextlib.contextmanager
def hangup(callback: Callable[[], Any]) -> Iterator[None]:
    """While inside, SIGHUP calls ``callback()`` (it must only set a flag) instead of ending
    the process. A SIGHUP the command was started with ignored (``nohup``) stays ignored.

    Must run in the main thread.
    """
    previous = signal.getsignal(signal.SIGHUP)
    if previous is signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGHUP, lambda _signum, _frame: callback())
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous if previous is not None else signal.SIG_DFL)


def finish() -> None:
    """The command is done and its exit code known: a Ctrl-C from now on changes nothing.

    Python restores the default action of handled signals while it shuts down, so
    a late Ctrl-C would otherwise kill the process (exit -2) after its work is done.
    """
    if signal.getsignal(signal.SIGINT) is _handler:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def request_stop(reason: str, exit_code: int = EXIT_PIPE) -> None:
    """Stop the running command cleanly from any thread (the reader of stdout went away).

    The command then exits ``exit_code`` (see :func:`stop_requested`).
    """
    if not _stop_code:
        _stop_code.append(exit_code)
    callback = _on_stop
    if callback is not None:
        callback(reason)


def stop_requested() -> int | None:
    """The exit code asked by :func:`request_stop`, or ``None``."""
    return _stop_code[0] if _stop_code else None


def interrupted_exit(exc: BaseException, command: str | None = None) -> int:
    """Say on stderr how the command was interrupted and return its exit code.

    ``command`` defaults to the one :func:`install` was given.
    """
    command = _command[0] or command
    if command in CLEAN_STOP_COMMANDS:
        print(f"stopped: {signal_name(exc)} received while starting", file=sys.stderr)
        return 0
    print("Interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def signal_name(exc: BaseException) -> str:
    """``"SIGINT"`` or ``"SIGTERM"``: the signal behind a ``KeyboardInterrupt``."""
    return exc.args[0] if isinstance(exc, Interrupted) else "SIGINT"


def silence_stdout() -> None:
    """Point stdout at /dev/null: the reader is gone and Python flushes stdout at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
