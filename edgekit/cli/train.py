"""``edgekit train`` and ``export``: the trainer's commands (classifiers, and detectors with
``--task detect``).

They need TensorFlow (``pip install 'edgekit-tflite[train]'``); without it each prints
one line naming the extra and exits 2. ``trainer`` is imported only inside the
callbacks, so ``edgekit --help`` never loads it. TensorFlow's own log lines stay off the
terminal unless ``--debug``. (``evaluate`` needs only the runtime: see ``evaluate.py``.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..errors import ConfigError
from .common import debugging, echo_json, lazy_trainer, quiet_native_stderr

__all__ = ["export_cmd", "train_cmd"]

BACKBONES = ("tiny", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0")
# options a resumed run takes from its record unless given again (then they must match it)
RECORDED = ("model", "size", "alpha", "weights", "channels", "resize", "epochs", "fine_tune_epochs", "batch_size",
            "learning_rate", "val_fraction", "seed", "augment", "flip", "patience", "strategy")
DETECT_RECORDED = ("model", "size", "alpha", "weights", "width", "epochs", "batch_size", "learning_rate",
                   "val_fraction", "seed", "augment", "flip", "patience", "warmup_epochs", "strategy")


@click.command("train")
@click.argument("data", type=click.Path(), required=False)
@click.option("--out", "out", type=click.Path(), help="RUN folder to write.")
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
@click.option("--resize", type=click.Choice(["stretch", "crop", "letterbox"]), default="stretch",
              show_default=True, help="How images (and later camera frames) are fitted to the input "
                                      "(detect: letterbox, the only choice).")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True,
              help="Maximum epochs (early stopping on validation loss usually ends sooner; detect: on "
                   "validation mAP, default 80).")
@click.option("--fine-tune-epochs", type=click.IntRange(min=0), default=None,
              help="Stage-2 epochs with a pretrained backbone (default: epochs/2).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Images per training step (across all workers and devices together; detect default 8).")
@click.option("--lr", "learning_rate", type=float, default=1e-3, show_default=True,
              help="Learning rate (detect default 0.002, cosine-decayed).")
@click.option("--val-split", "val_fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              show_default=True, help="Validation share when DATA has no val/ folder (stratified; detect "
                                      "default 0.15, random).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed (validation split, augmentation, initial weights).")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Random flip, rotation, zoom, shift, brightness/contrast, noise.")
@click.option("--flip/--no-flip", default=True, show_default=True,
              help="Horizontal flips in the augmentation (off for text, digits, arrows).")
@click.option("--patience", type=click.IntRange(min=1), default=5, show_default=True,
              help="Early-stopping patience in epochs (detect default 15).")
@click.option("--width", type=click.IntRange(min=8), default=None,
              help="detect: channels of the feature pyramid and head (default: 64).")
@click.option("--warmup-epochs", type=click.IntRange(min=0), default=None,
              help="detect, tiny backbone: epochs it first learns to classify object crops "
                   "(default: 10; 0 = none).")
@click.option("--strategy", type=click.Choice(["none", "mirrored", "multiworker"]), default="none",
              show_default=True, help="tf.distribute strategy: mirrored = every GPU (or CPU) of this machine; "
              "multiworker = several machines, each started with TF_CONFIG.")
@click.option("--join-timeout", type=click.FloatRange(min=0, min_open=True), default=120.0, show_default=True,
              help="Seconds a multiworker training waits for all workers to join.")
@click.option("--resume", "resume", type=click.Path(file_okay=False), default=None, metavar="RUN",
              help="Continue the interrupted run RUN from its last finished epoch (same data and options; "
              "options not given are taken from RUN).")
@click.option("--force", is_flag=True, help="Overwrite an existing RUN folder.")
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.pass_context
@lazy_trainer
def train_cmd(ctx: click.Context, data: str | None, out: str | None, task: str, resume: str | None, quiet: bool,
              **kwargs: Any) -> None:
    """Train a classifier on DATA (one sub-folder of images per class) into --out RUN.

    DATA may also hold train/, val/ (and test/) splits. RUN receives model.keras
    (best checkpoint), labels.txt, history.json, provenance.json, split.json and
    training.png. The summary puts the validation accuracy next to a HOG + logistic
    regression baseline and the majority-class rate. Then: edgekit export RUN --quantize int8.
    An interrupted run continues with: edgekit train --resume RUN.

    With --task detect, DATA is a YOLO dataset (images/ and labels/ with one
    'class cx cy w h' line per object, class names in data.yaml or classes.txt,
    optional train/val/test splits) or COCO JSON; every label file is checked and
    the unusable ones are listed; the checkpoint is picked by validation mAP.
    """
    from edgekit._evaluate.folder import check_trainable, folder_warnings

    given = {k: v for k, v in kwargs.items() if ctx.get_parameter_source(k) is not ParameterSource.DEFAULT}
    if task == "detect" or (resume is not None and _run_task(resume) == "detect"):
        _train_detector(ctx, data, out, resume, quiet, given)
        return
    for name in ("width", "warmup_epochs"):
        if name in given:
            raise ConfigError(f"--{name.replace('_', '-')} is for detectors (--task detect)")
        kwargs.pop(name)
    data, out = _run_arguments(ctx, data, out, resume, kwargs)
    _, sizes = check_trainable(data)  # before TensorFlow: an unusable folder fails in milliseconds
    early = folder_warnings(data, sizes)
    for line in early:
        click.echo(f"warning: {line}", err=True)
    with quiet_native_stderr(not debugging()):
        config, result = _train(data, out, resume, quiet, kwargs)
    if not _is_chief(config.strategy):
        click.echo(f"validation accuracy {result.val_accuracy:.2%} after {result.epochs} epochs on "
                   f"{result.replicas} replicas; the chief writes the run folder {result.run}")
        return
    _print_summary(result, config.model, set(early))


def _train_detector(ctx: click.Context, data: str | None, out: str | None, resume: str | None, quiet: bool,
                    given: dict[str, Any]) -> None:
    """``train --task detect``: only the options given on the command line (or, resuming, recorded in
    the run) reach :class:`DetectConfig`."""
    if resume is not None:
        data, recorded = _recorded_options(ctx, data, out, resume, DETECT_RECORDED)
        given, out = {**recorded, **given}, resume
    elif data is None or out is None:
        raise click.UsageError("give DATA and --out RUN (or --resume RUN to continue a run)")
    if given.pop("channels", "3") != "3" or given.pop("resize", "letterbox") != "letterbox":
        raise ConfigError("detectors take RGB input (--channels 3) letterboxed (--resize letterbox)")
    if given.pop("fine_tune_epochs", None) is not None:
        raise ConfigError("--fine-tune-epochs is for classifiers")
    from edgekit_trainer import ClusterError
    from edgekit_trainer.detect import DetectConfig, train

    config = DetectConfig(data=data, out=out, verbose=0 if quiet else None, command=("edgekit", *sys.argv[1:]),
                          resume=resume is not None, **given)
    try:
        with quiet_native_stderr(not debugging()):
            result = train(config)
    except KeyboardInterrupt as exc:
        click.echo(f"Interrupted: {exc}", err=True)
        raise click.exceptions.Exit(130) from None
    except ClusterError as exc:
        if exc.resumable:
            raise ClusterError(f"{exc} (on every worker: edgekit train --resume {out})", resumable=True) from None
        raise
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if result.skipped:
        click.echo(f"skipped {len(result.skipped)} files (listed in {result.run}/provenance.json): "
                   + "; ".join(f"{p}: {r}" for p, r in result.skipped[:3])
                   + (" …" if len(result.skipped) > 3 else ""), err=True)
    counts = ", ".join(f"{n} {k}" for k, n in result.images.items() if n)
    where = f"run folder: {result.run}" if _is_chief(config.strategy) else \
        f"the chief writes the run folder {result.run}"
    click.echo(f"validation mAP@0.5 {result.val_map50:.4f}, mAP@0.5:0.95 {result.val_map:.4f} after "
               f"{result.epochs} epochs ({counts} images); {where}")


def _run_task(run: str) -> str:
    import json

    try:
        return str(json.loads((Path(run) / "provenance.json").read_text()).get("task", "classify"))
    except (OSError, ValueError, AttributeError):
        return "classify"  # the classification export reports what is missing


def _train(data: str, out: str, resume: str | None, quiet: bool, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    from edgekit_trainer import ClusterError, TrainConfig, train

    config = TrainConfig(data=data, out=out, channels=int(kwargs.pop("channels")), verbose=0 if quiet else None,
                         command=("edgekit", *sys.argv[1:]), resume=resume is not None, **kwargs)
    try:
        return config, train(config)
    except KeyboardInterrupt as exc:
        click.echo(f"Interrupted: {exc}", err=True)
        raise click.exceptions.Exit(130) from None
    except ClusterError as exc:
        if exc.resumable:
            raise ClusterError(f"{exc} (on every worker: edgekit train --resume {out})", resumable=True) from None
        raise


def _print_summary(result: Any, backbone: str, shown: set[str]) -> None:
    """Skipped files and late warnings (stderr), the accuracy table (stdout), the loud line last."""
    from edgekit_trainer.verdict import render_verdict

    for line in result.warnings:
        if line not in shown:
            click.echo(f"warning: {line}", err=True)
    if result.skipped:
        click.echo(f"skipped {len(result.skipped)} files (listed in {result.run}/provenance.json): "
                   + ", ".join(p for p, _ in result.skipped[:5]) + (" …" if len(result.skipped) > 5 else ""),
                   err=True)
    click.echo(f"finished after {result.epochs} epochs ({result.stages} stage{'s' if result.stages > 1 else ''}, "
               f"{result.replicas} replica{'s' if result.replicas > 1 else ''}); run folder: {result.run}")
    for line in render_verdict(result.verdict, backbone) if result.verdict else ():
        if line.startswith("WARNING"):
            click.secho(line, err=True, fg="red", bold=True)
        else:
            click.echo(line)


def _run_arguments(ctx: click.Context, data: str | None, out: str | None, resume: str | None,
                   kwargs: dict[str, Any]) -> tuple[str, str]:
    """``(DATA, RUN)``; with ``--resume`` the options not given are filled in from RUN's record."""
    if resume is None:
        if data is None or out is None:
            raise click.UsageError("give DATA and --out RUN (or --resume RUN to continue a run)")
        return data, out
    data, recorded = _recorded_options(ctx, data, out, resume, RECORDED)
    kwargs.update({k: str(v) if k == "channels" else v for k, v in recorded.items()})
    return data, resume


