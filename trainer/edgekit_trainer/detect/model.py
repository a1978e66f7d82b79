"""The detector: a backbone, a small feature pyramid, an anchor-free head (Keras).

``build_detector`` gives the *training* model: pixels ``[B,S,S,3]`` in 0..255 →
raw ``[B,N,4+C]`` (per point: four log-distances to the box sides in strides,
then one logit per class). ``with_decoder`` appends :class:`DecodeHead`, which
turns that into what the runtime reads without options — the YOLOv8 layout
``[B,4+C,N]``: centre x, centre y, width, height normalized to the input, then
per-class probabilities. Boxes and scores share [0, 1], so one int8 scale holds
both (as in Ultralytics' int8 exports).

Backbones: ``tiny`` (plain 3×3 convolutions, for weak devices) or Keras'
MobileNetV2 / V3 (features taken at strides 8, 16, 32); the neck and head use
depthwise-separable convolutions, ReLU everywhere (int8-friendly).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit.errors import ConfigError

from ..errors import WeightsUnavailable
from .targets import STRIDES, Points, points_for

__all__ = ["BACKBONES", "DecodeHead", "DetectArchitecture", "build_detector", "with_decoder"]

BACKBONES = ("tiny", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large")
BACKBONE_LAYER = "backbone"
PRIOR = 0.01  # initial class probability: the background dominates at first
# A box side's distance from its point, as a fraction of the input side, lies in [e^-5, 1]: farther
# is outside the image, nearer is below one int8 step. The bound keeps every int8 tensor fine-grained.
LOG_MIN_DISTANCE = -5.0


@dataclass(frozen=True, slots=True)
class DetectArchitecture:
    """What to build.

    Attributes:
        name: One of :data:`BACKBONES`.
        num_classes: Object classes.
        size: Square input side (a multiple of 32).
        alpha: Width multiplier (MobileNets; scales ``tiny``'s channels too).
        weights: ``"imagenet"``, ``"none"`` or a path to backbone weights.
        width: Channels of the feature pyramid and head.
    """

    name: str
    num_classes: int
    size: int
    alpha: float = 1.0
    weights: str = "none"
    width: int = 64

    def __post_init__(self) -> None:
        if self.name not in BACKBONES:
            raise ConfigError(f"detection backbone {self.name!r} is not one of {', '.join(BACKBONES)}")
        if self.size % STRIDES[-1] or not 96 <= self.size <= 1024:
            raise ConfigError(f"detector input size must be a multiple of {STRIDES[-1]} in 96..1024, "
                              f"got {self.size}")
        if self.name == "tiny" and self.pretrained:
            raise ConfigError("the tiny backbone has no pretrained weights; use weights none")
        if self.num_classes < 1:
            raise ConfigError("a detector needs at least one class")

    @property
    def pretrained(self) -> bool:
        return self.weights.lower() != "none"

    @property
    def points(self) -> Points:
        return points_for(self.size)


def _conv(keras: Any, x: Any, filters: int, strides: int = 1, name: str | None = None) -> Any:
    x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                            name=name and f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=0.97, name=name and f"{name}_bn")(x)
    return keras.layers.ReLU(name=name and f"{name}_relu")(x)


def _sep(keras: Any, x: Any, filters: int, name: str) -> Any:
    """Depthwise 3×3 then pointwise 1×1, each with batch norm and ReLU."""
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = keras.layers.ReLU(name=f"{name}_dw_relu")(keras.layers.BatchNormalization(momentum=0.97,
                                                                               name=f"{name}_dw_bn")(x))
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(keras.layers.BatchNormalization(momentum=0.97,
                                                                               name=f"{name}_bn")(x))


def _tiny(keras: Any, arch: DetectArchitecture) -> Any:
    """Plain 3×3 convolutions; features at strides 8, 16 and 32."""
    widths = [max(8, int(round(c * arch.alpha / 8)) * 8) for c in (16, 32, 64, 128, 192)]
    inputs = keras.Input((None, None, 3))  # any size: the warm-up classifies small crops with it
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    x = _conv(keras, x, widths[0], 2)
    x = _conv(keras, _conv(keras, x, widths[1], 2), widths[1])
    feats = []
    for c in widths[2:]:
        x = _conv(keras, _conv(keras, x, c, 2), c)
        feats.append(x)
    return keras.Model(inputs, feats, name=BACKBONE_LAYER)


def _application(keras: Any, arch: DetectArchitecture) -> Any:
    """A Keras MobileNet cut at its last layer of each stride 8, 16, 32."""
    from pathlib import Path

    weights = None if not arch.pretrained else arch.weights
    if weights and weights != "imagenet" and not Path(weights).is_file():
        raise WeightsUnavailable(f"weights file {weights} does not exist (or pass --weights none)")
    shape = (arch.size, arch.size, 3)
    apps = keras.applications
    try:
        if arch.name == "mobilenet_v2":
            base = apps.MobileNetV2(input_shape=shape, alpha=arch.alpha, include_top=False, weights=weights)
        else:
            cls = apps.MobileNetV3Small if arch.name == "mobilenet_v3_small" else apps.MobileNetV3Large
            base = cls(input_shape=shape, alpha=arch.alpha, include_top=False, weights=weights,
                       include_preprocessing=False)
    except Exception as exc:  # keras.utils.get_file raises a bare Exception on fetch failure
        if weights == "imagenet":
            raise WeightsUnavailable(f"cannot get ImageNet weights for {arch.name} ({exc}); "
                                     "pass --weights none or a weights file") from exc
        raise ConfigError(f"cannot build {arch.name} (size {arch.size}, alpha {arch.alpha}): {exc}") from exc
    outputs = []
    for stride in STRIDES:
        cells = arch.size // stride
        last = [layer for layer in base.layers
                if len(layer.output.shape) == 4 and layer.output.shape[1] == cells]
        outputs.append(last[-1].output)
    return keras.Model(base.input, outputs, name=BACKBONE_LAYER)


def _neck(keras: Any, feats: list[Any], width: int) -> list[Any]:
    """Top-down feature pyramid: every level gets the coarser levels' context."""
    lateral = [_conv1(keras, f, width, f"lateral{i}") for i, f in enumerate(feats)]
    out = [lateral[-1]]
    for i in range(len(lateral) - 2, -1, -1):
        up = keras.layers.UpSampling2D(2, interpolation="nearest")(out[0])
        out.insert(0, _sep(keras, keras.layers.Add()([lateral[i], up]), width, f"fpn{i}"))
    return out


def _conv1(keras: Any, x: Any, filters: int, name: str) -> Any:
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(keras.layers.BatchNormalization(momentum=0.97,
                                                                               name=f"{name}_bn")(x))


def _head(keras: Any, levels: list[Any], arch: DetectArchitecture) -> Any:
    boxes, logits = [], []
    prior = -math.log((1 - PRIOR) / PRIOR)
    for i, x in enumerate(levels):
        cells = arch.size // STRIDES[i]
        stem = _sep(keras, x, arch.width, f"head{i}")
        box = _sep(keras, stem, arch.width, f"head{i}_box")
        box = keras.layers.Conv2D(4, 1, name=f"head{i}_box_out")(box)
        cls = _sep(keras, stem, arch.width, f"head{i}_cls")
        cls = keras.layers.Conv2D(arch.num_classes, 1, name=f"head{i}_cls_out",
                                  bias_initializer=keras.initializers.Constant(prior))(cls)
        boxes.append(keras.layers.Reshape((cells * cells, 4))(box))
        logits.append(keras.layers.Reshape((cells * cells, arch.num_classes))(cls))
    box = keras.layers.Concatenate(axis=1, name="boxes")(boxes)
    cls = keras.layers.Concatenate(axis=1, name="logits")(logits)
    return keras.layers.Concatenate(axis=-1, name="raw")([box, cls])


def build_detector(arch: DetectArchitecture) -> Any:
    """The training model (see the module docstring); call inside a strategy scope if any.

    Raises:
        WeightsUnavailable: ImageNet weights cannot be downloaded, or the weights file is missing.
        ConfigError: the backbone cannot be built at this size.
    """
    import keras

    inputs = keras.Input((arch.size, arch.size, 3), name="image")
    if arch.name == "tiny":
        backbone = _tiny(keras, arch)
        x = inputs
    else:
        backbone = _application(keras, arch)
        x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    feats = backbone(x, training=False) if arch.pretrained else backbone(x)
    raw = _head(keras, _neck(keras, list(feats), arch.width), arch)
    return keras.Model(inputs, raw, name=f"detector_{arch.name}")


def _log_strides(points: Points) -> np.ndarray:
    """``log(stride / size)`` per point: the raw output is a log-distance in strides."""
    return np.log(points.stride / points.size).astype(np.float32)[None, :, None]


def _distances(raw_box: Any, log_strides: np.ndarray) -> Any:
    """Raw ``[B,N,4]`` → distances to the four box sides, as fractions of the input side."""
    from keras import ops

    return ops.exp(ops.clip(raw_box + log_strides, LOG_MIN_DISTANCE, 0.0))


def decode_boxes(raw_box: Any, points: Points) -> Any:
    """Raw ``[B,N,4]`` → corners ``[B,N,4]`` in input pixels (Keras ops; what the loss sees)."""
    from keras import ops

    dist = _distances(raw_box, _log_strides(points)) * float(points.size)
    xy = ops.convert_to_tensor(points.xy[None])
    return ops.concatenate([xy - dist[..., :2], xy + dist[..., 2:]], axis=-1)


@functools.lru_cache(maxsize=1)
def _decode_head_class() -> Any:
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="edgekit")
    class DecodeHead(keras.layers.Layer):
        """Raw ``[B,N,4+C]`` → YOLOv8 layout ``[B,4+C,N]``: normalized xywh, class probabilities."""

        def __init__(self, size: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.size = int(size)
            pts = points_for(self.size)
            # everything in fractions of the input side, so that every int8 tensor spans about [0, 1]
            self._xy = (pts.xy / self.size).astype(np.float32)[None]
            self._log_strides = _log_strides(pts)

        def call(self, raw: Any) -> Any:
            dist = _distances(raw[..., :4], self._log_strides)
            top_left = ops.clip(self._xy - dist[..., :2], 0.0, 1.0)
            bottom_right = ops.clip(self._xy + dist[..., 2:], 0.0, 1.0)
            boxes = ops.concatenate([(top_left + bottom_right) * 0.5, bottom_right - top_left], axis=-1)
            out = ops.concatenate([boxes, ops.sigmoid(raw[..., 4:])], axis=-1)
            return ops.transpose(out, (0, 2, 1))

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "size": self.size}

    return DecodeHead


def with_decoder(model: Any, size: int) -> Any:
    """``model`` (raw output) followed by :class:`DecodeHead`: the exported graph."""
    import keras

    head = _decode_head_class()(size, name="yolov8_head")
    return keras.Model(model.input, head(model.output), name="edgekit_detector")


def __getattr__(name: str) -> Any:
    if name == "DecodeHead":  # built on first use: defining it imports Keras
        return _decode_head_class()
    raise AttributeError(name)
