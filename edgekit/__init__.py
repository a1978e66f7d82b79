"""edgekit: run any ``.tflite`` model on a Raspberry Pi or a desktop, without TensorFlow.

>>> import edgekit
>>> model = edgekit.load("model.tflite", threads=2)
>>> pred = model.predict(frame)          # BGR uint8 array or an image path
>>> for r in edgekit.stream(model, source=0): ...
>>> for r in edgekit.batch(model, ["photos/"]): ...
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .errors import (
    BackendMissing,
    ConfigError,
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
from .metadata import ModelMetadata
from .model import Model, load
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
)
from .specs import ModelInfo, TensorSpec

__all__ = [
    "BBox",
    "BackendMissing",
    "Classification",
    "ConfigError",
    "Detection",
    "EdgekitError",
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
    "TensorSpec",
    "__version__",
    "batch",
    "default_model_path",
    "load",
    "stream",
]

# Heavier entry points load on first use so that `import edgekit` stays light.
_LAZY = {"stream": "streaming", "batch": "batching"}


def default_model_path() -> str:
    """Path of the bundled default model (int8 handwritten-digit classifier)."""
    from importlib.resources import files

    return str(files("edgekit") / "data" / "digits_int8.tflite")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
