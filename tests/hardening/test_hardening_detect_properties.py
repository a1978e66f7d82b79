"""Property tests of detection decoding: any output values → boxes inside the image, or ConfigError.

A broken or hostile detector can emit NaN, inf, huge or negative values; the
decoder must still return detections inside the source image, best first,
at most ``max_detections`` — never raise anything but a clear edgekit error.
"""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit._detect.decode import decode
from edgekit._detect.layouts import parse_layout, recognize
from edgekit._modelfile.specs import TensorSpec
from edgekit.errors import ConfigError
from edgekit.options import PredictOptions
from edgekit.preprocess import Transform

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=32)
MOSTLY_SANE = st.one_of(st.floats(-2, 700, width=32), ANY_FLOAT)


def _spec(shape: tuple[int, ...], name: str = "out") -> TensorSpec:
    return TensorSpec(name=name, index=0, shape=shape, dtype="float32")


@st.composite
def yolo_case(draw: st.DrawFn) -> tuple[list[np.ndarray], object]:
    name = draw(st.sampled_from(["yolov8", "yolov8-transposed", "yolov5", "yolov5-transposed",
                                 "yolo-end2end"]))
    classes = draw(st.integers(1, 6))
    features = {"yolov8": 4 + classes, "yolov8-transposed": 4 + classes, "yolov5": 5 + classes,
                "yolov5-transposed": 5 + classes, "yolo-end2end": 6}[name]
    rows = draw(st.integers(1, 40))
    shape = (1, features, rows) if name in ("yolov8", "yolov5-transposed") else (1, rows, features)
    layout = recognize([_spec(shape)], name + draw(st.sampled_from(["", ":xyxy", ":xywh:pixels",
                                                                     ":xywh:normalized"])))
    assert layout is not None, (name, shape)
    tensor = draw(hnp.arrays(np.float32, shape, elements=MOSTLY_SANE))
    return [tensor], layout


@st.composite
def ssd_case(draw: st.DrawFn) -> tuple[list[np.ndarray], object]:
    n = draw(st.integers(2, 20))  # n = 1 is ambiguous: every row output has one element
    specs = [_spec((1, n, 4), "boxes"), _spec((1, n), "classes"), _spec((1, n), "scores"),
             _spec((1,), "count")]
    layout = recognize(specs)
    assert layout is not None and layout.kind == "ssd"
    tensors = [draw(hnp.arrays(np.float32, s.shape, elements=MOSTLY_SANE)) for s in specs]
    return tensors, layout


@st.composite
def transform(draw: st.DrawFn) -> Transform:
    src_w, src_h = draw(st.integers(1, 4000)), draw(st.integers(1, 4000))
    dst = draw(st.sampled_from([32, 320, 640]))
    scale = min(dst / src_w, dst / src_h)
    return Transform(src_w, src_h, dst, dst, scale, scale, draw(st.floats(0, 100)), draw(st.floats(0, 100)))


@SETTINGS
@given(st.one_of(yolo_case(), ssd_case()), transform(),
       st.builds(PredictOptions, score_threshold=st.floats(0, 1), iou_threshold=st.floats(0.05, 1),
                 max_detections=st.integers(1, 30)))
def test_decode_of_any_values_gives_boxes_inside_the_source_best_first(case, tr, options) -> None:
    tensors, layout = case
    detections = decode(tensors, layout, tr, ("a", "b", "c"), options)
    assert len(detections) <= options.max_detections
    scores = [d.score for d in detections]
    assert scores == sorted(scores, reverse=True)
    for d in detections:
        x1, y1, x2, y2 = d.box.x1, d.box.y1, d.box.x2, d.box.y2  # to_list() rounds to 0.1 px
        assert np.isfinite([x1, y1, x2, y2, d.score]).all()
        assert 0 <= x1 < x2 <= tr.src_w and 0 <= y1 < y2 <= tr.src_h
        assert d.label == (("a", "b", "c")[d.id] if 0 <= d.id < 3 else None)


@SETTINGS
@given(st.lists(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=400), max_size=5),
       st.one_of(st.none(), st.sampled_from(["ssd", "yolo", "yolov8", "yolov5", "yolo-end2end",
                                              "yolov8:xyxy:pixels"])))
def test_recognize_any_output_signature_gives_a_layout_or_none(shapes, forced) -> None:
    layout = recognize([_spec(tuple(s), f"o{i}") for i, s in enumerate(shapes)], forced)
    assert layout is None or all(0 <= i < len(shapes) for i in layout.outputs)


@pytest.mark.parametrize("text", ["retinanet", "yolov8:xyzw", "ssd:pixels:foo"])
def test_unknown_layouts_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_layout(text)
