"""Class-aware non-maximum suppression, as Ultralytics runs it.

Ultralytics shifts every box by ``class id × 7680`` pixels (in float32), so that
boxes of different classes never overlap, and runs torchvision's greedy NMS once
over all of them: visiting boxes best score first (ties: lower index first), a
box is dropped when its IoU with an already kept box is greater than
``iou_threshold``. Boxes without area never suppress nor are suppressed
(their IoU is 0, or 0/0). :func:`nms` does the same, on the same float32
shifted boxes, with OpenCV's maintained ``cv2.dnn.NMSBoxes`` doing the pairwise
work in C++; :func:`nms_numpy` is the same rule in NumPy (one vectorized IoU row
per *kept* box), used when OpenCV's ``dnn`` module is unavailable.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CLASS_OFFSET", "nms", "nms_numpy"]

# Ultralytics' max_wh: the per-class shift that separates classes.
CLASS_OFFSET = 7680.0


def _prepare(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shifted float32 boxes, float32 scores and the visit order (best first, ties by index)."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float32).reshape(-1)
    if class_ids is not None:
        shift = np.asarray(class_ids).reshape(-1).astype(np.float32) * np.float32(CLASS_OFFSET)
        b = b + shift[:, None]
    return b, s, np.argsort(-s, kind="stable")


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray | None = None,
    iou_threshold: float = 0.7,
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
    b, s, order = _prepare(boxes, scores, class_ids)
    if len(s) == 0:
        return np.empty(0, np.int64)
    try:
        import cv2

        nms_boxes = cv2.dnn.NMSBoxes
    except (ImportError, AttributeError):
        return nms_numpy(boxes, scores, class_ids, iou_threshold, top_k)
    b = b[order]
    solid = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    # OpenCV's IoU of two boxes without area is 1, torchvision's is 0/0 (never
    # suppresses): such boxes are always kept, so they stay out of OpenCV's hands.
    ranks = np.flatnonzero(solid)
    kept = np.flatnonzero(~solid)
    if ranks.size:
        xyxy = b[ranks].astype(np.float64)  # exact: the float32 corners, widths in float64
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        # visited in our order: OpenCV gets the ranks (n … 1) as scores
        found = nms_boxes(xywh, np.arange(ranks.size, 0, -1, dtype=np.float32), 0.0, float(iou_threshold))
        kept = np.concatenate([kept, ranks[np.asarray(found, np.int64).reshape(-1)]])
    kept = np.sort(kept)  # ranks in the visit order = best first, ties by index
    return order[kept[:top_k] if top_k else kept]


def nms_numpy(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray | None = None,
    iou_threshold: float = 0.7,
    top_k: int | None = None,
) -> np.ndarray:
    """:func:`nms` in NumPy, torchvision's float32 arithmetic: one IoU row per kept box."""
    b, s, order = _prepare(boxes, scores, class_ids)
    if len(s) == 0:
        return np.empty(0, np.int64)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    limit = len(order) if not top_k else int(top_k)
    threshold = np.float64(iou_threshold)  # float32 IoU compared in float64, as torchvision does
    keep: list[int] = []
    with np.errstate(divide="ignore", invalid="ignore"):
        while order.size and len(keep) < limit:
            best, rest = order[0], order[1:]
            keep.append(int(best))
            w = np.maximum(np.float32(0), np.minimum(b[best, 2], b[rest, 2]) - np.maximum(b[best, 0], b[rest, 0]))
            h = np.maximum(np.float32(0), np.minimum(b[best, 3], b[rest, 3]) - np.maximum(b[best, 1], b[rest, 1]))
            inter = w * h
            iou = inter / (area[best] + area[rest] - inter)
            order = rest[~(iou > threshold)]
    return np.asarray(keep, dtype=np.int64)
