"""``edgekit evaluate``: a model against a labelled image folder, with the runtime alone.

It runs on the device (no TensorFlow). Nothing is written unless asked: ``--out DIR`` writes
``DIR/confusion.png`` (matplotlib, the ``plot`` extra) and ``DIR/report.json``; ``--confusion
FILE`` only the figure. Existing files are never overwritten without ``--force``. Which
evaluator runs is decided by the model's task (:func:`evaluator_for`), so other tasks plug in
with one entry in :data:`EVALUATORS`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError, ModelIncompatible
from .common import echo_json, model_argument, model_options, pop_model_options

__all__ = ["EVALUATORS", "evaluate_cmd", "evaluator_for", "output_paths"]

OUT_FILES = ("confusion.png", "report.json")


def _classify(model: str, data: str, figure: Path | None, load_args: dict[str, Any]) -> tuple[dict[str, Any], str]:
    from .._evaluate import evaluate, render_report

    report = evaluate(model, data, confusion_png=figure, **load_args)
    return report.to_dict(), render_report(report)


# task -> callable(model, data, figure path or None, load args) -> (JSON object, text report)
EVALUATORS: dict[str, Callable[..., tuple[dict[str, Any], str]]] = {"classify": _classify}


def evaluator_for(model: str, load_args: dict[str, Any]) -> Callable[..., tuple[dict[str, Any], str]]:
    """The evaluator of ``model``'s task (read from its metadata or inferred from its outputs).

    Raises:
        ModelIncompatible: no evaluator for that task.
    """
    from ..model import load

    if load_args.get("task"):
        task = load_args["task"]
    else:
        with load(model, **load_args) as loaded:
            task = loaded.task
    if task not in EVALUATORS:
        raise ModelIncompatible(f"{model}: evaluate handles {', '.join(sorted(EVALUATORS))} models; "
                                f"this model's task is {task}")
    return EVALUATORS[task]


def output_paths(out: str | None, confusion: str | None, force: bool) -> tuple[Path | None, Path | None]:
    """The ``--out`` folder (created) and the figure's path, after checking that nothing would be
    overwritten.

    Raises:
        ConfigError: ``out`` is a file, or a file to write exists and ``force`` is false.
    """
    if out is None:
        figure = Path(confusion) if confusion else None
        if figure is not None and figure.exists() and not force:
            raise ConfigError(f"--confusion {figure}: already there; pass --force to overwrite it")
        return None, figure
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {folder}: exists and is not a folder")
    existing = [name for name in OUT_FILES if (folder / name).exists()]
    if existing and not force:
        raise ConfigError(f"--out {folder}: {', '.join(existing)} already there; pass --force to overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    return folder, Path(confusion) if confusion else folder / "confusion.png"


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


@click.command("evaluate")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for confusion.png and report.json (nothing is written without it).")
@click.option("--confusion", type=click.Path(dir_okay=False), default=None,
              help="Draw the confusion matrix into this PNG file instead.")
@click.option("--force", is_flag=True, help="Overwrite those files if they exist.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one object: accuracy, majority-class rate, per-class metrics, confusion matrix.")
@model_options
@click.pass_context
def evaluate_cmd(ctx: click.Context, model: str, data: str, out: str | None, confusion: str | None, force: bool,
                 as_json: bool, **kwargs: Any) -> None:
    """Accuracy (next to the majority-class rate), per-class precision/recall/F1, confusion
    matrix and latency of MODEL on DATA (one sub-folder of images per class).

    Runs on the device: needs only the runtime. MODEL may be 'default' for the bundled
    digits classifier.
    """
    from .._evaluate.folder import scan

    model = model_argument(model, ctx)
    scan(data)  # a missing or empty folder fails before the model is loaded
    opts = pop_model_options(kwargs)
    load_args = {k: v for k, v in opts.items() if v is not None and k != "model_sha256"}
    if opts.get("model_sha256"):
        load_args["sha256"] = opts["model_sha256"]
    folder, figure = output_paths(out, confusion, force)
    obj, text = evaluator_for(model, load_args)(model, data, figure, load_args)
    if folder is not None:
        _write_json(folder / "report.json", obj)
    if as_json:
        echo_json(obj)
    else:
        click.echo(text)
