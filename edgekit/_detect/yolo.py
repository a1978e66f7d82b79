"""YOLO-style raw heads → detection candidates (pure, vectorized).

Three head families are understood, each as one 2-D array of ``N`` candidates
by ``K`` features (a leading batch axis of 1 is dropped):

- **anchor-free** (YOLOv8 / v9 / v11): ``K = 4 + C`` — box, then one score per
  class; no objectness. A candidate's score is its best class's, ties going
  to the lower class id.
- **objectness** (YOLOv5 / v7): ``K = 5 + C`` — box, objectness, class scores;
  confidence = objectness × class score.
- **end-to-end** (YOLOv10 / YOLO26 exports, NMS inside the graph): ``K = 6`` —
  corners, score, class id.

Either orientation is read: ``K×N`` ("channels first", what Ultralytics
exports for v8) or ``N×K`` (rows). What the numbers mean — box units, and
whether scores are probabilities or logits — is decided once per model
(:mod:`edgekit._detect.units`) and passed in; nothing here looks at the values
of a frame to guess it. A candidate is kept when its score is *above* the
threshold, compared in float32, as Ultralytics does.
"""

from __future__ import annotations

import numpy as np

from .boxes import Candidates, to_corners, to_pixels

__all__ = ["MAX_NMS", "candidates", "sigmoid"]

# Candidates kept for NMS at most (best first), as Ultralytics does.
MAX_NMS = 30_000


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, computed in float32."""
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-np.asarray(x, dtype=np.float32)))


def candidates(
    tensor: np.ndarray,
    head: str,
    channels_first: bool,
    box_format: str,
    normalized: bool,
    logits: bool,
    threshold: float,
    input_size: tuple[int, int],
) -> Candidates:
    """Candidates scoring above ``threshold`` in one YOLO output.

    Args:
        tensor: The dequantized output, ``[1,]K×N`` or ``[1,]N×K``.
        head: ``"anchor-free"``, ``"objectness"`` or ``"end-to-end"``.
        channels_first: The features are the first axis (``K×N``).
        box_format: ``"xywh"`` (centre, size) or ``"xyxy"`` (corners).
        normalized: Boxes are fractions of the input size (else input pixels).
        logits: Scores are logits (a sigmoid turns them into probabilities).
        threshold: Scores must be above this.
        input_size: ``(width, height)`` of the model input, to scale normalized boxes.

    Returns:
        :class:`~edgekit._detect.boxes.Candidates` with float32 corners in input
        pixels, in output order (at most :data:`MAX_NMS`, the best).
    """
    t = np.asarray(tensor, dtype=np.float32)
    t = t.reshape(t.shape[-2:])
    feats = t if channels_first else t.T  # K×N (a view either way)
    limit = _logit(threshold) if logits else np.float32(threshold)
    if head == "anchor-free":
        index, scores, ids = _anchor_free(feats, limit)
    elif head == "objectness":
        index, scores, ids = _objectness(feats, np.float32(threshold), logits)
    else:
        index, scores, ids = _end_to_end(feats, limit)
    if logits and head != "objectness":
        scores = sigmoid(scores)
    if index.size > MAX_NMS:
        best = np.sort(np.argsort(-scores, kind="stable")[:MAX_NMS])
        index, scores, ids = index[best], scores[best], ids[best]
    boxes = feats[:4, index].T  # M×4, a copy
    if normalized:
        to_pixels(boxes, box_format, *input_size)
    corners = to_corners(boxes, box_format)
    finite = np.isfinite(corners).all(axis=1) & np.isfinite(scores)
    if not finite.all():  # a broken model's inf/NaN: dropped, never drawn
        return Candidates(corners[finite], scores[finite], ids[finite])
    return Candidates(corners, scores, ids)


def _logit(threshold: float) -> np.float32:
    """The logit above which sigmoid(x) is above ``threshold``: no sigmoid over every candidate."""
    if threshold <= 0.0:
        return np.float32(-np.inf)
    if threshold >= 1.0:
        return np.float32(np.inf)
    return np.float32(np.log(threshold / (1.0 - threshold)))


def _anchor_free(feats: np.ndarray, limit: np.float32) -> tuple[np.ndarray, ...]:
    classes = feats[4:]
    best = classes.max(axis=0)
    index = np.flatnonzero(best > limit)
    ids = classes[:, index].argmax(axis=0)  # ties: the lower class id, like torch.max
    return index, best[index], ids.astype(np.int64)


def _objectness(feats: np.ndarray, limit: np.float32, logits: bool) -> tuple[np.ndarray, ...]:
    obj = sigmoid(feats[4]) if logits else feats[4]
    # confidence = obj × class score <= obj (both in [0, 1]), so obj alone prunes most candidates.
    index = np.flatnonzero(obj > limit)
    classes = feats[5:, index]
    if logits:
        classes = sigmoid(classes)
    ids = classes.argmax(axis=0) if index.size else np.empty(0, np.int64)
    conf = obj[index] * classes[ids, np.arange(index.size)]
    keep = conf > limit
    return index[keep], conf[keep].astype(np.float32), ids[keep].astype(np.int64)


def _end_to_end(feats: np.ndarray, limit: np.float32) -> tuple[np.ndarray, ...]:
    scores = feats[4]
    index = np.flatnonzero(scores > limit)
    ids = np.rint(feats[5, index])
    ok = np.isfinite(ids) & (np.abs(ids) < 2**31)
    index, ids = index[ok], ids[ok]
    return index, scores[index], ids.astype(np.int64)
