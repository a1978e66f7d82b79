"""How many steps an epoch has, and the learning rate of each step.

A user's first dataset has 100–300 images: at batch 32 that is 5–10 steps per epoch, too
few for an epoch to mean anything to early stopping (patience 5 would be 25 steps). Tiny
training sets are therefore repeated (each copy augmented differently) until an epoch has
at least :data:`MIN_STEPS_PER_EPOCH` steps. The learning rate warms up linearly over the
first epoch, then follows a cosine down to 1 % over the epochs asked for, so the last
epochs fine-tune instead of jumping around the minimum.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["MIN_STEPS_PER_EPOCH", "learning_rate", "repeat_for_steps", "repeats", "steps_per_epoch"]

MIN_STEPS_PER_EPOCH = 16
FINAL_FRACTION = 0.01


def repeats(samples: int, batch_size: int, min_steps: int = MIN_STEPS_PER_EPOCH) -> int:
    """How many copies of a ``samples``-image training set make an epoch of ``min_steps`` batches."""
    if samples <= 0:
        return 1
    return max(1, math.ceil(min_steps * batch_size / samples))


def steps_per_epoch(samples: int, batch_size: int, min_steps: int = MIN_STEPS_PER_EPOCH) -> int:
    """Batches per epoch once the training set is repeated (see :func:`repeats`)."""
    return math.ceil(samples * repeats(samples, batch_size, min_steps) / batch_size)


def repeat_for_steps(x: np.ndarray, y: np.ndarray, batch_size: int,
                     min_steps: int = MIN_STEPS_PER_EPOCH) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` repeated so one epoch has at least ``min_steps`` batches (unchanged if it has)."""
    times = repeats(len(x), batch_size, min_steps)
    if times == 1:
        return x, y
    return np.concatenate([x] * times), np.concatenate([y] * times)


def learning_rate(peak: float, epochs: int, steps: int) -> Any:
    """Warm-up from ``peak/10`` to ``peak`` over the first epoch, then cosine to 1 % of ``peak``.

    Args:
        peak: The learning rate after warm-up.
        epochs: Epochs of the stage (the cosine spans all of them; early stopping may end sooner).
        steps: Steps per epoch.
    """
    import keras

    warmup = steps if epochs > 1 else 0
    decay = max(1, epochs * steps - warmup)
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(peak, decay, alpha=FINAL_FRACTION)
    return keras.optimizers.schedules.CosineDecay(peak / 10.0, decay, alpha=FINAL_FRACTION,
                                                  warmup_target=peak, warmup_steps=warmup)
