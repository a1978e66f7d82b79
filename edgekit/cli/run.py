"""``edgekit run``: real-time inference on a camera, a stream, a file or the demo source."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import ConfigError
from . import interrupt
from .actions import (
    ExecCommand,
    action_options,
    check_action_options,
    pop_action_options,
)
from .common import model_options, open_model, pop_model_options
from .reload import check_reload_options, live_updates, pop_reload_options, reload_options

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


class _RunCommand(ExecCommand):
    """``run`` takes no arguments (``--exec`` takes the rest): name the option a stray one was
    probably meant for."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        if ctx.args:
            stray = ctx.args[0]
            if stray == "default" or stray.endswith(".tflite"):
                hint = f"the model is an option: edgekit run --model {stray}"
            else:
                hint = f"the input is an option: edgekit run --source {stray} (or --camera N)"
            raise click.UsageError(f"unexpected argument {stray!r}; {hint}", ctx)
        return rest


@click.command("run", cls=_RunCommand,
               context_settings={"allow_extra_args": True})
@click.option("--model", "-m", "model_path", type=click.Path(dir_okay=False), default=None,
              help="The .tflite model (default, or 'default': the bundled digits classifier).")
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
@action_options
@reload_options
@model_options
def run_cmd(model_path: str | None, camera: str | None, source: str | None, width: int | None,
            height: int | None, fps: float | None, loop: bool, realtime: bool,
            max_fps: float | None, every: int, max_frames: int | None, duration: float | None,
            stall_timeout: float, quiet: bool, **kwargs: Any) -> None:
    """Classify (or detect) what a camera sees, in real time, on the newest frame.

    With no options: the bundled digits model on the built-in demo source.
    Results are JSON lines on stdout when it is not a terminal and no --out
    FILE is given (or with --json); a terminal gets a live status line.
    Ctrl-C or SIGTERM stop it cleanly (exit 0), also while it starts; a second
    one stops it at once. When the reader of stdout goes away (| head), it
    stops the same way and exits 141, as a tool killed by SIGPIPE.

    The model updates live: replace its file (atomic rename), send SIGHUP, or
    publish {"model": PATH, "sha256": HEX} to --model-topic; the new one is
    checked, loaded beside the old one and swapped in between two frames (a
    model_changed event). One that does not load leaves the old one running.

    \b
    Examples:
      edgekit run
      edgekit run --model model.tflite --camera 0 --width 640 --height 480
      edgekit run --camera picam --serve 8080
      edgekit run --source rtsp://192.168.1.20/stream --mqtt mqtt://localhost --topic cam/1
      edgekit run --source clip.mp4 --out results.jsonl --save annotated.mp4
      edgekit run --model detect.tflite --camera 0 --when 'person>=0.6 for 3/5' \\
          --zone 0,240,640,480 --cooldown 30 --snapshots events/ --exec notify-send person
    """
    from ..sources import SourceOptions, source_factory
    from .sinks import check_sink_options, pop_sink_options

    model_opts = pop_model_options(kwargs)
    sink_opts = pop_sink_options(kwargs)
    action_opts = pop_action_options(kwargs)
    reload_opts = pop_reload_options(kwargs)
    spec = _source_spec(camera, source)
    # Check the source spec before anything is opened or created (--out, --save files).
    source_factory(spec, SourceOptions(width, height, fps, loop, realtime, stall_timeout))
    check_sink_options(**sink_opts)
    check_action_options(sink_opts.get("mqtt"), **action_opts)
    check_reload_options(sink_opts.get("mqtt"), **reload_opts)
    limits = {"width": width, "height": height, "fps": fps, "loop": loop, "realtime": realtime,
              "max_fps": max_fps, "every": every, "max_frames": max_frames, "duration": duration,
              "stall_timeout": stall_timeout}
    try:
        summary = _run(model_path, model_opts, sink_opts, action_opts, reload_opts, spec, limits)
    except KeyboardInterrupt as exc:  # a signal before the stream ran: nothing was written yet
        if not quiet:
            click.echo(f"stopped: {interrupt.signal_name(exc)} received while starting", err=True)
        return
    if not quiet:
        click.echo(summary.line(), err=True)
    code = interrupt.stop_requested()
    if code is not None:
        raise click.exceptions.Exit(code)


