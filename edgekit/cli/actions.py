"""The rule and action options of ``edgekit run`` and the factory that turns them into objects.

``--when`` (with ``--zone``, ``--cooldown``) makes rules; ``--snapshots``,
``--exec``, ``--capture`` and ``--ha-discovery`` make action sinks. Everything is
checked before the model loads (:func:`check_action_options`), the labels once
it has (:func:`build_actions`), and only then is anything created on disk.

``--exec`` takes the rest of the command line as the command and its arguments
(:class:`ExecCommand` cuts it off before click parses the options), so it is the
last option: ``edgekit run --when 'person>=0.6' --exec notify-send "at the door"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..errors import ConfigError

__all__ = ["ACTION_OPTION_NAMES", "ExecCommand", "action_options", "build_actions",
           "check_action_options", "pop_action_options"]

ACTION_OPTION_NAMES = (
    "when", "zone", "zone_overlap", "cooldown", "exec_", "exec_timeout", "exec_on", "snapshots",
    "clean_snapshots", "clip_seconds", "pre_roll", "post_roll", "keep_files", "keep_mb", "keep_days",
    "min_free_mb", "capture", "capture_band", "capture_margin", "capture_flicker",
    "capture_interval", "capture_max_files", "capture_max_mb", "ha_discovery", "ha_prefix",
    "ha_name", "ha_labels",
)
HA_MAX_LABELS = 32  # one sensor per label: more is noise in Home Assistant unless asked for
EXEC = "--exec"


class ExecCommand(click.Command):
    """A command whose ``--exec`` takes every argument after it as the command to run."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        command: tuple[str, ...] | None = None
        if EXEC in args:
            at = args.index(EXEC)
            args, command = args[:at], tuple(args[at + 1:])
            if command[:1] == ("--",):
                command = command[1:]
            if not command:
                raise click.UsageError("--exec needs a command: --exec PROGRAM [ARGS]... (last)", ctx)
        rest = super().parse_args(ctx, args)
        ctx.params["exec_"] = command
        return rest


def action_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the rule and action options to a command (use with ``cls=ExecCommand``)."""
    opt = click.option
    decorators = [
        opt("--when", multiple=True, metavar="RULE",
            help="A rule: 'LABEL>=SCORE [for N/M]' (N of the last M frames); repeatable. Events "
                 "{\"event\": \"rule\", \"state\": \"on\"|\"off\"} go to every output."),
        opt("--zone", metavar="x1,y1,x2,y2|'x,y x,y x,y ...'", default=None,
            help="Only detections in this box or polygon (source pixels) count for --when."),
        opt("--zone-overlap", type=click.FloatRange(0, 1, min_open=True), default=None,
            help="A detection is in the zone when this share of its box is (default: its centre)."),
        opt("--cooldown", type=click.FloatRange(0), default=0.0, show_default=True,
            help="Seconds after a rule turns on before it may turn on again."),
        opt(EXEC, "exec_", default=None, metavar="PROGRAM [ARGS]...", expose_value=True,
            help="Run PROGRAM with ARGS (no shell) when a rule turns on; the event comes as JSON on "
                 "stdin and EDGEKIT_* variables. Takes the rest of the line: put it last."),
        opt("--exec-timeout", type=click.FloatRange(0, min_open=True), default=30.0, show_default=True,
            help="Seconds before a running --exec command is stopped."),
        opt("--exec-on", type=click.Choice(["on", "off", "both"]), default="on", show_default=True,
            help="Which rule events run --exec."),
        opt("--snapshots", metavar="DIR", type=click.Path(file_okay=False), default=None,
            help="Write a JPEG to DIR when a rule turns on (named in the event)."),
        opt("--clean-snapshots", is_flag=True, help="Snapshots without boxes and labels drawn."),
        opt("--clip-seconds", type=click.FloatRange(0, min_open=True), default=None,
            help="Also record clips in --snapshots DIR, at most this long (default 60 with "
                 "--pre-roll/--post-roll)."),
        opt("--pre-roll", type=click.FloatRange(0), default=None,
            help="Seconds of a clip before the event (default 5; kept in memory as JPEG)."),
        opt("--post-roll", type=click.FloatRange(0), default=None,
            help="Seconds of a clip after the rule turns off (default 5)."),
        opt("--keep-files", type=click.IntRange(min=1), default=None,
            help="Keep at most N files in --snapshots DIR (oldest deleted)."),
        opt("--keep-mb", type=click.FloatRange(0, min_open=True), default=None,
            help="Keep at most this many MB in --snapshots DIR."),
        opt("--keep-days", type=click.FloatRange(0, min_open=True), default=None,
            help="Delete snapshots and clips older than this many days."),
        opt("--min-free-mb", type=click.FloatRange(0), default=50.0, show_default=True,
            help="Stop writing snapshots/captures below this much free disk (an event says so)."),
        opt("--capture", metavar="DIR", type=click.Path(file_okay=False), default=None,
            help="Save frames the model is unsure about to DIR/<guess>/ for retraining."),
        opt("--capture-band", metavar="LOW,HIGH", default="0.3,0.7", show_default=True,
            help="A top score in this range is unsure."),
        opt("--capture-margin", type=click.FloatRange(0, 1), default=0.1, show_default=True,
            help="Best two classes closer than this are unsure (0: off)."),
        opt("--capture-flicker", metavar="N/M", default="3/10", show_default=True,
            help="N changes of the top label in the last M frames are unsure (0/M: off)."),
        opt("--capture-interval", type=click.FloatRange(0), default=2.0, show_default=True,
            help="Seconds between two captured frames at least."),
        opt("--capture-max-files", type=click.IntRange(min=1), default=1000, show_default=True,
            help="Stop capturing when DIR holds this many images."),
        opt("--capture-max-mb", type=click.FloatRange(0, min_open=True), default=500.0,
            show_default=True, help="Stop capturing when DIR holds this many MB."),
        opt("--ha-discovery", is_flag=True,
            help="Appear in Home Assistant (MQTT discovery on --mqtt): a binary sensor per rule, "
                 "a count sensor per label, the snapshot as an image."),
        opt("--ha-prefix", default="homeassistant", show_default=True,
            help="Home Assistant's discovery prefix."),
        opt("--ha-name", default=None, help="The device's name in Home Assistant (default: host name)."),
        opt("--ha-labels", metavar="L1,L2", default=None,
            help="Labels to count (default: the rules' labels, or all labels of a model with "
                 f"at most {HA_MAX_LABELS})."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def pop_action_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the action options from ``kwargs`` (a click command's) and return them."""
    return {name: kwargs.pop(name) for name in ACTION_OPTION_NAMES if name in kwargs}


