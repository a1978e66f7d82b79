"""``edgekit evaluate``: any classification ``.tflite`` against a labelled image folder, on the device.

Needs only the runtime: images are read from disk and run through :func:`edgekit.load`
exactly as in ``predict``. The folder's class names are matched to the model's labels (by
name, case-insensitively; or as class ids when they are integers). The ``test/`` split is
used when the folder has one, else ``val/``, else every image. Accuracy is reported next to
the majority-class rate, so a model that only ever answers one class cannot pass as good.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError, InputError, ModelIncompatible
from ..imagefile import read_image
from ..model import load
from .folder import Sample, scan
from .metrics import ChanceCheck, ClassMetrics, chance_check, confusion_matrix, per_class, percentile

__all__ = ["EvalReport", "evaluate", "match_classes", "render_report"]


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Accuracy, per-class metrics and the confusion matrix of one model on one folder.

    The confusion matrix has one row per dataset class and one column per dataset
    class plus a last ``other`` column (predictions outside the dataset's classes).

    Attributes:
        model, data: What was evaluated on what.
        split: ``test``, ``val``, ``all`` or ``train``: the images used.
        samples: Images evaluated.
        accuracy: Top-1 accuracy (0..1).
        labels: The folder's class names (rows of ``confusion``).
        classes: Precision / recall / F1 per class.
        confusion: ``classes × (classes + 1)`` counts.
        latency_ms_p50: Median latency per image (pre + invoke + post).
        chance: Accuracy against the majority-class rate of the same images.
        skipped: ``(file, reason)`` of every file not evaluated.
        confusion_png: Where the figure was written, if one was asked for.
    """

    model: str
    data: str
    split: str
    samples: int
    accuracy: float
    labels: tuple[str, ...]
    classes: tuple[ClassMetrics, ...]
    confusion: np.ndarray
    latency_ms_p50: float
    chance: ChanceCheck
    skipped: tuple[tuple[str, str], ...] = ()
    confusion_png: str | None = None

    @property
    def majority_rate(self) -> float:
        """Accuracy of always answering the most frequent class of these images."""
        return self.chance.majority

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "data": self.data, "split": self.split, "samples": self.samples,
            "accuracy": round(self.accuracy, 5), "majority_rate": round(self.majority_rate, 5),
            "above_chance": self.chance.passed, "chance": self.chance.to_dict(),
            "per_class": [c.to_dict() for c in self.classes],
            "confusion_matrix": {"labels": list(self.labels), "columns": [*self.labels, "other"],
                                 "matrix": self.confusion.tolist()},
            "latency_ms_p50": round(self.latency_ms_p50, 4),
            "skipped": [{"input": p, "reason": r} for p, r in self.skipped],
            "confusion_png": self.confusion_png,
        }


def match_classes(folders: Sequence[str], labels: Sequence[str], num_outputs: int) -> list[int]:
    """Model output index of each class folder.

    Raises:
        DatasetError: a folder name is neither a model label nor a valid class id.
    """
    by_name = {str(label).lower(): i for i, label in enumerate(labels)}
    out, unknown = [], []
    for name in folders:
        if name.lower() in by_name:
            out.append(by_name[name.lower()])
        elif not labels and name.isdigit() and int(name) < num_outputs:
            out.append(int(name))
        else:
            unknown.append(name)
    if unknown:
        shown = ", ".join(list(labels)[:12]) + (" …" if len(labels) > 12 else "")
        have = f"the model's labels are: {shown}" if labels else \
            f"the model has no labels, so folders must be class ids 0..{num_outputs - 1}"
        raise DatasetError(f"class folder(s) {', '.join(unknown)} match no model class; {have} "
                           "(rename the folders or give the model a labels file)")
    return out


def _pick_split(root: Path, per_split: dict[str, list[Sample]]) -> str:
    for name in ("test", "val", "all", "train"):
        if per_split.get(name):
            return name
    raise DatasetError(f"{root}: no image files in any class folder")


