"""YOLO txt labels: one ``class cx cy w h`` line per object, normalized to the image size.

Pure parsing and checking; no image is decoded. A line may also hold a polygon
(``class x1 y1 x2 y2 x3 y3 ...``, what segmentation exports write); its box is
the polygon's bounding box. An empty file is an image without objects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["LabelProblem", "TOLERANCE", "parse_label_file", "parse_label_text"]

# Exporters round; a coordinate this far past [0, 1] is taken as the border, further is an error.
TOLERANCE = 1e-3


class LabelProblem(ValueError):
    """A label file that cannot be used, with the reason (the caller names the file)."""


def parse_label_text(text: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Parse the content of one label file.

    Args:
        text: The file's text.
        num_classes: Class ids must be in ``0 .. num_classes - 1``.

    Returns:
        ``(boxes, classes)``: ``M×4`` normalized corners ``x1, y1, x2, y2`` (float64)
        and ``M`` class ids (int64); ``M`` is 0 for an empty file.

    Raises:
        LabelProblem: a line is malformed, has an unknown class id, a coordinate
            outside [0, 1] or a box without area; the message names the line.
    """
    boxes, classes = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise LabelProblem(f"line {number}: not numbers: {line.strip()[:60]!r}") from None
        if len(values) != 5 and (len(values) < 7 or len(values) % 2 == 0):
            raise LabelProblem(f"line {number}: {len(values)} values; expected 'class cx cy w h' "
                               "(5 values) or 'class x1 y1 x2 y2 ...' (a polygon)")
        if not np.isfinite(values).all():
            raise LabelProblem(f"line {number}: values must be finite numbers")
        cls = values[0]
        if cls != int(cls) or not 0 <= cls < num_classes:
            raise LabelProblem(f"line {number}: class {fields[0]} is not one of the {num_classes} "
                               f"class ids 0..{num_classes - 1}")
        coords = np.asarray(values[1:], np.float64)
        outside = coords[(coords < -TOLERANCE) | (coords > 1 + TOLERANCE)]
        if outside.size:
            raise LabelProblem(f"line {number}: coordinate {outside[0]:g} is outside [0, 1] "
                               "(YOLO labels are normalized to the image size)")
        if len(values) == 5:  # a box that spills over the border is cut at it
            cx, cy, w, h = coords
            box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        else:
            xs, ys = coords[0::2], coords[1::2]
            box = np.array([xs.min(), ys.min(), xs.max(), ys.max()])
        box = np.clip(box, 0.0, 1.0)
        if box[2] <= box[0] or box[3] <= box[1]:
            raise LabelProblem(f"line {number}: the box has no area (width or height 0)")
        boxes.append(box)
        classes.append(int(cls))
    return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(classes, np.int64)


def parse_label_file(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`parse_label_text` on a file (see there).

    Raises:
        LabelProblem: as :func:`parse_label_text`, or the file cannot be read as text.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LabelProblem("not a text file") from None
    except OSError as exc:
        raise LabelProblem(f"cannot read it ({exc.strerror or exc})") from None
    return parse_label_text(text, num_classes)
