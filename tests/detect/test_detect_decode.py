"""Pure detection post-processing: layout recognition and decoding on synthetic tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from edgekit._detect.decode import class_ids_for, decode
from edgekit._detect.layouts import Layout, parse_layout, recognize
from edgekit.errors import ConfigError
from edgekit.options import PredictOptions
from edgekit.preprocess import Transform

IDENTITY = Transform(320, 320, 320, 320, 1.0, 1.0)


@dataclass(frozen=True)
class Spec:
    shape: tuple[int, ...]
    name: str = "out"


def _layout(*shapes: tuple[int, ...], forced: str | None = None) -> str | None:
    found = recognize(tuple(Spec(s) for s in shapes), forced)
    return None if found is None else found.name


@pytest.mark.parametrize("shape,name,classes", [
    ((1, 84, 8400), "yolov8", 80),
    ((1, 5, 8400), "yolov8", 1),
    ((1, 8400, 84), "yolov8-transposed", 80),
    ((1, 25200, 85), "yolov5", 80),
    ((1, 25200, 6), "yolov5", 1),
    ((1, 85, 25200), "yolov5-transposed", 80),
    ((1, 300, 6), "yolo-end2end", 0),
    ((8400, 84), "yolov8-transposed", 80),
])
def test_yolo_layouts_are_inferred_from_the_output_shape(shape, name, classes) -> None:  # type: ignore[no-untyped-def]
    layout = recognize((Spec(shape),))
    assert layout is not None and (layout.name, layout.num_classes) == (name, classes)


@pytest.mark.parametrize("shapes", [
    [(1, 10)], [(1, 10, 10)], [(1, 3, 4000)], [(1, 20, 30)], [(1, 8, 8, 84)],
    [(1, 84, 8400), (1, 32, 160, 160)],  # two outputs: not guessed
])
def test_other_signatures_are_not_detection(shapes) -> None:  # type: ignore[no-untyped-def]
    assert _layout(*shapes) is None


def test_a_forced_layout_reads_the_shape_its_way() -> None:
    layout = recognize((Spec((1, 85, 8400)),), "yolov8")
    assert layout is not None and (layout.kind, layout.num_classes) == ("yolov8", 81)
    assert _layout((1, 8400, 5), forced="yolov5") is None  # no room for objectness + a class
    assert _layout((1, 4, 8400), forced="yolov8") is None


def test_forced_yolo_picks_the_largest_output_among_several() -> None:
    layout = recognize((Spec((1, 32, 160, 160)), Spec((1, 84, 2100))), "yolo")
    assert layout is not None and layout.outputs == (1,) and layout.kind == "yolov8"


def test_layout_names_take_aliases_box_formats_units_and_score_kinds() -> None:
    assert parse_layout("YOLO11:xyxy:pixels") == ("yolov8", "xyxy", "pixels", None)
    assert parse_layout("yolov10") == ("yolo-end2end", None, None, None)
    assert parse_layout("yolov5:logits:normalized") == ("yolov5", None, "normalized", "logits")
    with pytest.raises(ConfigError, match="'cxcy' is neither a box format"):
        parse_layout("yolov8:cxcy")
    with pytest.raises(ConfigError, match="'auto' is neither"):  # units are never guessed per frame
        parse_layout("yolov8:auto")


def test_the_full_spec_of_a_layout_parses_back_to_the_same_layout() -> None:
    layout = Layout("yolov8", 80, (0,), "xyxy", "pixels", "logits")
    assert layout.spec == "yolov8:xyxy:pixels:logits" and layout.name == "yolov8:xyxy"
    again = recognize((Spec((1, 84, 2100)),), layout.spec)
    assert again is not None and (again.boxes, again.coords, again.scores) == ("xyxy", "pixels", "logits")


@pytest.mark.parametrize("names,order", [
    (["boxes", "scores", "classes", "num"], (0, 2, 1, 3)),
    (["TFLite_Detection_PostProcess", "TFLite_Detection_PostProcess:1",
      "TFLite_Detection_PostProcess:2", "TFLite_Detection_PostProcess:3"], (0, 1, 2, 3)),
])
def test_ssd_roles_come_from_shapes_then_names(names, order) -> None:  # type: ignore[no-untyped-def]
    shapes = [(1, 10, 4), (1, 10), (1, 10), (1,)]
    layout = recognize(tuple(Spec(s, n) for s, n in zip(shapes, names)))
    assert layout is not None and layout.kind == "ssd" and layout.outputs == order


def test_ssd_outputs_in_tf2_order_are_assigned_by_the_op_index_suffix() -> None:
    specs = (Spec((1, 25), "StatefulPartitionedCall:2"), Spec((1, 25, 4), "StatefulPartitionedCall:0"),
             Spec((1,), "StatefulPartitionedCall:3"), Spec((1, 25), "StatefulPartitionedCall:1"))
    layout = recognize(specs)
    assert layout is not None and layout.outputs == (1, 3, 0, 2)


def _ssd_tensors() -> list[np.ndarray]:
    boxes = np.array([[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 0.3, 0.3], [0, 0, 0, 0]]], np.float32)
    classes = np.array([[3.0, 1.0, 0.0]], np.float32)
    scores = np.array([[0.8, 0.3, 0.0]], np.float32)
    return [boxes, scores, classes, np.array([2.0], np.float32)]  # scores/classes listed swapped


def test_ssd_scores_and_classes_listed_the_other_way_round_are_recognised_by_value() -> None:
    layout = Layout("ssd", 0, (0, 1, 2, 3), "yxyx")  # claims classes at 1, scores at 2
    dets = decode(_ssd_tensors(), layout, IDENTITY, (), PredictOptions(score_threshold=0.25))
    assert [(d.id, round(d.score, 3)) for d in dets] == [(3, 0.8), (1, 0.3)]
    assert dets[0].box.to_list() == pytest.approx([64.0, 32.0, 192.0, 160.0])


def _v8(rows: list[tuple[float, ...]], classes: int = 3) -> np.ndarray:
    t = np.zeros((1, 4 + classes, 50), np.float32)
    t[0, :4] = 0.5
    t[0, 2:4] = 0.1
    for i, row in enumerate(rows):
        t[0, :, i] = row
    return t


def test_logit_scores_pass_through_a_sigmoid() -> None:
    t = _v8([(0.5, 0.5, 0.2, 0.2, 3.0, -2.0, -4.0)])
    t[0, 4:, 1:] = -6.0
    dets = decode([t], Layout("yolov8", 3, (0,), "xywh", scores="logits"), IDENTITY)
    assert len(dets) == 1 and dets[0].score == pytest.approx(1 / (1 + np.exp(-3.0)), rel=1e-5)


def test_objectness_multiplies_the_class_score() -> None:
    t = np.zeros((1, 50, 8), np.float32)
    t[0, 0] = (0.5, 0.5, 0.2, 0.2, 0.5, 0.1, 0.9, 0.2)
    dets = decode([t], Layout("yolov5", 3, (0,), "xywh"), IDENTITY, (), PredictOptions(score_threshold=0.3))
    assert [(d.id, round(d.score, 4)) for d in dets] == [(1, 0.45)]


def test_corner_boxes_are_read_as_corners_when_declared() -> None:
    t = _v8([(0.25, 0.25, 0.5, 0.75, 0.9, 0.0, 0.0)])
    layout = recognize((Spec(t.shape),), "yolov8:xyxy")
    assert layout is not None
    dets = decode([t], layout, IDENTITY)
    assert dets[0].box.to_list() == pytest.approx([80.0, 80.0, 160.0, 240.0])


LETTERBOX = Transform(640, 320, 320, 320, 0.5, 0.5, 0.0, 80.0)  # content rows 80..240 of the input


def test_boxes_wholly_inside_letterbox_padding_are_dropped_after_nms() -> None:
    # rows 16..76 (padding only, 0.9), 20..84 (4 rows visible, 0.8; IoU 0.875 with the first),
    # 128..192 (0.7). NMS runs first, on the model's boxes: the second is suppressed by the
    # first, as in Ultralytics, which then keeps the first as a zero-height box; edgekit drops it.
    t = _v8([(0.5, 46 / 320, 0.2, 60 / 320, 0.9, 0.0, 0.0), (0.5, 52 / 320, 0.2, 64 / 320, 0.8, 0.0, 0.0),
             (0.5, 0.5, 0.2, 0.2, 0.7, 0.0, 0.0)])
    dets = decode([t], Layout("yolov8", 3, (0,), "xywh"), LETTERBOX)
    assert [round(d.score, 3) for d in dets] == [0.7]
    assert dets[0].box.to_list() == pytest.approx([256.0, 96.0, 384.0, 224.0])
    dets = decode([t], Layout("yolov8", 3, (0,), "xywh"), LETTERBOX, (), PredictOptions(iou_threshold=0.9))
    assert [round(d.score, 3) for d in dets] == [0.8, 0.7]
    assert dets[0].box.to_list() == pytest.approx([256.0, 0.0, 384.0, 8.0])


def test_nms_runs_on_unclipped_boxes_in_model_input_pixels() -> None:
    # rows 0..200 and 70..200 of the input: IoU 0.65 as the model sees them, 1.0 once
    # both are clipped to the letterbox content (rows 80..240): both stay, as in Ultralytics
    t = _v8([(0.5, 100 / 320, 0.5, 200 / 320, 0.9, 0.0, 0.0), (0.5, 135 / 320, 0.5, 130 / 320, 0.8, 0.0, 0.0)])
    dets = decode([t], Layout("yolov8", 3, (0,), "xywh"), LETTERBOX)
    assert [round(d.score, 3) for d in dets] == [0.9, 0.8]
    assert dets[0].box.to_list() == pytest.approx(dets[1].box.to_list())  # identical once clipped
    assert dets[0].box.to_list() == pytest.approx([160.0, 0.0, 480.0, 240.0])


def test_a_score_equal_to_the_threshold_is_not_kept() -> None:
    t = _v8([(0.5, 0.5, 0.2, 0.2, 0.25, 0.0, 0.0), (0.2, 0.2, 0.1, 0.1, 0.2500001, 0.0, 0.0)])
    dets = decode([t], Layout("yolov8", 3, (0,), "xywh"), IDENTITY, (), PredictOptions(score_threshold=0.25))
    assert [d.score for d in dets] == [pytest.approx(0.2500001)]


def test_equal_class_scores_go_to_the_lower_class_id_and_equal_scores_keep_output_order() -> None:
    t = _v8([(0.2, 0.2, 0.1, 0.1, 0.0, 0.6, 0.6), (0.7, 0.7, 0.1, 0.1, 0.6, 0.0, 0.0),
             (0.5, 0.5, 0.1, 0.1, 0.0, 0.0, 0.6)])
    dets = decode([t], Layout("yolov8", 3, (0,), "xywh"), IDENTITY)
    assert [(d.id, round(d.box.x1)) for d in dets] == [(1, 48), (0, 208), (2, 144)]


def test_the_same_outputs_decode_the_same_whatever_their_magnitudes() -> None:
    # normalized boxes reaching 2.163 (an untrained export on a photo) stay normalized: units are
    # the layout's, decided once per model, never read from the values of a frame
    small = _v8([(0.5, 0.5, 0.2, 0.2, 0.9, 0.0, 0.0)])
    large = _v8([(0.5, 0.5, 0.2, 0.2, 0.9, 0.0, 0.0), (0.1, 0.9, 2.163, 0.2, 0.8, 0.0, 0.0)])
    layout = Layout("yolov8", 3, (0,), "xywh", "normalized")
    assert decode([small], layout, IDENTITY)[0].box == decode([large], layout, IDENTITY)[0].box
    assert decode([large], layout, IDENTITY)[0].box.to_list() == pytest.approx([128.0, 128.0, 192.0, 192.0])


def test_class_ids_for_maps_names_case_insensitively_and_rejects_unknown_names() -> None:
    assert class_ids_for(("Car", "0", "7"), ("person", "bicycle", "car")).tolist() == [0, 2, 7]
    with pytest.raises(ConfigError, match="'horse' is neither a label.*no labels; use ids"):
        class_ids_for(("horse",), ())


def test_an_empty_head_gives_no_detections() -> None:
    t = np.zeros((1, 84, 100), np.float32)
    assert decode([t], Layout("yolov8", 80, (0,), "xywh"), IDENTITY) == ()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e30])
@pytest.mark.parametrize("layout,shapes", [
    (Layout("yolov8", 80, (0,), "xywh"), [(1, 84, 100)]),
    (Layout("yolov5", 80, (0,), "xywh"), [(1, 300, 85)]),
    (Layout("yolo-end2end", 0, (0,), "xyxy"), [(1, 300, 6)]),
    (Layout("ssd", 0, (0, 1, 2, 3), "yxyx"), [(1, 10, 4), (1, 10), (1, 10), (1,)]),
], ids=["yolov8", "yolov5", "end2end", "ssd"])
def test_non_finite_outputs_give_no_detections_and_no_warnings(layout, shapes, value) -> None:  # type: ignore[no-untyped-def]
    import warnings

    tensors = [np.full(s, value, np.float32) for s in shapes]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode(tensors, layout, IDENTITY) == ()


def test_detections_are_the_records_their_constructors_make() -> None:
    from edgekit.results import BBox, Detection

    dets = decode([_v8([(0.5, 0.5, 0.2, 0.2, 0.9, 0.0, 0.0)])], Layout("yolov8", 3, (0,), "xywh"), IDENTITY,
                  ("a", "b", "c"))
    assert dets == (Detection(0, "a", pytest.approx(0.9), BBox(128.0, 128.0, 192.0, 192.0)),)
    assert dets[0].to_dict() == Detection(0, "a", dets[0].score, dets[0].box).to_dict()
    with pytest.raises(AttributeError):  # still frozen
        dets[0].score = 1.0  # type: ignore[misc]
