"""The CLI through click's CliRunner and as a real subprocess: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import pytest
import zoo
from click.testing import CliRunner

from edgekit import __version__
from edgekit.cli import cli


@pytest.fixture(scope="module")
def digit_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    _, _, x_test, y_test = zoo.digits_split()
    paths = []
    for i in range(5):
        path = folder / f"digit{i}_{y_test[i]}.png"
        cv2.imwrite(str(path), cv2.resize(x_test[i], (64, 64)))
        paths.append((str(path), int(y_test[i])))
    return paths


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_version_and_help():
    assert __version__ in _run("--version").output
    out = _run("--help").output
    for command in ("inspect", "predict", "doctor", "run", "batch", "bench", "train"):
        assert command in out


def test_predict_json_prints_one_schema_line_per_image(digit_images):
    model = str(zoo.digits_classifier("uint8"))
    result = _run("predict", model, *[p for p, _ in digit_images], "--json", "--top-k", "2")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["input"] for r in rows] == [p for p, _ in digit_images]
    assert all(len(r["classes"]) == 2 and r["task"] == "classify" for r in rows)
    correct = sum(r["classes"][0]["id"] == label for r, (_, label) in zip(rows, digit_images))
    assert correct >= 4


def test_predict_table_names_the_labels(digit_images):
    result = _run("predict", str(zoo.digits_classifier("uint8")), digit_images[0][0])
    assert result.exit_code == 0
    assert "%" in result.output and any(n in result.output for n in zoo.DIGIT_LABELS)


def test_predict_reports_an_unreadable_image_and_goes_on(tmp_path, digit_images):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    result = CliRunner().invoke(cli, ["predict", str(zoo.digits_classifier("uint8")), str(bad),
                                      digit_images[0][0], "--json"])
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert rows[0]["error"]["type"] == "ImageUnreadable" and rows[1]["classes"]
    assert result.exit_code == 7


@pytest.mark.slow  # inspect/doctor try each backend in a child: TensorFlow's import
def test_inspect_json_lists_specs_operators_metadata_and_backends():
    result = _run("inspect", str(zoo.digits_classifier("uint8")), "--json")
    info = json.loads(result.output)
    assert info["task"] == "classify" and info["inputs"][0]["shape"] == [1, 32, 32, 1]
    assert info["inputs"][0]["dtype"] == "uint8" and "quantization" in info["inputs"][0]
    assert any(op["name"] == "CONV_2D" for op in info["operators"])
    assert info["metadata"]["labels"][0] == "zero"
    assert {b["backend"]: b["ok"] for b in info["backends"]}["litert"] is True


@pytest.mark.slow  # inspect/doctor try each backend in a child: TensorFlow's import
def test_inspect_text_shows_which_backends_can_run_it():
    out = _run("inspect", str(zoo.mobilenet_v2("int8"))).output
    assert "int8[1, 96, 96, 3]" in out and "backend    litert" in out and "runs" in out


@pytest.mark.slow  # inspect/doctor try each backend in a child: TensorFlow's import
def test_doctor_reports_numpy_opencv_and_backends():
    result = _run("doctor", "--json")
    report = json.loads(result.output)
    assert report["numpy"] and report["opencv"]["version"]
    assert any(b["backend"] == "litert" for b in report["backends"])
    assert isinstance(report["advice"], list)


@pytest.mark.parametrize(
    ("content", "code", "name"),
    [(None, 3, "ModelNotFound"), (b"", 4, "ModelInvalid"), (b"PK\x03\x04" + bytes(40), 4, "ModelInvalid")],
)
def test_subprocess_errors_are_one_line_with_documented_exit_codes(tmp_path, content, code, name):
    model = tmp_path / "m.tflite"
    if content is not None:
        model.write_bytes(content)
    exe = shutil.which("edgekit") or sys.executable
    cmd = [exe] if exe != sys.executable else [sys.executable, "-m", "edgekit"]
    proc = subprocess.run([*cmd, "predict", str(model), "x.png"], capture_output=True, text=True)
    assert proc.returncode == code
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{name}: ")
    assert "Traceback" not in proc.stderr


def test_debug_flag_adds_the_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edgekit", "--debug", "inspect",
                           str(tmp_path / "missing.tflite")], capture_output=True, text=True)
    assert proc.returncode == 3 and "Traceback" in proc.stderr


def test_bad_option_value_is_a_usage_error_exit_2():
    result = CliRunner().invoke(cli, ["predict", "m.tflite", "x.png", "--top-k", "0"])
    assert result.exit_code == 2
