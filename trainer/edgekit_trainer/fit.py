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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit._evaluate.folder import check_trainable, folder_warnings
from edgekit.errors import ConfigError

from . import backbones, checkpoints, devices, distribute, pipeline, rundir, schedule
from .batchnorm import precise_batchnorm_callback, synchronize_batchnorm
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
    half of ``epochs``. ``resume`` continues the interrupted run in ``out`` (same data
    and options); ``join_timeout`` bounds, in seconds, the wait for the other workers.
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
    resume: bool = False
    join_timeout: float = 120.0

    def __post_init__(self) -> None:
        if not self.join_timeout > 0:
            raise ConfigError(f"join_timeout must be a positive number of seconds, got {self.join_timeout}")
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
    """The ``tf.distribute`` strategy for ``name`` (kept for callers of this module; new code uses
    :func:`edgekit_trainer.distribute.make_strategy` with :func:`~edgekit_trainer.distribute.this_worker`)."""
    _tf()
    return distribute.make_strategy(name, distribute.this_worker(name))


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
            if loss < best[0]:  # every worker saves (the chief into RUN): saving may need them all
                best[0] = float(loss)
                tmp = path.with_name("model.tmp.keras")
                devices.float32_model(model).save(tmp)
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


def _small_data_fit(config: TrainConfig, ds: Dataset, weights: dict[int, float]) -> tuple[Any, int]:
    """The training batches (tiny sets repeated to enough steps per epoch) and the steps per epoch."""
    x, y = schedule.repeat_for_steps(ds.train.x, ds.train.y, config.batch_size)
    return pipeline.training_data(x, y, config.batch_size, config.seed, weights), math.ceil(len(x) / config.batch_size)


def _stage_callbacks(config: TrainConfig, ds: Dataset, model: Any, state: checkpoints.RunState,
                     history: dict[str, list[float]], stage: int, best: list[float]) -> list[Any]:
    """Throughput, precise batch norm before each validation (so early stopping and the checkpoint
    judge the model as it will predict), the run record, early stopping, the stage's checkpoints."""
    import keras

    return [
        pipeline.throughput_callback(len(ds.train)),
        precise_batchnorm_callback(model, ds.train.x, seed=config.seed),
        _run_callback(keras, model, state.path / "model.keras", history, stage, best),
        # min_delta: once validation is perfect its loss creeps down forever by 1e-4s; not progress
        keras.callbacks.EarlyStopping("val_loss", patience=config.patience, min_delta=MIN_DELTA,
                                      restore_best_weights=True),
        *state.callbacks(stage),
    ]


