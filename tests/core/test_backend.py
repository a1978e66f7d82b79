"""Backend choice, forcing, threads, and the known traps turned into edgekit errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import zoo

import edgekit
from edgekit import backend as bk
from edgekit.errors import BackendMissing, ConfigError, ModelIncompatible

REPO = Path(__file__).resolve().parents[2]


def test_litert_is_the_default_backend(monkeypatch):
    monkeypatch.delenv("EDGEKIT_BACKEND", raising=False)
    assert bk.resolve().name == "litert"
    assert edgekit.load(zoo.mobilenet_v2("float32")).info.backend == "litert"


@pytest.mark.slow  # imports TensorFlow into this process
def test_environment_variable_forces_the_backend(monkeypatch):
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("EDGEKIT_BACKEND", "tensorflow")
    model = edgekit.load(zoo.mobilenet_v2("float32"))
    assert model.info.backend == "tensorflow"
    assert model.predict(zoo.skimage_photos()[0]).task == "classify"


def test_unknown_backend_is_a_config_error_listing_the_choices():
    with pytest.raises(ConfigError, match="litert, tflite-runtime, tensorflow"):
        bk.resolve("onnx")


def test_no_backend_installed_names_the_package_to_install(monkeypatch):
    monkeypatch.delenv("EDGEKIT_BACKEND", raising=False)
    monkeypatch.setattr(bk.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendMissing, match="pip install ai-edge-litert"):
        bk.resolve()


def test_forced_backend_that_is_missing_names_its_package(monkeypatch):
    real = bk.importlib.util.find_spec
    monkeypatch.setattr(bk.importlib.util, "find_spec",
                        lambda name: None if name == "tensorflow" else real(name))
    with pytest.raises(BackendMissing, match="pip install tensorflow"):
        bk.resolve("tensorflow")


def _import_interrupted_in_native_init(name: str):
    # what pybind11 raises when Ctrl-C arrives while an extension module initialises
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as interrupt:
        raise ImportError("initialization failed") from interrupt


def test_ctrl_c_during_a_backend_import_is_an_interrupt_not_a_missing_backend(monkeypatch):
    monkeypatch.setattr(bk.importlib, "import_module", _import_interrupted_in_native_init)
    with pytest.raises(KeyboardInterrupt):
        bk.BACKENDS["litert"].interpreter_class()


def test_a_failed_backend_import_without_interrupt_names_the_package(monkeypatch):
    def broken(name):
        raise ImportError("libfoo.so: cannot open shared object file")
    monkeypatch.setattr(bk.importlib, "import_module", broken)
    with pytest.raises(BackendMissing, match="libfoo.so.*pip install ai-edge-litert"):
        bk.BACKENDS["litert"].interpreter_class()


def test_threads_below_one_are_refused():
    with pytest.raises(ConfigError, match="threads must be at least 1"):
        edgekit.load(zoo.mobilenet_v2("float32"), threads=0)


THREAD_PROBE = """
import os, sys, numpy as np, edgekit
frame = np.zeros((96, 96, 3), np.uint8)
edgekit.load(sys.argv[1], threads=1).predict(frame)  # every lazy pool but the interpreter's (OpenCV's) is up
before = len(os.listdir('/proc/self/task'))
model = edgekit.load(sys.argv[1], threads=int(sys.argv[2]))
model.predict(frame)
print(len(os.listdir('/proc/self/task')) - before)
"""


def test_threads_are_honoured_by_the_interpreter():
    """XNNPACK starts threads-1 workers: a second model adds exactly that many threads.

    A first single-threaded model is loaded and run before counting, so that thread pools
    started lazily by other libraries (OpenCV's, sized by the machine) are not counted.
    """
    grown = {}
    for threads in (1, 3):
        out = subprocess.run([sys.executable, "-c", THREAD_PROBE, str(zoo.mobilenet_v2("float32")),
                              str(threads)], capture_output=True, text=True, check=True)
        grown[threads] = int(out.stdout.strip().splitlines()[-1])
    assert grown[3] - grown[1] == 2


def test_numpy2_system_error_maps_to_backend_missing():
    tflite = bk.BACKENDS["tflite-runtime"]
    error = SystemError("<built-in method CreateWrapperFromBuffer> returned a result with an exception set")
    mapped = bk.map_error(error, tflite)
    assert isinstance(mapped, BackendMissing) and "numpy<2" in str(mapped)


def test_op_version_error_maps_to_model_incompatible_naming_op_and_backend():
    error = ValueError("Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'. "
                       "An older version of this builtin might be supported.")
    mapped = bk.map_error(error, bk.BACKENDS["tflite-runtime"], "m.tflite")
    assert isinstance(mapped, ModelIncompatible)
    assert "FULLY_CONNECTED version 12" in str(mapped) and "tflite-runtime" in str(mapped)
    assert "ai-edge-litert" in str(mapped)


@pytest.mark.skipif(not bk.BACKENDS["tflite-runtime"].installed(),
                    reason="tflite-runtime has no wheel for this Python (last release: 2.14, ≤ 3.11)")
def test_tflite_runtime_under_numpy2_is_a_clear_backend_missing():
    import numpy

    assert numpy.__version__.startswith("2")
    with pytest.raises(BackendMissing, match=r"needs numpy<2.*ai-edge-litert"):
        edgekit.load(zoo.digits_classifier("uint8"), backend="tflite-runtime")


def _numpy1_venv() -> Path:
    """A venv with NumPy 1, tflite-runtime 2.14 and ai-edge-litert (edgekit from the source tree)."""
    root = zoo.CACHE / "venv-numpy1"
    python = root / "bin" / "python"
    marker = root / "ready"
    if not marker.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "numpy<2",
                        "tflite-runtime==2.14.0", "ai-edge-litert"], check=True)
        marker.write_text("ok")
    return python


PROBE = """
import json, sys, edgekit
out = {}
for backend in ("tflite-runtime", "litert"):
    try:
        edgekit.load(sys.argv[1], backend=backend)
        out[backend] = "ok"
    except edgekit.EdgekitError as exc:
        out[backend] = type(exc).__name__ + ": " + str(exc)
print(json.dumps(out))
"""


@pytest.mark.skipif(sys.version_info >= (3, 12) or os.uname().machine != "x86_64",
                    reason="tflite-runtime 2.14 wheels exist only up to Python 3.11")
def test_tf221_model_on_tflite_runtime_214_is_model_incompatible():
    python = _numpy1_venv()
    model = zoo.mobilenet_v2("dynamic")  # TF 2.21 writes FULLY_CONNECTED version 12 here
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([str(python), "-c", PROBE, str(model)], capture_output=True, text=True,
                         env=env, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["tflite-runtime"].startswith("ModelIncompatible: ")
    assert "FULLY_CONNECTED version 12" in result["tflite-runtime"]
    assert "tflite-runtime 2.14.0" in result["tflite-runtime"]
    assert result["litert"] == "ok"
