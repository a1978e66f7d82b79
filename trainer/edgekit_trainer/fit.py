"""Training: image folder → Keras classifier in a RUN folder.

Transfer learning runs in two stages when the backbone is pretrained: the
backbone frozen (only the new head learns), then its top layers fine-tuned at a
tenth of the learning rate. Early stopping watches the validation loss; the best
checkpoint is written (atomically) after every improving epoch, so an
interrupted training leaves a usable ``model.keras`` behind.

Small datasets (a user's first 100–300 photos) get three things big ones do not need:
batch-norm statistics measured on the training images before every validation
(:mod:`.batchnorm`: without it, validation sat at chance), the training set repeated to
enough steps per epoch, and a warm-up + cosine learning rate (:mod:`.schedule`).
The result is judged against the majority class and a HOG baseline (:mod:`.verdict`).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit._evaluate.folder import check_trainable, folder_warnings
from edgekit.errors import ConfigError

from . import backbones, rundir, schedule
from .batchnorm import precise_batchnorm_callback
from .data import Dataset, ImageSpec, load_dataset
from .verdict import Verdict, judge

__all__ = ["STRATEGIES", "TrainConfig", "TrainResult", "class_weights", "train"]

STRATEGIES = ("none", "mirrored", "multiworker")
MIN_DELTA = 0.005  # smallest drop of the validation loss that early stopping counts as progress


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything ``edgekit train`` accepts (see ``edgekit train --help``).

    ``weights=None`` means ImageNet for the pretrained backbones and none for
    ``tiny``; ``size=None`` the backbone's default; ``fine_tune_epochs=None``
    half of ``epochs``.
    """

    data: str
    out: str
    model: str = "mobilenet_v2"
    size: int | None = None
    alpha: float = 1.0
    weights: str | None = None
    channels: int = 3
    resize: str = "stretch"
    epochs: int = 30
    fine_tune_epochs: int | None = None
    batch_size: int = 32
    learning_rate: float = 1e-3
    val_fraction: float = 0.2
    seed: int = 0
    augment: bool = True
    flip: bool = True
    patience: int = 5
    strategy: str = "none"
    force: bool = False
    verbose: int | None = None
    command: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ConfigError("epochs, batch_size and patience must be at least 1")

    def architecture(self, num_classes: int) -> backbones.Architecture:
        weights = self.weights or ("none" if self.model == "tiny" else "imagenet")
        return backbones.Architecture(self.model, num_classes, self.size or backbones.default_size(self.model),
                                      self.channels, self.alpha, weights)


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a training produced.

    Attributes:
        run: The RUN folder.
        val_accuracy: Validation accuracy of the best checkpoint (0..1).
        epochs: Epochs run, over all stages.
        stages: Number of training stages (2 with a pretrained backbone).
        replicas: Devices the distribution strategy trained on.
        skipped: ``(file, reason)`` of every file not used.
        history: Per-epoch metrics.
        verdict: The validation accuracy next to the majority-class rate and the HOG baseline.
        warnings: Problems of the dataset that did not stop training (naming the folders).
    """

    run: Path
    val_accuracy: float
    epochs: int
    stages: int
    replicas: int
    skipped: tuple[tuple[str, str], ...]
    history: dict[str, list[float]]
    verdict: Verdict | None = None
    warnings: tuple[str, ...] = ()

    @property
    def above_chance(self) -> bool:
        """Whether the network is clearly more accurate than the majority class."""
        return self.verdict is None or self.verdict.chance.passed


def class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Balanced class weights ``n / (k * count)`` (classes absent from ``labels`` get 1)."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    total = counts.sum()
    return {i: float(total / (num_classes * c)) if c else 1.0 for i, c in enumerate(counts)}


def _tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def make_strategy(name: str) -> Any:
    """The ``tf.distribute`` strategy for ``name`` (MirroredStrategy uses every GPU,
    else every logical CPU device)."""
    tf = _tf()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _augmenter(keras: Any, spec: ImageSpec, flip: bool, seed: int) -> Any:
    layers: list[Any] = [keras.Input((spec.size, spec.size, spec.channels))]
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    layers += [
        keras.layers.RandomRotation(0.04, fill_mode="constant", seed=seed + 1),
        keras.layers.RandomZoom((-0.15, 0.15), fill_mode="constant", seed=seed + 2),
        keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed + 3),
        keras.layers.RandomBrightness(0.15, value_range=(0, 255), seed=seed + 4),
        keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=seed + 5),
        keras.layers.Rescaling(1.0 / 255.0),
        keras.layers.GaussianNoise(0.015, seed=seed + 6),  # the stddev must be in [0, 1]
        keras.layers.Rescaling(255.0),
    ]
    return keras.Sequential(layers, name="augment")


def _is_chief() -> bool:
    """Whether this process writes the checkpoint (always, unless a non-chief multi-worker task)."""
    import json

    try:
        config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    except json.JSONDecodeError:
        return True
    task = config.get("task") or {}
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    has_chief = "chief" in (config.get("cluster") or {})
    return kind == "chief" or (kind == "worker" and index == 0 and not has_chief)


def _run_callback(keras: Any, model: Any, path: Path, history: dict[str, list[float]],
                  stage: int, best: list[float]) -> Any:
    """Record every epoch's metrics; save ``model`` whenever the validation loss improves."""

    class RunCallback(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = dict(logs or {})
            for key, value in logs.items():
                history.setdefault(key, []).append(float(value))
            history.setdefault("stage", []).append(float(stage))
            loss = logs.get("val_loss", np.inf)
            if loss < best[0] and _is_chief():
                best[0] = float(loss)
                tmp = path.with_name("model.tmp.keras")
                model.save(tmp)
                os.replace(tmp, path)

    return RunCallback()


def _stages(config: TrainConfig, arch: backbones.Architecture) -> list[tuple[str, int, float]]:
    if not arch.pretrained:
        return [("full", config.epochs, config.learning_rate)]
    fine = config.fine_tune_epochs if config.fine_tune_epochs is not None else max(1, config.epochs // 2)
    stages = [("head", config.epochs, config.learning_rate)]
    if fine > 0:
        stages.append(("fine_tune", fine, config.learning_rate / 10.0))
    return stages


def _small_data_fit(config: TrainConfig, ds: Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    """The training arrays (tiny sets repeated to enough steps per epoch) and the steps per epoch."""
    x, y = schedule.repeat_for_steps(ds.train.x, ds.train.y, config.batch_size)
    return x, y, math.ceil(len(x) / config.batch_size)


def _stage_callbacks(config: TrainConfig, ds: Dataset, model: Any, run: Path,
                     history: dict[str, list[float]], stage: int, best: list[float]) -> list[Any]:
    """Precise batch norm before each validation (so early stopping and the checkpoint judge the
    model as it will predict), the run record, early stopping."""
    import keras

    return [
        precise_batchnorm_callback(model, ds.train.x, seed=config.seed),
        _run_callback(keras, model, run / "model.keras", history, stage, best),
        # min_delta: once validation is perfect its loss creeps down forever by 1e-4s; not progress
        keras.callbacks.EarlyStopping("val_loss", patience=config.patience, min_delta=MIN_DELTA,
                                      restore_best_weights=True),
    ]


def _fit_stages(config: TrainConfig, ds: Dataset, model: Any, strategy: Any, run: Path,
                history: dict[str, list[float]], extra_callbacks: tuple[Any, ...]) -> int:
    import keras

    arch = config.architecture(len(ds.classes))
    spec = ImageSpec(arch.size, arch.channels, config.resize)
    verbose = config.verbose if config.verbose is not None else (1 if sys.stdout.isatty() else 2)
    weights = class_weights(ds.train.y, len(ds.classes))
    best = [np.inf]
    stages = _stages(config, arch)
    x, y, steps = _small_data_fit(config, ds)
    with strategy.scope():
        wrapper = keras.Sequential([_augmenter(keras, spec, config.flip, config.seed), model]) \
            if config.augment else model
    for number, (name, epochs, lr) in enumerate(stages, start=1):
        if name == "head":
            backbones.freeze_backbone(model)
        elif name == "fine_tune":
            backbones.unfreeze_top(model)
        with strategy.scope():
            wrapper.compile(optimizer=keras.optimizers.Adam(schedule.learning_rate(lr, epochs, steps)),
                            loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        callbacks = [*_stage_callbacks(config, ds, model, run, history, number, best), *extra_callbacks]
        if verbose:
            print(f"stage {number}/{len(stages)}: {name}, up to {epochs} epochs of {steps} steps, "
                  f"learning rate {lr:g} (warm-up, cosine)", flush=True)
        wrapper.fit(x.astype(np.float32), y, batch_size=config.batch_size,
                    epochs=epochs, validation_data=(ds.val.x.astype(np.float32), ds.val.y),
                    class_weight=weights, callbacks=callbacks, verbose=verbose, shuffle=True)
    return len(stages)


def _provenance(config: TrainConfig, ds: Dataset, arch: backbones.Architecture,
                replicas: int) -> dict[str, Any]:
    return {
        "dataset": {"root": ds.root, "fingerprint": ds.fingerprint, "classes": list(ds.classes),
                    "counts": ds.counts, "predefined_split": ds.predefined,
                    "skipped": [list(s) for s in ds.skipped]},
        "seed": config.seed,
        "versions": rundir.versions(),
        "command": list(config.command) or list(sys.argv),
        "config": {**asdict(config), "size": arch.size, "weights": arch.weights,
                   "backbone": arch.name, "color": "gray" if arch.channels == 1 else "rgb"},
        "strategy": {"name": config.strategy, "replicas": replicas},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def train(config: TrainConfig, callbacks: tuple[Any, ...] = ()) -> TrainResult:
    """Train a classifier on ``config.data`` and write the RUN folder ``config.out``.

    Nothing is written until the dataset has been read and the model built.

    A folder no classifier can be trained on (empty, one class, a class with one image) and
    an existing ``config.out`` are refused before TensorFlow is imported.

    Raises:
        DatasetError: the folder cannot be trained on (see :func:`trainer.data.load_dataset`).
        RunExists: ``config.out`` exists and ``config.force`` is false.
        WeightsUnavailable: pretrained weights cannot be downloaded.
        KeyboardInterrupt: re-raised after the records of the best epoch so far are written.
    """
    _, sizes = check_trainable(config.data)
    rundir.prepare_out(config.out, config.force)
    tf = _tf()
    import keras

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    arch = config.architecture(num_classes=2)  # validates before the (slow) dataset read
    ds = load_dataset(config.data, ImageSpec(arch.size, arch.channels, config.resize),
                      config.val_fraction, config.seed)
    arch = config.architecture(len(ds.classes))
    strategy = make_strategy(config.strategy)
    with strategy.scope():
        model = backbones.build_model(arch)
    run = rundir.prepare_out(config.out, config.force, clear=True)
    created = not run.exists()
    run.mkdir(parents=True, exist_ok=True)
    warnings = (*folder_warnings(config.data, sizes), *ds.warnings)
    prov = {**_provenance(config, ds, arch, int(strategy.num_replicas_in_sync)), "warnings": list(warnings)}
    rundir.write_text(run / "labels.txt", "\n".join(ds.classes) + "\n")
    rundir.write_json(run / "split.json", rundir.dataset_record(ds))
    rundir.write_json(run / "provenance.json", {**prov, "status": "training"})
    history: dict[str, list[float]] = {}
    stages, interrupted = 0, False
    try:
        stages = _fit_stages(config, ds, model, strategy, run, history, callbacks)
    except KeyboardInterrupt:
        interrupted = True
    except BaseException:
        if not (run / "model.keras").is_file():
            _remove(run, created)
        raise
    return _finish(run, created, prov, history, stages, interrupted, ds)


def _remove(run: Path, created: bool) -> None:
    """Leave nothing half-written: our artefacts go, and the folder if we made it."""
    for name in rundir.ARTEFACTS + ("model.tmp.keras",):
        (run / name).unlink(missing_ok=True)
    if created and not any(run.iterdir()):
        run.rmdir()


def _finish(run: Path, created: bool, prov: dict[str, Any], history: dict[str, list[float]],
            stages: int, interrupted: bool, ds: Dataset) -> TrainResult:
    import keras

    if not (run / "model.keras").is_file():
        _remove(run, created)
        if interrupted:
            raise KeyboardInterrupt("training interrupted before the first epoch ended; nothing kept")
        raise ConfigError(f"{run}: training produced no checkpoint (no finite validation loss)")
    best = keras.models.load_model(run / "model.keras")
    probs = best.predict(ds.val.x.astype(np.float32), batch_size=64, verbose=0)
    verdict = judge(probs.argmax(axis=1), ds, int(prov.get("seed", 0)))
    prov = {**prov, "status": "interrupted" if interrupted else "complete",
            "val_accuracy": verdict.val_accuracy, "epochs": len(history.get("stage", [])), "stages": stages,
            "verdict": verdict.to_dict()}
    rundir.write_json(run / "history.json", history)
    rundir.write_json(run / "provenance.json", prov)
    from .plots import plot_history

    plot_history(history, run / "training.png", majority=verdict.chance.majority)
    if interrupted:
        raise KeyboardInterrupt(f"training interrupted; the best checkpoint so far is {run / 'model.keras'}")
    return TrainResult(run, verdict.val_accuracy, prov["epochs"], stages, prov["strategy"]["replicas"],
                       ds.skipped, history, verdict, tuple(prov.get("warnings", ())))
