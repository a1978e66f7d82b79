"""YOLO-style raw heads → detection candidates (pure, vectorized).

Three head families are understood, each as one 2-D array of ``N`` candidates
by ``K`` features (a leading batch axis of 1 is dropped):

- **anchor-free** (YOLOv8 / v9 / v11): ``K = 4 + C`` — box, then one score per
  class; no objectness.
- **objectness** (YOLOv5 / v7): ``K = 5 + C`` — box, objectness, class scores;
  confidence = objectness × class score.
- **end-to-end** (YOLOv10 / YOLO26 exports, NMS inside the graph): ``K = 6`` —
  corners, score, class id.

Either orientation is read: ``K×N`` ("channels first", what Ultralytics
exports for v8) or ``N×K`` (rows). Scores that are not probabilities (a value
outside [0, 1]) are taken as logits and passed through a sigmoid.
"""

from __future__ import annotations

import numpy as np

from .boxes import Candidates, looks_normalized, to_corners, to_input_pixels

__all__ = ["candidates", "sigmoid"]

# Candidates kept for NMS at most (best first), as Ultralytics does.
MAX_NMS = 30_000
# Quantized probabilities overshoot [0, 1] by up to half a step; logits go far beyond.
LOGIT_MARGIN = 0.05


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, computed in float32."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float32)))


def _as_probabilities(x: np.ndarray) -> np.ndarray:
    if x.size and (float(x.max()) > 1.0 + LOGIT_MARGIN or float(x.min()) < -LOGIT_MARGIN):
        return sigmoid(x)
    return x


def candidates(
    tensor: np.ndarray,
    head: str,
    channels_first: bool,
    box_format: str,
    coords: str,
    threshold: float,
    input_size: tuple[int, int],
) -> Candidates:
    """Candidates scoring at least ``threshold`` in one YOLO output.

    Args:
        tensor: The dequantized output, ``[1,]K×N`` or ``[1,]N×K``.
        head: ``"anchor-free"``, ``"objectness"`` or ``"end-to-end"``.
        channels_first: The features are the first axis (``K×N``).
        box_format: ``"xywh"`` (centre, size) or ``"xyxy"`` (corners).
        coords: ``"normalized"``, ``"pixels"`` or ``"auto"`` (decided from the values).
        threshold: Minimum confidence kept.
        input_size: ``(width, height)`` of the model input, to scale normalized boxes.

    Returns:
        :class:`~edgekit._detect.boxes.Candidates` with corners in input pixels, unordered.
    """
    t = np.asarray(tensor, dtype=np.float32)
    t = t.reshape(t.shape[-2:])
    feats = t if channels_first else t.T  # K×N (a view either way)
    if head == "anchor-free":
        index, scores, ids = _anchor_free(feats, threshold)
    elif head == "objectness":
        index, scores, ids = _objectness(feats, threshold)
    else:
        index, scores, ids = _end_to_end(feats, threshold)
    if index.size > MAX_NMS:
        best = np.argpartition(-scores, MAX_NMS - 1)[:MAX_NMS]
        index, scores, ids = index[best], scores[best], ids[best]
    box_rows = feats[:4]
    normalized = coords == "normalized" or (coords == "auto" and looks_normalized(box_rows))
    corners = to_corners(box_rows[:, index].T, box_format)
    return Candidates(to_input_pixels(corners, normalized, *input_size), scores, ids)


def _anchor_free(feats: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    classes = feats[4:]
    best = _as_probabilities(classes.max(axis=0))
    index = np.flatnonzero(best >= threshold)
    ids = classes[:, index].argmax(axis=0)
    return index, best[index].astype(np.float32), ids.astype(np.int64)


def _objectness(feats: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    raw_obj = feats[4]
    logits = _as_probabilities(raw_obj) is not raw_obj
    obj = sigmoid(raw_obj) if logits else raw_obj
    # confidence = obj × class score <= obj, so obj alone prunes most candidates.
    index = np.flatnonzero(obj >= threshold)
    classes = feats[5:, index]
    if logits:
        classes = sigmoid(classes)
    ids = classes.argmax(axis=0) if index.size else np.empty(0, np.int64)
    conf = obj[index] * classes[ids, np.arange(index.size)]
    keep = conf >= threshold
    return index[keep], conf[keep].astype(np.float32), ids[keep].astype(np.int64)


def _end_to_end(feats: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    scores = _as_probabilities(feats[4])
    index = np.flatnonzero(scores >= threshold)
    ids = np.rint(feats[5, index]).astype(np.int64)
    return index, scores[index].astype(np.float32), ids
