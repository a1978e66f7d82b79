"""The CLI through click's CliRunner and as a real subprocess: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    assert all(1 <= len(r["classes"]) <= 2 and r["task"] == "classify" for r in rows)
    assert all(c["score"] >= 0.0001 for r in rows for c in r["classes"]), "no class that reads 0.0"
    every = _run("predict", model, *[p for p, _ in digit_images], "--json", "--top-k", "2",
                 "--score-threshold", "0")
    assert all(len(json.loads(line)["classes"]) == 2 for line in every.output.splitlines())
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


IMAGE = str(Path(__file__).resolve().parents[2] / "edgekit" / "data" / "digit_sample.png")


def _edgekit(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env}, stdin=subprocess.DEVNULL, check=False)


def test_native_info_lines_stay_off_stderr_unless_debug():
    quiet = _edgekit("predict", "default", IMAGE, EDGEKIT_NATIVE_LOG="")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    debug = _edgekit("--debug", "predict", "default", IMAGE, EDGEKIT_NATIVE_LOG="")
    assert "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." in debug.stderr, \
        "the line exists: the filter is what keeps it away"


def test_the_native_log_filter_passes_warnings_and_errors_on():
    code = ("import os; from edgekit.backend import native_log_filter\n"
            "with native_log_filter():\n"
            "    os.write(2, b'INFO: chatter\\nWARNING: keep me\\nI0000 00:00:00.1 guard.cc] notice\\n'\n"
            "             b'To enable the following instructions: AVX2\\nERROR: and me\\n'\n"
            "             b'WARNING: All log messages before absl::InitializeLog() is called are written\\n')\n"
            "os.write(2, b'after\\n')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "EDGEKIT_NATIVE_LOG": ""}, check=True)
    assert done.stderr.splitlines() == ["WARNING: keep me", "ERROR: and me", "after"]


def test_a_typo_in_the_command_suggests_the_right_one():
    result = CliRunner().invoke(cli, ["pedict"])
    assert result.exit_code == 2 and "No such command 'pedict'. Did you mean 'predict'?" in result.output



def _commands(command, path):
    import click

    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            yield from _commands(command.get_command(ctx, name), [*path, name])
    else:
        yield " ".join(path), command


def test_every_command_and_option_has_help_text():
    import click

    missing = [f"{name} {param.opts[0]}" for name, command in _commands(cli, ["edgekit"])
               for param in command.params
               if isinstance(param, click.Option) and not param.hidden and not param.help]
    missing += [name for name, command in _commands(cli, ["edgekit"]) if not command.help]
    assert missing == []


def test_help_cites_nothing_a_user_does_not_have():
    for name, command in _commands(cli, ["edgekit"]):
        text = CliRunner().invoke(cli, [*name.split()[1:], "--help"]).output
        assert "DESIGN" not in text and ".md" not in text, name


def test_inspect_prints_a_readable_summary_of_the_metadata():
    import edgekit
    from edgekit._tools.inspection import render_info

    with edgekit.load(edgekit.default_model_path()) as model:
        text = render_info(model.info, [{"backend": "litert", "version": "2.3.0", "ok": True, "error": None}])
    assert all(len(line) < 240 for line in text.splitlines()), "no one-line JSON dump"
    for label in ("metadata   edgekit/1", "  quantized  int8", "  trained ", "  parity     ", "  checked ",
                  "backend    litert 2.3.0: runs"):
        assert any(line.startswith(label) for line in text.splitlines()), label
    assert "{" not in text


@pytest.mark.slow  # every installed backend is tried in a child process, TensorFlow's included
def test_inspect_takes_default_and_json_keeps_every_field():
    full = json.loads(_run("inspect", "default", "--json").output)
    assert full["metadata"]["provenance"]["class_counts"]["val"], "--json has the details the text leaves out"


def test_the_bundled_model_carries_no_build_machine_path():
    import edgekit

    data = Path(edgekit.default_model_path()).read_bytes()
    with edgekit.load(data) as model:
        command = model.metadata.provenance["command"]
    assert command[:3] == ["edgekit", "train", "digits"]
    assert not any(str(arg).startswith("/") for arg in command)
    assert b"/tmp/" not in data and b"/home/" not in data


@pytest.mark.parametrize("command", ["predict", "batch"])
def test_an_image_where_the_model_goes_says_the_first_argument_is_the_model(command, digit_images):
    result = CliRunner().invoke(cli, [command, digit_images[0][0], digit_images[1][0]], prog_name="edgekit")
    assert result.exit_code == 2
    assert f"'{digit_images[0][0]}' is not a model: the first argument is the model (edgekit {command} MODEL" \
        in result.output


def test_an_unreadable_image_is_named_once(tmp_path):
    result = CliRunner().invoke(cli, ["predict", "default", str(tmp_path / "missing.png")])
    assert result.exit_code == 7
    assert result.stderr.strip() == f"ImageUnreadable: {tmp_path / 'missing.png'}: no such file"


def test_concurrent_native_log_filters_leave_stderr_where_it_was():
    code = ("import os, threading, time\n"
            "from edgekit.backend import native_log_filter\n"
            "before = os.fstat(2)\n"
            "def work(i):\n"
            "    for _ in range(50):\n"
            "        with native_log_filter():\n"
            "            os.write(2, b'INFO: hidden\\n' if i % 2 else b'WARNING: shown\\n')\n"
            "            time.sleep(0.0005 * i)\n"
            "threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]\n"
            "[t.start() for t in threads]; [t.join() for t in threads]\n"
            "after = os.fstat(2)\n"
            "print((before.st_dev, before.st_ino) == (after.st_dev, after.st_ino))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "EDGEKIT_NATIVE_LOG": ""}, check=True)
    assert done.stdout.strip() == "True"
    assert done.stderr.splitlines() == ["WARNING: shown"] * 100
