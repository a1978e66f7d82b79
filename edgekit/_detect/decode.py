"""Decode a detector's outputs of one frame into :class:`~edgekit.results.Detection`\\ s.

The layouts it reads are described in :mod:`edgekit._detect.layouts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..errors import ConfigError
from ..options import PredictOptions
from ..preprocess import Transform
from ..results import BBox, Detection
from . import ssd, yolo
from .boxes import Candidates
from .layouts import LAYOUTS, Layout
from .nms import nms

__all__ = ["class_ids_for", "decode"]


def decode(
    tensors: Sequence[np.ndarray],
    layout: Layout,
    transform: Transform,
    labels: Sequence[str] = (),
    options: PredictOptions | None = None,
) -> tuple[Detection, ...]:
    """Dequantized outputs of one frame → detections in source pixels, best first.

    The order is Ultralytics': candidates above the score threshold (best class
    of each), the ``classes`` filter, class-aware NMS on the boxes in
    model-input pixels, the ``max_detections`` best; only the kept boxes are
    then mapped back through ``transform`` and clipped to the source image. A
    kept box that lies wholly outside the image (in letterbox padding, or past
    the frame's edge) is clipped to nothing and left out; it never suppressed a
    visible box, as NMS ran before clipping.

    Args:
        tensors: The model's float32 outputs, in output order.
        layout: From :func:`recognize`, its units settled (:mod:`.units`).
        transform: How the frame was resized into the input.
        labels: Class names by id (ids past the end are labelled ``None``).
        options: Score threshold, IoU threshold, ``max_detections`` and the
            ``classes`` filter (label names or ids).

    Returns:
        At most ``options.max_detections`` :class:`~edgekit.results.Detection`\\ s.

    Raises:
        ConfigError: a ``classes`` entry is neither a label nor a class id.
    """
    opts = options or PredictOptions()
    head = LAYOUTS[layout.kind].head
    names = tuple(labels)
    if head == "ssd" and names and names[0] == "???":  # TF zoo label maps keep a background line
        names = names[1:]
    # A broken model's inf/NaN must not warn on every frame: such candidates are dropped.
    with np.errstate(all="ignore"):
        cand = _candidates(tensors, layout, opts.threshold_for("detect"), (transform.dst_w, transform.dst_h))
        if opts.classes:
            cand = cand.take(np.isin(cand.class_ids, class_ids_for(opts.classes, names)))
        if head in ("anchor-free", "objectness"):
            keep = nms(cand.boxes, cand.scores, cand.class_ids, opts.iou_threshold, opts.max_detections)
        else:  # the graph already suppressed overlaps
            keep = np.argsort(-cand.scores, kind="stable")[: opts.max_detections]
        boxes = transform.to_source(cand.boxes[keep])
    visible = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if not visible.all():
        keep, boxes = keep[visible], boxes[visible]
    return _detections(boxes, cand.scores[keep], cand.class_ids[keep], names)


def _candidates(
    tensors: Sequence[np.ndarray], layout: Layout, threshold: float, size: tuple[int, int]
) -> Candidates:
    kind = LAYOUTS[layout.kind]
    normalized = layout.coords == "normalized"
    if kind.head == "ssd":
        return ssd.candidates(tensors, layout.outputs, layout.boxes, normalized, threshold, size)
    return yolo.candidates(tensors[layout.outputs[0]], kind.head, kind.channels_first, layout.boxes,
                           normalized, layout.scores == "logits", threshold, size)


# Up to 300 detections a frame: built through the slots (frozen dataclasses' __init__ goes
# through object.__setattr__ per field, ~40 % slower); the records are the same.
_new = object.__new__
_BOX_FIELDS = tuple(getattr(BBox, name).__set__ for name in ("x1", "y1", "x2", "y2"))
_DET_FIELDS = tuple(getattr(Detection, name).__set__ for name in ("id", "label", "score", "box"))


def _detections(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, names: tuple[str, ...]
) -> tuple[Detection, ...]:
    count = len(names)
    set_x1, set_y1, set_x2, set_y2 = _BOX_FIELDS
    set_id, set_label, set_score, set_box = _DET_FIELDS
    out = []
    # Python floats at once (tolist), not per element
    for (x1, y1, x2, y2), score, cid in zip(boxes.tolist(), scores.tolist(), class_ids.tolist()):
        box = _new(BBox)
        set_x1(box, x1), set_y1(box, y1), set_x2(box, x2), set_y2(box, y2)
        det = _new(Detection)
        set_id(det, cid), set_label(det, names[cid] if 0 <= cid < count else None)
        set_score(det, score), set_box(det, box)
        out.append(det)
    return tuple(out)


@lru_cache(maxsize=64)
def class_ids_for(classes: tuple[str, ...], labels: tuple[str, ...]) -> np.ndarray:
    """Class ids named by ``classes``: label names (case-insensitive) or id numbers.

    Raises:
        ConfigError: an entry is neither one of ``labels`` nor a whole number.
    """
    lowered = [label.lower() for label in labels]
    ids: list[int] = []
    for entry in classes:
        key = entry.strip().lower()
        matches = [i for i, label in enumerate(lowered) if label == key]
        if matches:
            ids.extend(matches)
        elif key.isdigit():
            ids.append(int(key))
        else:
            known = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
            raise ConfigError(
                f"classes: {entry!r} is neither a label of this model nor a class id"
                + (f" (labels: {known})" if labels else " (the model has no labels; use ids)")
            )
    return np.asarray(sorted(set(ids)), dtype=np.int64)
