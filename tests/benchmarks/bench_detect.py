"""Detection post-processing speed vs the invoke time of a YOLOv8n-sized model.

Run with ``pytest --benchmarks tests/benchmarks/bench_detect.py -s``. Measured
side by side in one run, on one YOLOv8-size head (84 × 8400 candidates) with a
realistic score distribution (a few objects, each with a cluster of
overlapping candidates; the rest sigmoid(N(-7, 1.5)) noise):

- ``invoke``: a YOLOv8n-architecture Keras model (``weights=None``-style random
  init, 640×640 input, 3.2 M parameters, ``[1, 84, 8400]`` output, float32 and
  int8), converted to ``.tflite``, run by edgekit;
- ``decode``: :func:`edgekit._detect.decode.decode` on the float head;
- ``postprocess``: :meth:`edgekit.Model.postprocess` on the int8 head
  (dequantize + decode, what a frame pays);
- ``python loop``: a straightforward per-candidate Python loop with plain NMS.

Goals (issue 5): post-processing ≤ 10 % of invoke; ≥ 5× faster than the loop.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import zoo

from edgekit._detect.decode import decode
from edgekit._detect.layouts import Layout
from edgekit.options import PredictOptions
from edgekit.preprocess import Transform

SIZE = 640
STRIDES = (8, 16, 32)
CLASSES = 80


def _yolov8n(size: int = SIZE):  # type: ignore[no-untyped-def]
    """YOLOv8n's architecture (depth 0.33, width 0.25) with a TFLite-style decoded head."""
    import keras
    from keras import layers, ops

    def conv(x, c, k=1, s=1):  # type: ignore[no-untyped-def]
        x = layers.Conv2D(c, k, s, padding="same", use_bias=False)(x)
        return layers.Activation("swish")(layers.BatchNormalization()(x))

    def c2f(x, c, n, shortcut=True):  # type: ignore[no-untyped-def]
        a, b = conv(x, c // 2), conv(x, c // 2)
        outs = [a, b]
        for _ in range(n):
            y = conv(conv(b, c // 2, 3), c // 2, 3)
            b = layers.Add()([b, y]) if shortcut else y
            outs.append(b)
        return conv(layers.Concatenate()(outs), c)

    def sppf(x, c):  # type: ignore[no-untyped-def]
        x = conv(x, c // 2)
        pools = [x]
        for _ in range(3):
            pools.append(layers.MaxPooling2D(5, 1, padding="same")(pools[-1]))
        return conv(layers.Concatenate()(pools), c)

    inputs = keras.Input((size, size, 3))
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = conv(conv(x, 16, 3, 2), 32, 3, 2)
    x = c2f(x, 32, 1)
    p3 = c2f(conv(x, 64, 3, 2), 64, 2)
    p4 = c2f(conv(p3, 128, 3, 2), 128, 2)
    p5 = sppf(c2f(conv(p4, 256, 3, 2), 256, 1), 256)
    h4 = c2f(layers.Concatenate()([layers.UpSampling2D()(p5), p4]), 128, 1, False)
    h3 = c2f(layers.Concatenate()([layers.UpSampling2D()(h4), p3]), 64, 1, False)
    h4 = c2f(layers.Concatenate()([conv(h3, 64, 3, 2), h4]), 128, 1, False)
    h5 = c2f(layers.Concatenate()([conv(h4, 128, 3, 2), p5]), 256, 1, False)
    boxes, scores = [], []
    for feat, stride in zip((h3, h4, h5), STRIDES):
        g = size // stride
        dist = layers.Conv2D(64, 1)(conv(conv(feat, 64, 3), 64, 3))
        dist = ops.softmax(ops.reshape(dist, (-1, g * g, 4, 16)), axis=-1)
        dist = ops.sum(dist * ops.arange(16, dtype="float32"), axis=-1)  # DFL → l, t, r, b
        ys, xs = np.meshgrid(np.arange(g) + 0.5, np.arange(g) + 0.5, indexing="ij")
        anchor = ops.convert_to_tensor(np.stack([xs.ravel(), ys.ravel()], -1)[None].astype(np.float32))
        lt, rb = ops.subtract(anchor, dist[..., :2]), ops.add(anchor, dist[..., 2:])
        xywh = ops.concatenate([(lt + rb) / 2, rb - lt], axis=-1) * (stride / size)  # normalized
        boxes.append(xywh)
        cls = layers.Conv2D(CLASSES, 1)(conv(conv(feat, 80, 3), 80, 3))
        scores.append(ops.sigmoid(ops.reshape(cls, (-1, g * g, CLASSES))))
    head = ops.concatenate([ops.concatenate(boxes, 1), ops.concatenate(scores, 1)], axis=-1)
    return keras.Model(inputs, ops.transpose(head, (0, 2, 1)))


def _rep() -> Callable[[], Iterator[list[np.ndarray]]]:
    import cv2

    photos = [cv2.resize(p, (SIZE, SIZE)).astype(np.float32) for p in zoo.skimage_photos()][:4]
    return lambda: ([p[None]] for p in photos)


def yolov8n_model(quant: str):  # type: ignore[no-untyped-def]
    def build() -> bytes:
        import keras

        keras.utils.set_random_seed(0)
        return zoo.convert(_yolov8n(), quant, _rep())

    return zoo.cached(f"bench_yolov8n_{SIZE}_{quant}.tflite", build)


def realistic_head(seed: int = 0) -> np.ndarray:
    """``[1, 84, 8400]``: 6 objects with ~25 overlapping candidates each, noise elsewhere."""
    rng = np.random.default_rng(seed)
    n = sum((SIZE // s) ** 2 for s in STRIDES)
    t = np.empty((4 + CLASSES, n), np.float32)
    t[:2] = rng.uniform(0, 1, (2, n))
    t[2:4] = rng.uniform(0.01, 0.2, (2, n))
    t[4:] = 1 / (1 + np.exp(-rng.normal(-7, 1.5, (CLASSES, n))))
    for k in range(6):
        centre, size, cls = rng.uniform(0.2, 0.8, 2), rng.uniform(0.1, 0.4, 2), rng.integers(CLASSES)
        idx = rng.choice(n, 25, replace=False)
        t[:2, idx] = (centre[:, None] + rng.normal(0, 0.01, (2, 25))).astype(np.float32)
        t[2:4, idx] = (size[:, None] * rng.uniform(0.9, 1.1, (2, 25))).astype(np.float32)
        t[4 + cls, idx] = rng.uniform(0.3, 0.92, 25)
    return t[None]


def python_loop(head: np.ndarray, threshold: float, iou_threshold: float, limit: int) -> list:  # type: ignore[type-arg]
    """The straightforward version: visit every candidate in Python, then greedy NMS."""
    t = head[0]
    found = []
    for i in range(t.shape[1]):
        col = t[:, i]
        cls = int(np.argmax(col[4:]))
        score = float(col[4 + cls])
        if score < threshold:
            continue
        cx, cy, w, h = (float(v) * SIZE for v in col[:4])
        found.append((score, cls, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)))
    found.sort(key=lambda d: -d[0])

    def iou(a, b):  # type: ignore[no-untyped-def]
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

    kept: list = []  # type: ignore[type-arg]
    for det in found:
        if all(det[1] != k[1] or iou(det[2], k[2]) <= iou_threshold for k in kept):
            kept.append(det)
    return kept[:limit]


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _time_model(model, frame: np.ndarray, head: np.ndarray) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median invoke time, and post-processing time of ``head`` quantized like the output."""
    tensor, transform = model.preprocess(frame)
    invoke = _median_ms(lambda: model.invoke(tensor), 10)
    spec = model.outputs[0]
    raw = head if not spec.quantized else np.clip(
        np.rint(head / spec.scale + spec.zero_point), -128, 127).astype(spec.dtype)
    return invoke, _median_ms(lambda: model.postprocess([raw], transform), 100)


@pytest.mark.benchmark
def test_yolo_postprocessing_is_a_small_fraction_of_invoke() -> None:
    import edgekit

    head = realistic_head()
    opts = PredictOptions()
    layout = Layout("yolov8", CLASSES, (0,), "xywh")
    transform = Transform(1280, 1280, SIZE, SIZE, 0.5, 0.5)
    decoded = decode([head], layout, transform, (), opts)
    looped = python_loop(head, opts.threshold_for("detect"), opts.iou_threshold, opts.max_detections)
    assert len(decoded) == len(looped) >= 6  # same work done both ways
    frame = zoo.skimage_photos()[0]
    rows = []
    for quant in ("float32", "int8"):
        with edgekit.load(yolov8n_model(quant), threads=2) as model:
            assert model.info.layout == "yolov8" and model.outputs[0].shape == (1, 84, 8400)
            rows.append((quant, *_time_model(model, frame, head)))
    decode_ms = _median_ms(lambda: decode([head], layout, transform, (), opts), 100)
    loop_ms = _median_ms(lambda: python_loop(head, 0.25, 0.45, 100), 5)
    print(f"\nYOLOv8-size head 84×8400, {len(decoded)} detections kept")
    print(f"{'':28}{'ms':>9}")
    print(f"{'decode (float head)':28}{decode_ms:9.2f}")
    print(f"{'python loop (float head)':28}{loop_ms:9.2f}   loop / decode = {loop_ms / decode_ms:6.1f}x")
    for quant, invoke, post in rows:
        print(f"{'invoke yolov8n ' + quant:28}{invoke:9.2f}")
        print(f"{'postprocess ' + quant + ' output':28}{post:9.2f}   post / invoke = {post / invoke:6.1%}")
    assert loop_ms / decode_ms >= 5
    for _, invoke, post in rows:
        assert post / invoke <= 0.10
