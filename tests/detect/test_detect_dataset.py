"""Detection datasets on disk (YOLO txt, data.yaml / classes.txt, COCO JSON): read, and every label file checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgekit._evaluate.boxdata import load_box_dataset
from edgekit._evaluate.yololabels import LabelProblem, parse_label_text
from edgekit.errors import ConfigError


def _image(path: Path, width: int = 64, height: int = 48) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((height, width, 3), 90, np.uint8))
    return path


def _label(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _yolo(root: Path, items: dict[str, dict[str, str | None]], names: str | None = None) -> Path:
    """``items[split][stem] = label text`` (``None``: no label file)."""
    for split, files in items.items():
        for stem, text in files.items():
            _image(root / "images" / split / f"{stem}.jpg")
            if text is not None:
                _label(root / "labels" / split / f"{stem}.txt", text)
    if names is not None:
        (root / "data.yaml").write_text(names)
    return root


NAMES = "names:\n  0: cat\n  1: parcel\n"


def test_yolo_splits_and_class_names_come_from_data_yaml(tmp_path: Path) -> None:
    root = _yolo(tmp_path, {"train": {"a": "0 0.5 0.5 0.2 0.4\n1 0.25 0.75 0.1 0.1\n"},
                            "val": {"b": "1 0.5 0.5 1 1\n"}}, "train: images/train\nval: images/val\n" + NAMES)
    ds = load_box_dataset(root)
    assert ds.format == "yolo" and ds.names == ("cat", "parcel") and list(ds.splits) == ["train", "val"]
    (a,) = ds.splits["train"]
    assert a.image == str(root / "images" / "train" / "a.jpg")
    np.testing.assert_allclose(a.boxes, [[0.4, 0.3, 0.6, 0.7], [0.2, 0.7, 0.3, 0.8]])
    assert a.classes.tolist() == [0, 1] and not ds.skipped


def test_data_yaml_names_may_be_a_list_and_the_yaml_file_itself_is_accepted(tmp_path: Path) -> None:
    root = _yolo(tmp_path / "d", {"train": {"a": "1 0.5 0.5 0.2 0.2\n"}},
                 "path: .\ntrain: images/train\nnames: [cat, parcel]\n")
    ds = load_box_dataset(root / "data.yaml")
    assert ds.names == ("cat", "parcel") and len(ds.splits["train"]) == 1


def test_classes_txt_names_the_classes_when_there_is_no_yaml(tmp_path: Path) -> None:
    root = _yolo(tmp_path, {"train": {"a": "0 0.5 0.5 0.2 0.2\n"}, "val": {"b": ""}})
    (root / "classes.txt").write_text("person\n\n")
    ds = load_box_dataset(root)
    assert ds.names == ("person",) and set(ds.splits) == {"train", "val"}


def test_roboflow_layout_with_valid_split_is_read(tmp_path: Path) -> None:
    for split in ("train", "valid"):
        _image(tmp_path / split / "images" / "x.jpg")
        _label(tmp_path / split / "labels" / "x.txt", "0 0.5 0.5 0.5 0.5\n")
    (tmp_path / "data.yaml").write_text("train: train/images\nval: valid/images\nnames: [box]\n")
    assert set(load_box_dataset(tmp_path).splits) == {"train", "val"}
    (tmp_path / "data.yaml").unlink()
    (tmp_path / "classes.txt").write_text("box\n")
    assert set(load_box_dataset(tmp_path).splits) == {"train", "val"}


def test_a_flat_images_and_labels_folder_is_one_split_named_all(tmp_path: Path) -> None:
    root = _yolo(tmp_path, {"": {"a": "0 0.5 0.5 0.2 0.2\n", "b": "0 0.1 0.1 0.1 0.1\n"}})
    (root / "classes.txt").write_text("thing\n")
    assert [len(v) for v in load_box_dataset(root).splits.values()] == [2]


def test_one_split_folder_finds_its_labels_and_the_names_above_it(tmp_path: Path) -> None:
    root = _yolo(tmp_path, {"val": {"a": "1 0.5 0.5 0.2 0.2\n"}, "train": {"b": ""}}, NAMES)
    ds = load_box_dataset(root / "images" / "val")
    assert ds.names == ("cat", "parcel") and list(ds.splits) == ["all"]
    assert ds.splits["all"][0].classes.tolist() == [1]


def test_bad_label_files_are_skipped_with_a_reason_naming_file_and_line(tmp_path: Path) -> None:
    root = _yolo(tmp_path, {"train": {
        "good": "0 0.5 0.5 0.2 0.2\n",
        "outside": "0 0.5 0.5 0.2 0.2\n0 1.4 0.5 0.2 0.2\n",
        "unknown": "7 0.5 0.5 0.2 0.2\n",
        "short": "0 0.5 0.5 0.2\n",
        "words": "cat 0.5 0.5 0.2 0.2\n",
        "flat": "0 0.5 0.5 0 0.2\n",
        "empty": "",
    }}, "train: images/train\n" + NAMES)
    _label(root / "labels" / "train" / "orphan.txt", "0 0.5 0.5 0.2 0.2\n")
    ds = load_box_dataset(root)
    reasons = {Path(p).name: r for p, r in ds.skipped}
    assert reasons == {
        "outside.txt": "line 2: coordinate 1.4 is outside [0, 1] (YOLO labels are normalized to the image size)",
        "unknown.txt": "line 1: class 7 is not one of the 2 class ids 0..1",
        "short.txt": "line 1: 4 values; expected 'class cx cy w h' (5 values) or 'class x1 y1 x2 y2 ...' "
                     "(a polygon)",
        "words.txt": "line 1: not numbers: 'cat 0.5 0.5 0.2 0.2'",
        "flat.txt": "line 1: the box has no area (width or height 0)",
        "orphan.txt": "label file without an image",
    }
    kept = {Path(s.image).stem: len(s.classes) for s in ds.splits["train"]}
    assert kept == {"good": 1, "empty": 0}  # an empty file is an image without objects


def test_images_without_a_label_file_count_as_empty_and_are_noted(tmp_path: Path) -> None:
    root = _yolo(tmp_path, {"train": {"a": "0 0.5 0.5 0.2 0.2\n", "b": None, "c": None}}, "train: images/train\n" + NAMES)
    ds = load_box_dataset(root)
    assert [len(s.classes) for s in ds.splits["train"]] == [1, 0, 0]
    assert ds.notes == ("2 images have no label file (taken as images without objects)",)


def test_a_split_where_no_image_has_a_label_file_is_an_error_naming_where_it_looked(tmp_path: Path) -> None:
    root = _yolo(tmp_path, {"train": {"a": None}}, "train: images/train\n" + NAMES)
    with pytest.raises(ConfigError, match=r"none of its 1 images has a label file \(looked for .*labels/train/a.txt\)"):
        load_box_dataset(root)


def test_a_dataset_without_class_names_is_a_clear_error_unless_names_are_given(tmp_path: Path) -> None:
    root = _yolo(tmp_path, {"train": {"a": "0 0.5 0.5 0.2 0.2\n"}})
    with pytest.raises(ConfigError, match="no class names found: add a data.yaml with 'names:' or a classes.txt"):
        load_box_dataset(root)
    assert load_box_dataset(root, names=["dog"]).names == ("dog",)


def test_a_folder_that_is_no_detection_dataset_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(ConfigError, match="no detection dataset here"):
        load_box_dataset(tmp_path)
    with pytest.raises(ConfigError, match="no such dataset file or folder"):
        load_box_dataset(tmp_path / "missing")


def test_polygon_lines_become_their_bounding_box() -> None:
    boxes, classes = parse_label_text("2 0.1 0.2 0.5 0.1 0.4 0.6\n", 3)
    np.testing.assert_allclose(boxes, [[0.1, 0.1, 0.5, 0.6]])
    assert classes.tolist() == [2]


def test_boxes_spilling_over_the_border_are_cut_at_it_and_rounding_is_tolerated() -> None:
    boxes, _ = parse_label_text("0 0.05 0.5 0.2 0.2\n0 1.0004 0.5 0.1 0.1\n", 1)
    np.testing.assert_allclose(boxes, [[0.0, 0.4, 0.15, 0.6], [0.9504, 0.45, 1.0, 0.55]], atol=1e-9)
    with pytest.raises(LabelProblem, match="line 1: values must be finite numbers"):
        parse_label_text("0 nan 0.5 0.2 0.2\n", 1)


def _coco(tmp_path: Path, annotations: list[dict], images: int = 2) -> Path:
    for i in range(images):
        _image(tmp_path / "images" / f"{i}.jpg", 100, 50)
    data = {"images": [{"id": i + 10, "file_name": f"{i}.jpg", "width": 100, "height": 50} for i in range(images)],
            "categories": [{"id": 7, "name": "parcel"}, {"id": 3, "name": "cat"}],
            "annotations": annotations}
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_json_boxes_become_normalized_corners_with_categories_in_id_order(tmp_path: Path) -> None:
    path = _coco(tmp_path, [{"id": 1, "image_id": 10, "category_id": 7, "bbox": [10, 5, 20, 10]},
                            {"id": 2, "image_id": 10, "category_id": 3, "bbox": [0, 0, 100, 50]},
                            {"id": 3, "image_id": 11, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1}])
    ds = load_box_dataset(path)
    assert ds.format == "coco" and ds.names == ("cat", "parcel")
    first, second = ds.splits["all"]
    np.testing.assert_allclose(first.boxes, [[0.1, 0.1, 0.3, 0.3], [0, 0, 1, 1]])
    assert first.classes.tolist() == [1, 0] and len(second.classes) == 0
    assert ds.notes == ("1 crowd annotations left out",)


def test_coco_annotations_that_cannot_be_used_skip_their_image_with_the_reason(tmp_path: Path) -> None:
    path = _coco(tmp_path, [{"id": 1, "image_id": 10, "category_id": 99, "bbox": [10, 5, 20, 10]},
                            {"id": 2, "image_id": 11, "category_id": 3, "bbox": [90, 0, 30, 10]}], images=3)
    (tmp_path / "images" / "2.jpg").unlink()
    ds = load_box_dataset(path)
    reasons = sorted(r for _, r in ds.skipped)
    assert reasons == ["annotation 1: category_id 99 is not one of the categories",
                       "annotation 2: bbox [90.0, 0.0, 30.0, 10.0] lies outside the 100x50 image",
                       "listed in annotations.json but the image file is missing"]
    assert ds.splits["all"] == ()


def test_a_coco_folder_with_one_annotation_file_per_split_is_read(tmp_path: Path) -> None:
    path = _coco(tmp_path, [{"id": 1, "image_id": 10, "category_id": 7, "bbox": [10, 5, 20, 10]}])
    (tmp_path / "annotations").mkdir()
    path.rename(tmp_path / "annotations" / "instances_val2017.json")
    ds = load_box_dataset(tmp_path)
    assert list(ds.splits) == ["val"] and len(ds.splits["val"]) == 2
