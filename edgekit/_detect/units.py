"""What a detector's numbers mean — box units and score kind — decided once per model.

A YOLO head's boxes are either fractions of the input size ("normalized") or
model-input pixels, and its scores either probabilities or logits. Nothing in
the shapes says which, and guessing from each frame's values flips between
frames (an untrained-but-calibrated export's normalized boxes reach 2.2). So
:func:`settle` decides once, when the model is loaded, from the first of:

1. what is declared: the layout string (``yolov8:pixels``, ``yolov8:logits``)
   or the ``detection`` section of edgekit metadata (``"coords"``, ``"scores"``);
2. the op: ``TFLite_Detection_PostProcess`` (``ssd``) always emits normalized
   boxes and probabilities;
3. Ultralytics' ``metadata.json``: its heads always end in a sigmoid
   (probabilities), and an export with a channels-first (NCHW) input comes from
   litert-torch (``format='tflite'``/``'litert'``), whose raw heads are normalized
   and whose end-to-end heads are in pixels — the rule Ultralytics' own LiteRT
   backend applies;
4. a check at load: the model is run once on a neutral grey frame, and the
   median box centre of all its candidates is compared with the input size
   (pixels put it near the middle of the input, ~W/2; normalized near 0.5);
   scores outside [-0.05, 1.05] are logits.

Onnx2tf exports (``format='saved_model'``, channels-last input) land in 4: their
boxes are pixels in Ultralytics 8.4, normalized in older releases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .boxes import COORDS, SCORES
from .layouts import LAYOUTS, Declared, Layout

__all__ = ["from_probe", "settle"]

# Quantized probabilities overshoot [0, 1] by up to half a step; logits go far beyond.
LOGIT_MARGIN = 0.05


def settle(
    layout: Layout,
    declared: Declared | None,
    hints: Mapping[str, Any],
    ultralytics: Mapping[str, Any] | None,
    nchw: bool,
    probe: Callable[[], Sequence[np.ndarray] | None],
    input_size: tuple[int, int],
) -> Layout:
    """``layout`` with its units and score kind decided, and where that came from.

    Args:
        layout: From :func:`~edgekit._detect.layouts.recognize`.
        declared: The layout string taken apart (``None``: no layout given).
        hints: The ``detection`` section of edgekit metadata (``{}``: none).
        ultralytics: Ultralytics' ``metadata.json`` zipped onto the model, if any.
        nchw: The model's image input is channels-first.
        probe: Runs the model once on a grey frame and returns its float outputs
            (``None`` if it cannot run); called only when nothing else decides.
        input_size: ``(width, height)`` of the model input.

    Raises:
        ValueError: ``hints`` holds a unit or score kind that does not exist.
    """
    coords, scores = _declared(declared, hints)
    coords_by = scores_by = "declared"
    if layout.kind == "ssd":
        op = "TFLite_Detection_PostProcess output"
        coords, coords_by = (coords, coords_by) if coords else ("normalized", op)
        scores, scores_by = (scores, scores_by) if scores else ("probabilities", op)
    if ultralytics is not None:
        if not coords and nchw:
            coords = "pixels" if LAYOUTS[layout.kind].head == "end-to-end" else "normalized"
            coords_by = "from Ultralytics metadata.json: a litert-torch export, channels-first input"
        scores, scores_by = (scores, scores_by) if scores else ("probabilities", "from Ultralytics metadata.json")
        if coords_by.startswith("from Ultralytics") and scores_by.startswith("from Ultralytics"):
            scores_by = coords_by
    if not (coords and scores):
        found_coords, found_scores, how = from_probe(probe(), layout, input_size)
        coords, coords_by = (coords, coords_by) if coords else (found_coords, how)
        scores, scores_by = (scores, scores_by) if scores else (found_scores, how)
    by = coords_by if coords_by == scores_by else f"units {coords_by}; scores {scores_by}"
    return replace(layout, coords=coords, scores=scores, decided_by=by)


def _declared(declared: Declared | None, hints: Mapping[str, Any]) -> tuple[str | None, str | None]:
    coords = declared.coords if declared else None
    scores = declared.scores if declared else None
    for key, allowed in (("coords", COORDS), ("scores", SCORES)):
        value = hints.get(key)
        if value is not None and value not in allowed:
            raise ValueError(f"detection.{key} {value!r} is not one of {', '.join(allowed)}")
    return coords or hints.get("coords"), scores or hints.get("scores")


def from_probe(
    tensors: Sequence[np.ndarray] | None, layout: Layout, input_size: tuple[int, int]
) -> tuple[str, str, str]:
    """Units and score kind from one run on a grey frame: ``(coords, scores, how)``."""
    if tensors is None:
        return "normalized", "probabilities", "assumed (the model could not run at load)"
    kind = LAYOUTS[layout.kind]
    t = np.asarray(tensors[layout.outputs[0]], np.float32)
    t = t.reshape(t.shape[-2:])
    feats = t if kind.channels_first else t.T  # K×N
    with np.errstate(all="ignore"):
        centre = _centres(feats[:4], layout.boxes)
        score_rows = feats[4:5] if kind.head == "end-to-end" else feats[4:]
        values = score_rows[np.isfinite(score_rows)]
    logits = bool(values.size) and bool(values.min() < -LOGIT_MARGIN or values.max() > 1 + LOGIT_MARGIN)
    scores = "logits" if logits else "probabilities"
    if centre.size == 0:
        return "normalized", scores, "assumed (no boxes at load to check)"
    median = float(np.median(np.abs(centre)))
    limit = max(2.0, min(input_size) / 16)
    coords = "pixels" if median > limit else "normalized"
    return coords, scores, f"checked at load: median box centre {median:.3g} on a {input_size[0]}x{input_size[1]} input"


def _centres(rows: np.ndarray, fmt: str) -> np.ndarray:
    """Box centres (x and y pooled) of finite boxes with some extent; padding rows are left out."""
    if fmt == "xywh":
        centre, extent = rows[:2], rows[2:4]
    else:
        centre, extent = (rows[:2] + rows[2:4]) / 2, rows[2:4] - rows[:2]
    ok = np.isfinite(rows).all(axis=0) & (np.abs(extent) > 0).any(axis=0)
    return centre[:, ok].ravel()
