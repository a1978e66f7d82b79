"""``edgekit serve``: an inference endpoint on the device (the ``serve`` extra)."""

from __future__ import annotations

import os
from typing import Any

import click

from ..errors import ConfigError
from . import interrupt
from .common import echo_json, model_argument, model_options, open_model, pop_model_options
from .reload import check_reload_options, live_updates, pop_reload_options, reload_options

__all__ = ["serve_cmd"]

MB = 1_000_000
LIMIT_OPTIONS = ("replicas", "queue", "max_body", "max_pixels", "max_images", "timeout", "max_connections",
                 "fast_decode")  # ServeLimits' fields; max_body in MB, max_pixels in megapixels here


@click.command("serve")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface, which needs --token or --insecure).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="TCP port (0: a free one, printed at start).")
@click.option("--token", envvar="EDGEKIT_SERVE_TOKEN", default=None,
              help="Token every request must carry: Authorization: Bearer TOKEN, or ?token= "
                   "(or env EDGEKIT_SERVE_TOKEN).")
@click.option("--insecure", is_flag=True, help="Allow a non-loopback --host without a token.")
@click.option("--replicas", type=click.IntRange(min=1), default=None,
              help="Interpreters answering in parallel (default: fill the cores, one per --threads).")
@click.option("--queue", type=click.IntRange(min=0), default=None,
              help="Images that may wait for an interpreter; beyond: 503 (default: 4 per replica).")
@click.option("--max-body", type=click.FloatRange(0, min_open=True), default=8.0, show_default=True,
              help="Largest request body, in MB.")
@click.option("--max-pixels", type=click.FloatRange(0, min_open=True), default=16.0, show_default=True,
              help="Largest image, in megapixels (read from its header before it is decoded).")
@click.option("--max-images", type=click.IntRange(min=1), default=16, show_default=True,
              help="Images in one multipart request.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True,
              help="Seconds for one request, from its first byte to its answer.")
@click.option("--max-connections", type=click.IntRange(min=1), default=64, show_default=True,
              help="Open connections; beyond: 503.")
@click.option("--fast-decode", is_flag=True,
              help="Decode JPEGs at 1/2, 1/4 or 1/8 scale when the model input is that small "
                   "(several times faster; scores may differ slightly from predict's).")
@click.option("--mqtt", metavar="URL", default=None,
              help="MQTT broker for --model-topic: mqtt://host[:1883] or mqtts://host[:8883].")
@click.option("--mqtt-username", default=None, help="MQTT user name.")
@click.option("--mqtt-password", envvar="EDGEKIT_MQTT_PASSWORD", default=None,
              help="MQTT password (or env EDGEKIT_MQTT_PASSWORD).")
@click.option("--mqtt-cafile", type=click.Path(dir_okay=False), default=None,
              help="CA certificate for mqtts:// (default: the system's).")
@click.option("--quiet", "-q", is_flag=True, help="No summary on stderr at the end.")
@reload_options
@model_options
def serve_cmd(model: str, host: str, port: int, token: str | None, insecure: bool, quiet: bool,
              **kwargs: Any) -> None:
    """Answer HTTP requests with MODEL's results: POST an image, get its JSON row.

    \b
    POST /predict      an image as the body (JPEG or PNG) -> its row, as predict --json;
                       multipart/form-data, one image per part -> a list of rows;
                       options as query parameters: ?top_k=3&score_threshold=0.5&classes=a,b
    GET  /healthz      {"status": "ok", ...}
    GET  /model        what inspect says about the model (?format=text: the summary)
    GET  /metrics      Prometheus counters: requests, latency, errors by type, model

    Listens on 127.0.0.1 unless --host says otherwise (then --token is needed).
    A full queue answers 503 with Retry-After; a bad image 400 with its error.
    The model updates live as in run (replace the file, SIGHUP, --model-topic).
    Ctrl-C or SIGTERM stop it gracefully: the requests in hand are answered.

    \b
    Examples:
      edgekit serve default
      curl --data-binary @digit.png http://127.0.0.1:8000/predict
      edgekit serve model.tflite --host 0.0.0.0 --token "$TOKEN" --port 8080
    """
    from .._serve.server import require_serve
    from ..sinks.access import ServeAddress

    require_serve()
    limits = {name: kwargs.pop(name) for name in LIMIT_OPTIONS}
    mqtt = {name: kwargs.pop(name) for name in ("mqtt", "mqtt_username", "mqtt_password", "mqtt_cafile")}
    path = model_argument(model, click.get_current_context())
    model_opts, reload_opts = pop_model_options(kwargs), pop_reload_options(kwargs)
    address = ServeAddress(host, port)
    if token is not None and not token.strip():
        raise ConfigError("--token must not be empty")
    if not address.loopback and token is None and not insecure:
        raise ConfigError(f"--host {host} is reachable from other machines; "
                          "give --token TOKEN (or --insecure to allow anyone)")
    _check_mqtt(mqtt, reload_opts)
    # OpenCV's own pixel guard, behind the header check (read when OpenCV first decodes).
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(int(limits["max_pixels"] * MB)))
    try:
        summary = _serve(path, model_opts, reload_opts, mqtt, address, token, limits)
    except KeyboardInterrupt as exc:  # a signal before the server ran
        if not quiet:
            click.echo(f"stopped: {interrupt.signal_name(exc)} received while starting", err=True)
        return
    if not quiet:
        click.echo(summary.line(), err=True)
    code = interrupt.stop_requested()
    if code is not None:
        raise click.exceptions.Exit(code)


