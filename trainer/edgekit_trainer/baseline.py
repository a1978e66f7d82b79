"""The obvious classical classifier every network must beat: HOG features + logistic regression.

``train`` fits it on the same split as the network and prints both accuracies, so a user sees
at once whether the network learned more than gradients of edges. Needs scikit-image and
scikit-learn (both in the ``train`` extra); without them the baseline is skipped, not an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Baseline", "BaselineResult", "fit_baseline", "hog_features"]

NAME = "HOG + logistic regression"


@dataclass(frozen=True, slots=True)
class BaselineResult:
    """The baseline's validation accuracy (0..1), or why it was not computed.

    Attributes:
        name: What the baseline is.
        val_accuracy: Accuracy on the validation split (``None`` when skipped).
        seconds: Time to extract features and fit.
        skipped: Why it was not computed (empty when it was).
    """

    name: str
    val_accuracy: float | None
    seconds: float = 0.0
    skipped: str = ""

    def to_dict(self) -> dict[str, Any]:
        acc = None if self.val_accuracy is None else round(self.val_accuracy, 5)
        return {"name": self.name, "val_accuracy": acc, "seconds": round(self.seconds, 3),
                "skipped": self.skipped or None}


def hog_features(images: np.ndarray) -> np.ndarray:
    """HOG descriptors of ``N×H×W×C`` ``uint8`` images (cells of 1/6 of the side, 9 orientations)."""
    from skimage.feature import hog

    side = images.shape[1]
    cell = max(4, side // 6)
    channel_axis = -1 if images.shape[-1] > 1 else None
    feats = [hog(image if channel_axis is not None else image[..., 0], orientations=9,
                 pixels_per_cell=(cell, cell), cells_per_block=(2, 2), channel_axis=channel_axis)
             for image in images]
    return np.asarray(feats, np.float32)


class Baseline:
    """HOG + standardisation + logistic regression, fitted on ``N×H×W×C`` images."""

    def __init__(self, seed: int = 0) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self._pipe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000,
                                                                        random_state=seed))

    def fit(self, images: np.ndarray, labels: np.ndarray) -> Baseline:
        self._pipe.fit(hog_features(images), labels)
        return self

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self._pipe.predict(hog_features(images)))


def fit_baseline(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                 seed: int = 0) -> BaselineResult:
    """Fit the baseline on the training split and score it on the validation split.

    Returns a skipped result (never raises) when scikit-image or scikit-learn is missing.
    """
    start = time.perf_counter()
    try:
        model = Baseline(seed).fit(x_train, y_train)
        predicted = model.predict(x_val)
    except ImportError as exc:
        return BaselineResult(NAME, None, skipped=f"{exc.name or 'scikit-learn'} is not installed")
    accuracy = float((predicted == y_val).mean()) if len(y_val) else 0.0
    return BaselineResult(NAME, accuracy, time.perf_counter() - start)
