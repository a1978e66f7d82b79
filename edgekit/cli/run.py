"""``edgekit run``: real-time inference on a camera, a stream, a file or the demo source."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import click

from ..errors import ConfigError
from .common import model_options, open_model, pop_model_options

__all__ = ["run_cmd"]


def _sink_options(func: Any) -> Any:
    from .sinks import sink_options

    return sink_options(func)


def _source_spec(camera: str | None, source: str | None) -> str:
    if camera is not None and source is not None:
        raise ConfigError("give --camera or --source, not both")
    if camera is not None:
        text = camera.strip()
        if text != "picam" and not text.startswith("picam:") and not text.isdigit() \
                and not text.startswith("/dev/"):
            raise ConfigError(f"--camera {text!r}: use an index (0, 1, …), /dev/videoN or picam")
        return text
    return source if source is not None else "demo"


class _StoppedEarly(BaseException):
    """A signal arrived before the stream started (while the model was loading).

    A ``BaseException`` (like ``KeyboardInterrupt``) so that no ``except Exception``
    on the way — error mapping around the interpreter, say — can swallow it.
    """


def _install_signals(stop: Any | None) -> None:
    """First SIGINT/SIGTERM: stop cleanly (flush sinks, exit 0). Second: exit at once.

    With ``stop=None`` (before the stream exists) the first signal aborts the
    start-up: nothing is open yet, so there is nothing to flush.
    """
    received: list[int] = []

    def handler(signum: int, _frame: Any) -> None:
        received.append(signum)
        if len(received) > 1:
            os._exit(128 + signum)  # the user insists: no more cleanup
        if stop is None:
            raise _StoppedEarly(f"{signal.Signals(signum).name} received while starting")
        stop(f"{signal.Signals(signum).name} received")

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@click.command("run")
@click.option("--model", "-m", "model_path", type=click.Path(dir_okay=False), default=None,
              help="The .tflite model (default: the bundled digits classifier).")
@click.option("--camera", is_flag=False, flag_value="0", default=None, metavar="[INDEX|/dev/videoN|picam]",
              help="A camera: V4L2 index or device (USB), or picam (CSI, via picamera2). Alone: 0.")
@click.option("--source", default=None, metavar="SPEC", envvar="EDGEKIT_SOURCE",
              help="demo (default) | video file | rtsp://, http:// URL | image | folder | glob "
                   "(or env EDGEKIT_SOURCE, e.g. for a URL with a password).")
@click.option("--width", type=click.IntRange(min=8), default=None, help="Requested frame width.")
@click.option("--height", type=click.IntRange(min=8), default=None, help="Requested frame height.")
@click.option("--fps", type=click.FloatRange(0, 1000, min_open=True), default=None,
              help="Requested capture rate (camera, demo; with --realtime: the file's pace).")
@click.option("--loop", is_flag=True, help="Start files again at their end.")
@click.option("--realtime", is_flag=True,
              help="Play files at their frame rate, newest frame wins (as a camera).")
@click.option("--max-fps", type=click.FloatRange(0, min_open=True), default=None,
              help="At most this many inferences per second (saves power).")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True,
              help="Infer every N-th frame only.")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Stop after N results.")
@click.option("--duration", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop after S seconds.")
@click.option("--stall-timeout", type=click.FloatRange(0, min_open=True), default=5.0,
              show_default=True, help="Seconds without a frame before a live source is reopened.")
@click.option("--quiet", "-q", is_flag=True, help="No summary on stderr at the end.")
@_sink_options
@model_options
def run_cmd(model_path: str | None, camera: str | None, source: str | None, width: int | None,
            height: int | None, fps: float | None, loop: bool, realtime: bool,
            max_fps: float | None, every: int, max_frames: int | None, duration: float | None,
            stall_timeout: float, quiet: bool, **kwargs: Any) -> None:
    """Classify (or detect) what a camera sees, in real time, on the newest frame.

    With no options: the bundled digits model on the built-in demo source.
    Results are JSON lines on stdout when it is not a terminal (or --json, or
    --out FILE); a terminal gets a live status line. Ctrl-C or SIGTERM stop it
    cleanly (exit 0); a second one stops it at once.

    \b
    Examples:
      edgekit run
      edgekit run --model model.tflite --camera 0 --width 640 --height 480
      edgekit run --camera picam --serve 8080
      edgekit run --source rtsp://192.168.1.20/stream --mqtt mqtt://localhost --topic cam/1
      edgekit run --source clip.mp4 --out results.jsonl --save annotated.mp4
    """
    from .._stream.factory import stream
    from ..model import default_model_path
    from ..sinks.queued import close_sinks
    from ..sources import SourceOptions, source_factory
    from .sinks import build_sinks, check_sink_options, pop_sink_options

    model_opts = pop_model_options(kwargs)
    sink_opts = pop_sink_options(kwargs)
    spec = _source_spec(camera, source)
    # Check the source spec before anything is opened or created (--out, --save files).
    source_factory(spec, SourceOptions(width, height, fps, loop, realtime, stall_timeout))
    check_sink_options(**sink_opts)
    _install_signals(None)
    try:
        with open_model(model_path or default_model_path(), model_opts) as loaded:
            sinks = build_sinks(stdout_is_tty=sys.stdout.isatty(), fps=fps, **sink_opts)
            try:
                running = stream(loaded, spec, sinks=sinks, width=width, height=height, fps=fps,
                                 loop=loop, realtime=realtime, max_fps=max_fps, every=every,
                                 max_frames=max_frames, duration=duration,
                                 stall_timeout=stall_timeout)
            except BaseException:
                close_sinks(sinks)
                raise
            _install_signals(running.stop)
            summary = running.run()
    except _StoppedEarly as exc:
        if not quiet:
            click.echo(f"stopped: {exc}", err=True)
        return
    if not quiet:
        click.echo(summary.line(), err=True)
