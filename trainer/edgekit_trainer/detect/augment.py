"""Box-aware augmentation of a letterboxed training image (pure NumPy + OpenCV).

One random affine map per image — zoom in or out, shift, optional horizontal
flip — applied to the pixels and to the box corners alike, then a colour jitter
in HSV (hue, saturation, brightness gains, as the YOLO family does). Boxes are
cut at the image border; a box with less than :data:`MIN_VISIBLE` of its area
left, or thinner than :data:`MIN_SIDE` pixels, is dropped with its class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Augmentation", "augment"]

MIN_VISIBLE = 0.45
MIN_SIDE = 2.0
PAD = 114  # the letterbox grey, also for the border the shift reveals


@dataclass(frozen=True, slots=True)
class Augmentation:
    """Ranges of the random changes.

    Attributes:
        zoom: Range of the scale factor (drawn log-uniformly).
        shift: Largest shift, as a fraction of the image side.
        flip: Mirror half of the images left-right (off for text, digits, arrows).
        hue, saturation, value: Largest relative HSV gains.
    """

    zoom: tuple[float, float] = (0.65, 1.45)
    shift: float = 0.2
    flip: bool = True
    hue: float = 0.015
    saturation: float = 0.5
    value: float = 0.35


def _affine(size: int, rng: np.random.Generator, aug: Augmentation) -> tuple[np.ndarray, bool]:
    scale = float(np.exp(rng.uniform(np.log(aug.zoom[0]), np.log(aug.zoom[1]))))
    centre = size / 2
    tx, ty = rng.uniform(-aug.shift, aug.shift, 2) * size
    m = np.array([[scale, 0.0, (1 - scale) * centre + tx], [0.0, scale, (1 - scale) * centre + ty]])
    flip = aug.flip and rng.random() < 0.5
    if flip:
        m[0] = -m[0]
        m[0, 2] += size
    return m, flip


def _boxes(boxes: np.ndarray, m: np.ndarray, flip: bool, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Mapped, clipped boxes and the mask of the ones kept."""
    x = boxes[:, [0, 2]] * m[0, 0] + m[0, 2]
    y = boxes[:, [1, 3]] * m[1, 1] + m[1, 2]
    if flip:
        x = x[:, ::-1]
    mapped = np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1)
    clipped = np.clip(mapped, 0, size)
    area = (mapped[:, 2] - mapped[:, 0]) * (mapped[:, 3] - mapped[:, 1])
    w, h = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    keep = (w >= MIN_SIDE) & (h >= MIN_SIDE) & (w * h >= MIN_VISIBLE * np.maximum(area, 1e-9))
    return clipped, keep


def _colour(image: np.ndarray, rng: np.random.Generator, aug: Augmentation) -> np.ndarray:
    import cv2

    gains = 1 + rng.uniform(-1, 1, 3) * np.array([aug.hue, aug.saturation, aug.value])
    hue, sat, val = cv2.split(cv2.cvtColor(image, cv2.COLOR_RGB2HSV))
    x = np.arange(256, dtype=np.float32)
    lut_h = ((x * gains[0]) % 180).astype(np.uint8)
    lut_s = np.clip(x * gains[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(x * gains[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_h), cv2.LUT(sat, lut_s), cv2.LUT(val, lut_v)))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def augment(image: np.ndarray, boxes: np.ndarray, classes: np.ndarray, rng: np.random.Generator,
            aug: Augmentation = Augmentation()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One augmented copy of a square RGB ``image`` and its ``M×4`` corner ``boxes`` (pixels).

    Returns:
        ``(image, boxes, classes)`` with the dropped boxes removed.
    """
    import cv2

    size = image.shape[0]
    m, flip = _affine(size, rng, aug)
    out = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(PAD, PAD, PAD))
    out = _colour(out, rng, aug)
    if not len(boxes):
        return out, boxes, classes
    mapped, keep = _boxes(np.asarray(boxes, np.float64), m, flip, size)
    return out, mapped[keep], classes[keep]
