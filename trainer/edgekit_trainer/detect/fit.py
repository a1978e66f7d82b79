"""Detector training: detection dataset → Keras detector in a RUN folder.

Every epoch ends with the validation mAP@0.5, measured by pycocotools on the
decoded detections (the runtime's own decoding); the checkpoint with the best
one is written atomically, and training stops when it has not improved for
``patience`` epochs. With a pretrained backbone, the first epochs train the
new layers only (the backbone frozen), then everything.

RUN holds what a classification run holds (``model.keras``, ``labels.txt``,
``history.json``, ``provenance.json`` with ``"task": "detect"``, ``split.json``,
``training.png``), so ``edgekit export`` and ``evaluate`` find their way.

Across workers (``strategy="multiworker"``) and on resume it uses the classifier's
pieces: :mod:`..distribute` (cluster set-up, one-line errors, only the chief writes RUN)
and :mod:`..checkpoints` (``RUN/backup/`` after every epoch, ``--resume``). The crop
warm-up of the ``tiny`` backbone is not checkpointed: a run killed during it starts
it again.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import ConfigError

from .. import checkpoints, devices, distribute, pipeline, rundir
from ..batchnorm import synchronize_batchnorm
from ..fit import STRATEGIES
from .augment import Augmentation
from .batches import across_workers, class_weights, make_batches
from .data import DetectionSplit, decode_split, fingerprint, read_dataset, split_samples
from .loss import detection_loss
from .model import DetectArchitecture, build_detector, with_decoder
from .scoring import keras_scores

__all__ = ["DEFAULT_SIZE", "DetectConfig", "DetectResult", "train"]

DEFAULT_SIZE = 256
FROZEN_EPOCHS = 3  # with a pretrained backbone: epochs that train only the new layers
EMA_MOMENTUM = 0.995  # the checkpoint holds the weights' moving average (about the last 200 steps)


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """Everything ``edgekit train --task detect`` accepts.

    ``weights=None`` means ImageNet for the MobileNets and none for ``tiny``. ``resume``
    continues the interrupted run in ``out``; ``join_timeout`` bounds, in seconds, the
    wait for the other workers.
    """

    data: str
    out: str
    model: str = "mobilenet_v2"
    size: int = DEFAULT_SIZE
    alpha: float = 1.0
    weights: str | None = None
    width: int = 64
    epochs: int = 80
    batch_size: int = 8
    learning_rate: float = 2e-3
    val_fraction: float = 0.15
    seed: int = 0
    augment: bool = True
    flip: bool = True
    patience: int = 15
    warmup_epochs: int = 10
    strategy: str = "none"
    force: bool = False
    verbose: int | None = None
    command: tuple[str, ...] = field(default_factory=tuple)
    resume: bool = False
    join_timeout: float = 120.0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if not self.join_timeout > 0:
            raise ConfigError(f"join_timeout must be a positive number of seconds, got {self.join_timeout}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ConfigError("epochs, batch_size and patience must be at least 1")

    def architecture(self, num_classes: int) -> DetectArchitecture:
        weights = self.weights or ("none" if self.model == "tiny" else "imagenet")
        return DetectArchitecture(self.model, num_classes, self.size, self.alpha, weights, self.width)


@dataclass(frozen=True, slots=True)
class DetectResult:
    """What a detector training produced.

    Attributes:
        run: The RUN folder.
        val_map50, val_map: Validation mAP@0.5 and mAP@0.5:0.95 of the best checkpoint.
        epochs: Epochs run.
        images: Training, validation and test images used.
        skipped: ``(file, reason)`` of every label file or image left out.
        notes: Counted facts about the dataset (unlabelled images, crowd boxes).
        history: Per-epoch metrics.
    """

    run: Path
    val_map50: float
    val_map: float
    epochs: int
    images: dict[str, int]
    skipped: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    history: dict[str, list[float]]


def _map_callback(keras: Any, model: Any, val: DetectionSplit, names: tuple[str, ...], size: int,
                  path: Path, history: dict[str, list[float]], best: list[float], stage: int) -> Any:
    """Score the validation split after every epoch; keep the best checkpoint.

    Every worker scores (the weights are the same everywhere, so they agree on early
    stopping) and saves, the chief into RUN: saving may need every worker.
    """
    decoded = with_decoder(model, size)

    class MapCallback(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            scores = keras_scores(decoded, val, names)
            if logs is not None:
                logs["val_map50"], logs["val_map"] = scores.map50, scores.map
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            history.setdefault("stage", []).append(float(stage))
            if scores.map50 > best[0]:
                best[0], best[1] = scores.map50, scores.map
                tmp = path.with_name("model.tmp.keras")
                model.save(tmp)
                os.replace(tmp, path)

    return MapCallback()


def _schedule(keras: Any, lr: float, steps: int, epochs: int) -> Any:
    warmup = min(steps * 2, steps * epochs // 4)
    return keras.optimizers.schedules.CosineDecay(lr * 0.1, max(1, steps * epochs - warmup), alpha=0.02,
                                                  warmup_target=lr, warmup_steps=warmup)


def _best(history: dict[str, list[float]]) -> list[float]:
    """``[val mAP@0.5, val mAP]`` of the best epoch recorded so far (``-1`` for none)."""
    scores = history.get("val_map50", [])
    if not scores:
        return [-1.0, -1.0]
    i = int(np.argmax(scores))
    return [scores[i], history.get("val_map", scores)[i]]


def _warm_up(config: DetectConfig, arch: DetectArchitecture, model: Any, strategy: Any, state: Any,
             train_split: DetectionSplit, classes: int, verbose: int) -> None:
    """The crop warm-up of the ``tiny`` backbone, unless a resumed run is past it."""
    if arch.name != "tiny" or not config.warmup_epochs or state.history.get("loss"):
        return  # the MobileNets are built for one input size; a resumed run past an epoch restores its weights
    from .warmup import warm_up

    accuracy = warm_up(model.get_layer("backbone"), train_split, classes, config.warmup_epochs, config.seed,
                       config.flip, verbose=verbose, strategy=strategy)
    state.history.setdefault("warmup_accuracy", [accuracy])


def _fit(config: DetectConfig, arch: DetectArchitecture, model: Any, strategy: Any, state: Any,
         train_split: DetectionSplit, val: DetectionSplit, names: tuple[str, ...], extra: tuple[Any, ...]) -> None:
    """Train the stages not completed yet (a fresh run: all of them)."""
    import keras

    verbose = config.verbose if config.verbose is not None else (1 if sys.stdout.isatty() else 2)
    aug = Augmentation(flip=config.flip) if config.augment else None
    batches = make_batches(train_split, arch.points, config.batch_size, config.seed, aug,
                           class_weights(train_split.classes, len(names)))
    data = across_workers(batches) if distribute.multi_worker(strategy) else batches
    stages = [(FROZEN_EPOCHS, True), (config.epochs, False)] if arch.pretrained else [(config.epochs, False)]
    _warm_up(config, arch, model, strategy, state, train_split, len(names), verbose)
    fitter = distribute.fit_model(model, strategy)  # outside the scope, see there
    best = _best(state.history)
    for number, (epochs, frozen) in enumerate(stages, start=1):
        if number <= state.completed_stages:
            continue
        model.get_layer("backbone").trainable = not frozen
        with strategy.scope():
            state.restore_weights(model, number)
            optimizer = keras.optimizers.AdamW(_schedule(keras, config.learning_rate, len(batches), epochs),
                                               weight_decay=5e-4, clipnorm=10.0, use_ema=True,
                                               ema_momentum=EMA_MOMENTUM)
            fitter.compile(optimizer=optimizer, loss=detection_loss(arch.points, len(names)))
        recorder, backup = state.callbacks(number)
        callbacks = [
            pipeline.throughput_callback(len(train_split)),
            backup,  # before the swap: the checkpoint holds the trained weights, not their average
            keras.callbacks.SwapEMAWeights(swap_on_epoch=True),  # scored and saved: the averaged weights
            _map_callback(keras, model, val, names, arch.size, state.path / "model.keras", state.history, best,
                          number),
            recorder,  # after the history is filled
            keras.callbacks.EarlyStopping("val_map50", mode="max", patience=config.patience),
            *extra,
        ]
        with strategy.scope():
            fitter.fit(data, epochs=epochs, callbacks=callbacks, verbose=verbose, shuffle=False)  # Batches shuffles


def train(config: DetectConfig, callbacks: tuple[Any, ...] = ()) -> DetectResult:
    """Train a detector on ``config.data`` and write the RUN folder ``config.out``.

    Nothing is written until the dataset has been read and the model built. Across
    workers only the chief writes ``config.out``; the result is the same on every worker.

    Raises:
        DatasetError: the dataset cannot be trained on (see :func:`.data.read_dataset`).
        RunExists: ``config.out`` exists and ``config.force`` is false.
        ResumeRefused: ``config.resume`` and the run cannot continue with this data and these options.
        WeightsUnavailable: pretrained weights cannot be downloaded.
        ConfigError: ``TF_CONFIG`` is missing or malformed (multi-worker).
        ClusterError: a worker did not join within ``config.join_timeout``, was lost, or its port is taken.
        KeyboardInterrupt: re-raised after the records of the best epoch so far are written.
    """
    from ..fit import _tf

    worker = distribute.this_worker(config.strategy)  # TF_CONFIG and its port, before TensorFlow starts
    fresh = worker.chief and not config.resume
    if fresh:
        rundir.prepare_out(config.out, config.force)
    tf = _tf()
    import keras

    config.architecture(num_classes=1)  # validates before the (slow) dataset read
    ds = read_dataset(config.data)
    arch = config.architecture(len(ds.names))
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    parts = split_samples(ds, config.val_fraction, config.seed)
    skipped = list(ds.skipped)
    train_split = decode_split(parts["train"], arch.size, skipped)
    val = decode_split(parts["val"], arch.size, skipped)
    if not len(train_split) or not len(val):
        raise ConfigError(f"{config.data}: no decodable image in the training or validation split")
    strategy = distribute.make_strategy(config.strategy, worker, config.join_timeout)
    if config.verbose != 0:
        print(f"{worker.describe()}; {devices.describe(strategy, 'float32')}", flush=True)
    with strategy.scope():
        model = build_detector(arch)
    synchronize_batchnorm(model, strategy)  # across workers, as on one process
    if fresh:
        rundir.prepare_out(config.out, config.force, clear=True)
    prov = _provenance(config, ds, arch, parts, train_split, int(strategy.num_replicas_in_sync))
    with checkpoints.open_run(config.out, worker, prov, _split_record(ds, parts), ds.names,
                              config.resume) as state:
        _, interrupted = checkpoints.fit_guarded(
            state, worker, lambda: _fit(config, arch, model, strategy, state, train_split, val, ds.names, callbacks))
        result = _finish(state.path, state.created, state.provenance, state.history, interrupted, skipped,
                         ds.notes, {k: len(v) for k, v in parts.items()})
    return replace(result, run=state.run)


def _split_record(ds: Any, parts: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    root = Path(ds.root)

    def rel(path: str) -> str:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            return path

    return {"root": ds.root, "format": ds.format, "classes": list(ds.names),
            **{name: [rel(s.image) for s in samples] for name, samples in parts.items()}}


def _provenance(config: DetectConfig, ds: Any, arch: DetectArchitecture, parts: dict[str, Any],
                train_split: DetectionSplit, replicas: int) -> dict[str, Any]:
    counts = np.bincount(np.concatenate([*train_split.classes, np.zeros(0, np.int64)]),
                         minlength=len(ds.names))
    return {
        "task": "detect",
        "dataset": {"root": ds.root, "format": ds.format, "fingerprint": fingerprint(parts["train"]),
                    "classes": list(ds.names), "objects": {n: int(c) for n, c in zip(ds.names, counts)},
                    "images": {k: len(v) for k, v in parts.items()},
                    "skipped": [list(s) for s in ds.skipped], "notes": list(ds.notes)},
        "seed": config.seed,
        "versions": rundir.versions(),
        "command": list(config.command) or list(sys.argv),
        "config": {**asdict(config), "size": arch.size, "weights": arch.weights, "backbone": arch.name,
                   "channels": 3, "resize": "letterbox", "color": "rgb"},
        "strategy": {"name": config.strategy, "replicas": replicas},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _finish(run: Path, created: bool, prov: dict[str, Any], history: dict[str, list[float]],
            interrupted: bool, skipped: list[tuple[str, str]], notes: tuple[str, ...],
            images: dict[str, int]) -> DetectResult:
    if not (run / "model.keras").is_file():
        rundir.remove_artefacts(run, created)
        if interrupted:
            raise KeyboardInterrupt("training interrupted before the first epoch ended; nothing kept")
        raise ConfigError(f"{run}: training produced no checkpoint")
    best = _best(history)
    epochs = len(history.get("loss", []))
    prov = {**prov, "status": "interrupted" if interrupted else "complete", "val_map50": best[0],
            "val_map": best[1], "epochs": epochs, "dataset": {**prov["dataset"], "skipped": [list(s) for s in skipped]}}
    rundir.write_json(run / "history.json", history)
    rundir.write_json(run / "provenance.json", prov)
    from .report import plot_training

    plot_training(history, run / "training.png")
    if interrupted:
        raise KeyboardInterrupt(f"training interrupted; the best checkpoint so far is {run / 'model.keras'} "
                                f"(continue with: edgekit train --resume {run})")
    return DetectResult(run, best[0], best[1], epochs, images, tuple(skipped), notes, history)