def _fit_stages(config: TrainConfig, ds: Dataset, model: Any, strategy: Any, state: checkpoints.RunState,
                history: dict[str, list[float]], extra_callbacks: tuple[Any, ...]) -> int:
    import keras

    arch = config.architecture(len(ds.classes))
    spec = ImageSpec(arch.size, arch.channels, config.resize)
    verbose = config.verbose if config.verbose is not None else (1 if sys.stdout.isatty() else 2)
    weights = class_weights(ds.train.y, len(ds.classes))
    best = [min(history.get("val_loss", [np.inf]))]
    stages = _stages(config, arch)
    with strategy.scope():
        wrapper = keras.Sequential([_augmenter(keras, spec, config.flip, config.seed), model]) \
            if config.augment else model
    fitter = distribute.fit_model(wrapper, strategy)  # outside the scope, see there
    train_data, steps = _small_data_fit(config, ds, weights)
    val_data = pipeline.evaluation_data(ds.val.x, ds.val.y, config.batch_size)
    for number, (name, epochs, lr) in enumerate(stages, start=1):
        if number <= state.completed_stages:
            continue
        if name == "head":
            backbones.freeze_backbone(model)
        elif name == "fine_tune":
            backbones.unfreeze_top(model)
        with strategy.scope():
            state.restore_weights(model, number)
            fitter.compile(optimizer=keras.optimizers.Adam(schedule.learning_rate(lr, epochs, steps)),
                           loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        callbacks = [*_stage_callbacks(config, ds, model, state, history, number, best), *extra_callbacks]
        if verbose:
            print(f"stage {number}/{len(stages)}: {name}, up to {epochs} epochs of {steps} steps, "
                  f"learning rate {lr:g} (warm-up, cosine)", flush=True)
        with strategy.scope():
            fitter.fit(train_data, epochs=epochs, validation_data=val_data, callbacks=callbacks, verbose=verbose,
                       shuffle=False)  # the pipeline shuffles
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

    Nothing is written until the dataset has been read and the model built. Across
    workers (``strategy="multiworker"``, ``TF_CONFIG`` set on each) only the chief writes
    ``config.out``; the result is the same on every worker. A folder no classifier can be
    trained on (empty, one class, a class with one image) and an existing ``config.out``
    are refused before TensorFlow is imported.

    Raises:
        DatasetError: the folder cannot be trained on (see :func:`trainer.data.load_dataset`).
        RunExists: ``config.out`` exists and ``config.force`` is false.
        ResumeRefused: ``config.resume`` and the run cannot continue with this data and these options.
        WeightsUnavailable: pretrained weights cannot be downloaded.
        ConfigError: ``TF_CONFIG`` is missing or malformed (multi-worker).
        ClusterError: a worker did not join within ``config.join_timeout``, was lost, or its port is taken.
        KeyboardInterrupt: re-raised after the records of the best epoch so far are written.
    """
    _, sizes = check_trainable(config.data)  # from file names, before TensorFlow starts
    worker = distribute.this_worker(config.strategy)  # TF_CONFIG and its port, before TensorFlow starts
    fresh = worker.chief and not config.resume
    if fresh:
        rundir.prepare_out(config.out, config.force)
    tf = _tf()
    import keras

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    arch = config.architecture(num_classes=2)  # validates before the (slow) dataset read
    ds = load_dataset(config.data, ImageSpec(arch.size, arch.channels, config.resize),
                      config.val_fraction, config.seed)
    arch = config.architecture(len(ds.classes))
    with devices.precision() as policy:
        strategy = distribute.make_strategy(config.strategy, worker, config.join_timeout)
        if config.verbose != 0:
            print(f"{worker.describe()}; {devices.describe(strategy, policy)}", flush=True)
        with strategy.scope():
            model = backbones.build_model(arch)
        synchronize_batchnorm(model, strategy)  # across workers and devices, as on one device
        if fresh:
            rundir.prepare_out(config.out, config.force, clear=True)
        warnings = [*folder_warnings(config.data, sizes), *ds.warnings]
        prov = {**_provenance(config, ds, arch, int(strategy.num_replicas_in_sync)), "warnings": warnings}
        with checkpoints.open_run(config.out, worker, prov, rundir.dataset_record(ds), ds.classes,
                                  config.resume) as state:
            result = _fit_and_finish(config, ds, model, strategy, state, worker, callbacks)
    return replace(result, run=state.run)


def _fit_and_finish(config: TrainConfig, ds: Dataset, model: Any, strategy: Any, state: checkpoints.RunState,
                    worker: distribute.Worker, callbacks: tuple[Any, ...]) -> TrainResult:
    history = state.history
    stages, interrupted = checkpoints.fit_guarded(
        state, worker, lambda: _fit_stages(config, ds, model, strategy, state, history, callbacks))
    return _finish(state.path, state.created, state.provenance, history, stages or 0, interrupted, ds)


def _finish(run: Path, created: bool, prov: dict[str, Any], history: dict[str, list[float]],
            stages: int, interrupted: bool, ds: Dataset) -> TrainResult:
    import keras

    if not (run / "model.keras").is_file():
        rundir.remove_artefacts(run, created)
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
