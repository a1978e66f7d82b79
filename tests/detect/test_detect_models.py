"""Detection end to end on real ``.tflite`` models whose raw outputs encode known boxes.

The models (see ``detect_models.py``) are committed in ``tests/models/``; the
SSD one ends in the real ``TFLite_Detection_PostProcess`` custom op. The
expected source-pixel boxes are worked out independently of edgekit's
``Transform`` (``detect_models.expected_boxes``).
"""

from __future__ import annotations

import detect_models as dm
import numpy as np
import pytest
import zoo

import edgekit
import edgekit._modelfile.metadata as md
from edgekit._modelfile.labels import COCO_NAMES
from edgekit.errors import ConfigError, ModelIncompatible, ModelInvalid

SOURCES = [(400, 400), (640, 480), (300, 500)]  # (width, height): square, landscape, portrait
MODES = ["letterbox", "stretch"]
YOLO_LAYOUTS = ["yolov8", "yolov8-transposed", "yolov5", "yolov5-transposed", "yolo-end2end"]
# End-to-end heads mix class ids (0..79) with [0, 1] boxes in one tensor, so one
# int8 scale cannot hold both: they are exported (and tested) in float only.
MODELS = [(layout, q) for layout in YOLO_LAYOUTS for q in ("float32", "int8")
          if (layout, q) != ("yolo-end2end", "int8")] + [("ssd", "float32"), ("ssd", "uint8")]
EXPECTED_IDS = [o.cls for o in dm.OBJECTS]
EXPECTED_SCORES = [o.score for o in dm.OBJECTS]


def _model_path(layout: str, quant: str):  # type: ignore[no-untyped-def]
    return dm.ssd(quant) if layout == "ssd" else dm.yolo(layout, quant)


def _frame(width: int, height: int, level: int = 127) -> np.ndarray:
    return np.full((height, width, 3), level, np.uint8)


@pytest.mark.parametrize("layout,quant", MODELS, ids=[f"{a}-{b}" for a, b in MODELS])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", SOURCES, ids=[f"{w}x{h}" for w, h in SOURCES])
def test_decoded_boxes_equal_the_known_boxes_in_source_pixels(
    layout: str, quant: str, mode: str, size: tuple[int, int]
) -> None:
    labels = None if layout.startswith("yolov") else COCO_NAMES
    with edgekit.load(_model_path(layout, quant), resize=mode, labels=labels) as model:
        assert model.task == "detect"
        assert model.info.layout == layout
        pred = model.predict(_frame(*size))
    quantized = quant != "float32"
    box_tol, score_tol = (2.0, 0.01) if quantized else (0.5, 1e-4)
    assert [d.id for d in pred.detections] == EXPECTED_IDS
    assert [d.label for d in pred.detections] == ["person", "car", "dog"]
    np.testing.assert_allclose([d.score for d in pred.detections], EXPECTED_SCORES, atol=score_tol)
    got = np.array([d.box.to_list() for d in pred.detections])
    np.testing.assert_allclose(got, dm.expected_boxes(*size, mode), atol=box_tol)


def test_yolo_models_default_to_letterbox_and_ssd_models_to_stretch() -> None:
    with edgekit.load(dm.yolo("yolov8")) as yolo, edgekit.load(dm.ssd()) as ssd:
        assert yolo.input_format.resize == "letterbox"
        assert ssd.input_format.resize == "stretch"
        got = np.array([d.box.to_list() for d in yolo.predict(_frame(640, 480)).detections])
    np.testing.assert_allclose(got, dm.expected_boxes(640, 480, "letterbox"), atol=0.5)


def test_an_80_class_yolo_without_labels_gets_the_coco_names() -> None:
    with edgekit.load(dm.yolo("yolov8")) as model:
        assert model.labels == COCO_NAMES
        assert model.info.label_source == "coco"


def test_ssd_label_maps_with_a_background_line_are_shifted() -> None:
    with edgekit.load(dm.ssd(), labels=("???", *COCO_NAMES)) as model:
        pred = model.predict(_frame(400, 400))
    assert [d.label for d in pred.detections] == ["person", "car", "dog"]


def test_boxes_in_input_pixels_are_recognised_once_at_load() -> None:
    with edgekit.load(dm.yolo("yolov8", pixels=True)) as model:
        detection = model.info.detection
        got = np.array([d.box.to_list() for d in model.predict(_frame(640, 480)).detections])
    assert detection is not None and detection["coords"] == "pixels"
    assert detection["decided_by"].startswith("checked at load: median box centre")
    np.testing.assert_allclose(got, dm.expected_boxes(640, 480, "letterbox"), atol=0.5)


def test_normalized_boxes_are_recognised_once_at_load() -> None:
    with edgekit.load(dm.yolo("yolov8")) as model:
        assert model.info.detection is not None
        assert (model.info.detection["coords"], model.info.detection["scores"]) == ("normalized", "probabilities")


