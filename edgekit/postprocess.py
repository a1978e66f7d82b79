"""Pure classification post-processing: dequantize → (softmax) → top-k → labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ConfigError
from .results import Classification

__all__ = ["classify", "dequantize", "looks_like_logits", "softmax", "top_k"]

ACTIVATIONS = ("auto", "softmax", "none")


def dequantize(array: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """``real = scale * (q - zero_point)``; float tensors (``scale == 0``) pass through as float32."""
    if scale:
        return (array.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
    return np.asarray(array, dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    if logits.size == 0:
        return np.asarray(logits, np.float32)
    shifted = logits - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def looks_like_logits(scores: np.ndarray) -> bool:
    """True when scores cannot be probabilities (a value outside [0, 1])."""
    return bool(scores.size) and bool(np.min(scores) < -1e-3 or np.max(scores) > 1.0 + 1e-3)


def top_k(scores: np.ndarray, k: int, threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the ``k`` best entries at or above ``threshold``, best first.

    Ties keep the lower index first, so results are deterministic.
    """
    if k < 1:
        raise ConfigError(f"top_k must be at least 1, got {k}")
    flat = np.asarray(scores, dtype=np.float32).reshape(-1)
    k = min(k, flat.size)
    if k == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    order = np.argsort(-flat, kind="stable")[:k]
    keep = order[flat[order] >= threshold]
    return keep.astype(np.int64), flat[keep]


def classify(
    scores: np.ndarray,
    labels: Sequence[str] | None = None,
    k: int = 5,
    threshold: float = 0.0,
    activation: str = "auto",
) -> tuple[Classification, ...]:
    """Dequantized scores of one image → the top classes.

    Args:
        scores: One score per class (any shape with that many elements).
        labels: Class names by id; ids past the end get ``None``.
        k: How many classes to keep.
        threshold: Minimum probability to keep a class.
        activation: ``"softmax"`` always applies it, ``"none"`` never,
            ``"auto"`` only when the scores look like logits.
    """
    if activation not in ACTIVATIONS:
        raise ConfigError(f"activation {activation!r} is not one of {', '.join(ACTIVATIONS)}")
    flat = np.asarray(scores, dtype=np.float32).reshape(-1)
    if activation == "softmax" or (activation == "auto" and looks_like_logits(flat)):
        flat = softmax(flat)
    ids, values = top_k(flat, k, threshold)
    names = list(labels) if labels is not None else []
    return tuple(
        Classification(int(i), names[i] if i < len(names) else None, float(v))
        for i, v in zip(ids, values)
    )
