"""The one drawing function used by ``--save``, ``--serve`` and ``--show``.

:func:`annotate` is pure: it draws on a copy of the frame and returns it —
boxes with labels and scores for detections, the top classes for
classification, and a line with FPS and latency at the bottom.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..preprocess import as_bgr8
from ..results import FrameResult, Prediction

__all__ = ["annotate", "class_lines", "stats_line"]

# Distinct BGR colours; a class keeps its colour across frames (id modulo the palette).
PALETTE = (
    (56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
    (10, 249, 72), (23, 204, 146), (134, 219, 61), (211, 188, 0), (209, 85, 0),
    (255, 194, 0), (255, 115, 100), (236, 24, 0), (255, 56, 132), (133, 0, 82),
    (255, 56, 203), (200, 149, 255), (199, 55, 255),
)
TOP_CLASSES = 3


def _ascii(text: str) -> str:
    # OpenCV's Hershey fonts only draw ASCII.
    return text.encode("ascii", "replace").decode("ascii")


def _name(label: str | None, ident: int) -> str:
    return label if label else str(ident)


def class_lines(prediction: Prediction, top: int = TOP_CLASSES) -> list[str]:
    """The text lines drawn for a prediction's classes (best first)."""
    if prediction.task == "classify":
        return [f"{_name(c.label, c.id)} {c.score:.2f}" for c in prediction.classes[:top]]
    if prediction.task == "raw":
        return [f"raw: {len(prediction.tensors)} output tensors"]
    return []


def stats_line(result: FrameResult | None, stats: Any = None) -> str:
    """The bottom line: FPS, latency p50/p95 and drops (or this frame's latency)."""
    parts: list[str] = []
    if result is not None:
        parts.append(f"#{result.frame}")
    if stats is not None:
        parts.append(f"{stats.fps:.1f} FPS")
        parts.append(f"p50 {stats.latency_p50:.1f} ms")
        parts.append(f"p95 {stats.latency_p95:.1f} ms")
        if stats.dropped:
            parts.append(f"dropped {stats.dropped}")
    elif result is not None:
        parts.append(f"latency {result.latency.total:.1f} ms")
    return "  ".join(parts)


def _text(image: np.ndarray, text: str, org: tuple[int, int], scale: float,
          color: tuple[int, int, int], background: tuple[int, int, int]) -> int:
    """Draw ``text`` with a filled background whose top-left is ``org``; return its height."""
    import cv2

    thick = max(1, round(scale * 1.6))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x, y = org
    h, w = image.shape[:2]
    x = min(max(0, x), max(0, w - tw - 4))
    y = min(max(0, y), max(0, h - th - base - 4))
    cv2.rectangle(image, (x, y), (x + tw + 4, y + th + base + 4), background, cv2.FILLED)
    cv2.putText(image, text, (x + 2, y + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick,
                cv2.LINE_AA)
    return th + base + 4


def _draw_detections(image: np.ndarray, prediction: Prediction, scale: float) -> None:
    import cv2

    h, w = image.shape[:2]
    thick = max(2, round(scale * 3))
    for det in prediction.detections:
        color = PALETTE[det.id % len(PALETTE)]
        x1, y1 = int(round(det.box.x1)), int(round(det.box.y1))
        x2, y2 = int(round(det.box.x2)), int(round(det.box.y2))
        x1, x2 = sorted((min(max(x1, 0), w - 1), min(max(x2, 0), w - 1)))
        y1, y2 = sorted((min(max(y1, 0), h - 1), min(max(y2, 0), h - 1)))
        cv2.rectangle(image, (x1, y1), (x2, y2), color, thick)
        label = _ascii(f"{_name(det.label, det.id)} {det.score:.2f}")
        (_, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale,
                                        max(1, round(scale * 1.6)))
        top = y1 - th - base - 4 if y1 - th - base - 4 >= 0 else y1
        _text(image, label, (x1, top), scale, (255, 255, 255), color)


def annotate(frame: np.ndarray, result: FrameResult | Prediction | None = None,
             stats: Any = None) -> np.ndarray:
    """Draw ``result`` and ``stats`` on a copy of ``frame``.

    Args:
        frame: The source frame (BGR ``uint8``; grayscale, BGRA, 16-bit and
            float frames are converted like the model input is).
        result: A :class:`~edgekit.results.FrameResult` (or a bare ``Prediction``)
            whose boxes are in this frame's pixels; ``None`` draws only ``stats``.
        stats: A :class:`~edgekit.sinks.StreamStats` or ``None``.

    Returns:
        A new BGR ``uint8`` array of the frame's size; ``frame`` is unchanged.

    Raises:
        FrameInvalid: ``frame`` is not an image.
    """
    image = as_bgr8(frame)
    if image is frame or np.shares_memory(image, frame):
        image = image.copy()
    h, w = image.shape[:2]
    scale = max(0.35, min(h, w) / 720.0)
    frame_result = result if isinstance(result, FrameResult) else None
    prediction = result.prediction if isinstance(result, FrameResult) else result
    if prediction is not None:
        _draw_detections(image, prediction, scale)
        y = 4
        for line in class_lines(prediction):
            y += _text(image, _ascii(line), (4, y), scale * 1.2, (255, 255, 255), (40, 40, 40)) + 2
    bottom = stats_line(frame_result, stats)
    if not bottom and prediction is not None:
        bottom = f"latency {prediction.latency.total:.1f} ms"
    if bottom:
        _text(image, _ascii(bottom), (4, h), scale, (0, 255, 255), (0, 0, 0))
    return image
