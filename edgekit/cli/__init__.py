"""The ``edgekit`` command: one click group owning every subcommand.

Errors print as one line ``ErrorName: message`` on stderr and exit with the
code of their class (see :mod:`edgekit.errors`); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

import click

from .._version import __version__
from ..errors import EdgekitError, exit_code

__all__ = ["main"]

# command name -> module under edgekit.cli that defines a click command of that name.
COMMANDS = {
    "inspect": "core",
    "predict": "core",
    "doctor": "core",
    "run": "run",
    "batch": "batch",
    "bench": "tools",
    "devices": "tools",
    "service": "tools",
    "train": "train",
    "export": "train",
    "evaluate": "evaluate",
}


class EdgekitGroup(click.Group):
    """Loads subcommands on demand and turns edgekit errors into one-line exits."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = COMMANDS.get(name)
        if module is None:
            return None
        mod = importlib.import_module(f".{module}", __name__)
        return getattr(mod, name.replace("-", "_") + "_cmd")

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgekitError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(f"{type(exc).__name__}: {exc}", err=True)
            ctx.exit(exit_code(exc))
        except KeyboardInterrupt:
            click.echo("Interrupted", err=True)
            ctx.exit(130)


@click.group(cls=EdgekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="edgekit")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """edgekit — run .tflite models on small devices; train and quantize them on the desktop."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="edgekit", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - standalone_mode handles most
        click.echo("Interrupted", err=True)
        sys.exit(130)