def _recorded_options(ctx: click.Context, data: str | None, out: str | None, resume: str,
                      names: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """DATA (as given, else as recorded) and the recorded values of the options in ``names`` not given."""
    if out is not None and Path(out).resolve() != Path(resume).resolve():
        raise click.UsageError(f"--out {out} and --resume {resume} name different runs; give only --resume")
    from edgekit_trainer.checkpoints import recorded_options

    recorded = recorded_options(resume)
    filled = {name: recorded[name] for name in names
              if ctx.get_parameter_source(name) is ParameterSource.DEFAULT and name in recorded}
    return data or str(recorded["data"]), filled


def _is_chief(strategy: str) -> bool:
    if strategy != "multiworker":
        return True
    from edgekit_trainer.distribute import parse_tf_config

    return parse_tf_config(os.environ.get("TF_CONFIG")).chief


@click.command("export")
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--quantize", type=click.Choice(["float32", "float16", "dynamic", "int8", "all"]),
              default="int8", show_default=True,
              help="Precision of the exported model; all: the four variants side by side.")
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
@click.option("--force", is_flag=True,
              help="Write the model even if it is not clearly above the majority-class rate.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per written file.")
@lazy_trainer
def export_cmd(run: str, as_json: bool, **kwargs: Any) -> None:
    """Convert RUN's model to .tflite, check it through the edgekit runtime, embed the metadata.

    A model that is not clearly above the majority-class rate is refused (nothing written)
    unless --force. For a detector RUN, the check is mAP@0.5 by pycocotools and --max-drop
    is in mAP points.
    """
    if _run_task(run) == "detect":
        _export_detector(run, as_json, kwargs)
        return
    from edgekit_trainer import ChanceLevel, ExportConfig, export
    from edgekit_trainer.exporter import render_table

    log = None if as_json else (lambda msg: click.echo(msg, err=True))
    try:
        with quiet_native_stderr(not debugging()):
            models = export(ExportConfig(run=run, **kwargs), log=log)
    except ChanceLevel as exc:
        raise ChanceLevel(str(exc).replace("(export with force to write it anyway)",
                                           "(pass --force to write it anyway)")) from None
    _print_exported(models, as_json, render_table)


def _print_exported(models: Any, as_json: bool, render_table: Any) -> None:
    """Each written model: a JSON line with ``--json``, else the parity table and the paths."""
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

    kwargs.pop("force")  # the chance guard is a classifier's; a detector's gate is --max-drop
    log = None if as_json else (lambda msg: click.echo(msg, err=True))
    with quiet_native_stderr(not debugging()):
        models = export(DetectExportConfig(run=run, **kwargs), log=log)
    _print_exported(models, as_json, render_table)
