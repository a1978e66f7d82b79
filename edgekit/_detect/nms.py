"""Class-aware non-maximum suppression.

OpenCV's maintained ``cv2.dnn.NMSBoxesBatched`` does the work; a vectorized
NumPy version (one Python iteration per *kept* box, never per candidate)
stands in when OpenCV's ``dnn`` module is unavailable. Both follow the same
rule: visiting boxes best score first (ties: lower index first), a box is
dropped when its IoU with an already kept box *of the same class* is greater
than ``iou_threshold``.
"""

from __future__ import annotations

import numpy as np

from .boxes import box_iou

__all__ = ["nms", "nms_numpy"]


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray | None = None,
    iou_threshold: float = 0.45,
    top_k: int | None = None,
) -> np.ndarray:
    """Indices of the boxes kept by class-aware NMS, best score first.

    Args:
        boxes: ``M×4`` corners ``x1, y1, x2, y2``.
        scores: ``M`` scores.
        class_ids: ``M`` integer classes; boxes of different classes never
            suppress each other. ``None``: all one class.
        iou_threshold: Overlap above which the lower-scored box is dropped.
        top_k: Keep at most this many (``None``: all survivors).

    Returns:
        ``int64`` indices into ``boxes``, best first.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    ids = np.zeros(len(scores), np.int64) if class_ids is None else np.asarray(class_ids, np.int64)
    if len(scores) == 0:
        return np.empty(0, np.int64)
    try:
        import cv2

        batched = cv2.dnn.NMSBoxesBatched
    except (ImportError, AttributeError):
        return nms_numpy(boxes, scores, ids, iou_threshold, top_k)
    # Visit order must not depend on the implementation's sort: pre-sort
    # (stable) so that ties keep the lower index, then read results back.
    order = np.argsort(-scores, kind="stable")
    b = boxes[order]
    b = b - np.minimum(b.min(axis=0)[[0, 1, 0, 1]], 0.0)  # OpenCV's class offsets assume x, y >= 0
    xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
    # OpenCV's own top_k cuts candidates *before* suppression: cut after instead.
    kept = batched(
        xywh, scores[order], ids[order].astype(np.int32), float(scores.min()) - 1.0,
        float(iou_threshold), 1.0, 0,
    )
    kept = np.sort(np.asarray(kept, dtype=np.int64).reshape(-1))
    return order[kept[:top_k] if top_k else kept]


def nms_numpy(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray | None = None,
    iou_threshold: float = 0.45,
    top_k: int | None = None,
) -> np.ndarray:
    """:func:`nms` in NumPy: one vectorized IoU row per kept box."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(scores) == 0:
        return np.empty(0, np.int64)
    ids = np.zeros(len(scores), np.int64) if class_ids is None else np.asarray(class_ids, np.int64)
    order = np.argsort(-scores, kind="stable")
    limit = len(order) if not top_k else int(top_k)
    keep: list[int] = []
    while order.size and len(keep) < limit:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        same = ids[rest] == ids[best]
        overlap = box_iou(boxes[best], boxes[rest[same]])[0]
        drop = np.zeros(rest.size, bool)
        drop[np.flatnonzero(same)[overlap > iou_threshold]] = True
        order = rest[~drop]
    return np.asarray(keep, dtype=np.int64)
