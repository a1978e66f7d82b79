"""Pure box maths for detection: formats, units, IoU, candidate sets.

Boxes inside edgekit's detection pipeline are ``M×4`` float32 arrays of corners
``(x1, y1, x2, y2)`` in *model-input pixels* until :mod:`edgekit._detect.decode` maps
the kept ones to source-image pixels through the frame's
:class:`~edgekit.preprocess.Transform`. The arithmetic follows Ultralytics'
(float32; normalized boxes are scaled to pixels *before* centre-size boxes become
corners), so that the same outputs give the same boxes to the last bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BOX_FORMATS", "COORDS", "SCORES", "Candidates", "box_iou", "to_corners", "to_pixels"]

# "xywh": centre x, centre y, width, height (YOLO); "xyxy": corners;
# "yxyx": ymin, xmin, ymax, xmax (TFLite SSD post-processing).
BOX_FORMATS = ("xywh", "xyxy", "yxyx")
# Box units: fractions of the model input's size, or model-input pixels.
COORDS = ("normalized", "pixels")
# What a head's class scores are: probabilities in [0, 1], or logits (sigmoid applied here).
SCORES = ("probabilities", "logits")


@dataclass(frozen=True, slots=True)
class Candidates:
    """Detection candidates of one image, before NMS.

    Attributes:
        boxes: ``M×4`` corners in model-input pixels (float32).
        scores: ``M`` confidences (float32).
        class_ids: ``M`` integer class ids.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def take(self, index: np.ndarray) -> Candidates:
        """The candidates at ``index`` (integer indices or a boolean mask)."""
        return Candidates(self.boxes[index], self.scores[index], self.class_ids[index])


def to_pixels(boxes: np.ndarray, fmt: str, width: int, height: int) -> np.ndarray:
    """Normalized ``M×4`` boxes in ``fmt`` → the same boxes in input pixels (float32, in place)."""
    x_cols, y_cols = ([1, 3], [0, 2]) if fmt == "yxyx" else ([0, 2], [1, 3])
    boxes[:, x_cols] *= np.float32(width)
    boxes[:, y_cols] *= np.float32(height)
    return boxes


def to_corners(boxes: np.ndarray, fmt: str) -> np.ndarray:
    """``M×4`` boxes in ``fmt`` (see ``BOX_FORMATS``) → ``M×4`` float32 ``x1, y1, x2, y2``."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if fmt == "xyxy":
        return b
    if fmt == "yxyx":
        return b[:, [1, 0, 3, 2]]
    if fmt == "xywh":
        half = b[:, 2:] / np.float32(2)
        return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)
    raise ValueError(f"box format {fmt!r} is not one of {', '.join(BOX_FORMATS)}")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of corner boxes ``a`` (``M×4``) and ``b`` (``K×4``) → ``M×K``.

    Boxes without area have IoU 0 with everything.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
