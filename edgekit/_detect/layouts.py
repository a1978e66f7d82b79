"""Object detection: recognise a detector's output layout, decode it into :class:`Detection`\\ s.

Layouts (``--layout NAME[:BOXES][:COORDS]``, or ``"layout"`` in the
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
``xyxy`` (corners) or ``yxyx`` — and ``COORDS`` the units — ``normalized``
([0, 1] of the input size) or ``pixels`` (of the model input); by default
(``auto``) the units are decided from the values of each frame.

Without a declared layout, :func:`recognize` infers it from the output shapes:
4 SSD-shaped outputs → ``ssd``; one ``[1, A, B]`` output with ``min(A, B) >= 5``
and ``max(A, B) >= 2 * min(A, B)`` → a YOLO variant. The smaller axis holds the
features. Features first → ``yolov8``, unless there are 85 (``yolov5-transposed``,
80 classes); rows → ``yolov5``, unless there are 84 or 5 features
(``yolov8-transposed``) or 6 features in at most 1000 rows (``yolo-end2end``).
Ambiguous exports need ``--layout``. Everything after recognition — score
threshold (scores outside [0, 1] are taken as logits), class filter,
class-aware NMS (not re-run on ``ssd`` and ``yolo-end2end``, whose graphs
already did it), mapping boxes back to source pixels — is vectorized NumPy in
:func:`decode`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from ..errors import ConfigError
from . import ssd
from .boxes import BOX_FORMATS, COORDS

__all__ = ["LAYOUTS", "Layout", "parse_layout", "recognize"]


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
    """A recognised detection output layout.

    Attributes:
        kind: One of :data:`LAYOUTS`.
        num_classes: Classes the head scores (0 when the shapes do not say: SSD, end-to-end).
        outputs: Output indices used — ``(i,)`` for YOLO, ``(boxes, classes, scores, count)`` for SSD.
        boxes: Box format, ``"xywh"``, ``"xyxy"`` or ``"yxyx"``.
        coords: ``"auto"``, ``"normalized"`` or ``"pixels"``.
    """

    kind: str
    num_classes: int
    outputs: tuple[int, ...]
    boxes: str
    coords: str = "auto"

    @property
    def name(self) -> str:
        """The layout as ``--layout`` takes it (non-default parts included)."""
        parts = [self.kind]
        if self.boxes != LAYOUTS[self.kind].boxes:
            parts.append(self.boxes)
        if self.coords != "auto":
            parts.append(self.coords)
        return ":".join(parts)

    @property
    def resize(self) -> str:
        """The resize mode this model family expects when nothing else says."""
        return LAYOUTS[self.kind].resize


def parse_layout(text: str) -> tuple[str, str | None, str | None]:
    """``"NAME[:BOXES][:COORDS]"`` → ``(name, boxes or None, coords or None)``.

    Raises:
        ConfigError: an unknown name, box format or coordinate unit.
    """
    parts = [p.strip().lower() for p in str(text).split(":")]
    name = _ALIASES.get(parts[0], parts[0])
    if name not in _NAMES:
        raise ConfigError(
            f"layout {parts[0]!r} is not one of {', '.join(_NAMES)} "
            f"(aliases: {', '.join(sorted(_ALIASES))})"
        )
    boxes = coords = None
    for part in parts[1:]:
        if part in BOX_FORMATS:
            boxes = part
        elif part in COORDS:
            coords = part
        else:
            raise ConfigError(
                f"layout {text!r}: {part!r} is neither a box format ({', '.join(BOX_FORMATS)}) "
                f"nor coordinates ({', '.join(COORDS)})"
            )
    return name, boxes, coords


def recognize(outputs: Sequence[Any], forced: str | None = None) -> Layout | None:
    """The detection layout of an output signature, or ``None`` when it is not one.

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
    name, boxes, coords = parse_layout(forced)
    if name == "ssd":
        roles = ssd.assign_roles(outputs)
        layout = Layout("ssd", 0, roles, "yxyx") if roles is not None else None
    else:
        layout = _match_yolo(outputs, name)
    if layout is None:
        return None
    return replace(layout, boxes=boxes or layout.boxes, coords=coords or layout.coords)


def _match_yolo(outputs: Sequence[Any], name: str | None) -> Layout | None:
    shaped = [(i, _dims(o.shape)) for i, o in enumerate(outputs)]
    shaped = [(i, d) for i, d in shaped if d is not None]
    if not shaped:
        return None
    index, (a, b) = max(shaped, key=lambda item: item[1][0] * item[1][1])
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