def _check_mqtt(mqtt: dict[str, Any], reload_opts: dict[str, Any]) -> None:
    check_reload_options(mqtt["mqtt"], **reload_opts)
    if mqtt["mqtt"]:
        from ..sinks.mqtt import parse_mqtt_url, require_paho

        require_paho("--mqtt")
        target = parse_mqtt_url(mqtt["mqtt"])
        if mqtt["mqtt_cafile"] and not target.tls:
            raise ConfigError("--mqtt-cafile needs an mqtts:// URL")
        if mqtt["mqtt_password"] and not mqtt["mqtt_username"]:
            raise ConfigError("--mqtt-password needs --mqtt-username")
        if reload_opts.get("model_topic") is None:
            raise ConfigError("--mqtt is only for --model-topic here: give the topic too")


def _serve(path: str, model_opts: dict[str, Any], reload_opts: dict[str, Any], mqtt: dict[str, Any],
           address: Any, token: str | None, limits: dict[str, Any]) -> Any:
    """Load, serve until a signal, return the summary (everything is closed)."""
    from .._reload.reloader import warm_up
    from .._serve.limits import ServeLimits
    from .._serve.pool import Replicas
    from .._serve.server import InferenceServer

    with open_model(path, model_opts) as loaded:
        in_units = {"max_body": int(limits["max_body"] * MB), "max_pixels": int(limits["max_pixels"] * MB)}
        bounds = ServeLimits(**{**limits, **in_units}, threads=loaded.threads)

        def replicas(model: Any) -> Any:
            return Replicas(model, bounds.replicas or 1, warm_up)

        with live_updates(loaded, model_opts, prepare=replicas, **mqtt, **reload_opts) as reloader:
            server = InferenceServer(loaded, host=address.host, port=address.port, token=token,
                                     limits=bounds, reloader=reloader, on_event=_print_event)
            _announce(server, loaded, token)
            with interrupt.stopping(server.stop):  # from now on a signal stops it gracefully
                return server.run()


def _print_event(event: Any) -> None:
    """A model update, as one JSON line on stdout (the stream events' schema)."""
    try:
        echo_json(event.to_dict())
    except (BrokenPipeError, ValueError):  # the reader of stdout went away
        interrupt.silence_stdout()
        interrupt.request_stop("stdout closed by its reader", interrupt.EXIT_PIPE)


def _announce(server: Any, model: Any, token: str | None) -> None:
    """Say once where the server is (``--port 0`` picks the port); never the token itself."""
    wildcard = server.host in ("0.0.0.0", "::", "")
    url = f"http://<this machine's address>:{server.port}/" if wildcard else server.url
    auth = "  (with Authorization: Bearer <the --token value>)" if token else ""
    limits = server.limits
    click.echo(f"serving {model.info.source} on {url}  [{limits.replicas} replicas, queue {limits.queue}]"
               f"{auth}\n  POST {url}predict   GET /healthz /model /metrics", err=True)
