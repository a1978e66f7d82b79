"""``edgekit evaluate``: any classification ``.tflite`` against a labelled image folder.

Images are read from disk and run through :func:`edgekit.load` exactly as on a
device. The folder's class names are matched to the model's labels (by name,
case-insensitively; or as class ids when they are integers). The ``test/`` split
is used when the folder has one, else ``val/``, else every image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import InputError
from edgekit.imagefile import read_image

from .data import scan
from .errors import DatasetError
from .metrics import ClassMetrics, accuracy, confusion_matrix, per_class, percentile

__all__ = ["EvalReport", "evaluate", "match_classes", "render_report"]


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Accuracy, per-class metrics and the confusion matrix of one model on one folder.

    The confusion matrix has one row per dataset class and one column per dataset
    class plus a last ``other`` column (predictions outside the dataset's classes).
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
    skipped: tuple[tuple[str, str], ...] = ()
    confusion_png: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "data": self.data, "split": self.split, "samples": self.samples,
            "accuracy": round(self.accuracy, 5),
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
                           "(rename the folders or pass --labels)")
    return out


def _pick_split(per_split: dict[str, Any]) -> str:
    for name in ("test", "val", "all", "train"):
        if per_split.get(name):
            return name
    raise DatasetError("no images found in the folder")


def evaluate(model: str | os.PathLike[str], data: str | os.PathLike[str],
             confusion_png: str | os.PathLike[str] | None = None, **load_args: Any) -> EvalReport:
    """Evaluate a classification model on an image folder.

    Args:
        model: The ``.tflite`` path.
        data: Class-per-folder tree (or with ``train/``/``val/``/``test/``).
        confusion_png: Where to write the confusion-matrix figure (``None``: no figure).
        **load_args: Passed to :func:`edgekit.load` (``labels``, ``threads``, ``backend`` …).

    Raises:
        DatasetError: the folder is unusable or its classes match no model class.
        ModelError: the model cannot be loaded, or is not a classifier.
    """
    import edgekit
    from edgekit.errors import ModelIncompatible

    folders, per_split, skipped = scan(data)
    split = _pick_split(per_split)
    root = Path(data).resolve()
    with edgekit.load(model, **load_args) as loaded:
        if loaded.task != "classify":
            raise ModelIncompatible(f"{model}: evaluate needs a classifier, this model's task is {loaded.task}")
        n_out = int(np.prod(loaded.outputs[0].shape))
        index = match_classes(folders, loaded.labels, n_out)
        y_true, y_pred, latencies = _run(loaded, root, per_split[split], index, skipped)
    if not y_true:
        raise DatasetError(f"{root}: none of the images could be read")
    return _report(str(model), str(root), split, folders, y_true, y_pred, latencies, skipped, confusion_png)


def _run(loaded: Any, root: Path, samples: Sequence[Any], index: list[int],
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
    full = confusion_matrix(np.array(y_true), np.array(y_pred), n + 1)
    matrix = full[:n, :]
    png = None
    if confusion_png is not None:
        from .plots import plot_confusion

        square = np.zeros((n + 1, n + 1), np.int64)
        square[:n] = matrix
        plot_confusion(square, [*folders, "other"], Path(confusion_png), title=Path(model).name)
        png = str(confusion_png)
    return EvalReport(model, data, split, len(y_true), accuracy(np.array(y_true), np.array(y_pred)),
                      tuple(folders), per_class(full, [*folders, "other"])[:n], matrix,
                      percentile(latencies, 50), tuple(skipped), png)


def render_report(report: EvalReport) -> str:
    """Human-readable summary: accuracy, per-class table, latency."""
    lines = [(f"{report.model} on {report.data} ({report.split}, {report.samples} images): "
             f"accuracy {report.accuracy:.2%}, latency p50 {report.latency_ms_p50:.2f} ms"),
             f"{'class':<20} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>6}"]
    lines += [f"{c.label:<20} {c.precision:>9.3f} {c.recall:>7.3f} {c.f1:>6.3f} {c.support:>6}"
              for c in report.classes]
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)} files: "
                     + ", ".join(p for p, _ in report.skipped[:5]) + (" …" if len(report.skipped) > 5 else ""))
    if report.confusion_png:
        lines.append(f"confusion matrix: {report.confusion_png}")
    return "\n".join(lines)
