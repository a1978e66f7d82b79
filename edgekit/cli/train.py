"""``edgekit train``, ``export`` and ``evaluate``: the trainer's commands.

They need TensorFlow (``pip install 'edgekit-tflite[train]'``); without it each prints
one line naming the extra and exits 2. ``trainer`` is imported only inside the
callbacks, so ``edgekit --help`` never loads it.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .common import echo_json, lazy_trainer, model_options, pop_model_options

__all__ = ["evaluate_cmd", "export_cmd", "train_cmd"]

BACKBONES = ("tiny", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0")


@click.command("train")
@click.argument("data", type=click.Path())
@click.option("--out", "out", required=True, type=click.Path(), help="RUN folder to write.")
@click.option("--task", type=click.Choice(["classify", "detect"]), default="classify", show_default=True,
              help="classify: DATA has one folder per class; detect: DATA is a YOLO (images/ + labels/, "
                   "data.yaml or classes.txt) or COCO JSON dataset.")
@click.option("--model", "model", type=click.Choice(BACKBONES), default="mobilenet_v2", show_default=True,
              help="Backbone; 'tiny' is a small CNN for small inputs and weak devices.")
@click.option("--size", type=click.IntRange(min=16), default=None,
              help="Square input size (default: 224, tiny 64; detect: 256, a multiple of 32).")
@click.option("--alpha", type=float, default=1.0, show_default=True, help="MobileNet width multiplier.")
@click.option("--weights", default=None,
              help="imagenet | none | PATH to backbone weights (default: imagenet, tiny none).")
@click.option("--channels", type=click.Choice(["1", "3"]), default="3", show_default=True,
              help="1 = greyscale input, 3 = RGB.")
@click.option("--resize", type=click.Choice(["stretch", "crop", "letterbox"]), default=None,
              help="How images (and later camera frames) are fitted to the input "
                   "(default: stretch; detect: letterbox, the only choice).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Maximum epochs; early stopping on validation loss (detect: mAP) usually ends sooner "
                   "(default: 30; detect: 80).")
@click.option("--fine-tune-epochs", type=click.IntRange(min=0), default=None,
              help="Stage-2 epochs with a pretrained backbone (default: epochs/2).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Default: 32; detect: 8.")
@click.option("--lr", "learning_rate", type=float, default=None,
              help="Learning rate (default: 0.001; detect: 0.002, cosine-decayed).")
@click.option("--val-split", "val_fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=None, help="Validation share when DATA has no val split (default: 0.2, stratified; "
                                 "detect: 0.15).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Random flip, rotation, zoom, shift, brightness/contrast, noise.")
@click.option("--flip/--no-flip", default=True, show_default=True,
              help="Horizontal flips in the augmentation (off for text, digits, arrows).")
@click.option("--patience", type=click.IntRange(min=1), default=None,
              help="Early-stopping patience in epochs (default: 5; detect: 15).")
@click.option("--width", type=click.IntRange(min=8), default=None,
              help="detect: channels of the feature pyramid and head (default: 64).")
@click.option("--warmup-epochs", type=click.IntRange(min=0), default=None,
              help="detect, tiny backbone: epochs it first learns to classify object crops "
                   "(default: 10; 0 = none).")
@click.option("--strategy", type=click.Choice(["none", "mirrored", "multiworker"]), default="none",
              show_default=True, help="tf.distribute strategy (multiworker reads TF_CONFIG).")
@click.option("--force", is_flag=True, help="Overwrite an existing RUN folder.")
@click.option("--quiet", is_flag=True, help="No progress display.")
@lazy_trainer
def train_cmd(data: str, out: str, task: str, channels: str, quiet: bool, **kwargs: Any) -> None:
    """Train a classifier (or, with --task detect, a detector) on DATA into --out RUN.

    Classify: DATA holds one sub-folder of images per class, or train/, val/
    (and test/) splits of them. Detect: DATA is a YOLO dataset (images/ and
    labels/ with one 'class cx cy w h' line per object, class names in data.yaml
    or classes.txt, optional train/val/test splits) or COCO JSON; every label file
    is checked and unusable ones are listed. RUN receives model.keras (best
    checkpoint), labels.txt, history.json, provenance.json, split.json and
    training.png. Then: edgekit export RUN --quantize int8.
    """
    given = {k: v for k, v in kwargs.items() if v is not None}
    if task == "detect":
        _train_detector(data, out, channels, quiet, given)
        return
    for name in ("width", "warmup_epochs"):
        if name in given:
            from ..errors import ConfigError

            raise ConfigError(f"--{name.replace('_', '-')} is for detectors (--task detect)")
    from edgekit_trainer import TrainConfig, train

    config = TrainConfig(data=data, out=out, channels=int(channels), verbose=0 if quiet else None,
                         command=("edgekit", *sys.argv[1:]), **given)
    try:
        result = train(config)
    except KeyboardInterrupt as exc:
        click.echo(f"Interrupted: {exc}", err=True)
        raise click.exceptions.Exit(130) from None
    if result.skipped:
        click.echo(f"skipped {len(result.skipped)} files (listed in {result.run}/provenance.json): "
                   + ", ".join(p for p, _ in result.skipped[:5]) + (" …" if len(result.skipped) > 5 else ""),
                   err=True)
    click.echo(f"validation accuracy {result.val_accuracy:.2%} after {result.epochs} epochs "
               f"({result.stages} stage{'s' if result.stages > 1 else ''}, {result.replicas} replica"
               f"{'s' if result.replicas > 1 else ''}); run folder: {result.run}")


def _train_detector(data: str, out: str, channels: str, quiet: bool, given: dict[str, Any]) -> None:
    from edgekit_trainer.detect import DetectConfig, train

    from ..errors import ConfigError

    if channels != "3" or given.pop("resize", "letterbox") != "letterbox":
        raise ConfigError("detectors take RGB input (--channels 3) letterboxed (--resize letterbox)")
    if given.pop("fine_tune_epochs", None) is not None:
        raise ConfigError("--fine-tune-epochs is for classifiers; a pretrained detector backbone is "
                          "frozen for the first epochs, then trained with the rest")
    config = DetectConfig(data=data, out=out, verbose=0 if quiet else None,
                          command=("edgekit", *sys.argv[1:]), **given)
    try:
        result = train(config)
    except KeyboardInterrupt as exc:
        click.echo(f"Interrupted: {exc}", err=True)
        raise click.exceptions.Exit(130) from None
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if result.skipped:
        click.echo(f"skipped {len(result.skipped)} files (listed in {result.run}/provenance.json): "
                   + "; ".join(f"{p}: {r}" for p, r in result.skipped[:3])
                   + (" …" if len(result.skipped) > 3 else ""), err=True)
    counts = ", ".join(f"{n} {k}" for k, n in result.images.items() if n)
    click.echo(f"validation mAP@0.5 {result.val_map50:.4f}, mAP@0.5:0.95 {result.val_map:.4f} after "
               f"{result.epochs} epochs ({counts} images); run folder: {result.run}")


def _run_task(run: str) -> str:
    import json
    from pathlib import Path

    try:
        return str(json.loads((Path(run) / "provenance.json").read_text()).get("task", "classify"))
    except (OSError, ValueError, AttributeError):
        return "classify"  # the classification export reports what is missing


@click.command("export")
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--quantize", type=click.Choice(["float32", "float16", "dynamic", "int8", "all"]),
              default="int8", show_default=True)
@click.option("--io", type=click.Choice(["uint8", "int8", "float32"]), default="uint8", show_default=True,
              help="Input/output type of the int8 model.")
@click.option("--calib", type=click.IntRange(min=1), default=200, show_default=True,
              help="Calibration images for int8, drawn from the training split (stratified for classifiers).")
@click.option("--out", type=click.Path(), default=None,
              help="Output file (a folder with --quantize all); default RUN/model_<quantize>.tflite.")
@click.option("--max-drop", type=click.FloatRange(min=0), default=None,
              help="Fail (and write nothing) if accuracy (detectors: mAP@0.5) drops more than this many "
                   "points.")
@click.option("--data", type=click.Path(), default=None,
              help="The dataset folder, if it moved since training.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Interpreter threads.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per written file.")
@lazy_trainer
def export_cmd(run: str, as_json: bool, **kwargs: Any) -> None:
    """Convert RUN's model to .tflite, check it through the edgekit runtime, embed the metadata.

    For a detector RUN, the check is mAP@0.5 by pycocotools and --max-drop is in mAP points.
    """
    if _run_task(run) == "detect":
        _export_detector(run, as_json, kwargs)
        return
    from edgekit_trainer import ExportConfig, export
    from edgekit_trainer.exporter import render_table

    log = None if as_json else (lambda msg: click.echo(msg, err=True))
    models = export(ExportConfig(run=run, **kwargs), log=log)
    if as_json:
        for m in models:
            echo_json({"path": str(m.path), "quantize": m.quantize, "io": m.io, "size": m.size,
                       "parity": m.parity.to_dict(), "backends": m.backends, "note": m.note or None})
        return
    click.echo(render_table(models))
    for m in models:
        click.echo(f"wrote {m.path} ({m.size / 1024:.1f} KB)")


def _export_detector(run: str, as_json: bool, kwargs: dict[str, Any]) -> None:
    from edgekit_trainer.detect.export import DetectExportConfig, export, render_table

    log = None if as_json else (lambda msg: click.echo(msg, err=True))
    models = export(DetectExportConfig(run=run, **kwargs), log=log)
    if as_json:
        for m in models:
            echo_json({"path": str(m.path), "quantize": m.quantize, "io": m.io, "size": m.size,
                       "parity": m.parity.to_dict(), "backends": m.backends, "note": m.note or None})
        return
    click.echo(render_table(models))
    for m in models:
        click.echo(f"wrote {m.path} ({m.size / 1024:.1f} KB)")


@click.command("evaluate")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data", type=click.Path())
@click.option("--confusion", type=click.Path(dir_okay=False), default="confusion.png", show_default=True,
              help="Classifiers: where to write the confusion-matrix PNG.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Detectors: folder for the precision-recall PNG (none without it).")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default=None,
              help="Detectors: the split to score (default: test, else val, else every image).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one object: accuracy, per-class metrics, confusion matrix "
                   "(detectors: map50, map, per_class).")
@model_options
def evaluate_cmd(model: str, data: str, confusion: str, out_dir: str | None, split: str | None,
                 as_json: bool, **kwargs: Any) -> None:
    """Score MODEL on the labelled DATA: a classifier or a detector.

    Classifiers (needs the train extra): accuracy, per-class precision/recall/F1,
    confusion matrix and latency on a class-per-folder tree. Detectors (runtime
    and pycocotools only, the eval extra): mAP@0.5, mAP@0.5:0.95 and per-class AP
    by pycocotools on a YOLO or COCO dataset or one split's folder.
    MODEL may be 'default' for the bundled digits classifier.
    """
    if model == "default":
        from ..model import default_model_path

        model = default_model_path()

    opts = pop_model_options(kwargs)
    load_args = {k: v for k, v in opts.items() if v is not None and k != "model_sha256"}
    if opts.get("model_sha256"):
        load_args["sha256"] = opts["model_sha256"]
    if _is_detector(model, load_args):
        _evaluate_detector(model, data, out_dir, split, as_json, load_args)
        return
    _evaluate_classifier(model, data, confusion, as_json, load_args)


def _is_detector(model: str, load_args: dict[str, Any]) -> bool:
    """Whether MODEL loads as a detector (a model that does not load is left to the classifier path,
    which reports why)."""
    from ..errors import EdgekitError
    from ..model import load

    try:
        with load(model, **load_args) as loaded:
            return loaded.task == "detect"
    except EdgekitError:
        return False


def _evaluate_detector(model: str, data: str, out_dir: str | None, split: str | None, as_json: bool,
                       load_args: dict[str, Any]) -> None:
    from pathlib import Path

    from .._evaluate.detect import evaluate_detector, render_report

    png = Path(out_dir) / "precision_recall.png" if out_dir else None
    report = evaluate_detector(model, data, split=split, pr_png=png, **load_args)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(render_report(report))


@lazy_trainer
def _evaluate_classifier(model: str, data: str, confusion: str, as_json: bool, load_args: dict[str, Any]) -> None:
    from edgekit_trainer.evaluation import evaluate, render_report

    report = evaluate(model, data, confusion_png=confusion, **load_args)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(render_report(report))
