"""The click group behind ``edgekit``: commands loaded on demand, one-line errors, exit codes."""

from __future__ import annotations

import difflib
import importlib
import traceback
from typing import Any

import click

from .._version import __version__
from ..errors import EdgekitError, exit_code
from . import interrupt

__all__ = ["COMMANDS", "EdgekitGroup", "cli", "run_group"]

# command name -> module under edgekit.cli that defines a click command of that name.
COMMANDS = {
    "inspect": "core",
    "predict": "core",
    "doctor": "core",
    "run": "run",
    "serve": "serve",
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
        mod = importlib.import_module(f".{module}", __package__)
        return getattr(mod, name.replace("-", "_") + "_cmd")

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise click.UsageError(f"No such command {name!r}.{hint}", ctx)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgekitError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(f"{type(exc).__name__}: {exc}", err=True)
            ctx.exit(exit_code(exc))
        except KeyboardInterrupt as exc:
            ctx.exit(interrupt.interrupted_exit(exc, ctx.invoked_subcommand))


@click.group(cls=EdgekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="edgekit")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors, and native libraries' log lines.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """edgekit — run .tflite models on small devices; train and quantize them on the desktop."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if debug:
        from ..backend import show_native_logs

        show_native_logs(True)


def run_group(args: list[str]) -> int:
    """Run the group on ``args``; the process exit code.

    click's own handling of Ctrl-C ("Aborted!", exit 1) is replaced by the
    command's (see :mod:`edgekit.cli.interrupt`).
    """
    try:
        result = cli.main(args=args, prog_name="edgekit", standalone_mode=False)
    except click.exceptions.Abort as exc:  # click's wrapping of a KeyboardInterrupt
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, KeyboardInterrupt):
            return interrupt.interrupted_exit(cause)
        click.echo("Aborted!", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return result if type(result) is int else 0  # an Exit's code; a command returns None
