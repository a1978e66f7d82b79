"""Model architectures: a small CNN and Keras' pretrained mobile backbones.

Every model takes pixels in [0, 255] (rescaling is inside the model) and ends in
a softmax, so the exported ``.tflite`` needs no normalization from the runtime
(metadata ``mean=0, std=1``) and its outputs are probabilities.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import ConfigError

from .errors import WeightsUnavailable

__all__ = [
    "BACKBONES",
    "Architecture",
    "backbone_of",
    "build_model",
    "default_size",
    "freeze_backbone",
    "unfreeze_top",
]

BACKBONES = ("tiny", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0")
DEFAULT_SIZE = {"tiny": 64, "mobilenet_v2": 224, "mobilenet_v3_small": 224,
                "mobilenet_v3_large": 224, "efficientnet_b0": 224}
BACKBONE_LAYER = "backbone"


@dataclass(frozen=True, slots=True)
class Architecture:
    """What to build.

    Attributes:
        name: One of :data:`BACKBONES`.
        num_classes: Output classes.
        size: Square input side in pixels.
        channels: 1 (grey) or 3 (RGB); pretrained weights need 3.
        alpha: Width multiplier (MobileNets).
        weights: ``"imagenet"``, ``"none"`` or a path to a backbone weights file.
        dropout: Dropout before the classifier.
    """

    name: str
    num_classes: int
    size: int
    channels: int = 3
    alpha: float = 1.0
    weights: str = "none"
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if self.name not in BACKBONES:
            raise ConfigError(f"model {self.name!r} is not one of {', '.join(BACKBONES)}")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}")
        if self.size < 16:
            raise ConfigError(f"size must be at least 16 pixels, got {self.size}")
        if self.pretrained and self.channels != 3:
            raise ConfigError(f"pretrained {self.name} weights need channels=3, got {self.channels}")
        if self.name == "tiny" and self.pretrained:
            raise ConfigError("the tiny backbone has no pretrained weights; use --weights none")

    @property
    def pretrained(self) -> bool:
        return self.weights.lower() != "none"


def default_size(name: str) -> int:
    """The input size used when ``--size`` is not given."""
    return DEFAULT_SIZE.get(name, 224)


def _conv_bn(keras: Any, x: Any, filters: int, strides: int = 1) -> Any:
    x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    # the statistics it predicts with are measured on the training images, not averaged; across
    # devices and workers it trains with the global batch's (both in batchnorm.py)
    return keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))


def _tiny(arch: Architecture, keras: Any) -> Any:
    inputs = keras.Input((arch.size, arch.size, arch.channels), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    if arch.size >= 64:  # a strided stem keeps big inputs cheap on weak CPUs
        x = _conv_bn(keras, x, 16, strides=2)
    x = keras.layers.MaxPooling2D()(_conv_bn(keras, x, 16))
    x = keras.layers.MaxPooling2D()(_conv_bn(keras, _conv_bn(keras, x, 32), 32))
    x = _conv_bn(keras, _conv_bn(keras, x, 64), 64)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(arch.dropout)(x)
    outputs = keras.layers.Dense(arch.num_classes, activation="softmax", name="probs", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="tiny")


def _application(arch: Architecture, keras: Any) -> Any:
    shape = (arch.size, arch.size, 3)
    weights = None if not arch.pretrained else arch.weights
    if weights and weights != "imagenet" and not Path(weights).is_file():
        raise WeightsUnavailable(f"weights file {weights} does not exist (or pass --weights none)")
    common: dict[str, Any] = {"input_shape": shape, "include_top": False, "weights": weights,
                              "pooling": "avg"}
    apps = keras.applications
    if arch.name == "mobilenet_v2":
        return apps.MobileNetV2(alpha=arch.alpha, name=BACKBONE_LAYER, **common)
    if arch.name == "mobilenet_v3_small":
        return apps.MobileNetV3Small(alpha=arch.alpha, include_preprocessing=True,
                                     name=BACKBONE_LAYER, **common)
    if arch.name == "mobilenet_v3_large":
        return apps.MobileNetV3Large(alpha=arch.alpha, include_preprocessing=True,
                                     name=BACKBONE_LAYER, **common)
    return apps.EfficientNetB0(name=BACKBONE_LAYER, **common)


def _keras_home() -> Path:
    try:  # where Keras really caches downloads (it reads $KERAS_HOME once, at import)
        from keras.src.backend.config import keras_home

        return Path(keras_home())
    except ImportError:  # pragma: no cover - a future Keras layout
        return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def _download_error(arch: Architecture, exc: BaseException) -> WeightsUnavailable:
    match = re.search(r"https?://\S+/([^/\s:]+\.h5)", str(exc))
    where = _keras_home() / "models" / (match.group(1) if match else "<weights file>.h5")
    url = match.group(0) if match else "the Keras applications URL"
    return WeightsUnavailable(
        f"cannot download ImageNet weights for {arch.name} (no network?): pass --weights none, "
        f"or download {url} on another machine and put it at {where}"
    )


def build_model(arch: Architecture) -> Any:
    """Build the Keras classifier for ``arch`` (call inside a strategy scope if any).

    The pretrained backbone is the layer named ``"backbone"``; it is called with
    ``training=False`` so that its batch-norm statistics stay fixed while fine-tuning.

    Raises:
        WeightsUnavailable: ImageNet weights cannot be downloaded, or the weights file is missing.
        ConfigError: an impossible combination (see :class:`Architecture`).
    """
    import keras

    if arch.name == "tiny":
        return _tiny(arch, keras)
    try:
        base = _application(arch, keras)
    except WeightsUnavailable:
        raise
    except Exception as exc:  # keras.utils.get_file raises a bare Exception on fetch failure
        if arch.weights == "imagenet" and ("fetch failure" in str(exc) or "URL" in str(exc)):
            raise _download_error(arch, exc) from exc
        raise ConfigError(f"cannot build {arch.name} (size {arch.size}, alpha {arch.alpha}, "
                          f"weights {arch.weights}): {exc}") from exc
    inputs = keras.Input((arch.size, arch.size, 3), name="image")
    x = inputs
    if arch.name == "mobilenet_v2":  # v3 and EfficientNet rescale inside the backbone
        x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(x)
    else:
        x = keras.layers.Rescaling(1.0, name="rescale")(x)
    x = base(x, training=False) if arch.pretrained else base(x)
    x = keras.layers.Dropout(arch.dropout)(x)
    outputs = keras.layers.Dense(arch.num_classes, activation="softmax", name="probs", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=arch.name)


def backbone_of(model: Any) -> Any | None:
    """The pretrained backbone layer of ``model``, or ``None`` (tiny)."""
    try:
        return model.get_layer(BACKBONE_LAYER)
    except ValueError:
        return None


def freeze_backbone(model: Any) -> None:
    """Stage 1 of transfer learning: only the new classifier head trains."""
    base = backbone_of(model)
    if base is not None:
        base.trainable = False


def unfreeze_top(model: Any, fraction: float = 0.3) -> int:
    """Stage 2: make the top ``fraction`` of the backbone's layers trainable.

    Batch-norm layers stay frozen (they are called in inference mode anyway).

    Returns:
        The number of backbone layers made trainable.
    """
    base = backbone_of(model)
    if base is None:
        return 0
    base.trainable = True
    layers = base.layers
    cut = int(len(layers) * (1.0 - fraction))
    count = 0
    for i, layer in enumerate(layers):
        trainable = i >= cut and not layer.__class__.__name__.startswith("BatchNormalization")
        layer.trainable = trainable
        count += int(trainable)
    return count
