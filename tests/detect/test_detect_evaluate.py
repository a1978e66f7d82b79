"""``edgekit evaluate`` on detection datasets, with the runtime and pycocotools only.

The detector is the red-square model of ``detect_models`` (it really looks at the frame: one class,
a 10×10 grid of cells scored by their redness). Datasets are real photos with red cells painted at
known places and written as YOLO labels, so the expected scores are known exactly.
"""

from __future__ import annotations

import builtins
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import detect_models as dm
import numpy as np
import pytest
import zoo

from edgekit._evaluate.detect import evaluate_detector, match_names
from edgekit.errors import ConfigError, ExtraMissing

pytest.importorskip("pycocotools")

W, H = 640, 480
PAINTED = [[(5, 3)], [(3, 6), (6, 1)], [(2, 2)], [(4, 8), (7, 5)]]  # (row, col) cells per image


PALE_RED = (60, 60, 200)  # BGR; redness 0.55: the detector scores it about 0.73
RED = (0, 0, 255)  # redness 1: scored about 1.0


def _dataset(root: Path, names: str = "red\n", stray: bool = False) -> Path:
    """One image per entry of :data:`PAINTED`, every cell pale red and labelled; with ``stray``, one
    more cell in the first image painted pure red and *not* labelled (a false positive ranked first)."""
    import cv2

    photo = cv2.cvtColor(cv2.resize(zoo.skimage_photos()[1], (W, H)), cv2.COLOR_BGR2GRAY)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i, cells in enumerate(PAINTED):
        frame = np.repeat(photo[:, :, None], 3, axis=2)
        boxes = dm.paint_cells(frame, cells, "letterbox", bgr=PALE_RED)
        if stray and i == 0:
            dm.paint_cells(frame, [(8, 8)], "letterbox", bgr=RED)
        cv2.imwrite(str(root / "images" / f"{i}.png"), frame)
        lines = [f"0 {(x1 + x2) / 2 / W} {(y1 + y2) / 2 / H} {(x2 - x1) / W} {(y2 - y1) / H}"
                 for x1, y1, x2, y2 in boxes]
        (root / "labels" / f"{i}.txt").write_text("\n".join(lines) + "\n")
    (root / "classes.txt").write_text(names)
    return root


def _edgekit(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgekit", *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False, cwd=cwd)


def test_a_detector_that_finds_every_painted_square_scores_map_one(tmp_path: Path) -> None:
    report = evaluate_detector(dm.red_square_detector(), _dataset(tmp_path / "d"))
    assert report.split == "all" and report.images == 4 and report.objects == 6
    assert report.map50 == pytest.approx(1.0) and report.map == pytest.approx(1.0)
    (red,) = report.per_class
    assert (red.label, red.objects, red.ap50) == ("red", 6, pytest.approx(1.0))


def test_a_square_nobody_labelled_is_a_false_positive_that_lowers_the_ap(tmp_path: Path) -> None:
    report = evaluate_detector(dm.red_square_detector(), _dataset(tmp_path / "d", stray=True))
    # ranked first, the false positive caps the precision at every recall at 6 / 7
    assert report.objects == 6 and report.map50 == pytest.approx(6 / 7, abs=0.01)


def test_evaluate_json_on_the_command_line_has_map50_map_and_per_class(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "d")
    work = tmp_path / "cwd"
    work.mkdir()
    done = _edgekit("evaluate", dm.red_square_detector("int8"), data, "--json", cwd=work)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["task"] == "detect" and report["map50"] == pytest.approx(1.0)
    assert report["per_class"] == [{"id": 0, "label": "red", "objects": 6, "ap50": pytest.approx(1.0),
                                    "ap": report["per_class"][0]["ap"]}]
    assert os.listdir(work) == []  # no figure unless asked


HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="the figure needs matplotlib (the eval extra)")
def test_evaluate_out_writes_the_precision_recall_figure_there_only(tmp_path: Path) -> None:
    data, work = _dataset(tmp_path / "d"), tmp_path / "cwd"
    work.mkdir()
    done = _edgekit("evaluate", dm.red_square_detector("int8"), data, "--out", tmp_path / "fig", cwd=work)
    assert done.returncode == 0, done.stderr
    assert "mAP@0.5 1.0000" in done.stdout and (tmp_path / "fig" / "precision_recall.png").stat().st_size > 1000
    assert os.listdir(work) == []


@pytest.mark.skipif(HAS_MATPLOTLIB, reason="checks a runtime-only install, where matplotlib is missing")
def test_evaluate_out_without_matplotlib_names_the_eval_extra(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "d")
    done = _edgekit("evaluate", dm.red_square_detector("int8"), data, "--out", tmp_path / "fig")
    assert done.returncode == ExtraMissing.exit_code
    assert done.stderr.strip().splitlines() == [
        "ExtraMissing: the precision-recall figure needs matplotlib: install the 'eval' extra "
        "(pip install 'edgekit-tflite[eval]', or '.[eval]' in a checkout)"]


def test_dataset_classes_that_match_no_model_label_are_a_one_line_error(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "d", names="blue\n")
    labels = tmp_path / "labels.txt"
    labels.write_text("red\n")
    done = _edgekit("evaluate", dm.red_square_detector(), data, "--labels", labels)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if not line.startswith("INFO:")]  # LiteRT's own line
    assert errors == [("ConfigError: dataset class(es) blue match no model class (the model's labels "
                                   "are: red); rename them or give the model labels")]


def test_class_names_are_matched_to_model_labels_by_name_not_position() -> None:
    assert match_names(["Car", "person"], ["person", "bicycle", "car"], 3) == [2, 0]
    assert match_names(["a", "b"], [], 0) == [0, 1]
    with pytest.raises(ConfigError, match=r"dataset class\(es\) c match no model class"):
        match_names(["a", "b", "c"], [], 2)


def test_a_missing_split_is_named_with_the_splits_there_are(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no 'test' split \(found: all\)"):
        evaluate_detector(dm.red_square_detector(), _dataset(tmp_path / "d"), split="test")


def test_without_pycocotools_the_eval_extra_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def fake(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.startswith("pycocotools"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ExtraMissing, match=r"needs pycocotools: install the 'eval' extra"):
        evaluate_detector(dm.red_square_detector(), tmp_path)