def _pair(text: str, sep: str, option: str) -> tuple[float, float]:
    parts = text.split(sep)
    try:
        if len(parts) == 2:
            return float(parts[0]), float(parts[1])
    except ValueError:
        pass
    raise ConfigError(f"{option} {text!r}: give two numbers as A{sep}B")


def _rules(opts: dict[str, Any]) -> list[Any]:
    from .._actions.rules import Rule
    from .._actions.zones import Zone

    zone = Zone.parse(opts["zone"], opts.get("zone_overlap")) if opts.get("zone") else None
    return [Rule.parse(text, zone=zone, cooldown=opts.get("cooldown") or 0.0) for text in opts["when"]]


def _needs(opts: dict[str, Any], needed: str, names: tuple[str, ...], what: str) -> None:
    for name in names:
        if opts.get(name) not in (None, False, (), 0.0) and not opts.get(needed):
            raise ConfigError(f"--{name.rstrip('_').replace('_', '-')} needs {what}")


def check_action_options(mqtt: str | None = None, **opts: Any) -> None:
    """Validate the action options without creating anything (call before loading the model).

    Raises:
        ConfigError: A rule, zone or pair that does not parse, an option that needs
            another one, an ``--exec`` program that does not exist.
    """
    from .._actions.execute import resolve_command

    _needs(opts, "when", ("zone", "zone_overlap", "cooldown", "exec_", "snapshots"),
           "a rule to act on: --when 'LABEL>=SCORE'")
    _needs(opts, "snapshots", ("clean_snapshots", "clip_seconds", "pre_roll", "post_roll",
                               "keep_files", "keep_mb", "keep_days"), "--snapshots DIR")
    _needs(opts, "ha_discovery", ("ha_labels", "ha_name"), "--ha-discovery")
    _rules(opts)
    if opts.get("exec_"):
        try:
            resolve_command(opts["exec_"])
        except ConfigError as exc:
            raise ConfigError(f"--exec: {exc}") from None
    if opts.get("capture"):
        _pair(opts.get("capture_band") or "0.3,0.7", ",", "--capture-band")
        _pair(opts.get("capture_flicker") or "3/10", "/", "--capture-flicker")
    if opts.get("ha_discovery") and not mqtt:
        raise ConfigError("--ha-discovery needs the broker: --mqtt mqtt://host")


