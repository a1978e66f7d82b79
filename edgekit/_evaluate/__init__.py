"""Evaluation on the device: labelled data, a model, and the metrics (no TensorFlow).

Classification: the pure metrics (:mod:`.metrics`, including the chance guard the trainer
shares) and the folder reading (:mod:`.folder`) are separate from the code that runs the
model (:mod:`.classify`); matplotlib is imported only when a figure is asked for (:mod:`.figure`).

Detection: :mod:`.boxdata` reads YOLO / COCO datasets, :mod:`.detect` runs a detector over one
split and scores it with pycocotools (the ``eval`` extra; :mod:`.cocoscore`, :mod:`.prcurve`).
"""

from __future__ import annotations

from .classify import EvalReport, evaluate, match_classes, render_report
from .metrics import ChanceCheck, chance_check, majority_rate

__all__ = ["ChanceCheck", "EvalReport", "chance_check", "evaluate", "majority_rate", "match_classes",
           "render_report"]
