"""Detections vs ground truth → COCO mAP, by pycocotools itself (the ``eval`` extra).

Pure: boxes in, scores out. Boxes are corners ``x1, y1, x2, y2`` in pixels;
class ids are the dataset's. mAP@0.5 and mAP@0.5:0.95 are COCOeval's ``stats[1]``
and ``stats[0]`` over all object sizes with up to 100 detections per image; a
class's AP is read from the same precision table (classes without objects in
the split have no AP and do not count in the mean, as in COCOeval).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ExtraMissing

__all__ = ["ClassAP", "DetectionScores", "ImageBoxes", "coco_scores"]

RECALLS = np.linspace(0.0, 1.0, 101)  # COCOeval's recall points


@dataclass(frozen=True, slots=True)
class ImageBoxes:
    """The boxes of one image: ``M×4`` corners (pixels), ``M`` class ids, ``M`` scores (1 for ground truth)."""

    boxes: np.ndarray
    classes: np.ndarray
    scores: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class ClassAP:
    """Average precision of one class (``None`` when the split has none of its objects)."""

    id: int
    label: str
    objects: int
    ap50: float | None
    ap: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "objects": self.objects,
                "ap50": _round(self.ap50), "ap": _round(self.ap)}


@dataclass(frozen=True, slots=True)
class DetectionScores:
    """COCO metrics of a set of detections.

    Attributes:
        map50: mAP at IoU 0.5 (0..1).
        map: mAP averaged over IoU 0.5:0.95.
        per_class: One :class:`ClassAP` per class.
        precision50: ``C×101`` precision at IoU 0.5 at the recalls :data:`RECALLS`
            (``-1`` where a class has no objects).
    """

    map50: float
    map: float
    per_class: tuple[ClassAP, ...]
    precision50: np.ndarray


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 5)


def _coco() -> tuple[Any, Any]:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ExtraMissing("detection evaluation", "eval", "pycocotools") from None
    return COCO, COCOeval


def _records(truth: Sequence[ImageBoxes], found: Sequence[ImageBoxes],
             names: Sequence[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    images, anns, dets = [], [], []
    for image_id, (gt, det) in enumerate(zip(truth, found), start=1):
        images.append({"id": image_id})
        for (x1, y1, x2, y2), cls in zip(np.asarray(gt.boxes, float).reshape(-1, 4), gt.classes):
            w, h = x2 - x1, y2 - y1
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": int(cls) + 1,
                         "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0})
        scores = det.scores if det.scores is not None else np.ones(len(det.classes))
        for (x1, y1, x2, y2), cls, score in zip(np.asarray(det.boxes, float).reshape(-1, 4),
                                                det.classes, scores):
            dets.append({"image_id": image_id, "category_id": int(cls) + 1,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)})
    categories = [{"id": i + 1, "name": str(n)} for i, n in enumerate(names)]
    return {"images": images, "annotations": anns, "categories": categories}, dets


def coco_scores(truth: Sequence[ImageBoxes], found: Sequence[ImageBoxes],
                names: Sequence[str]) -> DetectionScores:
    """Score ``found`` (one entry per image, detections) against ``truth`` (same order).

    Detections of a class id outside ``names`` are ignored.

    Raises:
        ExtraMissing: pycocotools is not installed.
        ValueError: ``truth`` and ``found`` differ in length.
    """
    if len(truth) != len(found):
        raise ValueError(f"{len(truth)} ground-truth images but {len(found)} detection lists")
    COCO, COCOeval = _coco()
    gt_dict, dets = _records(truth, found, names)
    dets = [d for d in dets if 1 <= d["category_id"] <= len(names)]
    counts = np.bincount([a["category_id"] - 1 for a in gt_dict["annotations"]], minlength=len(names))
    empty = np.full((len(names), len(RECALLS)), -1.0)
    if not gt_dict["annotations"]:
        return DetectionScores(0.0, 0.0, tuple(ClassAP(i, str(n), 0, None, None) for i, n in enumerate(names)),
                               empty)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = COCO()
        gt.dataset = gt_dict
        gt.createIndex()
        if not dets:
            aps = tuple(ClassAP(i, str(n), int(c), 0.0 if c else None, 0.0 if c else None)
                        for i, (n, c) in enumerate(zip(names, counts)))
            return DetectionScores(0.0, 0.0, aps, np.where(counts[:, None] > 0, 0.0, empty))
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"][:, :, :, 0, -1]  # T×R×K, all areas, 100 detections
    per_class = []
    for k, name in enumerate(names):
        table = precision[:, :, k]
        ap50 = float(table[0][table[0] > -1].mean()) if (table[0] > -1).any() else None
        ap = float(table[table > -1].mean()) if (table > -1).any() else None
        per_class.append(ClassAP(k, str(name), int(counts[k]), ap50, ap))
    return DetectionScores(max(0.0, float(ev.stats[1])), max(0.0, float(ev.stats[0])), tuple(per_class),
                           precision[0].T.copy())
