"""Live model updates on the command line (``run`` and ``serve``): options and their wiring.

``--reload`` (the default) watches the model file and reloads it when it is
replaced, and makes SIGHUP reload it (``systemctl reload``); ``--model-topic``
takes update commands ``{"model": "path", "sha256": "..."}`` from the ``--mqtt``
broker. A new model is loaded with the command's own model options and checks
(``--isolate``, ``--model-sha256``: see :mod:`edgekit._reload.reloader`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import click

from ..errors import ConfigError
from . import interrupt
from .common import open_model

__all__ = ["RELOAD_OPTION_NAMES", "check_reload_options", "live_updates", "pop_reload_options",
           "reload_options"]

RELOAD_OPTION_NAMES = ("reload", "model_topic")


def reload_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--reload/--no-reload`` and ``--model-topic``."""
    decorators = [
        click.option("--reload/--no-reload", "reload", default=True, show_default=True,
                     help="Watch the model file and swap in a replaced one (checked first; a file "
                          "that does not load leaves the running model); SIGHUP reloads it too."),
        click.option("--model-topic", metavar="TOPIC", default=None,
                     help='MQTT topic for model updates {"model": "path", "sha256": "hex"} '
                          "(on the --mqtt broker)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def pop_reload_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the reload options from ``kwargs`` and return them."""
    return {name: kwargs.pop(name) for name in RELOAD_OPTION_NAMES if name in kwargs}


def check_reload_options(mqtt: str | None, model_topic: str | None = None, **_: Any) -> None:
    """Raises ConfigError: ``--model-topic`` without ``--mqtt``."""
    if model_topic is not None and not mqtt:
        raise ConfigError("--model-topic needs --mqtt URL (the broker to take update commands from)")
    if model_topic is not None and not model_topic.strip():
        raise ConfigError("--model-topic must not be empty")


@contextlib.contextmanager
def live_updates(model: Any, model_opts: dict[str, Any], *, reload: bool = True,
                 model_topic: str | None = None, mqtt: str | None = None,
                 mqtt_username: str | None = None, mqtt_password: str | None = None,
                 mqtt_cafile: str | None = None,
                 prepare: Callable[[Any], Any] | None = None) -> Iterator[Any]:
    """The reloader of a running command (``None`` when no update can come), with its
    SIGHUP handler and MQTT subscriber. Enter it in the main thread.

    Raises:
        ConfigError, ExtraMissing: the MQTT subscriber cannot start.
    """
    if not reload and model_topic is None:
        yield None
        return
    from .._reload.commands import ModelCommands
    from .._reload.reloader import ModelReloader

    def load_new(path: str, sha256: str | None) -> Any:
        return open_model(path, {**model_opts, "model_sha256": sha256})

    info = model.info
    reloader = ModelReloader(info.source, info.sha256, load_new, pinned=bool(model_opts.get("model_sha256")),
                             watch=reload, prepare=prepare)
    commands = None
    try:
        if model_topic is not None:
            commands = ModelCommands(mqtt or "", model_topic, reloader.command, username=mqtt_username,
                                     password=mqtt_password, cafile=mqtt_cafile)
        with interrupt.hangup(reloader.hangup) if reload else contextlib.nullcontext():
            yield reloader
    finally:
        if commands is not None:
            commands.close()
        reloader.close()  # idempotent: the stream or the server closes it too
