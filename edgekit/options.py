"""Prediction options, validated once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ConfigError
from .preprocess import COLOR_ORDERS, NORMALIZATIONS, RESIZE_MODES

__all__ = ["MIN_CLASS_SCORE", "PredictOptions", "parse_normalize"]

# Classes scoring below this are not reported unless a threshold is given: JSON shows
# scores to 4 decimals, so they would read as "score": 0.0 and say nothing.
MIN_CLASS_SCORE = 0.0001
IMAGENET = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
TASKS = ("classify", "detect", "raw")
# Detection defaults are Ultralytics' predict defaults (conf 0.25, iou 0.7, max_det 300), so that
# a YOLO model gives here the boxes it gives in Ultralytics (see README, "Object detection").
DETECT_SCORE_THRESHOLD = 0.25
IOU_THRESHOLD = 0.7
MAX_DETECTIONS = 300


@dataclass(frozen=True, slots=True)
class PredictOptions:
    """How a model pre- and post-processes; ``None`` means "from metadata, else default".

    Attributes:
        top_k: Classes kept per classification.
        score_threshold: Classes need at least this score (default :data:`MIN_CLASS_SCORE`
            = 0.0001); detections more than it (default 0.25).
        iou_threshold: Overlap above which NMS suppresses a box (default 0.7).
        max_detections: Detections kept per image (default 300).
        classes: Keep only these labels or ids (detection).
        task: Force ``"classify"``, ``"detect"`` or ``"raw"``.
        layout: Force a detection layout (see :mod:`edgekit._detect.layouts`).
        normalize: ``"unit"`` [0, 1], ``"signed"`` [-1, 1], ``"raw"`` [0, 255],
            ``"imagenet"``, or ``"MEAN,STD"``.
        resize: ``"stretch"``, ``"letterbox"`` or ``"crop"``.
        color: ``"rgb"``, ``"bgr"`` or ``"gray"``.
        activation: ``"auto"``, ``"softmax"`` or ``"none"`` for classification scores.
    """

    top_k: int = 5
    score_threshold: float | None = None
    iou_threshold: float = IOU_THRESHOLD
    max_detections: int = MAX_DETECTIONS
    classes: tuple[str, ...] | None = None
    task: str | None = None
    layout: str | None = None
    normalize: str | None = None
    resize: str | None = None
    color: str | None = None
    activation: str | None = None

    def threshold_for(self, task: str) -> float:
        """The score threshold in force for ``task``."""
        if self.score_threshold is not None:
            return self.score_threshold
        return DETECT_SCORE_THRESHOLD if task == "detect" else MIN_CLASS_SCORE

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ConfigError(f"top_k must be at least 1, got {self.top_k}")
        if self.score_threshold is not None and not 0.0 <= self.score_threshold <= 1.0:
            raise ConfigError(f"score_threshold must be in [0, 1], got {self.score_threshold}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ConfigError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if self.max_detections < 1:
            raise ConfigError(f"max_detections must be at least 1, got {self.max_detections}")
        if self.task is not None and self.task not in TASKS:
            raise ConfigError(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.resize is not None and self.resize not in RESIZE_MODES:
            raise ConfigError(f"resize {self.resize!r} is not one of {', '.join(RESIZE_MODES)}")
        if self.color is not None and self.color not in COLOR_ORDERS:
            raise ConfigError(f"color {self.color!r} is not one of {', '.join(COLOR_ORDERS)}")
        if self.normalize is not None:
            parse_normalize(self.normalize)
        if self.classes is not None and not isinstance(self.classes, tuple):
            object.__setattr__(self, "classes", _as_tuple(self.classes))


def _as_tuple(value: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def parse_normalize(value: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``"unit"`` / ``"signed"`` / ``"raw"`` / ``"imagenet"`` / ``"MEAN,STD"`` → (mean, std)."""
    key = value.strip().lower()
    if key in NORMALIZATIONS:
        mean, std = NORMALIZATIONS[key]
        return (mean,), (std,)
    if key == "imagenet":
        return IMAGENET
    parts = key.split(",")
    try:
        mean, std = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(
            f"normalize {value!r} is not one of unit, signed, raw, imagenet or 'MEAN,STD'"
        ) from None
    if std == 0:
        raise ConfigError(f"normalize {value!r}: STD must not be 0")
    return (mean,), (std,)
