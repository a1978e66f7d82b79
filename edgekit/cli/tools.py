"""``edgekit bench``, ``devices`` and ``service``: know the device, then leave it running."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .._jsonout import dumps
from ..errors import ConfigError, ModelNotFound
from .common import echo_json

__all__ = ["bench_cmd", "devices_cmd", "service_cmd"]


def _csv(value: str | None, kind: type = str) -> list[Any]:
    if not value:
        return [None]
    try:
        return [kind(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: expected a comma-separated list") from exc


def _delegate_list(value: str | None) -> list[str | None]:
    """``xnnpack,none,lib.so:a=1,b=2`` → ``["xnnpack", "none", "lib.so:a=1,b=2"]`` (a ``key=value``
    piece belongs to the library before it)."""
    out: list[str | None] = []
    for piece in _csv(value):
        if piece is not None and "=" in piece and ":" not in piece and out and out[-1]:
            out[-1] = f"{out[-1]},{piece}"
        else:
            out.append(piece)
    return out


def _expand_models(models: tuple[str, ...], device: str | None) -> list[str]:
    """The model files to measure, each checked first (as every command loads a model).

    ``default`` is the bundled model; directories become their ``.tflite`` files (or,
    with --device, the variant to use here).

    Raises:
        ModelNotFound: A path that does not exist, or a directory without ``.tflite`` files.
        ModelInvalid: A file that is not a sound TFLite model.
    """
    from .._device.profiles import get_profile
    from .._device.variants import choose_variant
    from .._modelfile.validate import check_model
    from ..model import default_model_path

    out: list[str] = []
    for model in models:
        path = Path(default_model_path() if model == "default" else model)
        if path.is_dir():
            if device:
                out.append(choose_variant(str(path), get_profile(device).precision))
            else:
                found = sorted(str(p) for p in path.glob("*.tflite"))
                if not found:
                    raise ModelNotFound(f"{model}: no .tflite files in this directory")
                out.extend(found)
        elif not path.is_file():
            raise ModelNotFound(f"{model}: no such file")
        else:
            out.append(choose_variant(str(path), get_profile(device).precision) if device else str(path))
    for file in out:
        check_model(Path(file).read_bytes(), file)
    return out


@click.command("bench")
@click.argument("models", nargs=-1, required=True)
@click.option("--threads", default=None, help="Threads, or a sweep: 1,2,4 (default: the device profile's).")
@click.option("--backend", default=None, envvar="EDGEKIT_BACKEND",
              help="Backend, or a comparison: litert,tensorflow (default: first installed).")
@click.option("--device", default=None, help="Device profile name or 'auto': threads and model variant.")
@click.option("--delegate", default=None, envvar="EDGEKIT_DELEGATE",
              help="Delegate, or a comparison: xnnpack,none (also edgetpu, PATH.so[:k=v]; default xnnpack).")
@click.option("--throughput-seconds", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="How long to measure throughput with every core busy (0: skip).")
@click.option("--watts", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Board power under load (W) for the energy estimate, e.g. a USB meter reading "
                   "(default: the device profile's published figure).")
@click.option("--price-kwh", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Electricity price per kWh: adds the cost per million inferences.")
@click.option("--runs", type=click.IntRange(min=1), default=50, show_default=True, help="Minimum timed runs.")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Minimum timed duration.")
@click.option("--warmup-seconds", type=click.FloatRange(min=0), default=0.5, show_default=True,
              help="Warm-up duration (at least one run) before timing.")
@click.option("--max-seconds", type=click.FloatRange(min=0.1), default=150.0, show_default=True,
              help="Stop a configuration after this long.")
@click.option("--pipeline", "pipeline", is_flag=False, flag_value="demo", default=None, metavar="[SOURCE]",
              help="Also measure end to end through a source (demo when no SOURCE; write --pipeline=SOURCE "
                   "or put it after the models): FPS, frame age, drops.")
@click.option("--pipeline-seconds", type=click.FloatRange(min=0.5), default=5.0, show_default=True,
              help="Duration of the --pipeline run.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--save", type=click.Path(dir_okay=False), default=None, help="Save the report (JSON).")
@click.option("--compare", "compare_to", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Compare with a report saved by --save (ratios now/saved).")
def bench_cmd(models: tuple[str, ...], threads: str | None, backend: str | None, device: str | None,
              delegate: str | None, throughput_seconds: float, watts: float | None, price_kwh: float | None,
              runs: int, min_seconds: float, warmup_seconds: float, max_seconds: float,
              pipeline: str | None, pipeline_seconds: float, as_json: bool, save: str | None,
              compare_to: str | None) -> None:
    """Measure MODEL(s) here: init, first run, latency percentiles, memory, thermal state.

    MODEL may be 'default' for the bundled digits classifier. Several models (or a directory of exported variants) are measured side by
    side; each configuration runs in its own process.
    """
    from .._device.profiles import get_profile
    from .._tools.bench import BenchSpec, run_bench
    from .._tools.bench_report import compare, render, render_compare
    from ..delegates import parse_delegate

    saved = _read_report(compare_to) if compare_to else None
    thread_list = _csv(threads, int)
    if thread_list == [None]:
        thread_list = [get_profile(device or "auto").threads]
    if any(t is not None and t < 1 for t in thread_list):
        raise click.BadParameter("threads must be >= 1", param_hint="--threads")
    delegates = _delegate_list(delegate)
    for name in delegates:
        parse_delegate(name)  # a typo is a usage error before anything is measured
    specs = [BenchSpec(m, b, t, runs, min_seconds, warmup_seconds, max_seconds, pipeline, pipeline_seconds,
                       d, throughput_seconds)
             for m in _expand_models(models, device) for b in _csv(backend) for t in thread_list
             for d in delegates]

    def progress(row: dict[str, Any]) -> None:
        if not as_json:
            state = row.get("error") or f"p50 {row['latency_ms']['p50']:.2f} ms"
            if not row.get("error") and row.get("throughput"):
                state += f", {row['throughput']['ips']:.1f} inferences/s"
            click.echo(f"measured {row['name']} {row.get('backend')} {row.get('delegate') or 'xnnpack'} "
                       f"threads={row.get('threads')}: {state}", err=True)

    report = run_bench(specs, on_row=progress, price_kwh=price_kwh, watts=watts)
    if saved is not None:
        report["compare"] = {"file": compare_to, **compare(report, saved)}
    if save:
        Path(save).write_text(dumps(report, indent=1) + "\n", encoding="utf-8")
    if as_json:
        echo_json(report)
    else:
        click.echo(render(report))
        if saved is not None:
            click.echo(render_compare(report["compare"]))
    if all(r.get("error") for r in report["results"]):
        raise click.exceptions.Exit(1)


def _read_report(path: str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a saved bench report: {exc}") from exc


@click.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Print every profile as JSON.")
@click.option("--show", "show", default=None, help="Print one profile in full.")
def devices_cmd(as_json: bool, show: str | None) -> None:
    """List the device profiles; '*' marks the one detected here."""
    from .._device.profiles import detect_device, get_profile, probe_host, profiles

    detected = detect_device()
    auto = detected or get_profile("auto")
    if show:
        profile = get_profile(show)
        echo_json(profile.to_dict()) if as_json else click.echo(_describe(profile))
        return
    # As --show, doctor and --device use them: a generic profile's threads fit this machine.
    known = {name: get_profile(name) for name in profiles()}
    if as_json:
        echo_json({"detected": detected.name if detected else None, "auto": auto.name,
                   "host": probe_host().to_dict(), "devices": [p.to_dict() for p in known.values()]})
        return
    for p in known.values():
        mark = "*" if detected and p.name == detected.name else ("~" if p.name == auto.name else " ")
        cores = f"{p.cores} cores" if p.cores else "any cores"
        click.echo(f"{mark} {p.name:<18} {p.title:<48} {cores:<9} threads={p.threads} {p.precision:<7} "
                   f"{' '.join(p.isa)}")
    if detected:
        click.echo(f"(*) detected here: {detected.title}")
    else:
        click.echo(f"(~) no specific profile detected; --device auto uses {auto.name}")


def _size(mb: int) -> str:
    return f"{mb // 1024} GB" if mb >= 1024 else f"{mb} MB"


def _describe(p: Any) -> str:
    lines = [f"{p.title} ({p.name})  [{p.path}]",
             f"  SoC        {p.soc}: {p.cpu}, {p.cores or 'any'} cores, {p.max_mhz or '?'} MHz, {p.arch}",
             f"  RAM        {', '.join(_size(r) for r in p.ram_mb) or 'varies'}",
             f"  ISA        {' '.join(p.isa)}",
             f"  threads    {p.threads}: {p.threads_why}",
             f"  precision  {p.precision}: {p.precision_why}",
             f"  camera     {p.camera_stack}" + (f" ({p.camera_notes})" if p.camera_notes else ""),
             f"  thermal    {', '.join(p.thermal_zones) or 'none known'}"
             + (", vcgencmd get_throttled" if p.vcgencmd else "")
             + (f", throttles at {p.throttle_c:g} °C" if p.throttle_c else "")]
    for r in p.references:
        figure = f"{r.latency_ms:g} ms" if r.latency_ms is not None else "no published figure"
        lines.append(f"  reference  {r.model} {r.precision} {r.threads} threads, {r.runtime}: {figure}"
                     + (f" — {r.source}" if r.source else "") + (f" ({r.note})" if r.note else ""))
    power = p.power
    if power.idle_w or power.load_w:
        figures = ", ".join(f"{k} {v:g} W" for k, v in (("idle", power.idle_w), ("load", power.load_w)) if v)
        lines.append(f"  power      {figures} — {power.source}" + (f" ({power.note})" if power.note else ""))
    else:
        lines.append("  power      no published figure: pass bench/batch --watts for energy estimates")
    if p.notes:
        lines.append(f"  notes      {p.notes}")
    return "\n".join(lines)


@click.group("service")
def service_cmd() -> None:
    """Install edgekit as a systemd service (Type=notify, watchdog, restart on failure)."""


@service_cmd.command("install", context_settings={"ignore_unknown_options": True})
@click.option("--name", required=True, help="Service name: the unit is edgekit-NAME.service.")
@click.option("--user", default="edgekit", show_default=True, help="Dedicated account it runs as.")
@click.option("--groups", default="video", show_default=True, help="Supplementary groups (cameras: video).")
@click.option("--watchdog", "watchdog_sec", type=click.IntRange(min=0), default=30, show_default=True,
              help="WatchdogSec= for `run` and `serve` (0: no watchdog).")
@click.option("--exec", "exec_path", default=None, help="The edgekit executable (default: this venv's).")
@click.option("--print", "print_only", is_flag=True, help="Show the unit; install nothing.")
@click.option("--root", default="/", envvar="EDGEKIT_SERVICE_ROOT", show_default=True,
              help="Install under this prefix (for images and tests).")
@click.option("--no-create-user", is_flag=True, help="Do not create the user when missing.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def install_cmd(name: str, user: str, groups: str, watchdog_sec: int, exec_path: str | None,
                print_only: bool, root: str, no_create_user: bool, args: tuple[str, ...]) -> None:
    """Write /etc/systemd/system/edgekit-NAME.service running `edgekit ARGS...`.

    Secrets (--token, --mqtt-password, a --source URL with a password) stay off the
    command line: they go to /etc/edgekit/NAME.env (mode 0600), which systemd reads.

    Example: edgekit service install --name door -- run --camera 0 --mqtt mqtt://broker --topic door
    """
    from .._tools.service import install, render_unit

    unit = render_unit(name, list(args), user=user, exec_path=exec_path, watchdog_sec=watchdog_sec,
                       groups=groups, root=root)
    for warning in unit.warnings:
        click.echo(f"warning: {warning}", err=True)
    if print_only:
        if unit.environment:
            click.echo(f"# {', '.join(sorted(unit.environment))}: in {unit.env_path} (mode 0600), "
                       "not shown", err=True)
        click.echo(unit.text, nl=False)
        return
    for line in install(unit, root=root, create_user=not no_create_user):
        click.echo(line)


@service_cmd.command("uninstall")
@click.option("--name", required=True, help="Service name given to install.")
@click.option("--root", default="/", envvar="EDGEKIT_SERVICE_ROOT", show_default=True,
              help="The prefix it was installed under.")
def uninstall_cmd(name: str, root: str) -> None:
    """Stop, disable and remove edgekit-NAME.service."""
    from .._tools.service import uninstall

    for line in uninstall(name, root=root):
        click.echo(line)
