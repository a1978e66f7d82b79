"""``delegate=`` / ``--delegate``: xnnpack, none, edgetpu and external libraries, with real library loads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tinymodels
import zoo

import edgekit
from edgekit.delegates import DelegateSpec, check_model_ops, find_edgetpu_library, parse_delegate
from edgekit.errors import BackendMissing, ConfigError, ModelIncompatible

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def noop_delegate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real external delegate library (built from noop_delegate.c) that takes no node."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler here to build the test delegate library")
    out = tmp_path_factory.mktemp("delegate") / "libnoop_delegate.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(out), str(HERE / "noop_delegate.c")],
                   check=True, capture_output=True)
    return out


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize(("text", "expected"), [
    (None, DelegateSpec("xnnpack")),
    ("XNNPACK", DelegateSpec("xnnpack")),
    ("none", DelegateSpec("none")),
    ("edgetpu", DelegateSpec("edgetpu", "libedgetpu.so.1")),
    ("edgetpu:device=usb:0", DelegateSpec("edgetpu", "libedgetpu.so.1", (("device", "usb:0"),))),
    ("/opt/d/libx.so:a=1,b=two", DelegateSpec("external", "/opt/d/libx.so", (("a", "1"), ("b", "two")))),
    ("libvx_delegate.so.2", DelegateSpec("external", "libvx_delegate.so.2")),
])
def test_parse_delegate_reads_names_libraries_and_options(text: str | None, expected: DelegateSpec) -> None:
    assert parse_delegate(text) == expected
    assert parse_delegate(expected.name) == expected  # the name reads back as the same delegate


@pytest.mark.parametrize(("text", "message"), [
    ("gpu", "is not one of xnnpack, none, edgetpu or a library path"),
    ("none:x=1", "none takes no options"),
    ("lib.so:verbose", "options are key=value pairs"),
])
def test_parse_delegate_refuses_what_it_cannot_load(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_delegate(text)


def test_delegate_none_gives_the_same_top1_as_xnnpack_on_the_test_zoo() -> None:
    images = [photo for photo in zoo.skimage_photos()[:4]]
    digits, _ = zoo.digits()
    cases = [(edgekit.default_model_path(), [np.dstack([d] * 3) for d in digits[:20]]),
             (str(zoo.digits_classifier("uint8")), [np.dstack([d] * 3) for d in digits[:20]]),
             (str(zoo.mobilenet_v2("float32")), images),
             (str(zoo.mobilenet_v2("int8")), images)]
    for path, frames in cases:
        with edgekit.load(path) as fast, edgekit.load(path, delegate="none") as plain:
            assert plain.delegate == "none" and fast.delegate == "xnnpack"
            for frame in frames:
                a, b = fast.predict(frame).classes[0], plain.predict(frame).classes[0]
                assert a.id == b.id, path
                assert abs(a.score - b.score) < 0.02, path


def test_a_missing_delegate_library_is_backend_missing_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(BackendMissing, match=r"delegate library .*libnothere\.so cannot be loaded"):
        edgekit.load(edgekit.default_model_path(), delegate=str(tmp_path / "libnothere.so"))


def test_a_library_that_is_not_a_delegate_is_refused_before_the_backend_sees_it() -> None:
    libm = "libm.so.6"
    with pytest.raises(ConfigError, match=r"libm\.so\.6 is not a TFLite delegate: it does not export "
                                          r"tflite_plugin_create_delegate"):
        edgekit.load(edgekit.default_model_path(), delegate=libm)


def test_edgetpu_without_its_library_says_what_to_install() -> None:
    if find_edgetpu_library():
        pytest.skip("libedgetpu is installed on this machine")
    with pytest.raises(BackendMissing, match=r"libedgetpu\.so\.1 cannot be loaded .*libedgetpu1-std"):
        edgekit.load(edgekit.default_model_path(), delegate="edgetpu")


def test_an_external_delegate_loads_gets_its_options_and_the_model_still_runs(noop_delegate: Path,
                                                                             tmp_path: Path) -> None:
    log = tmp_path / "delegate.log"
    frame = np.dstack([zoo.digits()[0][0]] * 3)
    with edgekit.load(edgekit.default_model_path()) as plain:
        expected = plain.predict(frame).classes[0]
    with edgekit.load(edgekit.default_model_path(), delegate=f"{noop_delegate}:log={log},mode=test") as model:
        got = model.predict(frame).classes[0]
        replica = model.replica()  # a replica loads the same delegate with the same options
        assert replica.delegate == model.delegate
        replica.close()
    assert (got.id, got.score) == (expected.id, expected.score)
    lines = log.read_text().splitlines()
    assert f"option log={log}" in lines and "option mode=test" in lines
    assert lines.count("prepare") >= 2  # the interpreter asked it, twice: model and replica


def test_an_edgetpu_compiled_model_without_the_delegate_names_the_library_and_the_option(tmp_path: Path) -> None:
    path = tmp_path / "model_edgetpu.tflite"
    path.write_bytes(tinymodels.edgetpu_compiled(tinymodels.classifier(3)))
    for kwargs in ({}, {"isolate": True}, {"delegate": "none"}):
        with pytest.raises(ModelIncompatible, match=r"compiled for the Coral Edge TPU .*--delegate edgetpu "
                                                    r".*libedgetpu\.so\.1"):
            edgekit.load(path, **kwargs)
    proc = _cli("predict", str(path), str(tmp_path / "x.png"))
    assert proc.returncode == 5 and proc.stderr.startswith("ModelIncompatible: ")
    assert "--delegate edgetpu" in proc.stderr and "Traceback" not in proc.stderr


def test_asking_for_the_edgetpu_with_a_cpu_model_says_it_runs_on_the_cpu() -> None:
    note = check_model_ops(DelegateSpec("edgetpu", "libedgetpu.so.1"), ["SOME_CUSTOM_OP"], "m.tflite")
    assert note is not None and "not compiled for the Edge TPU" in note and "runs on the CPU" in note
    assert check_model_ops(DelegateSpec("xnnpack"), [], "m.tflite") is None
    assert check_model_ops(DelegateSpec("edgetpu", "libedgetpu.so.1"), ["edgetpu-custom-op"], "m") is None


def test_cli_delegate_option_reaches_the_model_and_errors_are_one_line(tmp_path: Path) -> None:
    sample = str(Path(edgekit.default_model_path()).with_name("digit_sample.png"))
    ok = _cli("predict", "default", sample, "--delegate", "none", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.splitlines()[-1])["classes"][0]["label"] == "3"
    bad = _cli("predict", "default", sample, "--delegate", str(tmp_path / "libnothere.so"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("BackendMissing: delegate library")


def test_each_delegate_is_tried_in_a_child_process() -> None:
    from edgekit._tools.inspection import DELEGATES, delegate_support

    tried = {d["delegate"]: d for d in delegate_support(edgekit.default_model_path(), DELEGATES)}
    assert set(tried) == {"xnnpack", "none", "edgetpu"}
    assert tried["xnnpack"]["ok"] and tried["none"]["ok"] and tried["none"]["backend"] == "litert"
    if not find_edgetpu_library():
        assert not tried["edgetpu"]["ok"] and "libedgetpu1-std" in tried["edgetpu"]["error"]


@pytest.mark.slow  # inspect also tries every installed backend, TensorFlow's too
def test_inspect_lists_the_delegates_it_tried() -> None:
    proc = _cli("inspect", "default", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    tried = {d["delegate"]: d for d in report["delegates"]}
    assert set(tried) >= {"xnnpack", "none", "edgetpu"}
    assert tried["xnnpack"]["ok"] and tried["none"]["ok"]
    if not find_edgetpu_library():
        assert not tried["edgetpu"]["ok"] and "libedgetpu" in tried["edgetpu"]["error"]
    assert report["delegate"] == "xnnpack"


def _report(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"numpy": "2.1.0", "machine": "aarch64", "backends": [], "delegates": [],
                               "edgetpu": {"library": None, "devices": []}}
    return {**base, **fields}


def test_doctor_suggests_a_working_delegate_and_a_tested_litert_when_the_check_crashes() -> None:
    from edgekit._tools.doctor import _delegate_advice

    crashed = {"delegate": "xnnpack", "backend": "litert", "ok": False,
               "error": "the interpreter crashed (signal 11)"}
    tips = _delegate_advice(_report(delegates=[crashed, {"delegate": "none", "backend": "litert", "ok": True}]))
    assert any("--delegate none" in tip for tip in tips)
    assert any("ai-edge-litert==1.4.0" in tip for tip in tips)
    fine = {"delegate": "xnnpack", "backend": "litert", "ok": True}
    assert _delegate_advice(_report(delegates=[fine])) == []


def test_doctor_finds_an_attached_edge_tpu_and_says_what_is_missing(tmp_path: Path) -> None:
    from edgekit._tools.doctor import _delegate_advice, edgetpu_devices

    usb = tmp_path / "sys/bus/usb/devices/2-1"
    usb.mkdir(parents=True)
    (usb / "idVendor").write_text("18d1\n")
    (usb / "idProduct").write_text("9302\n")
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/apex_0").write_text("")
    found = edgetpu_devices(str(tmp_path))
    assert found == ["usb 18d1:9302", str(tmp_path / "dev/apex_0")]
    tips = _delegate_advice(_report(edgetpu={"library": None, "devices": found}))
    assert len(tips) == 1 and "libedgetpu1-std" in tips[0] and "--delegate edgetpu" in tips[0]
