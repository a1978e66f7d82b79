"""COCO mAP through pycocotools: known detections give known scores."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pycocotools")

from edgekit._evaluate.cocoscore import ImageBoxes, coco_scores  # noqa: E402

NAMES = ("cat", "parcel", "unused")
TRUTH = [ImageBoxes(np.array([[10, 10, 50, 60], [100, 20, 160, 80]], float), np.array([0, 1])),
         ImageBoxes(np.array([[30, 30, 90, 70]], float), np.array([0]))]


def _found(boxes: list[list[float]], classes: list[int], scores: list[float]) -> ImageBoxes:
    return ImageBoxes(np.array(boxes, float).reshape(-1, 4), np.array(classes), np.array(scores, float))


def test_detections_equal_to_the_truth_score_one_and_absent_classes_have_no_ap() -> None:
    found = [_found(t.boxes.tolist(), t.classes.tolist(), [0.9] * len(t.classes)) for t in TRUTH]
    scores = coco_scores(TRUTH, found, NAMES)
    assert scores.map50 == pytest.approx(1.0) and scores.map == pytest.approx(1.0)
    per = {c.label: (c.ap50, c.objects) for c in scores.per_class}
    assert per == {"cat": (pytest.approx(1.0), 2), "parcel": (pytest.approx(1.0), 1), "unused": (None, 0)}


def test_a_missed_class_halves_the_map_of_two_classes() -> None:
    found = [_found([[10, 10, 50, 60]], [0], [0.9]), _found([[30, 30, 90, 70]], [0], [0.8])]
    scores = coco_scores(TRUTH, found, NAMES)
    assert scores.map50 == pytest.approx(0.5)
    assert [c.ap50 for c in scores.per_class[:2]] == [pytest.approx(1.0), 0.0]


def test_loose_boxes_pass_at_iou_half_but_lower_the_strict_map() -> None:
    shifted = [t.boxes + [6, 0, 6, 0] for t in TRUTH]  # IoU about 0.75-0.85
    found = [_found(b.tolist(), t.classes.tolist(), [0.9] * len(b)) for b, t in zip(shifted, TRUTH)]
    scores = coco_scores(TRUTH, found, NAMES)
    assert scores.map50 == pytest.approx(1.0) and 0.2 < scores.map < 0.9


def test_a_confident_false_positive_ranked_first_lowers_the_ap() -> None:
    found = [_found([[200, 200, 240, 240], *TRUTH[0].boxes.tolist()], [0, 0, 1], [0.99, 0.5, 0.5]),
             _found(TRUTH[1].boxes.tolist(), [0], [0.4])]
    cat = coco_scores(TRUTH, found, NAMES).per_class[0]
    assert cat.ap50 is not None and 0.3 < cat.ap50 < 0.95


def test_no_detections_at_all_score_zero_and_classes_outside_the_names_are_ignored() -> None:
    empty = [_found([], [], []) for _ in TRUTH]
    assert coco_scores(TRUTH, empty, NAMES).map50 == 0.0
    stray = [_found(t.boxes.tolist(), [7] * len(t.classes), [0.9] * len(t.classes)) for t in TRUTH]
    assert coco_scores(TRUTH, stray, NAMES).map50 == 0.0


def test_the_precision_table_has_one_row_per_class_and_minus_one_for_absent_ones() -> None:
    found = [_found(t.boxes.tolist(), t.classes.tolist(), [0.9] * len(t.classes)) for t in TRUTH]
    table = coco_scores(TRUTH, found, NAMES).precision50
    assert table.shape == (3, 101)
    assert (table[0] == 1.0).all() and (table[2] == -1).all()


def test_truth_and_detections_must_cover_the_same_images() -> None:
    with pytest.raises(ValueError, match="2 ground-truth images but 1 detection lists"):
        coco_scores(TRUTH, TRUTH[:1], NAMES)
