"""edgekit's desktop companion: fit, quantize, check and export Keras classifiers.

TensorFlow (the ``train`` extra) is imported only when a function needs it. ``evaluate``
is the runtime's own (it needs no TensorFlow), re-exported here for convenience.

>>> from edgekit_trainer import TrainConfig, ExportConfig, train, export, evaluate
>>> result = train(TrainConfig("photos/", "runs/flowers", model="mobilenet_v2"))
>>> models = export(ExportConfig("runs/flowers", quantize="int8"))
>>> report = evaluate("runs/flowers/model_int8.tflite", "photos/")
"""

from __future__ import annotations

from edgekit._evaluate import EvalReport, evaluate

from .errors import (
    ChanceLevel,
    ClusterError,
    DatasetError,
    ParityFailed,
    ResumeRefused,
    RunExists,
    WeightsUnavailable,
)
from .exporter import ExportConfig, ExportedModel, export
from .fit import TrainConfig, TrainResult, train

__all__ = [
    "ChanceLevel",
    "ClusterError",
    "DatasetError",
    "EvalReport",
    "ExportConfig",
    "ExportedModel",
    "ParityFailed",
    "ResumeRefused",
    "RunExists",
    "TrainConfig",
    "TrainResult",
    "WeightsUnavailable",
    "evaluate",
    "export",
    "train",
]
