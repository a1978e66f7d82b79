"""SSD-style post-processed outputs (``TFLite_Detection_PostProcess``) → candidates.

The custom op emits four tensors — boxes ``[1,N,4]`` (``ymin, xmin, ymax,
xmax``, normalized), class ids ``[1,N]``, scores ``[1,N]`` and the count
``[1]`` — already thresholded and suppressed. The *order* in which a model
lists them differs between TF1 and TF2 exports, so roles are assigned by shape
(boxes, count), then by name (``score`` / ``class`` in the name, or the op's
output index in a ``name:k`` suffix), and checked against the values of each
frame (ids are whole numbers, scores usually are not). Boxes are normalized: the
op decodes them against normalized anchors (a layout may declare pixels).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .boxes import Candidates, to_corners, to_pixels

__all__ = ["assign_roles", "candidates"]

_SUFFIX = re.compile(r":(\d+)$")


def _dims(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(shape[1:]) if len(shape) > 1 and shape[0] == 1 else tuple(shape)


def assign_roles(outputs: Sequence[Any]) -> tuple[int, int, int, int] | None:
    """Output indices ``(boxes, classes, scores, count)``, or ``None`` when not SSD-shaped.

    Args:
        outputs: Objects with ``.shape`` and ``.name`` (the model's output specs).
    """
    if len(outputs) != 4:
        return None
    dims = [_dims(o.shape) for o in outputs]
    boxes = [i for i, d in enumerate(dims) if len(d) == 2 and d[1] == 4]
    count = [i for i, d in enumerate(dims) if int(np.prod(d, dtype=np.int64)) == 1]
    if len(boxes) != 1 or len(count) != 1:
        return None
    n = dims[boxes[0]][0]
    rows = [i for i, d in enumerate(dims) if d == (n,) and i not in count]
    if len(rows) != 2 or n < 1:
        return None
    classes, scores = _order_rows(rows, [outputs[i].name.lower() for i in rows])
    return boxes[0], classes, scores, count[0]


def _order_rows(rows: list[int], names: list[str]) -> tuple[int, int]:
    a, b = rows
    if "score" in names[0] or "class" in names[1]:
        return b, a
    if "class" in names[0] or "score" in names[1]:
        return a, b
    ka, kb = (_SUFFIX.search(n) for n in names)
    if ka and kb and {ka.group(1), kb.group(1)} == {"1", "2"}:  # op order: boxes, classes, scores, count
        return (a, b) if ka.group(1) == "1" else (b, a)
    return a, b


def _integral(x: np.ndarray) -> bool:
    return bool(np.all(np.abs(x - np.rint(x)) < 1e-4))


def candidates(
    tensors: Sequence[np.ndarray],
    roles: tuple[int, int, int, int],
    box_format: str,
    normalized: bool,
    threshold: float,
    input_size: tuple[int, int],
) -> Candidates:
    """Detections scoring above ``threshold``, float32 corners in input pixels, best first."""
    b, c, s, k = roles
    boxes = np.asarray(tensors[b], np.float32).reshape(-1, 4)
    classes = np.asarray(tensors[c], np.float32).reshape(-1)
    scores = np.asarray(tensors[s], np.float32).reshape(-1)
    raw_count = np.nan_to_num(np.asarray(tensors[k], np.float64).reshape(-1)[:1], nan=0.0)
    count = int(np.clip(np.rint(raw_count), 0, len(scores))[0]) if raw_count.size else 0
    boxes, classes, scores = boxes[:count], classes[:count], scores[:count]
    if not _integral(classes) and _integral(scores):  # roles were listed the other way round
        classes, scores = scores, classes
    keep = np.flatnonzero((scores > np.float32(threshold)) & np.isfinite(scores)
                          & np.isfinite(classes) & (np.abs(classes) < 2**31))
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    picked = boxes[keep].copy()
    if normalized:
        to_pixels(picked, box_format, *input_size)
    corners = to_corners(picked, box_format)
    finite = np.isfinite(corners).all(axis=1)
    return Candidates(corners[finite], scores[keep][finite], np.rint(classes[keep][finite]).astype(np.int64))