def evaluate(model: str | os.PathLike[str], data: str | os.PathLike[str],
             confusion_png: str | os.PathLike[str] | None = None, **load_args: Any) -> EvalReport:
    """Evaluate a classification model on an image folder, with the runtime alone.

    Args:
        model: The ``.tflite`` path.
        data: Class-per-folder tree (or with ``train/``/``val/``/``test/``).
        confusion_png: Where to write the confusion-matrix figure (``None``: no figure, and
            matplotlib is not needed). An existing file there is replaced.
        **load_args: Passed to :func:`edgekit.load` (``labels``, ``threads``, ``backend`` …).

    Raises:
        DatasetError: the folder is unusable or its classes match no model class.
        ModelError: the model cannot be loaded, or is not a classifier.
        ExtraMissing: a figure was asked for and matplotlib is not installed.
    """
    folders, per_split, skipped = scan(data)
    root = Path(data).resolve()
    split = _pick_split(root, per_split)
    with load(model, **load_args) as loaded:
        if loaded.task != "classify":
            raise ModelIncompatible(f"{model}: evaluate needs a classifier, this model's task is {loaded.task}")
        n_out = int(np.prod(loaded.outputs[0].shape))
        index = match_classes(folders, loaded.labels, n_out)
        y_true, y_pred, latencies = _run(loaded, root, per_split[split], index, skipped)
    if not y_true:
        raise DatasetError(f"{root}: none of the images could be read")
    return _report(str(model), str(root), split, folders, y_true, y_pred, latencies, skipped, confusion_png)


def _run(loaded: Any, root: Path, samples: Sequence[Sample], index: list[int],
         skipped: list[tuple[str, str]]) -> tuple[list[int], list[int], list[float]]:
    to_local = {model_id: i for i, model_id in enumerate(index)}
    y_true, y_pred, latencies = [], [], []
    for sample in samples:
        try:
            pred = loaded.predict(read_image(root / sample.path))
        except InputError as exc:
            skipped.append((sample.path, f"unreadable: {exc}"))
            continue
        top = pred.classes[0].id if pred.classes else -1
        y_true.append(sample.label)
        y_pred.append(to_local.get(top, len(index)))  # len(index) is the "other" column
        latencies.append(pred.latency.total)
    return y_true, y_pred, latencies


def _report(model: str, data: str, split: str, folders: Sequence[str], y_true: list[int],
            y_pred: list[int], latencies: list[float], skipped: list[tuple[str, str]],
            confusion_png: str | os.PathLike[str] | None) -> EvalReport:
    n = len(folders)
    truth, predicted = np.array(y_true), np.array(y_pred)
    full = confusion_matrix(truth, predicted, n + 1)
    matrix = full[:n, :]
    png = None
    if confusion_png is not None:
        from .figure import plot_confusion

        square = np.zeros((n + 1, n + 1), np.int64)
        square[:n] = matrix
        plot_confusion(square, [*folders, "other"], Path(confusion_png), title=Path(model).name)
        png = str(confusion_png)
    chance = chance_check(truth, predicted)
    return EvalReport(model, data, split, len(y_true), chance.accuracy, tuple(folders),
                      per_class(full, [*folders, "other"])[:n], matrix, percentile(latencies, 50),
                      chance, tuple(skipped), png)


def render_report(report: EvalReport) -> str:
    """Human-readable summary: accuracy against the majority-class rate, per-class table, latency."""
    lines = [(f"{report.model} on {report.data} ({report.split}, {report.samples} images): "
              f"accuracy {report.accuracy:.2%} (majority-class rate {report.majority_rate:.2%}), "
              f"latency p50 {report.latency_ms_p50:.2f} ms"),
             f"{'class':<20} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>6}"]
    lines += [f"{c.label:<20} {c.precision:>9.3f} {c.recall:>7.3f} {c.f1:>6.3f} {c.support:>6}"
              for c in report.classes]
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)} files: "
                     + ", ".join(p for p, _ in report.skipped[:5]) + (" …" if len(report.skipped) > 5 else ""))
    if report.confusion_png:
        lines.append(f"confusion matrix: {report.confusion_png}")
    if not report.chance.passed:
        lines.append(f"WARNING: {report.chance.describe()}")
    return "\n".join(lines)
