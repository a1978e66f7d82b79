"""``edgekit batch``: run a model over many images and videos, every input once.

Exit codes: 0 when the run finished (items that could not be read are error
rows, counted in the summary, not failures of the run); 7 (``InputError``)
when there was nothing to do — every INPUT names nothing, or names only empty
folders; 130 after Ctrl-C
(SIGINT) and 143 after SIGTERM — both leave a valid output file that
``--resume`` continues; 141 when the reader of stdout goes away; the usual
edgekit codes for errors before the run (2 for a bad option or an existing
``--out``, 3–5 for the model).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from typing import Any

import click

from .._batch.writers import label_of, open_writer
from ..errors import ConfigError, InputError
from ..results import ItemError
from .common import model_argument, model_options, open_model, pop_model_options

__all__ = ["batch_cmd"]

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143, "SIGPIPE": 141}
TOP_LABELS = 10


class Terminated(BaseException):
    """Raised in the main thread by the SIGTERM handler (like KeyboardInterrupt for SIGINT)."""


class Summary:
    """Counts what a run did: processed, failed, per-label counts, rate."""

    def __init__(self, skipped: int, energy: Any = None) -> None:
        self.skipped = skipped
        self.energy = energy  # (Power, price_kwh, watts) for the cost line, or None
        self.processed = 0
        self.failed = 0
        self.missing: list[str] = []
        self.labels: Counter[str] = Counter()
        self.started = time.monotonic()

    def add(self, result: Any) -> None:
        self.processed += 1
        if isinstance(result, ItemError):
            self.failed += 1
            if result.type == InputError.__name__:  # an INPUT that names no file (not a bad file)
                self.missing.append(result.message)
        self.labels.update(label_of(result))

    def nothing_done(self) -> InputError | None:
        """The error to end with when no input named anything to process."""
        if self.skipped or self.processed > len(self.missing):
            return None
        if not self.missing:
            return InputError("nothing to do: the inputs hold no file")
        listed = "; ".join(self.missing[:3]) + (f"; … ({len(self.missing)} in all)"
                                                 if len(self.missing) > 3 else "")
        return InputError(f"nothing to do: {listed}")

    def render(self, stopped: str | None = None, resumable: bool = True) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        lines = [f"edgekit batch: {self.processed} processed, {self.failed} failed in "
                 f"{elapsed:.2f} s ({self.processed / elapsed:.1f} items/s)"
                 + (f", {self.skipped} already done (--resume)" if self.skipped else "")]
        if self.labels:
            common = self.labels.most_common(TOP_LABELS)
            more = len(self.labels) - len(common)
            lines.append("labels: " + ", ".join(f"{name} {n}" for name, n in common)
                         + (f" (+{more} more)" if more > 0 else ""))
        energy = self._energy(self.processed / elapsed)
        if energy:
            lines.append(energy)
        if stopped:
            lines.append(f"stopped by {stopped}; the output is complete up to here"
                         + (" — run again with --resume to continue" if resumable else ""))
        return "\n".join(lines)


    def _energy(self, rate: float) -> str | None:
        if self.energy is None or not self.processed:
            return None
        from .._device.energy import estimate

        power, price, watts = self.energy
        found = estimate(rate, power, price, watts)
        if found is None:
            return "energy: no load power figure for this device (pass --watts W to estimate it)"
        origin = "--watts" if watts else "the device profile's published full-load figure"
        return f"energy: {found.line()} (estimate from {origin}, {found.load_w:g} W)"


@click.command("batch")
@click.argument("model")
@click.argument("inputs", nargs=-1)
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="results.jsonl (JSON lines) or results.csv; default: JSON lines on stdout.")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True,
              help="For videos: keep every N-th frame.")
@click.option("--list", "list_file", default=None, metavar="FILE",
              help="A file listing more inputs, one per line ('-': stdin).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Threads that read, decode and run items (local; default one per core) or "
                   "Ray actors (default 2).")
@click.option("--interpreters", type=click.IntRange(min=1), default=None,
              help="Interpreters the workers share (local; default: cores / --threads). Each "
                   "holds a copy of the model's working memory; 1 when memory is tight.")
@click.option("--resume", is_flag=True, help="Continue --out: skip the inputs it already holds.")
@click.option("--force", is_flag=True, help="Overwrite an existing --out.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local threads, or a Ray Data map_batches step (edgekit-tflite[ray]).")
@click.option("--address", default=None, help="Ray cluster address to join (--engine ray).")
@click.option("--fast-decode", is_flag=True,
              help="Decode JPEGs at 1/2-1/8 scale (and grey) when the model input is that "
                   "small: much faster, scores may differ slightly from a full decode.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--watts", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Board power under load (W) for the summary's energy estimate (default: the device "
                   "profile's published figure).")
@click.option("--price-kwh", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Electricity price per kWh: the summary adds the cost per million items.")
@model_options
def batch_cmd(model: str, inputs: tuple[str, ...], out: str | None, every: int,
              list_file: str | None, workers: int | None, interpreters: int | None,
              resume: bool, force: bool, engine: str, address: str | None, fast_decode: bool,
              progress: bool | None, watts: float | None, price_kwh: float | None, **kwargs: Any) -> None:
    """Run MODEL on every image and video frame of INPUTS, in order, each once.

    INPUTS are image files, folders (recursive, sorted), globs ('photos/**/*.jpg')
    and videos (every frame, or --every N). MODEL may be 'default' for the
    bundled digits classifier. Unreadable inputs become error rows and the run
    goes on. Ctrl-C / SIGTERM stop cleanly (exit 130 / 143); --resume continues.

    Throughput: by default one single-threaded interpreter per core, each
    worker taking items start to finish. --threads N trades interpreters for
    threads per interpreter; --device picks the precision here, not the threads.
    """
    if not inputs and list_file is None:
        raise click.UsageError("give INPUTS or --list FILE")
    if address is not None and engine != "ray":
        raise click.UsageError("--address needs --engine ray")
    if interpreters is not None and engine != "local":
        raise click.UsageError("--interpreters is for --engine local (Ray: --workers actors)")
    path = model_argument(model, click.get_current_context())
    options = pop_model_options(kwargs)
    if options.get("threads") is None:
        options["threads"] = 1  # throughput: one interpreter per core beats threads per invoke
    _check_extras(engine, list_file)
    with open_model(path, options) as loaded:
        writer, done = open_writer(out, resume=resume, force=force)
        with writer:
            stopped, summary = _run(loaded, inputs, writer, done, progress, _power(options, watts, price_kwh),
                                    every=every,
                                    list_file=list_file, workers=workers, interpreters=interpreters,
                                    engine=engine, address=address, fast_decode=fast_decode)
    if stopped:
        raise click.exceptions.Exit(EXIT_CODES[stopped])
    error = summary.nothing_done()
    if error is not None:
        raise error


def _check_extras(engine: str, list_file: str | None) -> None:
    """What the library would refuse later, said now in the options' words."""
    if engine == "ray":
        import importlib.util

        from ..errors import ExtraMissing

        if importlib.util.find_spec("ray") is None:
            raise ExtraMissing("--engine ray", "ray", "ray[data]")
    if list_file not in (None, "-") and not os.path.isfile(list_file):
        raise ConfigError(f"--list {list_file}: no such file")


