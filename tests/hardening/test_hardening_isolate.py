"""``isolate=True`` / ``--isolate`` and ``--model-sha256``: untrusted models cannot take the process down."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import hardening_corpus as hc
import numpy as np
import pytest
import zoo
from testkit import default_signals

import edgekit
from edgekit._modelfile.isolate import check_in_child
from edgekit.backend import resolve
from edgekit.errors import ModelIncompatible, ModelInvalid

EDGEKIT = str(Path(sys.executable).with_name("edgekit"))


@pytest.fixture(scope="module")
def scale_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A well-formed int8 MobileNetV2 whose first weight scale is 1000: a real native crash."""
    path = tmp_path_factory.mktemp("bomb") / "scale_bomb.tflite"
    path.write_bytes(hc.scale_bomb(zoo.mobilenet_v2("int8").read_bytes()))
    return path


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import cv2

    path = tmp_path_factory.mktemp("img") / "grey.png"
    cv2.imwrite(str(path), np.full((48, 48, 3), 128, np.uint8))
    return path


def _plain_load_and_predict(path: Path) -> subprocess.CompletedProcess[str]:
    code = ("import numpy as np, edgekit, sys\n"
            f"m = edgekit.load({str(path)!r}, threads=1)\n"
            "m.predict(np.full((48, 48, 3), 128, np.uint8))\nprint('survived')\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False)


def test_scale_bomb_really_crashes_the_native_interpreter(scale_bomb: Path) -> None:
    """Precondition of the isolation tests: without isolation the process dies by a signal."""
    proc = _plain_load_and_predict(scale_bomb)
    assert proc.returncode < 0, (proc.returncode, proc.stdout, proc.stderr[-500:])
    assert "survived" not in proc.stdout


def test_isolate_turns_a_native_crash_into_model_invalid(scale_bomb: Path) -> None:
    with pytest.raises(ModelInvalid, match=r"native interpreter crashed \(SIG(ABRT|SEGV|BUS)\)") as info:
        edgekit.load(scale_bomb, isolate=True, threads=1)
    assert str(info.value).startswith(f"{scale_bomb}: ")
    assert "in a child process" in str(info.value)


def test_isolate_flag_exits_4_on_a_crashing_model(scale_bomb: Path, image: Path) -> None:
    proc = subprocess.run([EDGEKIT, "predict", "--isolate", str(scale_bomb), str(image)],
                          capture_output=True, text=True, timeout=180,
                          check=False)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith(f"ModelInvalid: {scale_bomb}: the native interpreter crashed")


@pytest.fixture(scope="module")
def forever_loop() -> Path:
    return zoo.model("hardening_forever_loop.tflite", lambda: zoo.make_models().forever_loop())


@pytest.mark.slow  # waits out the 5 s verdict timeout
def test_isolate_turns_a_hang_into_model_invalid(forever_loop: Path) -> None:
    data = forever_loop.read_bytes()
    hung = r"hung during the model's test invocation in a child process: no verdict within 5 s"
    with pytest.raises(ModelInvalid, match=hung):
        check_in_child(data, str(forever_loop), resolve(), 1, timeout=5)


@pytest.mark.slow  # burns 4 s of CPU until SIGXCPU
def test_isolate_reports_a_child_killed_by_a_real_signal(forever_loop: Path) -> None:
    """The kernel kills the hung child with SIGXCPU (CPU rlimit inherited from a wrapper)."""
    code = (
        "import resource, edgekit\n"
        "from edgekit._modelfile.isolate import check_in_child\nfrom edgekit.backend import resolve\n"
        "resource.setrlimit(resource.RLIMIT_CPU, (4, 8))\n"
        f"data = open({str(forever_loop)!r}, 'rb').read()\n"
        "try:\n    check_in_child(data, 'loop.tflite', resolve(), 1, timeout=60)\n"
        "except edgekit.ModelInvalid as exc:\n    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False)
    assert "loop.tflite: the native interpreter crashed (SIGXCPU)" in proc.stdout, proc.stderr[-400:]


def test_isolate_loads_a_valid_model() -> None:
    with edgekit.load(zoo.digits_classifier("uint8"), isolate=True) as model:
        digits, labels = zoo.digits()
        pred = model.predict(digits[0])
    assert pred.classes[0].label == zoo.DIGIT_LABELS[labels[0]]


def test_isolate_keeps_the_error_class_the_child_reported(tmp_path: Path) -> None:
    path = tmp_path / "custom.tflite"
    path.write_bytes(hc.custom_op_model(zoo.digits_classifier("uint8").read_bytes()))
    with pytest.raises(ModelIncompatible, match="custom operator EdgekitNoSuchOp"):
        edgekit.load(path, isolate=True)


def test_isolate_refuses_structurally_bad_models_before_spawning(monkeypatch) -> None:
    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("a child was spawned for a structurally invalid model")

    monkeypatch.setattr(subprocess, "run", no_child)
    with pytest.raises(ModelInvalid, match="root table offset 24"):
        edgekit.load(b"\x18\x00\x00\x00TFL3", isolate=True)


def test_sha256_mismatch_is_refused_and_match_loads() -> None:
    path = zoo.digits_classifier("uint8")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ModelInvalid, match=f"SHA-256 is {digest}, expected 0{{64}}"):
        edgekit.load(path, sha256="0" * 64)
    with edgekit.load(path, sha256=digest.upper()) as model:
        assert model.info.sha256 == digest


def test_model_sha256_flag_exits_4_on_mismatch(image: Path) -> None:
    path = zoo.digits_classifier("uint8")
    proc = subprocess.run([EDGEKIT, "predict", "--model-sha256", "ab" * 32, str(path), str(image)],
                          capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith(f"ModelInvalid: {path}: SHA-256 is ")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    ok = subprocess.run([EDGEKIT, "predict", "--model-sha256", digest, str(path), str(image)],
                        capture_output=True, text=True, timeout=120,
                          check=False)
    assert ok.returncode == 0, ok.stderr


def test_the_isolation_child_dies_with_a_parent_killed_mid_check(forever_loop: Path, image: Path) -> None:
    """SIGTERM kills the CLI while its child is stuck in a hung model; the child must not linger."""
    import psutil

    proc = subprocess.Popen([EDGEKIT, "predict", "--isolate", str(forever_loop), str(image)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=default_signals)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    while not parent.children() and time.monotonic() < deadline:
        time.sleep(0.05)
    children = parent.children()
    assert children, "no isolation child appeared"
    time.sleep(1.0)  # the child is now looping in the model's test invocation
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        child.kill()
    assert not alive, "the isolation child outlived its parent"
