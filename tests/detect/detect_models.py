"""Detection test models whose raw outputs encode known boxes (committed in tests/models/).

Each model's output is a constant head tensor computed from :data:`OBJECTS`
(plus lower-scored near-duplicates that NMS must drop, and low-scored
background candidates) added to ``min(mean(input), 0)`` (0 for pixels), so that the converter
keeps a real graph with a real input. int8 variants are fully integer
quantized from a representative dataset, like deployed YOLO exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zoo

INPUT = (320, 320)  # (width, height) of the default test input


@dataclass(frozen=True)
class Obj:
    """A known object: class id, corners normalized to the model input, score."""

    cls: int
    box: tuple[float, float, float, float]
    score: float


# person; a car and a dog overlapping each other heavily (different classes:
# class-aware NMS keeps both); the person box spills past the letterbox
# content of landscape sources (its clipped box is what is expected).
OBJECTS = (
    Obj(0, (0.10, 0.20, 0.40, 0.90), 0.90),
    Obj(2, (0.50, 0.40, 0.95, 0.70), 0.80),
    Obj(16, (0.52, 0.42, 0.93, 0.72), 0.70),
)
NUM_CLASSES = 80
DUPLICATE_SHIFT = 0.01  # near-duplicates: IoU ~0.9 with their object
DUPLICATE_SCORES = (0.60, 0.50)


def candidate_rows(n: int, objectness: bool, seed: int = 0) -> np.ndarray:
    """``n × (4+1?+C)`` candidate rows (xywh normalized) encoding :data:`OBJECTS`."""
    rng = np.random.default_rng(seed)
    width = 4 + int(objectness) + NUM_CLASSES
    rows = np.zeros((n, width), np.float32)
    centre = rng.uniform(0.05, 0.95, (n, 2))
    size = rng.uniform(0.02, 0.3, (n, 2))
    rows[:, :4] = np.concatenate([centre, size], axis=1)
    first = 4 + int(objectness)
    rows[:, first:] = rng.uniform(0.0, 0.08, (n, NUM_CLASSES))
    if objectness:
        rows[:, 4] = rng.uniform(0.0, 0.1, n)
    slot = 0
    for obj in OBJECTS:
        x1, y1, x2, y2 = obj.box
        for k, score in enumerate((obj.score, *DUPLICATE_SCORES)):
            shift = DUPLICATE_SHIFT * k
            row = rows[slot * 97 % n]
            slot += 1
            row[:4] = ((x1 + x2) / 2 + shift, (y1 + y2) / 2 + shift, x2 - x1, y2 - y1)
            row[first:] = 0.01
            if objectness:
                row[4] = 0.95
                row[first + obj.cls] = score / 0.95
            else:
                row[first + obj.cls] = score
    return rows


def end2end_rows(n: int = 300) -> np.ndarray:
    """``n × 6`` rows ``x1, y1, x2, y2, score, class`` (normalized), zero-padded."""
    rows = np.zeros((n, 6), np.float32)
    for i, obj in enumerate(OBJECTS):
        rows[i] = (*obj.box, obj.score, obj.cls)
    return rows


def head(layout: str, n: int, pixels: bool = False) -> np.ndarray:
    """The raw output ``[1, …]`` of ``layout`` for :data:`OBJECTS`."""
    if layout == "yolo-end2end":
        rows = end2end_rows(n)
    else:
        rows = candidate_rows(n, objectness=layout.startswith("yolov5"))
    if pixels:
        rows[:, 0:4:2] *= INPUT[0]
        rows[:, 1:4:2] *= INPUT[1]
    channels_first = layout in ("yolov8", "yolov5-transposed")
    return (rows.T if channels_first else rows)[None].copy()


def yolo_name(layout: str, quant: str = "float32", pixels: bool = False) -> str:
    return f"detect_{layout}_{quant}{'_px' if pixels else ''}.tflite"


def yolo(layout: str, quant: str = "float32", pixels: bool = False) -> Path:
    """A YOLO-layout test model (320×320 input) encoding :data:`OBJECTS` (``make_models.yolo``)."""
    return zoo.model(yolo_name(layout, quant, pixels), lambda: zoo.make_models().yolo(layout, quant, pixels))


def brightness_name(quant: str = "float32") -> str:
    return f"detect_brightness_{quant}.tflite"


def brightness_model(quant: str = "float32") -> Path:
    """:func:`yolo` ``yolov8`` whose one background candidate widens with the frame's brightness.

    Its normalized width is ``0.3 + 2 × min(mean(input), 1)``: 2.3 on a white frame,
    more than a per-frame guess of the units allowed for normalized boxes
    (``make_models.brightness_model``).
    """
    return zoo.model(brightness_name(quant), lambda: zoo.make_models().brightness_model(quant))


def ssd_name(quant: str = "float32") -> str:
    return f"detect_ssd_{quant}.tflite"


def ssd(quant: str = "float32") -> Path:
    """An SSD model ending in the real ``TFLite_Detection_PostProcess`` op (``make_models.ssd``).

    Anchors are the boxes of :data:`OBJECTS` and its duplicates with zero box
    encodings, so the op decodes exactly those boxes, then suppresses the
    duplicates itself.
    """
    return zoo.model(ssd_name(quant), lambda: zoo.make_models().ssd(quant))


def input_to_source(boxes: np.ndarray, src_w: int, src_h: int, mode: str,
                    input_wh: tuple[int, int] = INPUT) -> np.ndarray:
    """Corner boxes in input pixels → source pixels, worked out independently of edgekit."""
    in_w, in_h = input_wh
    if mode == "stretch":
        sx, sy, left, top = in_w / src_w, in_h / src_h, 0.0, 0.0
    elif mode == "letterbox":
        s = min(in_w / src_w, in_h / src_h)
        new_w, new_h = round(src_w * s), round(src_h * s)
        sx, sy = new_w / src_w, new_h / src_h
        left, top = (in_w - new_w) // 2, (in_h - new_h) // 2
    else:
        raise ValueError(mode)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.empty_like(boxes)
    out[:, 0::2] = np.clip((boxes[:, 0::2] - left) / sx, 0, src_w)
    out[:, 1::2] = np.clip((boxes[:, 1::2] - top) / sy, 0, src_h)
    return out


def expected_boxes(src_w: int, src_h: int, mode: str, input_wh: tuple[int, int] = INPUT) -> np.ndarray:
    """Where :data:`OBJECTS` lie in a ``src_w×src_h`` source."""
    in_w, in_h = input_wh
    boxes = np.array([o.box for o in OBJECTS], np.float64) * [in_w, in_h, in_w, in_h]
    return input_to_source(boxes, src_w, src_h, mode, input_wh)


GRID = 10  # cells per side of the red-square detector
CELL = INPUT[0] // GRID


def red_squares_name(quant: str = "float32") -> str:
    return f"detect_red_squares_{quant}.tflite"


def red_square_detector(quant: str = "float32") -> Path:
    """A detector that really looks at the frame: one class, "red", on a 10×10 grid.

    Each grid cell of the 320×320 RGB input (in [0, 1], edgekit's default for
    float inputs) is one candidate whose box is the cell and whose score is
    ``sigmoid(20 (mean redness - 0.5))``, redness being ``R - (G + B) / 2``.
    Output ``[1, 5, 100]`` (YOLOv8 layout). Built by ``make_models.red_square_detector``.
    """
    return zoo.model(red_squares_name(quant), lambda: zoo.make_models().red_square_detector(quant))


def paint_cells(image: np.ndarray, cells: list[tuple[int, int]], mode: str,
                bgr: tuple[int, int, int] = (0, 0, 255)) -> np.ndarray:
    """Paint the source area of each grid cell ``(row, col)``; return their source boxes."""
    h, w = image.shape[:2]
    boxes = np.array([(c * CELL, r * CELL, (c + 1) * CELL, (r + 1) * CELL) for r, c in cells])
    source = input_to_source(boxes, w, h, mode)
    for x1, y1, x2, y2 in np.rint(source).astype(int):
        image[y1:y2, x1:x2] = bgr
    return source
