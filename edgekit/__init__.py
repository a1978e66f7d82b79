"""edgekit: run any ``.tflite`` model on a Raspberry Pi or a desktop, without TensorFlow.

>>> import edgekit
>>> model = edgekit.load("model.tflite", threads=2)
>>> pred = model.predict(frame)          # BGR uint8 array or an image path
>>> for r in edgekit.stream(model, source=0): ...
>>> for r in edgekit.batch(model, ["photos/"]): ...
"""

from __future__ import annotations

from typing import Any

from ._modelfile.metadata import ModelMetadata
from ._modelfile.specs import ModelInfo, TensorSpec
from ._version import __version__
from .errors import (
    BackendMissing,
    ConfigError,
    DatasetError,
    EdgekitError,
    ExtraMissing,
    FrameInvalid,
    ImageUnreadable,
    InputError,
    ModelError,
    ModelIncompatible,
    ModelInvalid,
    ModelNotFound,
    SourceError,
    SourceOpenError,
    SourceStalled,
)
from .model import Model, default_model_path, load
from .options import PredictOptions
from .results import (
    BBox,
    Classification,
    Detection,
    FrameResult,
    ItemError,
    Latency,
    Prediction,
    StreamEvent,
    StreamStats,
)

__all__ = [
    "BBox",
    "BackendMissing",
    "Classification",
    "ConfigError",
    "DatasetError",
    "Detection",
    "EdgekitError",
    "EvalReport",
    "ExtraMissing",
    "FrameInvalid",
    "FrameResult",
    "ImageUnreadable",
    "InputError",
    "ItemError",
    "Latency",
    "Model",
    "ModelError",
    "ModelIncompatible",
    "ModelInfo",
    "ModelInvalid",
    "ModelMetadata",
    "ModelNotFound",
    "PredictOptions",
    "Prediction",
    "SourceError",
    "SourceOpenError",
    "SourceStalled",
    "StreamEvent",
    "StreamStats",
    "TensorSpec",
    "__version__",
    "batch",
    "check_model",
    "choose_variant",
    "default_model_path",
    "detect_device",
    "evaluate",
    "get_profile",
    "load",
    "stream",
]

# Heavier entry points load on first use so that `import edgekit` stays light.
_LAZY = {
    "stream": "_stream.factory",
    "batch": "_batch.engine",
    "check_model": "_modelfile.validate",
    "choose_variant": "_device.variants",
    "detect_device": "_device.profiles",
    "EvalReport": "_evaluate.classify",
    "evaluate": "_evaluate.classify",
    "get_profile": "_device.profiles",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