def build_actions(model: Any, mqtt_opts: dict[str, Any], **opts: Any) -> tuple[tuple[Any, ...], list[Any]]:
    """The rules (bound to ``model``'s labels) and the action sinks the options ask for.

    Args:
        model: The loaded :class:`~edgekit.Model`.
        mqtt_opts: The sink options (``mqtt``, ``qos``, ``mqtt_username``, …) for Home Assistant.

    Raises:
        ConfigError: A rule names a label the model does not have (the labels are
            listed), or a folder cannot be created.
    """
    from .._actions.rules import bind_rules

    check_action_options(mqtt_opts.get("mqtt"), **opts)
    rules = bind_rules(_rules(opts), model.labels, model.task)
    factories = _factories(model, rules, mqtt_opts, opts)
    sinks: list[Any] = []
    try:
        for factory in factories:
            sinks.append(factory())
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return rules, sinks


def _factories(model: Any, rules: tuple[Any, ...], mqtt_opts: dict[str, Any],
               opts: dict[str, Any]) -> list[Callable[[], Any]]:
    out: list[Callable[[], Any]] = []
    if opts.get("snapshots"):
        out.append(lambda: _snapshots(opts))
    if opts.get("exec_"):
        states = ("on", "off") if opts.get("exec_on") == "both" else (opts.get("exec_on") or "on",)
        out.append(lambda: _exec(opts["exec_"], opts.get("exec_timeout") or 30.0, states))
    if opts.get("capture"):
        out.append(lambda: _capture(model, opts))
    if opts.get("ha_discovery"):
        labels = _ha_labels(model, rules, opts.get("ha_labels"))
        out.append(lambda: _homeassistant(model, rules, labels, mqtt_opts, opts))
    return out


def _snapshots(opts: dict[str, Any]) -> Any:
    from .._actions.clips import Clips
    from .._actions.snapshots import Snapshots
    from .._actions.storage import Retention

    clips = None
    if any(opts.get(k) is not None for k in ("clip_seconds", "pre_roll", "post_roll")):
        clips = Clips(pre_roll=_or(opts.get("pre_roll"), 5.0), post_roll=_or(opts.get("post_roll"), 5.0),
                      max_seconds=_or(opts.get("clip_seconds"), 60.0))
    retention = Retention(opts.get("keep_files"), opts.get("keep_mb"), opts.get("keep_days"))
    return Snapshots(opts["snapshots"], annotate=not opts.get("clean_snapshots"), clips=clips,
                     retention=retention, min_free_mb=_or(opts.get("min_free_mb"), 50.0))


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _exec(command: tuple[str, ...], timeout: float, states: tuple[str, ...]) -> Any:
    from .._actions.execute import Exec

    return Exec(list(command), timeout=timeout, states=states)


def _capture(model: Any, opts: dict[str, Any]) -> Any:
    from pathlib import Path

    from .._actions.capture import Capture

    flicker, window = _pair(opts.get("capture_flicker") or "3/10", "/", "--capture-flicker")
    try:
        return Capture(opts["capture"], band=_pair(opts.get("capture_band") or "0.3,0.7", ",", "--capture-band"),
                       margin=_or(opts.get("capture_margin"), 0.1), flicker=int(flicker),
                       window=int(window), interval=_or(opts.get("capture_interval"), 2.0),
                       max_files=opts.get("capture_max_files") or 1000,
                       max_mb=opts.get("capture_max_mb") or 500.0,
                       min_free_mb=_or(opts.get("min_free_mb"), 50.0),
                       model=Path(model.info.source).name)
    except ConfigError as exc:
        raise ConfigError(f"--capture: {exc}") from None


def _ha_labels(model: Any, rules: tuple[Any, ...], given: str | None) -> list[str]:
    from .._actions.rules import Rule, bind_rules

    if given:
        named = [Rule.parse(f"{label.strip()}>=0") for label in given.split(",") if label.strip()]
        return [r.label for r in bind_rules(named, model.labels, model.task)]
    if rules:
        return list(dict.fromkeys(r.label for r in rules))
    labels = list(model.labels) or []
    if len(labels) > HA_MAX_LABELS:
        raise ConfigError(f"--ha-discovery: the model has {len(labels)} labels; name the ones to "
                          "count with --ha-labels L1,L2 (or add a --when rule)")
    return labels


def _homeassistant(model: Any, rules: tuple[Any, ...], labels: list[str], mqtt_opts: dict[str, Any],
                   opts: dict[str, Any]) -> Any:
    from pathlib import Path

    from ..sinks.homeassistant import HomeAssistantSink

    return HomeAssistantSink(mqtt_opts["mqtt"], rules=[r.title for r in rules], labels=labels,
                             device=opts.get("ha_name"), prefix=opts.get("ha_prefix") or "homeassistant",
                             model=Path(model.info.source).name, qos=max(1, mqtt_opts.get("qos") or 0),
                             username=mqtt_opts.get("mqtt_username"),
                             password=mqtt_opts.get("mqtt_password"), cafile=mqtt_opts.get("mqtt_cafile"))
