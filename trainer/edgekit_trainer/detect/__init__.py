"""Object detection in the trainer: YOLO / COCO datasets → Keras detector → self-describing ``.tflite``.

TensorFlow is imported only when a function needs it.

>>> from edgekit_trainer.detect import DetectConfig, DetectExportConfig, train, export
>>> result = train(DetectConfig("parcels/", "runs/parcels", model="mobilenet_v2"))
>>> models = export(DetectExportConfig("runs/parcels", quantize="int8", max_drop=2.0))
"""

from __future__ import annotations

from .export import DetectExportConfig, DetectParity, ExportedDetector, export
from .fit import DetectConfig, DetectResult, train

__all__ = ["DetectConfig", "DetectExportConfig", "DetectParity", "DetectResult", "ExportedDetector", "export",
           "train"]
