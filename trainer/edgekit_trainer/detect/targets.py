"""Which output cell learns which object: anchor points and their training targets (pure NumPy).

The detector predicts at every cell centre ("point") of three feature maps
(strides 8, 16 and 32 pixels). A point is *positive* for an object when it lies
inside the object's box, within :data:`CENTER_RADIUS` strides of the box
centre, and the object's extent seen from the point fits the point's level
(FCOS' scale ranges); a point claimed by several objects takes the smallest.
An object that claims no point (tiny, or between grid lines) gets the free
point nearest its centre, so that every labelled object is learnt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CENTER_RADIUS", "STRIDES", "Points", "assign", "points_for"]

STRIDES = (8, 16, 32)
CENTER_RADIUS = 2.5  # strides; YOLOX' centre prior
RANGE = 4.0  # a level takes objects whose largest point-to-side distance is below RANGE * stride
TARGET_COLUMNS = 6  # class (-1 = background), x1, y1, x2, y2 (input pixels), weight


@dataclass(frozen=True, slots=True)
class Points:
    """The ``N`` output points of a square ``size`` input, level by level, row by row.

    Attributes:
        xy: ``N×2`` point centres in input pixels (float32).
        stride: ``N`` stride of each point's level (float32).
        low, high: ``N`` scale range of each point's level (pixels).
        size: The input side.
    """

    xy: np.ndarray
    stride: np.ndarray
    low: np.ndarray
    high: np.ndarray
    size: int

    def __len__(self) -> int:
        return int(self.stride.shape[0])


def points_for(size: int, strides: tuple[int, ...] = STRIDES) -> Points:
    """The output points of a ``size×size`` input (``size`` must divide by the largest stride)."""
    xy, stride, low, high = [], [], [], []
    for level, s in enumerate(strides):
        cells = size // s
        ys, xs = np.mgrid[0:cells, 0:cells]
        xy.append(np.stack([xs.ravel(), ys.ravel()], axis=1) * s + s / 2)
        n = cells * cells
        stride.append(np.full(n, s))
        low.append(np.full(n, 0.0 if level == 0 else RANGE * strides[level - 1]))
        high.append(np.full(n, np.inf if level == len(strides) - 1 else RANGE * s))
    return Points(np.concatenate(xy).astype(np.float32), np.concatenate(stride).astype(np.float32),
                  np.concatenate(low), np.concatenate(high), size)


def assign(points: Points, boxes: np.ndarray, classes: np.ndarray,
           class_weights: np.ndarray | None = None) -> np.ndarray:
    """Training targets of one image.

    Args:
        points: From :func:`points_for`.
        boxes: ``M×4`` corners in input pixels.
        classes: ``M`` class ids.
        class_weights: Loss weight per class (default 1).

    Returns:
        ``N×6`` float32: class id (``-1`` for background), the object's corners, its weight.
    """
    n = len(points)
    out = np.zeros((n, TARGET_COLUMNS), np.float32)
    out[:, 0] = -1.0
    if not len(boxes):
        return out
    boxes = np.asarray(boxes, np.float32)
    px, py = points.xy[:, :1], points.xy[:, 1:]
    ltrb = np.stack([px - boxes[:, 0], py - boxes[:, 1], boxes[:, 2] - px, boxes[:, 3] - py], axis=-1)
    inside = ltrb.min(axis=-1) > 0
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    radius = CENTER_RADIUS * points.stride[:, None]
    near = (np.abs(px - centre[:, 0]) < radius) & (np.abs(py - centre[:, 1]) < radius)
    extent = ltrb.max(axis=-1)
    fits = (extent >= points.low[:, None]) & (extent <= points.high[:, None])
    ok = inside & near & fits
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    cost = np.where(ok, area[None, :], np.inf)
    owner = cost.argmin(axis=1)
    owner[~ok.any(axis=1)] = -1
    for j in np.flatnonzero(~np.isin(np.arange(len(boxes)), owner)):
        half = float((boxes[j, 2:] - boxes[j, :2]).max()) / 2
        dist = np.abs(points.xy - centre[j]).max(axis=1)
        level_fits = (points.low <= half) & (half <= points.high)
        dist[owner >= 0] = np.inf
        if np.isfinite(dist[level_fits]).any():
            dist[~level_fits] = np.inf
        owner[int(dist.argmin())] = j
    pos = owner >= 0
    weights = class_weights if class_weights is not None else np.ones(int(classes.max()) + 1, np.float32)
    out[pos, 0] = classes[owner[pos]]
    out[pos, 1:5] = boxes[owner[pos]]
    out[pos, 5] = weights[classes[owner[pos]]]
    return out
