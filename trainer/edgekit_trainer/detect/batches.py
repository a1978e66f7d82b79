"""Training batches: augmented images and their per-point targets, rebuilt every epoch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .augment import Augmentation, augment
from .data import DetectionSplit
from .targets import Points, assign

__all__ = ["across_workers", "class_weights", "make_batches"]


def class_weights(classes: tuple[np.ndarray, ...], num_classes: int, power: float = 0.5) -> np.ndarray:
    """Per-class loss weights ``(mean count / count) ** power``, clipped to [0.25, 4].

    Balanced classes get 1; a class with a quarter of the mean count gets 2
    (with the default square root: re-weighting fully overshoots on detection).
    """
    counts = np.bincount(np.concatenate([*classes, np.zeros(0, np.int64)]).astype(np.int64),
                         minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(num_classes, np.float32)
    if present.any():
        mean = counts[present].mean()
        weights[present] = np.clip((mean / counts[present]) ** power, 0.25, 4.0)
    return weights


def make_batches(split: DetectionSplit, points: Points, batch_size: int, seed: int,
                 aug: Augmentation | None, weights: np.ndarray) -> Any:
    """A ``keras.utils.PyDataset`` of ``(pixels float32 [B,S,S,3], targets [B,N,6])``.

    The order and the augmentation are drawn from ``(seed, epoch, batch)``, so a run is
    reproducible whatever the worker threads do.
    """
    import keras

    class Batches(keras.utils.PyDataset):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0
            self.order = np.random.default_rng((seed, 0)).permutation(len(split))

        def __len__(self) -> int:
            return math.ceil(len(split) / batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            rng = np.random.default_rng((seed, self.epoch, index))
            chosen = self.order[index * batch_size:(index + 1) * batch_size]
            size = split.images.shape[1]
            x = np.empty((len(chosen), size, size, 3), np.float32)
            y = np.empty((len(chosen), len(points), 6), np.float32)
            for row, i in enumerate(chosen):
                image, boxes, classes = split.images[i], split.boxes[i], split.classes[i]
                if aug is not None:
                    image, boxes, classes = augment(image, boxes, classes, rng, aug)
                x[row] = image
                y[row] = assign(points, boxes, classes, weights)
            return x, y

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = np.random.default_rng((seed, self.epoch)).permutation(len(split))

    return Batches()


def across_workers(batches: Any) -> Any:
    """``batches`` as a ``tf.data`` dataset that MultiWorkerMirroredStrategy can split.

    Keras cannot distribute a ``PyDataset`` across workers itself. Every worker generates
    the same global batches (same seed, same epoch), and with ``AutoShardPolicy.DATA`` the
    strategy cuts each one into a part per worker, so an epoch sees every image once and a
    step's gradient is averaged over the same ``batch_size`` images as on one machine.
    """
    import tensorflow as tf

    from ..pipeline import dataset_options

    x, y = batches[0]

    def generate() -> Any:
        for index in range(len(batches)):
            yield batches[index]
        batches.on_epoch_end()  # Keras calls it only for a PyDataset it iterates itself

    spec = (tf.TensorSpec((None, *x.shape[1:]), tf.float32), tf.TensorSpec((None, *y.shape[1:]), tf.float32))
    return tf.data.Dataset.from_generator(generate, output_signature=spec) \
        .apply(tf.data.experimental.assert_cardinality(len(batches))).prefetch(2).with_options(dataset_options(tf))
