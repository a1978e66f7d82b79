"""The public contract: names, the error tree, import discipline."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import edgekit
from edgekit import errors


def test_all_is_sorted_and_every_name_resolves():
    assert list(edgekit.__all__) == sorted(edgekit.__all__)
    for name in edgekit.__all__:
        assert getattr(edgekit, name) is not None, name


def test_every_error_class_is_exported_and_has_an_exit_code():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, errors.EdgekitError)]
    assert {c.__name__ for c in classes} == {
        "EdgekitError", "ModelError", "ModelNotFound", "ModelInvalid", "ModelIncompatible",
        "SourceError", "SourceOpenError", "SourceStalled", "InputError", "ImageUnreadable",
        "FrameInvalid", "ConfigError", "DatasetError", "BackendMissing", "ExtraMissing"}
    for cls in classes:
        assert cls.__name__ in edgekit.__all__
        assert cls.__name__ in errors.__doc__, f"{cls.__name__} missing from the tree drawing"
        assert isinstance(cls.exit_code, int) and cls.exit_code > 0


def test_error_tree_matches_design():
    assert issubclass(errors.ModelNotFound, errors.ModelError)
    assert issubclass(errors.ModelInvalid, errors.ModelError)
    assert issubclass(errors.ModelIncompatible, errors.ModelError)
    assert issubclass(errors.SourceOpenError, errors.SourceError)
    assert issubclass(errors.SourceStalled, errors.SourceError)
    for cls in (errors.ModelError, errors.SourceError, errors.ConfigError, errors.BackendMissing):
        assert issubclass(cls, errors.EdgekitError)


def test_results_are_frozen_dataclasses_with_to_dict():
    from dataclasses import FrozenInstanceError, is_dataclass

    import pytest

    c = edgekit.Classification(3, "three", 0.97)
    assert is_dataclass(c) and c.to_dict() == {"id": 3, "label": "three", "score": 0.97}
    with pytest.raises(FrozenInstanceError):
        c.score = 1.0  # type: ignore[misc]
    d = edgekit.Detection(0, "person", 0.88, edgekit.BBox(1, 2, 30, 40))
    assert d.to_dict()["box"] == [1.0, 2.0, 30.0, 40.0]


def test_frame_result_json_matches_the_design_example():
    pred = edgekit.Prediction("classify", (edgekit.Classification(3, "three", 0.97),),
                              latency=edgekit.Latency(pre=0.4, invoke=10.2, post=0.1, age=4.1))
    row = edgekit.FrameResult(12, 1764395000.123, "camera:0", pred).to_dict()
    assert list(row) == ["frame", "ts", "source", "task", "classes", "latency_ms"]
    assert row["latency_ms"] == {"age": 4.1, "pre": 0.4, "invoke": 10.2, "post": 0.1, "total": 14.8}
    json.dumps(row)


IMPORT_PROBE = """
import json, sys, edgekit
heavy = ["tensorflow", "keras", "edgekit_trainer", "cv2", "paho", "ray", "rich", "picamera2", "click",
         "ai_edge_litert.interpreter", "tflite_runtime"]
print(json.dumps([m for m in heavy if m in sys.modules]))
"""


def test_import_edgekit_pulls_in_nothing_heavy_or_optional():
    out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_loading_a_model_does_not_import_tensorflow_or_the_trainer():
    probe = ("import sys, json, edgekit; sys.path.insert(0, 'tests'); import zoo; "
             "edgekit.load(zoo.digits_classifier('uint8')).predict(zoo.digits()[0][0]); "
             "print(json.dumps([m for m in ('tensorflow', 'keras', 'edgekit_trainer') if m in sys.modules]))")
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=root)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
