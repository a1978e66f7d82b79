"""Pure classification metrics on label arrays (no TensorFlow, no model).

The chance guard lives here because the trainer (after ``train``, before ``export``) and the
device (``evaluate``) must judge "no better than guessing" the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ChanceCheck",
    "ClassMetrics",
    "accuracy",
    "chance_check",
    "confusion_matrix",
    "majority_rate",
    "per_class",
    "percentile",
]

MIN_MARGIN = 0.05  # "clearly above" is at least 5 points, even on a large validation split


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    """Precision, recall and F1 of one class, and its number of true examples."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4), "support": self.support}


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of equal entries (0 for empty input)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if y_true.size else 0.0


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``num_classes × num_classes`` counts; rows are true classes, columns predictions."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return matrix


def per_class(matrix: np.ndarray, labels: Sequence[str]) -> tuple[ClassMetrics, ...]:
    """Per-class precision / recall / F1 from a confusion matrix (0 where undefined)."""
    tp = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    actual = matrix.sum(axis=1).astype(np.float64)
    out = []
    for i, label in enumerate(labels):
        p = tp[i] / predicted[i] if predicted[i] else 0.0
        r = tp[i] / actual[i] if actual[i] else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        out.append(ClassMetrics(str(label), float(p), float(r), float(f1), int(actual[i])))
    return tuple(out)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 for no values)."""
    return float(np.percentile(np.asarray(values, np.float64), q)) if len(values) else 0.0


def majority_rate(y_true: np.ndarray) -> float:
    """Accuracy of always answering the most frequent class of ``y_true`` (0 when empty)."""
    y_true = np.asarray(y_true, np.int64)
    return float(np.bincount(y_true).max() / y_true.size) if y_true.size else 0.0


@dataclass(frozen=True, slots=True)
class ChanceCheck:
    """Is a model clearly more accurate than always answering the most frequent class?

    "Clearly" means by at least two standard errors of the majority-class rate on this many
    samples (a binomial proportion), and at least :data:`MIN_MARGIN`; a model that is right on
    every sample always passes. With one class in the data there is nothing to compare with.

    Attributes:
        accuracy: The model's accuracy (0..1).
        majority: The majority-class rate of the same samples (0..1).
        samples: How many samples both were measured on.
        classes: Distinct true classes among the samples.
        predicted: Distinct classes the model answered.
    """

    accuracy: float
    majority: float
    samples: int
    classes: int
    predicted: int

    @property
    def threshold(self) -> float:
        """The accuracy the model must reach to count as clearly above chance."""
        stderr = float(np.sqrt(self.majority * (1.0 - self.majority) / max(self.samples, 1)))
        return min(1.0, self.majority + max(2.0 * stderr, MIN_MARGIN))

    @property
    def passed(self) -> bool:
        """``True`` when above chance, or when there is only one class to judge on."""
        if self.classes < 2:
            return True
        return self.accuracy >= self.threshold and self.accuracy > self.majority

    def describe(self) -> str:
        """One sentence: the accuracy, the majority-class rate, and what a failure means."""
        head = (f"accuracy {self.accuracy:.1%} on {self.samples} images is "
                f"{'clearly above' if self.passed else 'not clearly above'} the majority-class rate "
                f"{self.majority:.1%} (needs {self.threshold:.1%})")
        if self.passed:
            return head
        one = " and it answers one class for every image" if self.predicted <= 1 else ""
        return head + f"{one}: the model is no better than always guessing the most frequent class"

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": round(self.accuracy, 5), "majority_rate": round(self.majority, 5),
                "threshold": round(self.threshold, 5), "samples": self.samples,
                "above_chance": self.passed, "predicted_classes": self.predicted}


def chance_check(y_true: np.ndarray, y_pred: np.ndarray) -> ChanceCheck:
    """Compare the accuracy of ``y_pred`` with the majority-class rate of ``y_true``."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    return ChanceCheck(accuracy(y_true, y_pred), majority_rate(y_true), int(y_true.size),
                       int(np.unique(y_true).size), int(np.unique(y_pred).size))
