"""The parity gate: does the exported file, run by the edgekit runtime, agree with Keras?

:func:`compare` is pure (probabilities in, report out); :func:`runtime_probs`
runs a ``.tflite`` through :func:`edgekit.load` exactly as a device would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekit._evaluate.metrics import accuracy, percentile

__all__ = ["ParityReport", "compare", "runtime_probs"]


@dataclass(frozen=True, slots=True)
class ParityReport:
    """Float (Keras) vs exported (edgekit runtime) on the same validation images.

    Attributes:
        samples: Validation images compared.
        float_accuracy, quant_accuracy: Top-1 accuracy of each (0..1).
        agreement: Share of images where both give the same top-1 class.
        mean_abs_dprob: Mean absolute difference of the class probabilities.
        per_class_delta: Exported minus float accuracy per class, in points.
        latency_ms_p50: Median runtime latency (pre + invoke + post) per image.
    """

    samples: int
    float_accuracy: float
    quant_accuracy: float
    agreement: float
    mean_abs_dprob: float
    per_class_delta: dict[str, float] = field(default_factory=dict)
    latency_ms_p50: float = 0.0

    @property
    def drop_points(self) -> float:
        """How many accuracy points the export lost (negative: it gained)."""
        return (self.float_accuracy - self.quant_accuracy) * 100.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": "val", "samples": self.samples,
            "float_accuracy": round(self.float_accuracy, 5),
            "quantized_accuracy": round(self.quant_accuracy, 5),
            "drop_points": round(self.drop_points, 3),
            "top1_agreement": round(self.agreement, 5),
            "mean_abs_dprob": round(self.mean_abs_dprob, 6),
            "per_class_delta_points": {k: round(v, 3) for k, v in self.per_class_delta.items()},
            "latency_ms_p50": round(self.latency_ms_p50, 4),
        }


def compare(float_probs: np.ndarray, quant_probs: np.ndarray, y: np.ndarray,
            labels: Sequence[str], latencies: Sequence[float] = ()) -> ParityReport:
    """Build the :class:`ParityReport` from both models' ``N×C`` probabilities."""
    f_pred, q_pred = float_probs.argmax(axis=1), quant_probs.argmax(axis=1)
    deltas = {}
    for i, label in enumerate(labels):
        mask = y == i
        if mask.any():
            deltas[str(label)] = (accuracy(y[mask], q_pred[mask]) - accuracy(y[mask], f_pred[mask])) * 100
    return ParityReport(
        samples=len(y), float_accuracy=accuracy(y, f_pred), quant_accuracy=accuracy(y, q_pred),
        agreement=accuracy(f_pred, q_pred),
        mean_abs_dprob=float(np.abs(float_probs - quant_probs).mean()) if len(y) else 0.0,
        per_class_delta=deltas, latency_ms_p50=percentile(latencies, 50),
    )


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A model-colour image (``H×W×1`` grey or ``H×W×3`` RGB) as the BGR frame a camera gives."""
    if image.shape[-1] == 1:
        return np.ascontiguousarray(image[..., 0])
    return np.ascontiguousarray(image[..., ::-1])


def runtime_probs(model: bytes, images: np.ndarray, threads: int | None = None,
                  backend: str | None = None) -> tuple[np.ndarray, list[float]]:
    """Class probabilities and per-image latency (ms) of ``model`` run by :func:`edgekit.load`."""
    import edgekit

    probs, latencies = [], []
    with edgekit.load(model, threads=threads, backend=backend) as loaded:
        for image in images:
            pred = loaded.predict(as_bgr(image))
            probs.append(np.asarray(pred.tensors[0], np.float64).reshape(-1))
            latencies.append(pred.latency.total)
    return np.stack(probs) if probs else np.zeros((0, 0)), latencies
