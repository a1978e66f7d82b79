"""The ``tf.data`` input pipeline: decoded images in memory → shuffled float batches.

Images are decoded once, in parallel, by :mod:`edgekit_trainer.data` with edgekit's own
pre-processing (so training sees exactly the pixels the runtime will feed the exported
model), and kept as one ``uint8`` array: that array is the cache, four times smaller than
float32. Each epoch then only shuffles indices (seeded), gathers a whole batch at once and
casts it to float32 in a parallel map, and prefetches the next batches while the
accelerator works on this one. Nothing is decoded again, and no image is copied into a
shuffle buffer.

Across workers (MultiWorkerMirroredStrategy) the dataset is sharded with
``AutoShardPolicy.DATA``: there are no files to split (the data is in memory on every
worker), and ``FILE`` sharding would fall back to it with a warning. Every worker builds
the same pipeline with the same seed, so all produce the same global batches; the
strategy splits each global batch of ``batch_size`` into one part per worker, and each
worker keeps its own part. The parts partition the global batch, so an epoch sees every
image exactly once, as on one machine, and the gradient of a step is averaged over the
same ``batch_size`` images.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["dataset_options", "evaluation_data", "sample_weights", "throughput_callback", "training_data"]


def sample_weights(labels: np.ndarray, class_weight: dict[int, float] | None) -> np.ndarray:
    """Per-image loss weights from per-class weights (all 1 without them)."""
    if not class_weight:
        return np.ones(len(labels), np.float32)
    table = np.ones(max(int(labels.max(initial=0)), max(class_weight)) + 1, np.float32)
    for cls, weight in class_weight.items():
        table[cls] = weight
    return table[labels]


def dataset_options(tf: Any) -> Any:
    """Sharded by data across workers (the data is in memory on each), and deterministic."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True  # every worker must produce its batches in the same order
    return options


def _batches(tf: Any, indices: Any, x: np.ndarray, columns: tuple[np.ndarray, ...]) -> Any:
    images = tf.constant(x)  # uint8
    extra = tuple(tf.constant(c) for c in columns)

    def gather(index: Any) -> tuple[Any, ...]:
        return (tf.cast(tf.gather(images, index), tf.float32), *(tf.gather(c, index) for c in extra))

    return indices.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True) \
        .prefetch(tf.data.AUTOTUNE).with_options(dataset_options(tf))


def training_data(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                  class_weight: dict[int, float] | None = None) -> Any:
    """Batches ``(images float32, labels, sample weights)``, reshuffled every epoch.

    Args:
        x: ``N×H×W×C`` ``uint8`` images.
        y: ``N`` class indices.
        batch_size: The global batch (split across workers and devices by the strategy).
        seed: Seed of the shuffle (the same on every worker).
        class_weight: Per-class loss weights, applied as per-image sample weights.
    """
    import tensorflow as tf

    order = tf.data.Dataset.range(len(x)).shuffle(max(1, len(x)), seed=seed, reshuffle_each_iteration=True)
    return _batches(tf, order.batch(batch_size), x, (y, sample_weights(y, class_weight)))


def evaluation_data(x: np.ndarray, y: np.ndarray, batch_size: int) -> Any:
    """Batches ``(images float32, labels)`` in file order."""
    import tensorflow as tf

    return _batches(tf, tf.data.Dataset.range(len(x)).batch(batch_size), x, (y,))


class _Clock:
    """Training time of an epoch: from its start to its validation (or its end)."""

    def __init__(self) -> None:
        self.start = self.stop = 0.0

    def begin(self) -> None:
        self.start, self.stop = time.perf_counter(), 0.0

    def end(self) -> float:
        self.stop = self.stop or time.perf_counter()
        return self.stop - self.start


def throughput_callback(images: int) -> Any:
    """A Keras callback that adds the epoch's training rate to its logs as ``images_per_s``
    (so Keras prints it with the loss, and the run's history records it).

    The count is the global one (every worker's share), so on several workers it is
    the cluster's rate; validation time is left out. The first epoch includes the
    tracing of the training step. Put it before the callbacks that read the logs.
    """
    import keras

    class Meter(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.clock = _Clock()

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.clock.begin()

        def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
            if self.clock.start and not self.clock.stop:
                self.clock.end()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if logs is not None:
                logs["images_per_s"] = images / max(self.clock.end(), 1e-9)

    return Meter()
