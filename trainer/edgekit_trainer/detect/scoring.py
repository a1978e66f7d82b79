"""mAP of a Keras detector or of an exported file, decoded by the runtime's own code.

Both paths end in :func:`edgekit._detect.decode.decode` with the same options
(score threshold :data:`EVAL_THRESHOLD`, class-aware NMS, 100 detections) and
are scored by :func:`edgekit._evaluate.cocoscore.coco_scores`, so the float
model, the exported file and ``edgekit evaluate`` are measured alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgekit._detect.decode import decode
from edgekit._detect.layouts import Layout
from edgekit._evaluate.cocoscore import DetectionScores, ImageBoxes, coco_scores
from edgekit.options import PredictOptions
from edgekit.results import Detection

from .data import DetectionSplit

__all__ = ["EVAL_OPTIONS", "keras_scores", "runtime_scores", "truth_in_source"]

EVAL_THRESHOLD = 0.001  # COCO practice: rank nearly everything
EVAL_OPTIONS = PredictOptions(score_threshold=EVAL_THRESHOLD, iou_threshold=0.6, max_detections=100)


def _as_boxes(dets: Sequence[Detection]) -> ImageBoxes:
    return ImageBoxes(np.array([d.box.to_list() for d in dets], np.float64).reshape(-1, 4),
                      np.array([d.id for d in dets], np.int64), np.array([d.score for d in dets]))


def truth_in_source(split: DetectionSplit) -> list[ImageBoxes]:
    """Ground truth of every image in its source pixels."""
    out = []
    for sample, t in zip(split.samples, split.transforms):
        scale = np.array([t.src_w, t.src_h, t.src_w, t.src_h], np.float64)
        out.append(ImageBoxes(sample.boxes * scale, sample.classes))
    return out


def keras_detections(decoded_model: Any, split: DetectionSplit, num_classes: int,
                     batch_size: int = 32) -> list[ImageBoxes]:
    """Detections of the Keras model with :class:`~.model.DecodeHead`, in source pixels."""
    layout = Layout("yolov8", num_classes, (0,), "xywh", "normalized")
    out = []
    for start in range(0, len(split), batch_size):
        batch = split.images[start:start + batch_size].astype(np.float32)
        heads = np.asarray(decoded_model(batch, training=False))
        for i, head in enumerate(heads):
            found = decode([head[None]], layout, split.transforms[start + i], (), EVAL_OPTIONS)
            out.append(_as_boxes(found))
    return out


def keras_scores(decoded_model: Any, split: DetectionSplit, names: Sequence[str]) -> DetectionScores:
    """COCO scores of the Keras model on ``split``."""
    return coco_scores(truth_in_source(split), keras_detections(decoded_model, split, len(names)), names)


def runtime_scores(model: bytes, split: DetectionSplit, names: Sequence[str],
                   threads: int | None = None) -> tuple[DetectionScores, list[float]]:
    """COCO scores of a ``.tflite`` run by :func:`edgekit.load` on the split's image files,
    and its per-image latency (ms)."""
    import edgekit
    from edgekit.imagefile import read_image

    found, latencies = [], []
    with edgekit.load(model, threads=threads, score_threshold=EVAL_OPTIONS.score_threshold,
                      iou_threshold=EVAL_OPTIONS.iou_threshold,
                      max_detections=EVAL_OPTIONS.max_detections) as loaded:
        for sample in split.samples:
            pred = loaded.predict(read_image(sample.image))
            found.append(_as_boxes(pred.detections))
            latencies.append(pred.latency.total)
    return coco_scores(truth_in_source(split), found, names), latencies