def _power(options: dict[str, Any], watts: float | None, price: float | None) -> Any:
    """(Power, price, watts) for the summary: the detected board's (or --device's) figures."""
    from .._device.profiles import detect_device, get_profile

    profile = get_profile(options["device"]) if options.get("device") else detect_device()
    return (profile.power if profile else None, price, watts)


def _run(model: Any, inputs: tuple[str, ...], writer: Any, done: set[Any],
         progress: bool | None, energy: Any = None, **options: Any) -> tuple[str | None, Summary]:
    """Write every result; the signal that stopped the run (``"SIGINT"``, …) and the summary."""
    from .._batch.engine import batch

    summary = Summary(skipped=len(done), energy=energy)
    bar = _Progress(progress if progress is not None else sys.stderr.isatty(), len(done))
    results = batch(model, inputs, skip=done, **options)
    stopped: str | None = None
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        bar.start(inputs, options["list_file"], options["every"])
        for result in results:
            writer.write(result)
            summary.add(result)
            bar.advance(summary)
    except KeyboardInterrupt:
        stopped = "SIGINT"
    except Terminated:
        stopped = "SIGTERM"
    except BrokenPipeError:  # `edgekit batch ... | head`: the reader is gone
        stopped = "SIGPIPE"
        _silence_stdout()
    finally:
        # a second signal must not break the clean-up that keeps the file valid
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            close = getattr(results, "close", None)
            if close is not None:
                close()
            writer.sync()
            bar.stop()
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, previous)
    click.echo(summary.render(stopped, resumable=writer.resumable), err=True)
    return stopped, summary


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class _Progress:
    """A rich progress bar on stderr (rate and ETA); its total is counted in a thread."""

    def __init__(self, enabled: bool, done: int) -> None:
        self._enabled = enabled
        self._done = done
        self._bar: Any = None
        self._task: Any = None
        self._pending = 0
        self._shown = 0.0

    def start(self, inputs: tuple[str, ...], list_file: str | None, every: int) -> None:
        if not self._enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rate]} items/s"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=Console(stderr=True), transient=False,
        )
        self._task = self._bar.add_task("batch", total=None, completed=self._done, rate="…")
        self._bar.start()
        if list_file != "-":  # stdin can be read once only
            threading.Thread(target=self._count, args=(inputs, list_file, every),
                             name="edgekit-batch-count", daemon=True).start()

    def _count(self, inputs: tuple[str, ...], list_file: str | None, every: int) -> None:
        from .._batch.inputs import count_items, expand
        from ..errors import EdgekitError

        bar = self._bar
        try:
            total = count_items(expand(inputs, list_file), every)
        except (EdgekitError, OSError):
            return  # no total: the bar shows the count and the rate, without ETA
        bar.update(self._task, total=total)

    def advance(self, summary: Summary) -> None:
        if self._bar is None:
            return
        self._pending += 1
        now = time.monotonic()
        if now - self._shown < 0.1:  # redrawing per item would cost more than a small model
            return
        elapsed = max(now - summary.started, 1e-9)
        self._bar.update(self._task, advance=self._pending,
                         rate=f"{summary.processed / elapsed:.1f}")
        self._pending, self._shown = 0, now

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=self._pending)
            self._bar.stop()
            self._bar = None
