"""The sink command-line options and the factory that turns them into sinks.

``sink_options`` adds every sink option to a click command; ``build_sinks``
validates them all first (nothing is opened when one is wrong), then opens the
sinks, each behind a :class:`~edgekit.sinks.QueuedSink` so none can block
inference.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import click

from ..errors import ConfigError
from ..sinks.mqtt import parse_mqtt_url, require_paho
from ..sinks.queued import QueuedSink, close_sinks
from ..sinks.web import ServeAddress, parse_serve

__all__ = [
    "SINK_OPTION_NAMES",
    "build_sinks",
    "check_sink_options",
    "pop_sink_options",
    "sink_options",
]

SINK_OPTION_NAMES = (
    "out", "save", "serve", "token", "insecure", "show", "mqtt", "topic", "qos",
    "mqtt_username", "mqtt_password", "mqtt_cafile", "force", "no_status", "json",
)

# Queue sizes in front of each sink: results that may wait before the oldest is dropped.
QUEUE_SIZES = {"jsonl": 1024, "jsonl-file": 1024, "status": 8, "video": 32, "web": 4, "window": 4,
               "mqtt": 256}
CREATES_FILES = ("jsonl-file", "video")


def sink_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the sink options (``--out``, ``--save``, ``--serve``, ``--mqtt``, …) to a command."""
    decorators = [
        click.option("--out", type=click.Path(dir_okay=False, allow_dash=True), default=None,
                     help="Write results as JSON lines to FILE ('-': stdout); stdout then gets none "
                          "unless --json."),
        click.option("--save", type=click.Path(dir_okay=False), default=None,
                     help="Save the annotated video to FILE (.mp4)."),
        click.option("--serve", metavar="[HOST:]PORT", default=None,
                     help="Web preview (MJPEG + live results); binds 127.0.0.1 unless HOST is given."),
        click.option("--token", envvar="EDGEKIT_SERVE_TOKEN", default=None,
                     help="Token the web preview requires (?token= or Authorization: Bearer)."),
        click.option("--insecure", is_flag=True,
                     help="Allow --serve on a non-loopback address without a token."),
        click.option("--show", is_flag=True, help="Show an OpenCV window (needs OpenCV with GUI)."),
        click.option("--mqtt", metavar="URL", default=None,
                     help="Publish results to an MQTT broker: mqtt://host[:1883] or mqtts://host[:8883]."),
        click.option("--topic", default="edgekit/results", show_default=True, help="MQTT topic."),
        click.option("--qos", type=click.IntRange(0, 2), default=0, show_default=True,
                     help="MQTT quality of service (0, 1 or 2)."),
        click.option("--mqtt-username", default=None, help="MQTT user name."),
        click.option("--mqtt-password", envvar="EDGEKIT_MQTT_PASSWORD", default=None,
                     help="MQTT password (or env EDGEKIT_MQTT_PASSWORD)."),
        click.option("--mqtt-cafile", type=click.Path(dir_okay=False), default=None,
                     help="CA certificate for mqtts:// (default: the system's)."),
        click.option("--force", is_flag=True, help="Overwrite existing --out/--save files."),
        click.option("--no-status", is_flag=True, help="No live status line on the terminal."),
        click.option("--json", "json", is_flag=True,
                     help="JSON lines on stdout even when it is a terminal or --out is given."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def pop_sink_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the sink options from ``kwargs`` (a click command's) and return them."""
    return {name: kwargs.pop(name) for name in SINK_OPTION_NAMES if name in kwargs}


def check_sink_options(**opts: Any) -> None:
    """Validate the sink options (keywords of :func:`build_sinks`) without opening anything.

    ``build_sinks`` calls it first; a command may call it earlier too (before it
    loads a model) so that a wrong option fails fast.

    Raises:
        ConfigError: An output file exists without ``force``, a ``--serve``
            address is bad or public without ``token``/``insecure``, an MQTT
            option is bad, or ``--show`` is impossible here.
    """
    from ..sinks.jsonl import check_new_file

    if opts.get("out") and opts["out"] != "-":
        check_new_file(opts["out"], bool(opts.get("force")), "--out")
    if opts.get("save"):
        check_new_file(opts["save"], bool(opts.get("force")), "--save")
    if opts.get("out") and opts.get("save") and os.path.abspath(opts["out"]) == os.path.abspath(opts["save"]):
        raise ConfigError("--out and --save name the same file")
    if opts.get("serve") is not None:
        address = parse_serve(opts["serve"])
        if not address.loopback and not opts.get("token") and not opts.get("insecure"):
            raise ConfigError(
                f"--serve {address.host}:{address.port} is reachable from other machines; "
                "give --token TOKEN (or --insecure to allow anyone)")
    if opts.get("mqtt"):
        require_paho("--mqtt")
        if "@" in urlsplit(opts["mqtt"]).netloc:
            raise ConfigError("--mqtt: give the user name and password with --mqtt-username and "
                              "--mqtt-password (or env EDGEKIT_MQTT_PASSWORD), not in the URL")
        target = parse_mqtt_url(opts["mqtt"])
        cafile = opts.get("mqtt_cafile")
        if cafile and not target.tls:
            raise ConfigError("--mqtt-cafile needs an mqtts:// URL")
        if cafile and not os.path.isfile(cafile):
            raise ConfigError(f"--mqtt-cafile {cafile!r} does not exist")
        if opts.get("mqtt_password") and not opts.get("mqtt_username"):
            raise ConfigError("--mqtt-password needs --mqtt-username")
    if opts.get("show"):
        from ..sinks.window import CLI_HINT, check_gui

        check_gui("--show", CLI_HINT)


def build_sinks(
    *,
    stdout_is_tty: bool,
    out: str | None = None,
    save: str | None = None,
    serve: str | int | None = None,
    token: str | None = None,
    insecure: bool = False,
    show: bool = False,
    mqtt: str | None = None,
    topic: str = "edgekit/results",
    qos: int = 0,
    mqtt_username: str | None = None,
    mqtt_password: str | None = None,
    mqtt_cafile: str | None = None,
    force: bool = False,
    no_status: bool = False,
    json: bool = False,
    fps: float | None = None,
    queued: bool = True,
    on_stdout_closed: Callable[[], Any] | None = None,
) -> list[Any]:
    """Open the sinks the options ask for (the keyword names are :func:`sink_options`'s).

    JSON lines go to stdout with ``json``, or when stdout is not a terminal and
    no ``out`` file is asked for (one destination unless both are asked); on a
    terminal a live status line is shown instead (unless ``no_status``).

    Args:
        stdout_is_tty: Whether stdout is a terminal (``sys.stdout.isatty()``).
        fps: Frame rate of the source, for ``--save`` (estimated when ``None``).
        queued: Wrap each sink in a :class:`QueuedSink` (the default; the stream
            relies on it so that a slow sink never blocks inference).
        on_stdout_closed: Called once when the reader of stdout goes away.

    Returns:
        The sinks, in a fixed order: stdout, --out, status, --save, --serve, --show, --mqtt.

    Raises:
        ConfigError: An option is wrong (checked before anything is opened).
        ExtraMissing: ``--mqtt`` without paho-mqtt.
    """
    check_sink_options(out=out, save=save, serve=serve, token=token, insecure=insecure, show=show,
                       mqtt=mqtt, mqtt_cafile=mqtt_cafile, mqtt_password=mqtt_password,
                       mqtt_username=mqtt_username, force=force)
    if out == "-":  # --out - is stdout
        out, json = None, True
    factories: list[tuple[str, Callable[[], Any]]] = []
    if json or (not stdout_is_tty and not out):
        factories.append(("jsonl", lambda: _jsonl(None, False, on_stdout_closed)))
    if out:
        factories.append(("jsonl-file", lambda: _jsonl(out, force)))
    if stdout_is_tty and not json and not no_status:
        factories.append(("status", _status))
    if save:
        factories.append(("video", lambda: _video(save, force, fps)))
    if serve is not None:
        factories.append(("web", lambda: _web(parse_serve(serve), token)))
    if show:
        factories.append(("window", _window))
    if mqtt:
        factories.append(("mqtt", lambda: _mqtt(mqtt, topic, qos, mqtt_username, mqtt_password,
                                                mqtt_cafile)))
    # Open the sinks that may still fail (a broker, a port, a display) before those that
    # create files, so that a failure leaves no empty --out/--save file behind.
    opened: dict[int, Any] = {}
    try:
        for index in sorted(range(len(factories)), key=lambda i: factories[i][0] in CREATES_FILES):
            kind, factory = factories[index]
            sink = factory()
            opened[index] = QueuedSink(sink, maxsize=QUEUE_SIZES[kind]) if queued else sink
    except BaseException:
        close_sinks(list(opened.values()))
        raise
    return [opened[index] for index in sorted(opened)]


def _jsonl(target: str | None, force: bool, on_reader_gone: Callable[[], Any] | None = None) -> Any:
    from ..sinks.jsonl import JsonLinesSink

    return JsonLinesSink(target, force=force, on_reader_gone=on_reader_gone)


def _status() -> Any:
    from ..sinks.status import StatusSink

    return StatusSink()


def _video(path: str, force: bool, fps: float | None) -> Any:
    from ..sinks.video import VideoSink

    return VideoSink(path, fps=fps, force=force)


def _web(address: ServeAddress, token: str | None) -> Any:
    from ..sinks.web import WebSink

    return WebSink(address.host, address.port, token=token)


def _window() -> Any:
    from ..sinks.window import WindowSink

    return WindowSink()


def _mqtt(url: str, topic: str, qos: int, username: str | None, password: str | None,
          cafile: str | None) -> Any:
    from ..sinks.mqtt import MqttSink

    return MqttSink(url, topic=topic, qos=qos, username=username, password=password, cafile=cafile)
