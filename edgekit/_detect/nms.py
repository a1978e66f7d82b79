"""Class-aware non-maximum suppression, as Ultralytics runs it — exactly, and without a Python loop per box.

Ultralytics shifts every box by ``class id × 7680`` pixels (in float32), so that
boxes of different classes never overlap, and runs torchvision's greedy NMS once
over all of them: visiting boxes best score first (ties: lower index first), a
box is dropped when its IoU with an already *kept* box is greater than
``iou_threshold``. Boxes without area never suppress nor are suppressed (their
IoU is 0, or 0/0).

:func:`nms` gets the same answer in three vectorized steps:

1. **Pairs that can overlap enough.** IoU > t needs an x-overlap above
   ``t × width`` of both boxes, so with boxes sorted by ``x1`` a box can only
   pair with the boxes whose ``x1`` lies less than ``(1 - t) × its width`` to its
   right (a sweep with ``searchsorted``; the class shift puts other classes far
   away). Their IoU is computed in torchvision's float32 arithmetic; pairs
   above the threshold are the edges "better box → worse box".
2. **Greedy resolution of the edges.** A box is kept iff no kept box has an edge
   to it. Starting from "all kept", one vectorized pass per step recomputes
   that rule for every box; after ``k`` passes every box at the end of a chain
   of ``k`` edges is settled, and the loop stops when nothing changes (a few
   passes: suppression chains are short).
3. The kept boxes, best first, cut at ``top_k``. As a box's fate depends only on
   better boxes, steps 1–2 first run on the best ``2 × top_k`` boxes only, and on
   more only if those keep fewer than ``top_k``.

:func:`nms_numpy` is the textbook loop (one IoU row per kept box) in the same
arithmetic; the tests hold the two equal.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CLASS_OFFSET", "nms", "nms_numpy"]

# Ultralytics' max_wh: the per-class shift that separates classes.
CLASS_OFFSET = 7680.0
# Best boxes looked at first when only the top_k kept ones are wanted (grown ×4 as needed).
PREFIX = 256


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
    b = b[order]  # rank = position in the visit order
    # Whether a box is kept depends only on better boxes: the best ``size`` boxes decide
    # their own fate. Grow that prefix until it holds top_k kept boxes (or is everything).
    size = len(b) if not top_k else min(len(b), max(2 * int(top_k), PREFIX))
    while True:
        kept = _greedy(b[:size], float(iou_threshold))
        if size == len(b) or int(kept.sum()) >= top_k:  # type: ignore[operator]
            break
        size = min(len(b), 4 * size)
    ranks = np.flatnonzero(kept)
    return order[ranks[:top_k] if top_k else ranks]


def _greedy(b: np.ndarray, threshold: float) -> np.ndarray:
    """Which of the rank-ordered boxes ``b`` greedy NMS keeps (a boolean mask)."""
    src, dst = _edges(b, threshold)
    kept = np.ones(len(b), bool)
    if src.size:
        while True:  # kept[j] = no kept box has an edge to j
            hit = np.zeros(len(b), bool)
            hit[dst[kept[src]]] = True
            if np.array_equal(~hit, kept):
                break
            kept = ~hit
    return kept


def _edges(b: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(better, worse)`` of ranks whose float32 IoU is above ``threshold``."""
    x1, y1, x2, y2 = b.T  # views
    with np.errstate(invalid="ignore", over="ignore"):
        solid = np.flatnonzero((x2 > x1) & (y2 > y1))
        by_x = solid[np.argsort(x1[solid], kind="stable")]
        columns = [c[by_x] for c in (x1, y1, x2, y2)]  # sorted by x1: pairs gather near each other
        left = columns[0].astype(np.float64)
        # IoU > t needs an x-overlap > t × width: the partner's x1 lies within (1 - t) × width
        # (widened a little, so that float32 rounding never loses a pair)
        reach = left + (1.0 - threshold) * 1.001 * (columns[2] - left) + 1e-3
        stop = np.searchsorted(left, reach, side="left")
    first = np.arange(len(by_x))
    counts = np.maximum(stop - first - 1, 0)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    a = np.repeat(first, counts)
    c = np.arange(1, total + 1) + np.repeat(first - np.cumsum(counts) + counts, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        above = _iou32(*columns, a, c) > np.float64(threshold)  # float32 IoU, compared in float64
    i, j = by_x[a[above]], by_x[c[above]]
    return np.minimum(i, j), np.maximum(i, j)  # better (lower rank) first


def _iou32(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray,
           i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """torchvision's CPU NMS IoU of box pairs ``(i, j)``, in float32 and its order of operations.

    (Symmetric to the bit: torchvision adds the kept box's area first, and float addition commutes.)
    """
    zero = np.float32(0)
    ax1, ay1, ax2, ay2 = x1[i], y1[i], x2[i], y2[i]
    bx1, by1, bx2, by2 = x1[j], y1[j], x2[j], y2[j]
    inter = np.maximum(zero, np.minimum(ax2, bx2) - np.maximum(ax1, bx1))
    inter *= np.maximum(zero, np.minimum(ay2, by2) - np.maximum(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1)
    union += (bx2 - bx1) * (by2 - by1)
    union -= inter
    return inter / union


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