def test_a_replica_keeps_the_units_decided_at_load() -> None:
    with edgekit.load(dm.yolo("yolov8", pixels=True)) as model, model.replica() as twin:
        assert twin.info.detection == model.info.detection
        assert twin.predict(_frame(640, 480)).detections == model.predict(_frame(640, 480)).detections


def test_declared_coordinates_override_the_check_at_load() -> None:
    with edgekit.load(dm.yolo("yolov8"), layout="yolov8:pixels", resize="stretch") as model:
        assert model.info.layout == "yolov8"
        assert model.info.detection is not None
        assert model.info.detection["coords"] == "pixels"
        assert model.info.detection["decided_by"].startswith("units declared; scores checked at load")
        boxes = [d.box for d in model.predict(_frame(400, 400)).detections]
    # fractions read as input pixels: every box shrinks into the top-left corner
    assert len(boxes) == 3 and all(b.x2 <= 1.25 and b.y2 <= 1.25 for b in boxes)


def test_units_declared_in_edgekit_metadata_are_used_without_a_check() -> None:
    data = dm.yolo("yolov8", pixels=True).read_bytes()
    meta = md.ModelMetadata(task="detect", resize="letterbox", mean=(0.0,), std=(255.0,),
                            detection={"layout": "yolov8", "coords": "pixels", "scores": "probabilities"})
    with edgekit.load(md.embed(data, meta)) as model:
        assert model.info.detection is not None
        assert (model.info.detection["coords"], model.info.detection["decided_by"]) == ("pixels", "declared")
        got = np.array([d.box.to_list() for d in model.predict(_frame(640, 480)).detections])
    np.testing.assert_allclose(got, dm.expected_boxes(640, 480, "letterbox"), atol=0.5)


def test_unknown_units_in_edgekit_metadata_make_the_model_invalid() -> None:
    data = dm.yolo("yolov8").read_bytes()
    meta = md.ModelMetadata(task="detect", detection={"coords": "inches"})
    with pytest.raises(ModelInvalid, match="detection.coords 'inches' is not one of normalized, pixels"):
        edgekit.load(md.embed(data, meta))


@pytest.mark.parametrize("quant", ["float32", "int8"])
def test_boxes_keep_their_units_on_frames_where_the_values_grow_past_2(quant: str) -> None:
    # one candidate's normalized width grows with the frame's brightness, to 2.3 on white:
    # a per-frame guess read every box of such a frame as pixels (boxes of 1 px)
    path = dm.brightness_model(quant)
    with edgekit.load(path) as model:
        assert model.info.detection is not None and model.info.detection["coords"] == "normalized"
        dark_pred, white_pred = (model.predict(_frame(640, 480, level)) for level in (0, 255))
        dark, white = dark_pred.detections, white_pred.detections
        assert np.abs(white_pred.tensors[0][0, :4]).max() > 2.0
        step = model.outputs[0].scale * 640  # int8: one output step, in source pixels
    want = dm.expected_boxes(640, 480, "letterbox")[:1]
    for dets in (dark, white):
        assert [d.label for d in dets][:1] == ["person"]
        np.testing.assert_allclose([dets[0].box.to_list()], want, atol=0.5 + step)


def test_the_layout_named_in_metadata_wins_over_the_guess() -> None:
    data = dm.yolo("yolov5").read_bytes()
    meta = md.ModelMetadata(task="detect", resize="letterbox", mean=(0.0,), std=(255.0,),
                            detection={"layout": "yolov8-transposed"})
    with edgekit.load(md.embed(data, meta)) as model:
        assert model.info.layout == "yolov8-transposed"
        pred = model.predict(_frame(400, 400))
    # read without objectness, the objectness column (0.95) becomes class 0
    assert pred.detections[0].id == 0 and pred.detections[0].score == pytest.approx(0.95, abs=1e-4)


def test_a_forced_layout_the_outputs_cannot_hold_is_a_clear_error() -> None:
    with pytest.raises(ModelIncompatible, match=r"outputs \(\[1, 84, 2100\]\) are not SSD post-processed"):
        edgekit.load(dm.yolo("yolov8"), task="detect", layout="ssd")
    with pytest.raises(ModelIncompatible, match=r"yolov8 reads the first axis of \[1, 10\] as features: "
                                                r"1 is fewer than the 5 it needs"):
        edgekit.load(zoo.digits_classifier("uint8"), layout="yolov8")


def test_an_unknown_layout_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="layout 'yolov99' is not one of ssd, yolov8"):
        edgekit.load(dm.yolo("yolov8"), layout="yolov99")


def test_task_detect_on_a_classifier_lists_the_shapes_found() -> None:
    with pytest.raises(ModelIncompatible, match=r"outputs \(\[1, 10\]\) match no known"):
        edgekit.load(zoo.digits_classifier("uint8"), task="detect")


