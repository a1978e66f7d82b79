"""Scenes with objects at known places: handwritten digits pasted onto a photo.

Pure image work (NumPy and OpenCV), shared by the ``demo:detect`` source and by
the tests and benchmarks that make detection datasets from real pixels. A digit
is grey ink on black (``uint8``, bright = ink); it is scaled, then blended onto
the background with its brightness as the ink's opacity, in a colour that
contrasts with the patch it lands on (dark ink on light patches, light ink on
dark ones), so that every pasted digit stays visible. Its box is the tight box
of the visible ink.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ["Scene", "compose", "fit_background"]

INK_VISIBLE = 0.25  # opacity from which ink counts towards the box
INK_GAIN = 1.4  # the upscaled strokes are soft: full opacity inside them, soft edges
PLACEMENT_TRIES = 60  # random positions tried per digit before it is left out
MARGIN = 3  # pixels kept free between two digits


@dataclass(frozen=True, slots=True)
class Scene:
    """A composed image and what is in it.

    Attributes:
        image: ``H×W×3`` BGR ``uint8``.
        boxes: ``M×4`` float64 corners ``x1, y1, x2, y2`` in pixels.
        labels: ``M`` class ids (the labels of the digits pasted).
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray


def fit_background(photo: np.ndarray, width: int, height: int, rng: np.random.Generator,
                   zoom: tuple[float, float] = (1.0, 1.6)) -> np.ndarray:
    """A random ``width×height`` crop of ``photo`` (BGR or grey), zoomed by a random factor in ``zoom``."""
    import cv2

    if photo.ndim == 2:
        photo = cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR)
    h, w = photo.shape[:2]
    cover = max(width / w, height / h) * rng.uniform(*zoom)
    scaled = cv2.resize(photo, (max(width, round(w * cover)), max(height, round(h * cover))),
                        interpolation=cv2.INTER_AREA if cover < 1 else cv2.INTER_LINEAR)
    y0 = int(rng.integers(0, scaled.shape[0] - height + 1))
    x0 = int(rng.integers(0, scaled.shape[1] - width + 1))
    return np.ascontiguousarray(scaled[y0:y0 + height, x0:x0 + width])


def _ink_colour(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A colour far from the patch's brightness: dark on light patches, light on dark ones."""
    luma = float((patch.reshape(-1, 3) @ np.array([0.114, 0.587, 0.299], np.float32)).mean())
    base = rng.uniform(0, 40, 3) if luma > 128 else rng.uniform(215, 255, 3)
    return base.astype(np.float32)


def _free(box: tuple[int, int, int, int], taken: Sequence[tuple[int, int, int, int]]) -> bool:
    x1, y1, x2, y2 = box
    return all(x2 + MARGIN <= a1 or a2 + MARGIN <= x1 or y2 + MARGIN <= b1 or b2 + MARGIN <= y1
               for a1, b1, a2, b2 in taken)


def compose(background: np.ndarray, digits: Sequence[np.ndarray], labels: Sequence[int],
            rng: np.random.Generator, size: tuple[float, float] = (0.12, 0.4)) -> Scene:
    """Paste ``digits`` onto a copy of ``background`` at random, non-overlapping places.

    Args:
        background: ``H×W×3`` BGR ``uint8``.
        digits: Grey ``uint8`` digit images (bright ink on black).
        labels: The class id of each digit.
        rng: Picks sizes, aspect ratios, places and ink colours.
        size: Range of a digit's height as a fraction of the image height.

    Returns:
        The :class:`Scene`. A digit that finds no free place is left out (and is not in the boxes).

    Raises:
        ConfigError: ``background`` is not a BGR image, or digits and labels differ in number.
    """
    import cv2

    if background.ndim != 3 or background.shape[2] != 3 or background.dtype != np.uint8:
        raise ConfigError(f"scenes: background must be H×W×3 uint8, got {background.dtype}{list(background.shape)}")
    if len(digits) != len(labels):
        raise ConfigError(f"scenes: {len(digits)} digits but {len(labels)} labels")
    image = background.astype(np.float32)
    h, w = image.shape[:2]
    taken: list[tuple[int, int, int, int]] = []
    boxes, kept = [], []
    for digit, label in zip(digits, labels):
        side_h = max(6, round(h * rng.uniform(*size)))
        side_w = max(6, min(w - 2, round(side_h * rng.uniform(0.75, 1.15))))
        if side_h >= h - 2:
            continue
        for _ in range(PLACEMENT_TRIES):
            x0, y0 = int(rng.integers(0, w - side_w)), int(rng.integers(0, h - side_h))
            if _free((x0, y0, x0 + side_w, y0 + side_h), taken):
                break
        else:
            continue
        alpha = cv2.resize(digit, (side_w, side_h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        alpha = np.minimum(alpha * (INK_GAIN / 255.0), 1.0)
        ys, xs = np.nonzero(alpha >= INK_VISIBLE)
        if not len(xs):
            continue
        region = image[y0:y0 + side_h, x0:x0 + side_w]
        ink = _ink_colour(region, rng)
        region += alpha[..., None] * (ink - region)
        taken.append((x0, y0, x0 + side_w, y0 + side_h))
        boxes.append((x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1))
        kept.append(int(label))
    out = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return Scene(out, np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(kept, np.int64))
