"""``edgekit inspect``, ``predict`` and ``doctor``."""

from __future__ import annotations

from typing import Any

import click

from ..errors import InputError
from ..results import ItemError
from .common import echo_json, model_argument, model_options, open_model, pop_model_options

__all__ = ["doctor_cmd", "inspect_cmd", "predict_cmd"]


@click.command("inspect")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--backend", default=None, envvar="EDGEKIT_BACKEND", help="Backend used to load it.")
@click.option("--labels", type=click.Path(dir_okay=False), default=None, help="Labels file.")
@click.option("--delegate", default=None, envvar="EDGEKIT_DELEGATE", metavar="NAME",
              help="Delegate used to load it (xnnpack | none | edgetpu | PATH.so[:k=v,...]); "
                   "xnnpack, none and edgetpu are each tried in a child process too.")
def inspect_cmd(model: str, as_json: bool, backend: str | None, labels: str | None,
                delegate: str | None) -> None:
    """Show a model's inputs, outputs, operators, metadata and which backends run it.

    MODEL may be 'default' for the bundled digits classifier. The text is a summary;
    --json prints every field, the whole metadata included.
    """
    from .._tools.inspection import DELEGATES, backend_support, delegate_support, render_info

    model = model_argument(model, click.get_current_context())
    loaded = open_model(model, {"backend": backend, "labels": labels, "delegate": delegate})
    with loaded:
        info = loaded.info
    support = backend_support(model)
    tried = DELEGATES + ((info.delegate,) if info.delegate not in DELEGATES else ())
    delegates = delegate_support(model, tried, backend)
    if as_json:
        out = info.to_dict()
        out["backends"] = support
        out["delegates"] = delegates
        echo_json(out)
        return
    click.echo(render_info(info, support, delegates))


@click.command("predict")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("images", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per line and image: input, task, classes or detections, latency_ms.")
@model_options
def predict_cmd(model: str, images: tuple[str, ...], as_json: bool, **kwargs: Any) -> None:
    """Run MODEL on each IMAGE and print the results.

    MODEL may be 'default' for the bundled digits classifier. An unreadable
    image prints an error row and the others go on; the exit code is then 7.
    """
    path = model_argument(model, click.get_current_context())
    failed = 0
    with open_model(path, pop_model_options(kwargs)) as loaded:
        for image in images:
            try:
                pred = loaded.predict(image)
            except InputError as exc:
                failed += 1
                row = ItemError.from_exception(image, exc)
                if as_json:
                    echo_json(row.to_dict())
                else:  # the message names the image already
                    click.echo(f"{row.type}: {row.message}", err=True)
                continue
            result = pred.to_dict()
            result = {"input": image, **{k: v for k, v in result.items() if k != "input"}}
            if as_json:
                echo_json(result)
            else:
                click.echo(_render_prediction(image, pred))
    if failed:
        raise click.exceptions.Exit(InputError.exit_code)


def _render_prediction(image: str, pred: Any) -> str:
    lines = [f"{image}  ({pred.task}, {pred.latency.invoke:.1f} ms invoke)"]
    if pred.task == "classify":
        for c in pred.classes:
            name = c.label if c.label is not None else f"class {c.id}"
            lines.append(f"  {c.score:6.1%}  {name:<24} id={c.id}")
    elif pred.task == "detect":
        if not pred.detections:
            lines.append("  no detections")
        for d in pred.detections:
            name = d.label if d.label is not None else f"class {d.id}"
            box = ", ".join(f"{v:.0f}" for v in d.box.to_list())
            lines.append(f"  {d.score:6.1%}  {name:<16} [{box}]")
    else:
        for i, t in enumerate(pred.tensors):
            lines.append(f"  output {i}: {t.dtype}{list(t.shape)} min={t.min():.4g} max={t.max():.4g}")
    return "\n".join(lines)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def doctor_cmd(as_json: bool) -> None:
    """Check this machine: Python, NumPy, backends, OpenCV, cameras, device, advice."""
    from .._tools.doctor import collect, render

    report = collect()
    if as_json:
        echo_json(report)
    else:
        click.echo(render(report))
