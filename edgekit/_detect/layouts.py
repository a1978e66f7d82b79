"""Object detection: recognise a detector's output layout, decode it into :class:`Detection`\\ s.

Layouts (``--layout NAME[:BOXES][:COORDS][:SCORES]``, or ``"layout"`` in the
``detection`` section of edgekit metadata):

- ``ssd`` — 4 tensors from ``TFLite_Detection_PostProcess``: boxes ``[1,N,4]``
  (ymin, xmin, ymax, xmax), classes ``[1,N]``, scores ``[1,N]``, count ``[1]``,
  listed in any order;
- ``yolov8`` — ``[1, 4+C, N]``, the YOLOv8/v9/v11 raw head (no objectness);
- ``yolov8-transposed`` — ``[1, N, 4+C]``, the same with one row per candidate;
- ``yolov5`` — ``[1, N, 5+C]``, YOLOv5/v7: confidence = objectness × class score;
- ``yolov5-transposed`` — ``[1, 5+C, N]``, the same, features first;
- ``yolo-end2end`` — ``[1, N, 6]``, NMS inside the graph (YOLOv10, YOLO26):
  x1, y1, x2, y2, score, class;
- ``yolo`` — whichever YOLO variant the output shape implies.

Aliases: ``yolov11``/``yolo11``/``yolov9`` → ``yolov8``; ``yolov7`` → ``yolov5``;
``yolov10``/``yolo26``/``end2end`` → ``yolo-end2end``.
``BOXES`` overrides the box format — ``xywh`` (centre, size; YOLO's default),
``xyxy`` (corners) or ``yxyx`` — ``COORDS`` the units — ``normalized``
([0, 1] of the input size) or ``pixels`` (of the model input) — and ``SCORES``
what the scores are — ``probabilities`` or ``logits``. Units and scores that
are not declared are decided once when the model is loaded
(:mod:`edgekit._detect.units`), never per frame.

Without a declared layout, :func:`recognize` infers it from the output shapes:
4 SSD-shaped outputs → ``ssd``; one ``[1, A, B]`` output with ``min(A, B) >= 5``
and ``max(A, B) >= 2 * min(A, B)`` → a YOLO variant. The smaller axis holds the
features. Features first → ``yolov8``, unless there are 85 (``yolov5-transposed``,
80 classes); rows → ``yolov5``, unless there are 84 or 5 features
(``yolov8-transposed``) or 6 features in at most 1000 rows (``yolo-end2end``).
Ambiguous exports need ``--layout``. A declared layout the shapes rule out is
refused (:func:`mismatch` says why), e.g. a head whose boxes and scores are
split over several outputs of ``N`` rows each (BlazeFace, MediaPipe).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from ..errors import ConfigError
from . import ssd
from .boxes import BOX_FORMATS, COORDS, SCORES

__all__ = ["LAYOUTS", "Layout", "mismatch", "parse_layout", "recognize"]


class _Kind(NamedTuple):
    head: str  # "ssd" | "anchor-free" | "objectness" | "end-to-end"
    channels_first: bool
    boxes: str  # default box format
    min_features: int
    resize: str  # what the model family was trained with


LAYOUTS: dict[str, _Kind] = {
    "ssd": _Kind("ssd", False, "yxyx", 0, "stretch"),
    "yolov8": _Kind("anchor-free", True, "xywh", 5, "letterbox"),
    "yolov8-transposed": _Kind("anchor-free", False, "xywh", 5, "letterbox"),
    "yolov5": _Kind("objectness", False, "xywh", 6, "letterbox"),
    "yolov5-transposed": _Kind("objectness", True, "xywh", 6, "letterbox"),
    "yolo-end2end": _Kind("end-to-end", False, "xyxy", 6, "letterbox"),
}
_ALIASES = {
    "yolov11": "yolov8", "yolo11": "yolov8", "yolov9": "yolov8", "yolov7": "yolov5",
    "yolov10": "yolo-end2end", "yolo26": "yolo-end2end", "end2end": "yolo-end2end",
}
_NAMES = (*LAYOUTS, "yolo")
END2END_MAX_ROWS = 1000


@dataclass(frozen=True, slots=True)
class Layout:
    """A recognised detection output layout, and what its numbers mean.

    Attributes:
        kind: One of :data:`LAYOUTS`.
        num_classes: Classes the head scores (0 when the shapes do not say: SSD, end-to-end).
        outputs: Output indices used — ``(i,)`` for YOLO, ``(boxes, classes, scores, count)`` for SSD.
        boxes: Box format, ``"xywh"``, ``"xyxy"`` or ``"yxyx"``.
        coords: Box units, ``"normalized"`` or ``"pixels"`` (of the model input).
        scores: ``"probabilities"`` or ``"logits"``.
        decided_by: Where ``coords`` and ``scores`` came from (shown by ``inspect``).
    """

    kind: str
    num_classes: int
    outputs: tuple[int, ...]
    boxes: str
    coords: str = "normalized"
    scores: str = "probabilities"
    decided_by: str = ""

    @property
    def name(self) -> str:
        """The layout's name, with its box format when that is not the kind's default."""
        return self.kind if self.boxes == LAYOUTS[self.kind].boxes else f"{self.kind}:{self.boxes}"

    @property
    def spec(self) -> str:
        """Everything decided, as ``--layout`` takes it: ``NAME:BOXES:COORDS[:logits]``."""
        return ":".join([self.kind, self.boxes, self.coords]
                        + (["logits"] if self.scores == "logits" else []))

    @property
    def resize(self) -> str:
        """The resize mode this model family expects when nothing else says."""
        return LAYOUTS[self.kind].resize

    def to_dict(self) -> dict[str, str]:
        """What ``inspect --json`` shows under ``"detection"``."""
        return {"layout": self.name, "boxes": self.boxes, "coords": self.coords,
                "scores": self.scores, "decided_by": self.decided_by, "spec": self.spec}

    def describe(self) -> str:
        """One line for people: ``yolov8 (boxes xywh, normalized; from …)``."""
        scores = ", logit scores" if self.scores == "logits" else ""
        by = f"; {self.decided_by}" if self.decided_by else ""
        return f"{self.name} (boxes {self.boxes}, {self.coords}{scores}{by})"


class Declared(NamedTuple):
    """A layout string taken apart; ``None``: not declared."""

    name: str
    boxes: str | None
    coords: str | None
    scores: str | None


def parse_layout(text: str) -> Declared:
    """``"NAME[:BOXES][:COORDS][:SCORES]"`` → :class:`Declared`.

    Raises:
        ConfigError: an unknown name, box format, unit or score kind.
    """
    parts = [p.strip().lower() for p in str(text).split(":")]
    name = _ALIASES.get(parts[0], parts[0])
    if name not in _NAMES:
        raise ConfigError(
            f"layout {parts[0]!r} is not one of {', '.join(_NAMES)} "
            f"(aliases: {', '.join(sorted(_ALIASES))})"
        )
    found: dict[str, str] = {}
    for part in parts[1:]:
        for key, allowed in (("boxes", BOX_FORMATS), ("coords", COORDS), ("scores", SCORES)):
            if part in allowed:
                found[key] = part
                break
        else:
            raise ConfigError(
                f"layout {text!r}: {part!r} is neither a box format ({', '.join(BOX_FORMATS)}), "
                f"units ({', '.join(COORDS)}) nor scores ({', '.join(SCORES)})"
            )
    return Declared(name, found.get("boxes"), found.get("coords"), found.get("scores"))


def recognize(outputs: Sequence[Any], forced: str | None = None) -> Layout | None:
    """The detection layout of an output signature, or ``None`` when it is not one.

    Units and scores are the declared ones, else normalized probabilities until
    :func:`edgekit._detect.units.settle` decides them for the model.

    Args:
        outputs: The model's output specs (objects with ``.shape`` and ``.name``).
        forced: A layout name (see the module docstring) to use instead of
            inferring one; ``None`` when the shapes cannot hold it.

    Raises:
        ConfigError: ``forced`` is not a layout name.
    """
    if forced is None:
        roles = ssd.assign_roles(outputs)
        if roles is not None:
            return Layout("ssd", 0, roles, "yxyx")
        return _match_yolo(outputs, None) if len(outputs) == 1 else None
    declared = parse_layout(forced)
    if declared.name == "ssd":
        roles = ssd.assign_roles(outputs)
        layout = Layout("ssd", 0, roles, "yxyx") if roles is not None else None
    else:
        layout = _match_yolo(outputs, declared.name)
    if layout is None:
        return None
    return replace(layout, boxes=declared.boxes or layout.boxes,
                   coords=declared.coords or layout.coords, scores=declared.scores or layout.scores)


def mismatch(outputs: Sequence[Any], forced: str | None = None) -> str:
    """Why :func:`recognize` found no layout in ``outputs`` (for the error message)."""
    shapes = ", ".join(str(list(o.shape)) for o in outputs)
    name = parse_layout(forced).name if forced else None
    if name == "ssd":
        return (f"the outputs ({shapes}) are not SSD post-processed outputs "
                "(boxes [1,N,4], classes [1,N], scores [1,N], count [1])")
    head = _head(outputs)
    if head is not None and _split_rows(outputs, head):
        n = max(_dims(outputs[head].shape) or (0, 0))
        return (f"the outputs ({shapes}) split boxes and scores over several tensors of {n} rows "
                "(like BlazeFace / MediaPipe detectors): not a YOLO head, which is one "
                "[1,4+C,N] / [1,N,4+C] / [1,N,5+C] / [1,N,6] tensor; edgekit has no decoder for it")
    if name in LAYOUTS and head is not None:
        kind, dims = LAYOUTS[name], _dims(outputs[head].shape) or (0, 0)
        features = dims[0] if kind.channels_first else dims[1]
        return (f"{name} reads {'the first' if kind.channels_first else 'the last'} axis of "
                f"{list(outputs[head].shape)} as features: {features} is fewer than the "
                f"{kind.min_features} it needs")
    return (f"the outputs ({shapes}) match no known detection layout "
            "(SSD post-processed, YOLO [1,4+C,N] / [1,N,4+C] / [1,N,5+C] / [1,N,6])")


def _head(outputs: Sequence[Any]) -> int | None:
    """Index of the largest 2-D (batch 1) output: where a YOLO head would be."""
    shaped = [(i, d) for i, d in ((i, _dims(o.shape)) for i, o in enumerate(outputs)) if d is not None]
    return max(shaped, key=lambda item: item[1][0] * item[1][1])[0] if shaped else None


def _split_rows(outputs: Sequence[Any], head: int) -> bool:
    """Another output has as many rows as the head has candidates: boxes and scores are split."""
    dims = _dims(outputs[head].shape)
    if dims is None:
        return False
    n = max(dims)
    return n > 1 and any(n in tuple(o.shape) for i, o in enumerate(outputs) if i != head)


def _match_yolo(outputs: Sequence[Any], name: str | None) -> Layout | None:
    index = _head(outputs)
    if index is None or _split_rows(outputs, index):
        return None
    a, b = _dims(outputs[index].shape) or (0, 0)
    if name is None or name == "yolo":
        if a == b or min(a, b) < 5 or (name is None and max(a, b) < 2 * min(a, b)):
            return None
        name = _guess_yolo(a, b)
    kind = LAYOUTS[name]
    features = a if kind.channels_first else b
    if features < kind.min_features:
        return None
    classes = {"anchor-free": features - 4, "objectness": features - 5}.get(kind.head, 0)
    return Layout(name, classes, (index,), kind.boxes)


def _dims(shape: Sequence[int]) -> tuple[int, int] | None:
    if len(shape) == 3 and shape[0] == 1:
        return int(shape[1]), int(shape[2])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    return None


def _guess_yolo(a: int, b: int) -> str:
    if a < b:  # features first
        return "yolov5-transposed" if a == 85 else "yolov8"
    if b in (5, 84):
        return "yolov8-transposed"
    if b == 6 and a <= END2END_MAX_ROWS:
        return "yolo-end2end"
    return "yolov5"
