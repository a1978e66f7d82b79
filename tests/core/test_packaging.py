"""The built wheel, installed into a fresh venv, carries the runtime, its data and the profiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The installed copy alone: no source tree on the path (developers' shells may set PYTHONPATH).
INSTALLED = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
pytestmark = pytest.mark.slow  # builds a wheel and installs it with its dependencies into a venv


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
                   check=True, capture_output=True)
    (path,) = out.glob("edgekit_tflite-*.whl")
    return path


@pytest.fixture(scope="module")
def wheel_venv(wheel, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(root)
    subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                   check=True, capture_output=True)
    return root


def test_wheel_contains_runtime_trainer_data_and_device_profiles(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    # PyPI's `edgekit` is another project: our distribution has its own name.
    assert Path(wheel).name.startswith("edgekit_tflite-")
    assert "edgekit/__init__.py" in names and "edgekit/py.typed" in names
    assert "edgekit_trainer/__init__.py" in names
    # PyPI has an unrelated `trainer`: the wheel must not install a top-level package of that name.
    assert not any(n.startswith("trainer/") for n in names)
    assert "edgekit/data/digits_int8.tflite" in names
    profiles = [n for n in names if n.startswith("edgekit/_devices/") and n.endswith(".toml")]
    assert len(profiles) >= 8
    assert not any(n.startswith("tests/") for n in names)


def test_wheel_install_lists_the_device_profiles_outside_the_checkout(wheel_venv, tmp_path):
    python = wheel_venv / "bin" / "python"
    code = ("import json, edgekit, edgekit._device.profiles as d; "
            "print(json.dumps([edgekit.__file__, sorted(d.profiles())]))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path, env=INSTALLED)
    location, names = json.loads(out.stdout.strip().splitlines()[-1])
    assert str(REPO) not in location  # the installed copy, not the source tree
    assert {"rpi-4b", "rpi-5", "rpi-zero-2w", "generic-x86-64"} <= set(names)
    listing = subprocess.run([str(wheel_venv / "bin" / "edgekit"), "devices"], capture_output=True,
                             text=True, cwd=tmp_path, env=INSTALLED)
    assert listing.returncode == 0 and "rpi-4b" in listing.stdout


def test_wheel_install_predicts_with_the_bundled_model_without_tensorflow(wheel_venv, tmp_path):
    edgekit = wheel_venv / "bin" / "edgekit"
    sample = subprocess.run([str(wheel_venv / "bin" / "python"), "-c",
                             "from importlib.resources import files; "
                             "print(files('edgekit') / 'data' / 'digit_sample.png')"],
                            capture_output=True, text=True, check=True, cwd=tmp_path, env=INSTALLED).stdout.strip()
    out = subprocess.run([str(edgekit), "predict", "default", sample, "--json"], capture_output=True,
                         text=True, cwd=tmp_path, env=INSTALLED)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["task"] == "classify" and row["classes"][0]["score"] > 0.5
    pip_list = subprocess.run([str(wheel_venv / "bin" / "python"), "-m", "pip", "list"],
                              capture_output=True, text=True, check=True, env=INSTALLED).stdout.lower()
    assert "tensorflow" not in pip_list
