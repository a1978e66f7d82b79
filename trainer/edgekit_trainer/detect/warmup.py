"""Backbone warm-up on object crops, for detectors trained without pretrained weights.

A detector trained from scratch learns *what* its objects look like slowly:
each object gives its class a few dozen points among thousands of background
points. A classifier learns it fast. So before the detector trains, its
backbone (fully convolutional, shared) learns to classify square crops cut
around the training objects — plus one "background" class of crops that hold
no object — at :data:`CROP` pixels, a small fraction of a full image's cost.
Only the training split's own labels are used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .data import DetectionSplit

__all__ = ["CROP", "object_crops", "warm_up"]

CROP = 64
CONTEXT = (1.1, 1.5)  # crop side / object side
JITTER = 0.15  # centre jitter, fraction of the object side
COPIES = 3  # jittered crops per object
MAX_OVERLAP = 0.1  # a background crop overlaps every object less than this (IoU)


def _cut(image: np.ndarray, cx: float, cy: float, side: float, flip: bool) -> np.ndarray:
    import cv2

    half = side / 2
    m = np.array([[CROP / side, 0, -(cx - half) * CROP / side], [0, CROP / side, -(cy - half) * CROP / side]])
    out = cv2.warpAffine(image, m, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(114, 114, 114))
    return out[:, ::-1] if flip else out


def _overlaps(box: np.ndarray, boxes: np.ndarray) -> bool:
    if not len(boxes):
        return False
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    union = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - inter
    return bool((inter / np.maximum(union, 1e-9) >= MAX_OVERLAP).any())


def object_crops(split: DetectionSplit, num_classes: int, rng: np.random.Generator,
                 flip: bool) -> tuple[np.ndarray, np.ndarray]:
    """Jittered crops of every object (label = its class) and as many background crops (label ``num_classes``)."""
    crops, labels = [], []
    sides = []
    for image, boxes, classes in zip(split.images, split.boxes, split.classes):
        for box, cls in zip(boxes, classes):
            w, h = box[2] - box[0], box[3] - box[1]
            side0 = max(w, h, 4.0)
            sides.append(side0)
            for _ in range(COPIES):
                side = side0 * rng.uniform(*CONTEXT)
                cx = (box[0] + box[2]) / 2 + rng.uniform(-JITTER, JITTER) * side0
                cy = (box[1] + box[3]) / 2 + rng.uniform(-JITTER, JITTER) * side0
                crops.append(_cut(image, cx, cy, side, flip and rng.random() < 0.5))
                labels.append(int(cls))
    wanted = max(1, len(labels) // max(1, num_classes))  # background: about one class' worth
    size = split.images.shape[1]
    for _ in range(wanted * 20):  # crowded images reject many tries
        if sum(1 for x in labels if x == num_classes) >= wanted or not len(split):
            break
        i = int(rng.integers(len(split)))
        side = float(rng.choice(sides)) * rng.uniform(*CONTEXT) if sides else size / 4
        cx, cy = rng.uniform(side / 2, size - side / 2, 2) if side < size else (size / 2, size / 2)
        if not _overlaps(np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]), split.boxes[i]):
            crops.append(_cut(split.images[i], cx, cy, side, False))
            labels.append(num_classes)
    return np.stack(crops).astype(np.float32), np.asarray(labels, np.int64)


def warm_up(backbone: Any, split: DetectionSplit, num_classes: int, epochs: int, seed: int,
            flip: bool, batch_size: int = 64, verbose: int = 0, strategy: Any = None) -> float:
    """Train ``backbone`` (input ``[B, None, None, 3]`` pixels) to classify object crops.

    ``strategy`` is the one ``backbone`` was built under (default: none); across workers each
    worker cuts the same crops (same seed) and trains on its part of every batch.

    Returns:
        The training accuracy of the last epoch.
    """
    import keras
    import tensorflow as tf

    from .. import distribute, pipeline

    strategy = strategy or tf.distribute.get_strategy()
    x, y = object_crops(split, num_classes, np.random.default_rng(seed), flip)
    with strategy.scope():
        inputs = keras.Input((CROP, CROP, 3))
        features = backbone(inputs)[-1]
        pooled = keras.layers.GlobalAveragePooling2D()(features)
        outputs = keras.layers.Dense(num_classes + 1, activation="softmax")(keras.layers.Dropout(0.2)(pooled))
        classifier = keras.Model(inputs, outputs, name="crop_classifier")
    fitter = distribute.fit_model(classifier, strategy)  # outside the scope, see there
    if verbose:
        print(f"warm-up: backbone learns {len(y)} object and background crops for {epochs} epochs", flush=True)
    with strategy.scope():
        fitter.compile(keras.optimizers.AdamW(2e-3, weight_decay=5e-4), "sparse_categorical_crossentropy",
                       metrics=["accuracy"])
        if distribute.multi_worker(strategy):  # crops are whole pixels: uint8 keeps them at a quarter the memory
            data = pipeline.training_data(np.clip(x, 0, 255).astype(np.uint8), y, batch_size, seed)
            history = fitter.fit(data, epochs=epochs, verbose=verbose, shuffle=False)  # the pipeline shuffles
        else:
            history = fitter.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose)
    return float(np.asarray(history.history["accuracy"][-1]).reshape(-1)[0])
