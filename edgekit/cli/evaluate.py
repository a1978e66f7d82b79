"""``edgekit evaluate``: a model against labelled data, with the runtime alone.

It runs on the device (no TensorFlow). A classifier is scored on an image folder, a detector
on a YOLO or COCO dataset (mAP by pycocotools, the ``eval`` extra). Nothing is written unless
asked: ``--out DIR`` writes ``DIR/report.json`` and the figure (matplotlib, the ``plot``
extra): ``DIR/confusion.png``, or ``DIR/precision_recall.png`` for a detector; ``--confusion
FILE`` only a classifier's figure. Existing files are never overwritten without ``--force``. Which
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

from ..errors import ConfigError, DatasetError, ModelIncompatible
from .common import echo_json, model_argument, model_options, pop_model_options

__all__ = ["EVALUATORS", "FIGURES", "evaluate_cmd", "evaluator_for", "output_paths", "task_of"]

FIGURES = {"classify": "confusion.png", "detect": "precision_recall.png"}  # the figure --out DIR holds


def _classify(model: str, data: str, figure: Path | None, load_args: dict[str, Any],
              split: str | None = None) -> tuple[dict[str, Any], str]:
    from .._evaluate import evaluate, render_report
    from .._evaluate.folder import scan

    if split is not None:
        raise ConfigError("--split is for detectors; a classifier is scored on every image of DATA")
    scan(data)  # a missing or empty folder is named before any image is read
    report = evaluate(model, data, confusion_png=figure, **load_args)
    return report.to_dict(), render_report(report)


def _detect(model: str, data: str, figure: Path | None, load_args: dict[str, Any],
            split: str | None = None) -> tuple[dict[str, Any], str]:
    from .._evaluate.detect import evaluate_detector, render_report

    report = evaluate_detector(model, data, split=split, pr_png=figure, **load_args)
    return report.to_dict(), render_report(report)


# task -> callable(model, data, figure path or None, load args, split) -> (JSON object, text report)
EVALUATORS: dict[str, Callable[..., tuple[dict[str, Any], str]]] = {"classify": _classify, "detect": _detect}


def task_of(model: str, load_args: dict[str, Any]) -> str:
    """``model``'s task: the forced one, else read from its metadata or inferred from its outputs."""
    from ..model import load

    if load_args.get("task"):
        return str(load_args["task"])
    with load(model, **load_args) as loaded:
        return loaded.task


def evaluator_for(model: str, load_args: dict[str, Any],
                  task: str | None = None) -> Callable[..., tuple[dict[str, Any], str]]:
    """The evaluator of ``model``'s task (``task``, else :func:`task_of`).

    Raises:
        ModelIncompatible: no evaluator for that task.
    """
    task = task or task_of(model, load_args)
    if task not in EVALUATORS:
        raise ModelIncompatible(f"{model}: evaluate handles {', '.join(sorted(EVALUATORS))} models; "
                                f"this model's task is {task}")
    return EVALUATORS[task]


def output_paths(out: str | None, confusion: str | None, force: bool,
                 figure_name: str = "confusion.png") -> tuple[Path | None, Path | None]:
    """The ``--out`` folder (created) and the figure's path (``figure_name`` in it), after checking
    that nothing would be overwritten.

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
    existing = [name for name in (figure_name, "report.json") if (folder / name).exists()]
    if existing and not force:
        raise ConfigError(f"--out {folder}: {', '.join(existing)} already there; pass --force to overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    return folder, Path(confusion) if confusion else folder / figure_name


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


@click.command("evaluate")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data", type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for report.json and confusion.png (detectors: precision_recall.png); nothing is "
                   "written without it.")
@click.option("--confusion", type=click.Path(dir_okay=False), default=None,
              help="Classifiers: draw the confusion matrix into this PNG file instead.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default=None,
              help="Detectors: the split to score (default: test, else val, else every image).")
@click.option("--force", is_flag=True, help="Overwrite those files if they exist.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one object: accuracy, majority-class rate, per-class metrics, confusion matrix "
                   "(detectors: map50, map, per_class).")
@model_options
@click.pass_context
def evaluate_cmd(ctx: click.Context, model: str, data: str, out: str | None, confusion: str | None,
                 split: str | None, force: bool, as_json: bool, **kwargs: Any) -> None:
    """Accuracy (next to the majority-class rate), per-class precision/recall/F1, confusion
    matrix and latency of MODEL on DATA (one sub-folder of images per class).

    A detector is scored on a YOLO or COCO dataset (or one split's folder): mAP@0.5,
    mAP@0.5:0.95 and per-class AP by pycocotools (pip install 'edgekit-tflite[eval]').

    Runs on the device: needs only the runtime. MODEL may be 'default' for the bundled
    digits classifier.
    """
    model = model_argument(model, ctx)
    if not Path(data).exists():
        raise DatasetError(f"{Path(data).resolve()}: no such folder or file")
    opts = pop_model_options(kwargs)
    load_args = {k: v for k, v in opts.items() if v is not None and k != "model_sha256"}
    if opts.get("model_sha256"):
        load_args["sha256"] = opts["model_sha256"]
    task = task_of(model, load_args)
    if task == "detect" and confusion:
        raise ConfigError("--confusion is for classifiers; a detector's precision-recall figure goes into --out DIR")
    folder, figure = output_paths(out, confusion, force, FIGURES.get(task, "confusion.png"))
    obj, text = evaluator_for(model, load_args, task)(model, data, figure, load_args, split)
    if folder is not None:
        _write_json(folder / "report.json", obj)
    if as_json:
        echo_json(obj)
    else:
        click.echo(text)
