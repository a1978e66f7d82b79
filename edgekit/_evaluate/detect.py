"""``edgekit evaluate`` for detectors: any detection ``.tflite`` against a YOLO or COCO dataset.

Runs on the device: the runtime decodes the images and runs the model exactly
as ``predict`` does (score threshold :data:`EVAL_THRESHOLD` unless one is
given, so that the precision-recall curve is complete), and pycocotools scores
the detections (the ``eval`` extra). The dataset's class names are matched to
the model's labels by name (case-insensitively), or taken as class ids when
the model has no labels; detections of model classes the dataset does not
have are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError, ModelIncompatible
from ..imagefile import read_image
from .boxdata import BoxDataset, BoxSample, load_box_dataset
from .cocoscore import ClassAP, ImageBoxes, coco_scores

__all__ = ["EVAL_THRESHOLD", "DetectionReport", "evaluate_detector", "match_names", "render_report"]

EVAL_THRESHOLD = 0.001
SPLIT_ORDER = ("test", "val", "all", "train")


@dataclass(frozen=True, slots=True)
class DetectionReport:
    """COCO metrics of one detector on one split of a dataset.

    Attributes:
        map50, map: mAP@0.5 and mAP@0.5:0.95 (0..1), from pycocotools.
        per_class: AP of each dataset class.
        latency_ms_p50: Median runtime latency per image (pre + invoke + post).
        skipped: ``(file, reason)`` of every label file or image left out.
        pr_png: Where the precision-recall figure was written, if asked.
    """

    model: str
    data: str
    split: str
    images: int
    objects: int
    map50: float
    map: float
    per_class: tuple[ClassAP, ...]
    latency_ms_p50: float
    skipped: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    pr_png: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "data": self.data, "split": self.split, "task": "detect",
                "images": self.images, "objects": self.objects, "map50": round(self.map50, 5),
                "map": round(self.map, 5), "per_class": [c.to_dict() for c in self.per_class],
                "latency_ms_p50": round(self.latency_ms_p50, 4),
                "skipped": [{"input": p, "reason": r} for p, r in self.skipped],
                "notes": list(self.notes), "pr_png": self.pr_png}


def match_names(names: Sequence[str], labels: Sequence[str], num_classes: int = 0) -> list[int]:
    """The model class id of each dataset class (``num_classes``: the model's, 0 if unknown).

    Raises:
        ConfigError: a dataset class is neither one of the model's labels nor (without labels) a valid id.
    """
    by_name = {str(label).lower(): i for i, label in enumerate(labels)}
    out, unknown = [], []
    for i, name in enumerate(names):
        if str(name).lower() in by_name:
            out.append(by_name[str(name).lower()])
        elif not labels and (num_classes <= 0 or i < num_classes):
            out.append(i)
        else:
            unknown.append(str(name))
    if unknown:
        shown = ", ".join(list(labels)[:12]) + (" …" if len(labels) > 12 else "")
        raise ConfigError(f"dataset class(es) {', '.join(unknown[:8])} match no model class "
                          f"(the model's labels are: {shown}); rename them or give the model labels")
    return out


def _pick_split(ds: BoxDataset, split: str | None) -> str:
    if split is not None:
        if split not in ds.splits:
            raise ConfigError(f"{ds.root}: no {split!r} split (found: {', '.join(ds.splits)})")
        return split
    for name in SPLIT_ORDER:
        if ds.splits.get(name):
            return name
    raise ConfigError(f"{ds.root}: no usable image in any split")


def _run(loaded: Any, samples: Sequence[BoxSample], to_dataset: dict[int, int],
         skipped: list[tuple[str, str]]) -> tuple[list[ImageBoxes], list[ImageBoxes], list[float]]:
    truth, found, latencies = [], [], []
    for sample in samples:
        try:
            frame = read_image(sample.image)
        except InputError as exc:
            skipped.append((sample.image, f"unreadable: {exc}"))
            continue
        pred = loaded.predict(frame)
        h, w = frame.shape[:2]
        truth.append(ImageBoxes(sample.boxes * np.array([w, h, w, h], np.float64), sample.classes))
        dets = [d for d in pred.detections if d.id in to_dataset]
        found.append(ImageBoxes(np.array([d.box.to_list() for d in dets], np.float64).reshape(-1, 4),
                                np.array([to_dataset[d.id] for d in dets], np.int64),
                                np.array([d.score for d in dets], np.float64)))
        latencies.append(pred.latency.total)
    return truth, found, latencies


def evaluate_detector(model: str | os.PathLike[str] | bytes, data: str | os.PathLike[str],
                      split: str | None = None, pr_png: str | os.PathLike[str] | None = None,
                      **load_args: Any) -> DetectionReport:
    """Evaluate a detection model on a YOLO or COCO dataset.

    Args:
        model: The ``.tflite`` path (or bytes).
        data: The dataset (folder, ``data.yaml``, COCO ``.json``) or one split's folder.
        split: ``train``, ``val`` or ``test`` (default: test, else val, else all images, else train).
        pr_png: Where to write the precision-recall figure (``None``: no figure).
        **load_args: Passed to :func:`edgekit.load` (``labels``, ``threads``, ``score_threshold`` …).

    Raises:
        ConfigError: the dataset is unusable, or its classes match no model class.
        ModelError: the model cannot be loaded, or is not a detector.
        ExtraMissing: pycocotools (or, for the figure, matplotlib) is not installed.
    """
    from ..model import load
    from .cocoscore import _coco

    _coco()  # fail before running the model when pycocotools is missing
    load_args.setdefault("score_threshold", EVAL_THRESHOLD)
    where = "<bytes>" if isinstance(model, bytes) else str(model)
    with load(model, **load_args) as loaded:
        if loaded.task != "detect":
            raise ModelIncompatible(f"{where}: this model's task is {loaded.task}; evaluating it on boxes "
                                    "needs a detector")
        ds = load_box_dataset(data, names=loaded.labels or None)
        chosen = _pick_split(ds, split)
        index = match_names(ds.names, loaded.labels, 0)
        skipped = list(ds.skipped)
        truth, found, latencies = _run(loaded, ds.splits[chosen], {m: i for i, m in enumerate(index)}, skipped)
    if not truth:
        raise ConfigError(f"{data}: none of the {chosen} images could be read")
    scores = coco_scores(truth, found, ds.names)
    png = None
    if pr_png is not None:
        from .prcurve import plot_pr

        plot_pr(scores, Path(pr_png), title=f"{Path(where).name} on {chosen}")
        png = str(pr_png)
    lat = float(np.percentile(latencies, 50)) if latencies else 0.0
    return DetectionReport(where, ds.root, chosen, len(truth), int(sum(len(t.classes) for t in truth)),
                           scores.map50, scores.map, scores.per_class, lat, tuple(skipped), ds.notes, png)


def render_report(report: DetectionReport) -> str:
    """Human-readable summary: mAP, per-class AP, latency, what was skipped."""
    lines = [f"{report.model} on {report.data} ({report.split}, {report.images} images, {report.objects} "
             f"objects): mAP@0.5 {report.map50:.4f}, mAP@0.5:0.95 {report.map:.4f}, "
             f"latency p50 {report.latency_ms_p50:.2f} ms",
             f"{'class':<20} {'AP50':>7} {'AP':>7} {'objects':>8}"]
    for c in report.per_class:
        ap50 = "-" if c.ap50 is None else f"{c.ap50:.4f}"
        ap = "-" if c.ap is None else f"{c.ap:.4f}"
        lines.append(f"{c.label:<20} {ap50:>7} {ap:>7} {c.objects:>8}")
    lines += [f"note: {n}" for n in report.notes]
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)} files: "
                     + ", ".join(p for p, _ in report.skipped[:5]) + (" …" if len(report.skipped) > 5 else ""))
    if report.pr_png:
        lines.append(f"precision-recall curves: {report.pr_png}")
    return "\n".join(lines)