def test_the_classes_filter_takes_label_names_and_ids() -> None:
    with edgekit.load(dm.yolo("yolov8"), classes="person,16") as model:
        pred = model.predict(_frame(400, 400))
    assert [d.label for d in pred.detections] == ["person", "dog"]


def test_an_unknown_class_name_is_a_config_error_naming_the_labels() -> None:
    with edgekit.load(dm.yolo("yolov8"), classes="persn") as model, \
            pytest.raises(ConfigError, match="'persn' is neither a label.*labels: person, bicycle"):
        model.predict(_frame(400, 400))


def test_max_detections_and_score_threshold_limit_the_results() -> None:
    with edgekit.load(dm.yolo("yolov5"), max_detections=2) as model:
        assert [d.label for d in model.predict(_frame(400, 400)).detections] == ["person", "car"]
    with edgekit.load(dm.yolo("yolov5"), score_threshold=0.75) as model:
        assert [d.label for d in model.predict(_frame(400, 400)).detections] == ["person", "car"]


def test_nms_is_class_aware_and_follows_the_iou_threshold() -> None:
    with edgekit.load(dm.yolo("yolov8"), iou_threshold=0.1) as model:
        assert [d.label for d in model.predict(_frame(400, 400)).detections] == ["person", "car", "dog"]
    with edgekit.load(dm.yolo("yolov8"), iou_threshold=0.95) as model:
        labels = [d.label for d in model.predict(_frame(400, 400)).detections]
    assert labels.count("person") == 3  # IoU of the near-duplicates (~0.9) is under 0.95


def test_prediction_json_has_detections_with_corner_boxes() -> None:
    with edgekit.load(dm.yolo("yolov8")) as model:
        out = model.predict(_frame(640, 480)).to_dict()
    assert out["task"] == "detect"
    first = out["detections"][0]
    assert set(first) == {"id", "label", "score", "box"}
    assert first["label"] == "person"
    assert first["box"] == pytest.approx(dm.expected_boxes(640, 480, "letterbox")[0].tolist(), abs=0.5)


def _small_head_model():  # type: ignore[no-untyped-def]
    """``[1, 7, 10]``: 10 candidates of 3 classes, too few to be guessed as a YOLO head."""
    return zoo.model("detect_small_head.tflite", lambda: zoo.make_models().small_head())


def test_a_forced_layout_makes_an_unrecognised_signature_a_detector() -> None:
    with edgekit.load(_small_head_model()) as plain:
        assert plain.task == "raw"
    with edgekit.load(_small_head_model(), layout="yolov8", resize="stretch") as forced:
        assert forced.task == "detect"
        dets = forced.predict(_frame(128, 256)).detections
    assert [(d.id, d.label) for d in dets] == [(1, None)]
    assert dets[0].box.to_list() == pytest.approx([48.0, 64.0, 80.0, 192.0])
    with pytest.raises(ModelIncompatible, match=r"outputs \(\[1, 10\]\) match no known"):
        edgekit.load(zoo.digits_classifier("uint8"), layout="yolo")


def _grey_photo(width: int, height: int) -> np.ndarray:
    import cv2

    photo = cv2.resize(zoo.skimage_photos()[0], (width, height), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    return np.repeat(grey[:, :, None], 3, axis=2)  # a real photo with no red in it


RED_CELLS = [(5, 3), (3, 6)]  # (row, col) of the 10×10 input grid; inside the content for all sources


@pytest.mark.parametrize("quant", ["float32", "int8"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", SOURCES, ids=[f"{w}x{h}" for w, h in SOURCES])
def test_a_detector_that_looks_at_the_frame_finds_red_squares_where_they_were_painted(
    quant: str, mode: str, size: tuple[int, int]
) -> None:
    frame = _grey_photo(*size)
    painted = dm.paint_cells(frame, RED_CELLS, mode)
    with edgekit.load(dm.red_square_detector(quant), resize=mode) as model:
        assert model.info.layout == "yolov8" and model.input_format.color == "rgb"
        dets = model.predict(frame).detections
        # int8: one output quantization step of the box, in source pixels
        step = model.outputs[0].scale * max(size)
    assert len(dets) == len(RED_CELLS) and all(d.id == 0 and d.score > 0.9 for d in dets)
    got = np.array(sorted(d.box.to_list() for d in dets))
    want = np.array(sorted(painted.tolist()))
    np.testing.assert_allclose(got, want, atol=0.5 + step)


def test_the_red_square_detector_ignores_blue_squares_so_colour_order_is_right() -> None:
    frame = _grey_photo(640, 480)
    dm.paint_cells(frame, RED_CELLS, "letterbox", bgr=(255, 0, 0))
    with edgekit.load(dm.red_square_detector()) as model:
        assert model.predict(frame).detections == ()
