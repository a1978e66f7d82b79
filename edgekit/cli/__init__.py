"""The ``edgekit`` command: one click group owning every subcommand.

Errors print as one line ``ErrorName: message`` on stderr and exit with the
code of their class (see :mod:`edgekit.errors`); ``--debug`` adds the traceback.

This module stays light (the standard library only) so that :func:`main` can take
over Ctrl-C before click, NumPy or an interpreter is imported; the group itself
lives in :mod:`edgekit.cli.group` (``from edgekit.cli import cli`` still works).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not `typing`'s: this module must import nothing heavy
if TYPE_CHECKING:
    from typing import Any

__all__ = ["cli", "main"]


def _command_name(args: list[str]) -> str | None:
    """The subcommand in ``args`` (the group's own options are all flags)."""
    return next((arg for arg in args if not arg.startswith("-")), None)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else list(argv)
    command = _command_name(args)
    try:
        from . import interrupt

        interrupt.install(command)  # first: a Ctrl-C from now on gets the command's answer
        from .group import run_group

        code = run_group(args)
    except KeyboardInterrupt as exc:  # before click took over
        from . import interrupt

        code = interrupt.interrupted_exit(exc, command)
    except BrokenPipeError:  # `edgekit … | head`: the reader is gone, end quietly
        from . import interrupt

        interrupt.silence_stdout()
        code = interrupt.EXIT_PIPE
    interrupt.finish()  # done: a late Ctrl-C must not turn the exit into a traceback
    sys.exit(code)


def __getattr__(name: str) -> Any:
    if name in ("cli", "COMMANDS", "EdgekitGroup"):
        from . import group

        return getattr(group, name)
    raise AttributeError(f"module 'edgekit.cli' has no attribute {name!r}")