def _run(model_path: str | None, model_opts: dict[str, Any], sink_opts: dict[str, Any],
         action_opts: dict[str, Any], reload_opts: dict[str, Any], spec: str, limits: dict[str, Any]) -> Any:
    """Load, open the sinks, run the stream to its end; the summary. Every sink is closed."""
    from .._stream.updates import keeps_rules
    from ..model import default_model_path
    from ..sinks.queued import close_sinks

    path = default_model_path() if model_path in (None, "default") else model_path
    mqtt = {k: sink_opts.get(k) for k in ("mqtt", "mqtt_username", "mqtt_password", "mqtt_cafile")}
    with open_model(path, model_opts) as loaded:
        rules, actions = _actions(loaded, sink_opts, action_opts)  # labels checked: nothing made yet
        try:
            updates = live_updates(loaded, model_opts, prepare=keeps_rules(rules), **mqtt, **reload_opts)
        except BaseException:
            close_sinks(actions)
            raise
        with updates as reloader:
            return _stream_to_sinks(loaded, spec, rules, actions, sink_opts, limits, reloader)


def _stream_to_sinks(loaded: Any, spec: str, rules: Any, actions: list[Any], sink_opts: dict[str, Any],
                     limits: dict[str, Any], reloader: Any) -> Any:
    """Open the sinks, stream into them (live updates from ``reloader``); the summary."""
    from .._stream.factory import stream
    from ..sinks.queued import close_sinks
    from .sinks import build_sinks

    def stdout_closed() -> None:
        interrupt.request_stop("stdout closed by its reader", interrupt.EXIT_PIPE)

    def release_replaced(event: Any) -> None:  # the stream runs a new model: free the first one
        if event.event == "model_changed":
            loaded.close()

    try:
        sinks = build_sinks(stdout_is_tty=sys.stdout.isatty(), fps=limits["fps"],
                            on_stdout_closed=stdout_closed, **sink_opts) + actions
    except BaseException:
        close_sinks(actions)
        raise
    try:
        running = stream(loaded, spec, sinks=sinks, rules=rules, reload=reloader or False,
                         on_event=release_replaced, **limits)  # owns the sinks, even if it fails
    except BaseException:  # ... but a Ctrl-C may land before it got them
        close_sinks(sinks)  # idempotent
        raise
    try:
        _announce(sinks, sink_opts.get("token"))
        with interrupt.stopping(running.stop):  # from now on a signal stops it cleanly
            return running.run()
    finally:
        running.close()  # idempotent; closes the sinks even if the stream never started


def _announce(sinks: list[Any], token: str | None) -> None:
    """Say once where the web preview is (``--serve 0`` picks the port)."""
    from ..sinks.web import WebSink

    for sink in sinks:
        web = getattr(sink, "inner", sink)
        if isinstance(web, WebSink):
            wildcard = web.host in ("0.0.0.0", "::", "")
            url = f"http://<this machine's address>:{web.port}/" if wildcard else web.url
            click.echo(f"web preview: {url}" + ("?token=<the --token value>" if token else ""), err=True)


def _actions(model: Any, sink_opts: dict[str, Any], action_opts: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The rules and the action sinks (snapshots, --exec, --capture, Home Assistant), queued."""
    from ..sinks.queued import QueuedSink
    from .actions import build_actions

    rules, sinks = build_actions(model, sink_opts, **action_opts)
    return rules, [QueuedSink(s, maxsize=getattr(s, "queue_size", 16)) for s in sinks]
