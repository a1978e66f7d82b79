"""Property tests: box mapping round trips through the resize transform; NMS matches a reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from edgekit._detect.decode import decode
from edgekit._detect.layouts import Layout
from edgekit._detect.nms import nms, nms_numpy
from edgekit.options import PredictOptions
from edgekit.preprocess import resize

sizes = st.integers(min_value=16, max_value=1200)


@st.composite
def source_box(draw):  # type: ignore[no-untyped-def]
    w, h = draw(sizes), draw(sizes)
    x1 = draw(st.floats(0, w - 2))
    y1 = draw(st.floats(0, h - 2))
    x2 = draw(st.floats(x1 + 1, w))
    y2 = draw(st.floats(y1 + 1, h))
    return w, h, (x1, y1, x2, y2)


@settings(max_examples=150, deadline=None)
@given(source_box(), st.integers(32, 640), st.integers(32, 640), st.sampled_from(["stretch", "letterbox"]))
def test_a_source_box_survives_the_round_trip_through_resize_and_decode(
    src, in_w: int, in_h: int, mode: str
) -> None:  # type: ignore[no-untyped-def]
    w, h, box = src
    _, transform = resize(np.zeros((h, w, 3), np.uint8), in_w, in_h, mode)
    # forward: where the model sees the box, as a normalized YOLO centre-size row
    xs = np.array(box[0::2]) * transform.scale_x + transform.offset_x
    ys = np.array(box[1::2]) * transform.scale_y + transform.offset_y
    cx, cy = xs.mean() / in_w, ys.mean() / in_h
    bw, bh = (xs[1] - xs[0]) / in_w, (ys[1] - ys[0]) / in_h
    head = np.zeros((1, 5, 40), np.float64)
    head[0, :, 0] = (cx, cy, bw, bh, 0.9)
    layout = Layout("yolov8", 1, (0,), "xywh", "normalized")
    dets = decode([head], layout, transform, (), PredictOptions())
    assert len(dets) == 1
    tol = 1e-6 * max(w, h, in_w, in_h)
    np.testing.assert_allclose([dets[0].box.x1, dets[0].box.y1, dets[0].box.x2, dets[0].box.y2],
                               box, atol=tol)


def reference_nms(boxes, scores, ids, threshold, top_k=None):  # type: ignore[no-untyped-def]
    """Textbook greedy NMS, one box at a time, in plain Python."""

    def iou(a, b):  # type: ignore[no-untyped-def]
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union

    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept: list[int] = []
    for i in order:
        if all(ids[i] != ids[k] or iou(boxes[i], boxes[k]) <= threshold for k in kept):
            kept.append(i)
    return kept[:top_k] if top_k else kept


def _iou_near(boxes, ids, threshold):  # type: ignore[no-untyped-def]
    from edgekit._detect.boxes import box_iou

    m = box_iou(boxes, boxes)
    same = ids[:, None] == ids[None, :]
    return bool(np.any(same & (np.abs(m - threshold) < 5e-3)))  # float32 shifted boxes: IoU to ~1e-3


@st.composite
def box_sets(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(0, 30))
    xy = draw(st.lists(st.tuples(st.integers(0, 90), st.integers(0, 90),
                                 st.integers(2, 40), st.integers(2, 40)), min_size=n, max_size=n))
    boxes = np.array([(x, y, x + w, y + h) for x, y, w, h in xy], np.float64).reshape(-1, 4)
    scores = np.array(draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n)), np.float32) / 1000
    ids = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), np.int64)
    return boxes, scores, ids


@pytest.mark.parametrize("impl", [nms, nms_numpy], ids=["opencv", "numpy"])
@settings(max_examples=200, deadline=None)
@given(box_sets(), st.floats(0.05, 0.95), st.one_of(st.none(), st.integers(1, 10)))
def test_nms_keeps_what_a_plain_python_reference_keeps(impl, data, threshold: float, top_k) -> None:  # type: ignore[no-untyped-def]
    boxes, scores, ids = data
    assume(not _iou_near(boxes, ids, threshold))
    got = impl(boxes, scores, ids, threshold, top_k).tolist()
    assert got == reference_nms(boxes.tolist(), scores.tolist(), ids.tolist(), threshold, top_k)


def test_nms_never_suppresses_across_classes() -> None:
    boxes = np.array([[0, 0, 10, 10]] * 3, np.float64)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), np.array([0, 1, 0]), 0.5).tolist() == [0, 1]


@st.composite
def clustered_boxes(draw):  # type: ignore[no-untyped-def]
    """Clusters of jittered float boxes (what a YOLO head gives), some without area, tied scores."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 120))
    centres = rng.uniform(-20, 340, (draw(st.integers(1, 6)), 2))
    pick = rng.integers(0, len(centres), n)
    xy = centres[pick] + rng.normal(0, 3, (n, 2))
    wh = np.abs(rng.normal(40, 8, (n, 2))) * (rng.random((n, 1)) > 0.05)  # ~5 % without area
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1).astype(np.float32)
    scores = (rng.integers(1, 40, n) / 40).astype(np.float32)  # ties, like int8 outputs
    ids = rng.integers(0, draw(st.integers(1, 4)), n)
    return boxes, scores, ids


@settings(max_examples=200, deadline=None)
@given(clustered_boxes(), st.sampled_from([0.45, 0.5, 0.7]), st.one_of(st.none(), st.integers(1, 50)))
def test_opencv_nms_keeps_what_torchvision_float32_arithmetic_keeps(data, threshold: float, top_k) -> None:  # type: ignore[no-untyped-def]
    from edgekit._detect.boxes import box_iou
    from edgekit._detect.nms import CLASS_OFFSET

    boxes, scores, ids = data
    shifted = boxes + (ids.astype(np.float32) * np.float32(CLASS_OFFSET))[:, None]
    assume(not np.any(np.abs(box_iou(shifted, shifted) - threshold) < 1e-5))  # float32 vs double IoU
    assert nms(boxes, scores, ids, threshold, top_k).tolist() == nms_numpy(boxes, scores, ids, threshold, top_k).tolist()
