"""edgekit: run any ``.tflite`` model on a Raspberry Pi or a desktop, without TensorFlow.

>>> import edgekit
>>> model = edgekit.load("model.tflite", threads=2)
>>> pred = model.predict(frame)          # BGR uint8 array or an image path
>>> for r in edgekit.stream(model, source=0): ...
>>> for r in edgekit.batch(model, ["photos/"]): ...
>>> rule = edgekit.Rule.parse("person>=0.6 for 3/5")          # act on it: rules and actions
>>> edgekit.stream(model, 0, rules=[rule], sinks=[edgekit.Snapshots("events/")]).run()
"""

from __future__ import annotations

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

TYPE_CHECKING = False  # not `typing`'s: importing typing costs the CLI's start-up
if TYPE_CHECKING:  # the names below load on first use (see _LAZY)
    from typing import Any

    from ._actions import Capture, Clips, Exec, Retention, Rule, Snapshots, Zone
    from ._batch.engine import batch
    from ._device.profiles import detect_device, get_profile
    from ._device.variants import choose_variant
    from ._modelfile.metadata import ModelMetadata
    from ._modelfile.specs import ModelInfo, TensorSpec
    from ._modelfile.validate import check_model
    from ._stream.factory import stream
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
    "Capture",
    "Classification",
    "Clips",
    "ConfigError",
    "DatasetError",
    "Detection",
    "EdgekitError",
    "EvalReport",
    "Exec",
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
    "Retention",
    "Rule",
    "Snapshots",
    "SourceError",
    "SourceOpenError",
    "SourceStalled",
    "StreamEvent",
    "StreamStats",
    "TensorSpec",
    "Zone",
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

# Everything but the errors loads on first use, so that `import edgekit` stays light
# (no NumPy): the `edgekit` command takes over Ctrl-C before anything heavy is imported.
_LAZY = {
    "stream": "_stream.factory",
    "batch": "_batch.engine",
    "check_model": "_modelfile.validate",
    "choose_variant": "_device.variants",
    "detect_device": "_device.profiles",
    "EvalReport": "_evaluate.classify",
    "evaluate": "_evaluate.classify",
    "get_profile": "_device.profiles",
    "ModelMetadata": "_modelfile.metadata",
    "ModelInfo": "_modelfile.specs",
    "TensorSpec": "_modelfile.specs",
    "Model": "model",
    "default_model_path": "model",
    "load": "model",
    "PredictOptions": "options",
    **dict.fromkeys(("BBox", "Classification", "Detection", "FrameResult", "ItemError", "Latency",
                     "Prediction", "StreamEvent", "StreamStats"), "results"),
    # acting on results: rules and actions
    "Capture": "_actions",
    "Clips": "_actions",
    "Exec": "_actions",
    "Retention": "_actions",
    "Rule": "_actions",
    "Snapshots": "_actions",
    "Zone": "_actions",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
