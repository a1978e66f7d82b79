"""Detection dataset → splits decoded into memory at the model's input size.

The dataset is read and checked by the runtime's reader
(:func:`edgekit._evaluate.boxdata.load_box_dataset`: YOLO txt or COCO JSON).
Each image is letterboxed by edgekit's own pre-processing, so the trainer sees
exactly the pixels a device will feed the exported model; boxes are mapped
into those input pixels through the same :class:`~edgekit.preprocess.Transform`.
An image that does not decode is skipped and listed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from edgekit._evaluate.boxdata import BoxDataset, BoxSample, load_box_dataset
from edgekit.errors import ConfigError, InputError
from edgekit.imagefile import read_image
from edgekit.preprocess import Transform, resize

from ..errors import DatasetError

__all__ = ["DetectionSplit", "decode_split", "read_dataset", "split_samples"]


@dataclass(frozen=True, slots=True)
class DetectionSplit:
    """Decoded images of one split.

    Attributes:
        samples: The samples (image paths, normalized boxes) in order.
        images: ``N×S×S×3`` RGB ``uint8``, letterboxed.
        boxes: Per image, ``M×4`` corners in input pixels.
        classes: Per image, ``M`` class ids.
        transforms: Per image, how its source pixels map into the input.
    """

    samples: tuple[BoxSample, ...]
    images: np.ndarray
    boxes: tuple[np.ndarray, ...]
    classes: tuple[np.ndarray, ...]
    transforms: tuple[Transform, ...]

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def objects(self) -> int:
        return int(sum(len(c) for c in self.classes))


def read_dataset(data: str | os.PathLike[str]) -> BoxDataset:
    """Read and check a detection dataset (see :mod:`edgekit._evaluate.boxdata`).

    Raises:
        DatasetError: the dataset cannot be read, or no image is usable.
    """
    try:
        ds = load_box_dataset(data)
    except ConfigError as exc:
        raise DatasetError(str(exc)) from exc
    if not any(ds.splits.values()):
        reasons = "; ".join(f"{p}: {r}" for p, r in ds.skipped[:3])
        raise DatasetError(f"{data}: no usable image" + (f" ({reasons})" if reasons else ""))
    return ds


def split_samples(ds: BoxDataset, val_fraction: float, seed: int) -> dict[str, tuple[BoxSample, ...]]:
    """``train``, ``val`` and ``test`` samples: the dataset's own splits, or a seeded random val split.

    Raises:
        DatasetError: there is nothing to train on, or too little to hold out a validation split.
    """
    train = ds.splits.get("train") or ds.splits.get("all") or ()
    val = ds.splits.get("val") or ()
    test = ds.splits.get("test") or ()
    if not train:
        raise DatasetError(f"{ds.root}: no training images (splits found: {', '.join(ds.splits) or 'none'})")
    if not val:
        order = np.random.default_rng(seed).permutation(len(train))
        n_val = int(round(len(train) * val_fraction))
        if n_val < 1 or n_val >= len(train):
            raise DatasetError(f"{ds.root}: {len(train)} images are too few to hold out a validation split")
        val = tuple(train[i] for i in sorted(order[:n_val]))
        train = tuple(train[i] for i in sorted(order[n_val:]))
    return {"train": tuple(train), "val": tuple(val), "test": tuple(test)}


def _decode(sample: BoxSample, size: int) -> tuple[np.ndarray, np.ndarray, Transform] | str:
    import cv2

    try:
        bgr = read_image(sample.image)
    except InputError as exc:
        return f"unreadable: {exc}"
    h, w = bgr.shape[:2]
    boxed, transform = resize(bgr, size, size, "letterbox")
    pixels = sample.boxes * np.array([w, h, w, h], np.float64)
    boxes = np.empty_like(pixels)
    boxes[:, 0::2] = pixels[:, 0::2] * transform.scale_x + transform.offset_x
    boxes[:, 1::2] = pixels[:, 1::2] * transform.scale_y + transform.offset_y
    return cv2.cvtColor(boxed, cv2.COLOR_BGR2RGB), boxes, transform


def decode_split(samples: Sequence[BoxSample], size: int,
                 skipped: list[tuple[str, str]] | None = None) -> DetectionSplit:
    """Decode and letterbox ``samples`` (threads; OpenCV releases the GIL).

    Images that do not decode are left out and appended to ``skipped``.
    """
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        decoded = list(pool.map(lambda s: _decode(s, size), samples))
    kept, images, boxes, classes, transforms = [], [], [], [], []
    for sample, result in zip(samples, decoded):
        if isinstance(result, str):
            if skipped is not None:
                skipped.append((sample.image, result))
            continue
        kept.append(sample)
        images.append(result[0])
        boxes.append(result[1])
        classes.append(sample.classes)
        transforms.append(result[2])
    array = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    return DetectionSplit(tuple(kept), array, tuple(boxes), tuple(classes), tuple(transforms))


def fingerprint(samples: Sequence[BoxSample]) -> str:
    """SHA-256 over the image files' contents and the labels used."""
    digest = hashlib.sha256()
    for sample in samples:
        digest.update(sample.image.encode())
        try:
            with open(sample.image, "rb") as f:
                digest.update(hashlib.sha256(f.read()).digest())
        except OSError:
            pass
        digest.update(np.round(sample.boxes, 6).tobytes() + sample.classes.tobytes())
    return digest.hexdigest()
