"""Detection test models whose raw outputs encode known boxes (built by TensorFlow, cached).

Each model's output is a constant head tensor computed from :data:`OBJECTS`
(plus lower-scored near-duplicates that NMS must drop, and low-scored
background candidates) added to ``min(mean(input), 0)`` (0 for pixels), so that the converter
keeps a real graph with a real input. int8 variants are fully integer
quantized from a representative dataset, like deployed YOLO exports.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
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


def _tf():  # type: ignore[no-untyped-def]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


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


def _random_pixels(shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(1)
    for _ in range(4):
        yield rng.uniform(0, 255, shape).astype(np.float32)


def _convert(fn, quant: str, shape: tuple[int, ...],  # type: ignore[no-untyped-def]
             samples: Callable[[tuple[int, ...]], Iterator[np.ndarray]] = _random_pixels) -> bytes:
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    if quant == "int8":

        def representative() -> Iterator[list[np.ndarray]]:
            for sample in samples(shape):
                yield [sample]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif quant != "float32":
        raise ValueError(quant)
    return converter.convert()


def constant_model(output: np.ndarray, quant: str, input_hw: tuple[int, int]) -> bytes:
    """A ``.tflite`` taking ``[1,H,W,3]`` pixels whose one output is ``output``."""
    tf = _tf()
    shape = (1, *input_hw, 3)
    const = tf.constant(output)

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
    def model(x):  # type: ignore[no-untyped-def]
        # pixels are >= 0, so this adds 0, but no converter can fold it away
        return const + tf.minimum(tf.reduce_mean(x), 0.0)

    return _convert(model, quant, shape)


def yolo(layout: str, quant: str = "float32", pixels: bool = False) -> Path:
    """A cached YOLO-layout test model (320×320 input) encoding :data:`OBJECTS`."""
    n = 300 if layout == "yolo-end2end" else 2100
    name = f"detect_{layout}_{quant}{'_px' if pixels else ''}.tflite"
    return zoo.cached(name, lambda: constant_model(head(layout, n, pixels), quant, INPUT[::-1]))


def brightness_model(quant: str = "float32") -> Path:
    """:func:`yolo` ``yolov8`` whose one background candidate widens with the frame's brightness.

    Its normalized width is ``0.3 + 2 × min(mean(input), 1)``: 2.3 on a white frame,
    more than a per-frame guess of the units allowed for normalized boxes.
    """

    def build() -> bytes:
        tf = _tf()
        base = head("yolov8", 2100)
        grow = np.zeros_like(base)
        grow[0, 2, 5] = 2.0  # candidate 5 is background (objects sit at multiples of 97)
        base[0, 2, 5] = 0.3
        shape = (1, *INPUT[::-1], 3)

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
        def model(x):  # type: ignore[no-untyped-def]
            return tf.constant(base) + tf.constant(grow) * tf.minimum(tf.reduce_mean(x), 1.0)

        return _convert(model, quant, shape)

    return zoo.cached(f"detect_brightness_{quant}.tflite", build)


def ssd_post_process(num_classes: int = NUM_CLASSES, max_detections: int = 10) -> Callable:  # type: ignore[type-arg]
    """An empty ``tf.function`` that the converter replaces by ``TFLite_Detection_PostProcess``."""
    tf = _tf()
    attrs = {"max_detections": f"i: {max_detections}", "max_classes_per_detection": "i: 1",
             "use_regular_nms": "b: true", "detections_per_class": "i: 10", "nms_score_threshold": "f: 0.000001",
             "nms_iou_threshold": "f: 0.6", "y_scale": "f: 10.0", "x_scale": "f: 10.0",
             "h_scale": "f: 5.0", "w_scale": "f: 5.0", "num_classes": f"i: {num_classes}"}
    signature = " ".join(['name: "TFLite_Detection_PostProcess"'] + [
        f'attr {{ key: "{k}" value {{ {v} }} }}' for k, v in attrs.items()])

    @tf.function(experimental_implements=signature)
    def post(box_encodings, class_predictions, anchors):  # type: ignore[no-untyped-def]
        zero = tf.constant(0.0, dtype=tf.float32)
        return zero, zero, zero, zero  # boxes, classes, scores, count: filled in by the op

    return post


def ssd(quant: str = "float32") -> Path:
    """A cached SSD model ending in the real ``TFLite_Detection_PostProcess`` op.

    Anchors are the boxes of :data:`OBJECTS` and its duplicates with zero box
    encodings, so the op decodes exactly those boxes, then suppresses the
    duplicates itself.
    """

    def build() -> bytes:
        import tempfile

        tf = _tf()
        rows = candidate_rows(64, objectness=False)
        anchors = rows[:, [1, 0, 3, 2]].copy()  # ycenter, xcenter, h, w
        classes = np.concatenate([np.zeros((64, 1), np.float32), rows[:, 4:]], axis=1)[None]
        shape = (1, INPUT[1], INPUT[0], 3)
        post = ssd_post_process()

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
        def model(x):  # type: ignore[no-untyped-def]
            zero = tf.minimum(tf.reduce_mean(x), 0.0)
            return post(tf.zeros((1, 64, 4)) + zero, tf.constant(classes) + zero,
                        tf.constant(anchors))

        with tempfile.TemporaryDirectory() as tmp:
            module = tf.Module()
            module.model = model
            tf.saved_model.save(module, tmp, signatures={"serving_default": model})
            converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
            converter.allow_custom_ops = True
            if quant == "uint8":  # like the TF zoo's quantized SSDs: uint8 in, float boxes out
                rng = np.random.default_rng(1)
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                converter.representative_dataset = lambda: (
                    [rng.uniform(0, 255, shape).astype(np.float32)] for _ in range(4))
                converter.inference_input_type = tf.uint8
            elif quant != "float32":
                raise ValueError(quant)
            return converter.convert()

    return zoo.cached(f"detect_ssd_{quant}.tflite", build)


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


def red_square_detector(quant: str = "float32") -> Path:
    """A detector that really looks at the frame: one class, "red", on a 10×10 grid.

    Each grid cell of the 320×320 RGB input (in [0, 1], edgekit's default for
    float inputs) is one candidate whose box is the cell and whose score is
    ``sigmoid(20 (mean redness - 0.5))``, redness being ``R - (G + B) / 2``.
    Output ``[1, 5, 100]`` (YOLOv8 layout).
    """

    def build() -> bytes:
        tf = _tf()
        r, c = np.divmod(np.arange(GRID * GRID), GRID)
        boxes = np.stack([(c + 0.5) / GRID, (r + 0.5) / GRID, np.full(r.shape, 1 / GRID),
                          np.full(r.shape, 1 / GRID)])[None].astype(np.float32)
        shape = (1, INPUT[1], INPUT[0], 3)

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
        def model(x):  # type: ignore[no-untyped-def]
            red = tf.nn.conv2d(x, tf.constant([[[[1.0], [-0.5], [-0.5]]]]), 1, "VALID")
            cells = tf.nn.avg_pool2d(red, CELL, CELL, "VALID")
            scores = tf.sigmoid(20.0 * (tf.reshape(cells, (1, 1, GRID * GRID)) - 0.5))
            return tf.concat([tf.constant(boxes) + 0.0 * scores[:, :1, :1], scores], axis=1)

        return _convert(model, quant, shape, _photos_with_red_squares)

    return zoo.cached(f"detect_red_squares_{quant}.tflite", build)


def _photos_with_red_squares(shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    import cv2

    for i, photo in enumerate(zoo.skimage_photos()[:6]):
        image = cv2.resize(photo, (shape[2], shape[1]))[:, :, ::-1].astype(np.float32) / 255.0
        r, c = divmod(7 * i + 3, GRID)
        image[r * CELL:(r + 1) * CELL, c * CELL:(c + 1) * CELL] = (1.0, 0.0, 0.0)
        yield image[None]


def paint_cells(image: np.ndarray, cells: list[tuple[int, int]], mode: str,
                bgr: tuple[int, int, int] = (0, 0, 255)) -> np.ndarray:
    """Paint the source area of each grid cell ``(row, col)``; return their source boxes."""
    h, w = image.shape[:2]
    boxes = np.array([(c * CELL, r * CELL, (c + 1) * CELL, (r + 1) * CELL) for r, c in cells])
    source = input_to_source(boxes, w, h, mode)
    for x1, y1, x2, y2 in np.rint(source).astype(int):
        image[y1:y2, x1:x2] = bgr
    return source
