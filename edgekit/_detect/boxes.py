"""Pure box maths for detection: formats, coordinate units, IoU, candidate sets.

Boxes inside edgekit's detection pipeline are ``M×4`` float arrays of corners
``(x1, y1, x2, y2)`` in *model-input pixels* until :mod:`edgekit._detect.decode` maps
them to source-image pixels through the frame's
:class:`~edgekit.preprocess.Transform`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BOX_FORMATS",
    "COORDS",
    "Candidates",
    "box_iou",
    "looks_normalized",
    "to_corners",
    "to_input_pixels",
]

# "xywh": centre x, centre y, width, height (YOLO); "xyxy": corners;
# "yxyx": ymin, xmin, ymax, xmax (TFLite SSD post-processing).
BOX_FORMATS = ("xywh", "xyxy", "yxyx")
# "auto" decides per frame from the values (see looks_normalized).
COORDS = ("auto", "normalized", "pixels")
# Normalized boxes stay within [0, 1] up to boxes that spill over the border;
# pixel boxes of any real input (>= 32 px) reach far beyond this.
NORMALIZED_LIMIT = 2.0


@dataclass(frozen=True, slots=True)
class Candidates:
    """Detection candidates of one image, before NMS.

    Attributes:
        boxes: ``M×4`` corners in model-input pixels (float64).
        scores: ``M`` confidences in [0, 1].
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


def to_corners(boxes: np.ndarray, fmt: str) -> np.ndarray:
    """``M×4`` boxes in ``fmt`` (see ``BOX_FORMATS``) → ``M×4`` float64 ``x1, y1, x2, y2``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if fmt == "xyxy":
        return b.copy()
    if fmt == "yxyx":
        return b[:, [1, 0, 3, 2]]
    if fmt == "xywh":
        half = b[:, 2:] / 2.0
        return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)
    raise ValueError(f"box format {fmt!r} is not one of {', '.join(BOX_FORMATS)}")


def looks_normalized(values: np.ndarray) -> bool:
    """True when box coordinates look normalized to [0, 1] rather than in pixels."""
    if values.size == 0:
        return True
    return bool(np.abs(values).max() <= NORMALIZED_LIMIT)


def to_input_pixels(corners: np.ndarray, normalized: bool, width: int, height: int) -> np.ndarray:
    """Scale normalized corners by the input ``width``/``height`` (in place); pixels pass."""
    if normalized:
        corners[:, 0::2] *= width
        corners[:, 1::2] *= height
    return corners


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
