"""Prediction options, validated once, and how they combine with model metadata."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError, ModelIncompatible
from .preprocess import COLOR_ORDERS, NORMALIZATIONS, RESIZE_MODES, InputFormat

if TYPE_CHECKING:
    from .metadata import ModelMetadata
    from .specs import TensorSpec

__all__ = ["PredictOptions", "input_format", "parse_normalize"]

IMAGENET = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
TASKS = ("classify", "detect", "raw")


@dataclass(frozen=True, slots=True)
class PredictOptions:
    """How a model pre- and post-processes; ``None`` means "from metadata, else default".

    Attributes:
        top_k: Classes kept per classification.
        score_threshold: Minimum score kept (default 0 for classes, 0.25 for detections).
        iou_threshold: Overlap above which NMS suppresses a box.
        max_detections: Detections kept per image.
        classes: Keep only these labels or ids (detection).
        task: Force ``"classify"``, ``"detect"`` or ``"raw"``.
        layout: Force a detection layout (see :mod:`edgekit.detect`).
        normalize: ``"unit"`` [0, 1], ``"signed"`` [-1, 1], ``"raw"`` [0, 255],
            ``"imagenet"``, or ``"MEAN,STD"``.
        resize: ``"stretch"``, ``"letterbox"`` or ``"crop"``.
        color: ``"rgb"``, ``"bgr"`` or ``"gray"``.
        activation: ``"auto"``, ``"softmax"`` or ``"none"`` for classification scores.
    """

    top_k: int = 5
    score_threshold: float | None = None
    iou_threshold: float = 0.45
    max_detections: int = 100
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
        return 0.25 if task == "detect" else 0.0

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


def _image_dims(spec: TensorSpec, where: str) -> tuple[int, int, int, bool]:
    shape = spec.shape
    if len(shape) == 4 and shape[3] in (1, 3, 4):
        return shape[1], shape[2], shape[3], False
    if len(shape) == 4 and shape[1] in (1, 3, 4):
        return shape[2], shape[3], shape[1], True
    if len(shape) == 3 and shape[2] in (1, 3, 4) and shape[0] > 4:
        return shape[0], shape[1], shape[2], False
    if len(shape) == 3:
        return shape[1], shape[2], 1, False
    raise ModelIncompatible(
        f"{where}: input {spec.name!r} has shape {list(shape)}, which is not an image "
        "(expected [1,H,W,C], [1,C,H,W] or [1,H,W]); use Model.run() with raw arrays"
    )


def input_format(
    inputs: tuple[TensorSpec, ...],
    meta: ModelMetadata | None,
    options: PredictOptions,
    where: str,
    fallback_resize: str = "stretch",
) -> InputFormat:
    """The :class:`InputFormat` for a model: options, then metadata, then defaults by dtype.

    Defaults without metadata: float inputs take [0, 1]; ``uint8`` inputs take
    raw pixels; ``int8`` inputs take ``pixel - 128``; colour order RGB;
    ``fallback_resize`` (stretch; a YOLO detection layout passes letterbox).
    """
    if len(inputs) != 1:
        raise ModelIncompatible(
            f"{where}: the model has {len(inputs)} inputs; predict() needs one image input, "
            "use Model.run() with raw arrays"
        )
    spec = inputs[0]
    height, width, channels, nchw = _image_dims(spec, where)
    dtype = np.dtype(spec.dtype)
    scale, zero_point = spec.scale, spec.zero_point
    if options.normalize is not None:
        mean, std = parse_normalize(options.normalize)
    elif meta is not None:
        mean, std = meta.mean, meta.std
    elif dtype.kind == "f":
        mean, std = (0.0,), (255.0,)
    else:
        # No metadata: integer inputs take pixels as they are (shifted for int8).
        mean, std = ((128.0,) if dtype == np.int8 else (0.0,)), (1.0,)
        scale, zero_point = 0.0, 0
    if dtype.kind not in "fiu":
        raise ModelIncompatible(f"{where}: input dtype {dtype} is not an image dtype")
    default_resize = meta.resize if meta is not None else fallback_resize
    default_color = meta.color if meta is not None else ("gray" if channels == 1 else "rgb")
    return InputFormat(
        width=width, height=height, channels=channels, dtype=dtype,
        color=options.color or default_color, resize=options.resize or default_resize,
        mean=tuple(mean), std=tuple(std), scale=scale, zero_point=zero_point, nchw=nchw,
    )
