"""Thermal readings from fake sysfs trees and a fake vcgencmd; doctor's advice per situation."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgekit._device import thermal
from edgekit._tools import doctor
from edgekit.cli import cli


def _zone(root: Path, index: int, kind: str, milli: str) -> None:
    zone = root / f"thermal_zone{index}"
    zone.mkdir(parents=True)
    (zone / "type").write_text(kind + "\n")
    (zone / "temp").write_text(milli + "\n")


def test_read_thermal_reports_the_hottest_zone(tmp_path: Path) -> None:
    _zone(tmp_path, 0, "cpu-thermal", "61234")
    _zone(tmp_path, 1, "gpu-thermal", "48000")
    _zone(tmp_path, 2, "broken", "n/a")
    out = thermal.read_thermal(str(tmp_path), vcgencmd=False)
    assert out == {"temp_c": 61.2, "zones": {"cpu-thermal": 61.234, "gpu-thermal": 48.0}}


def test_read_thermal_is_empty_where_nothing_is_exposed(tmp_path: Path) -> None:
    assert thermal.read_thermal(str(tmp_path), vcgencmd=False) == {}


def test_vcgencmd_throttling_flags_are_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "bin" / "vcgencmd"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho throttled=0x50005\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}:/usr/bin:/bin")
    out = thermal.read_thermal(str(tmp_path / "no-zones"))
    assert out["throttled"] == ["under-voltage", "throttled", "under-voltage-occurred", "throttling-occurred"]
    assert thermal.summary(out) == "under-voltage, throttled"


@pytest.mark.parametrize(("reading", "line"), [
    ({}, ""),
    ({"temp_c": 61.25}, "61.2 °C"),
    ({"temp_c": 84.0, "throttled": ["soft-temperature-limit"]}, "84.0 °C soft-temperature-limit"),
    ({"temp_c": 50.0, "throttled": ["throttling-occurred"]}, "50.0 °C throttled earlier"),
])
def test_thermal_summary_line(reading: dict[str, Any], line: str) -> None:
    assert thermal.summary(reading) == line


def _report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "edgekit": "0.1.0", "python": "3.11.2", "platform": "Linux", "machine": "aarch64",
        "numpy": "2.2.0", "backends": [{"backend": "litert", "version": "2.3.0", "ok": True, "error": None}],
        "opencv": {"version": "4.10.0", "gui": "NONE", "headless": True, "video_io": ["V4L/V4L2"]},
        "cameras": ["/dev/video0"], "picamera2": True, "tensorflow": None,
        "device": {"name": "rpi-4b", "title": "Raspberry Pi 4 Model B", "threads": 4,
                   "threads_why": "Four A72 cores.", "precision": "int8", "precision_why": "No dot-product.",
                   "isa": ["neon"], "camera_stack": "libcamera (picamera2) for CSI cameras", "ram_mb": [4096]},
        "host": {"model": "Raspberry Pi 4 Model B Rev 1.4", "cpu": "", "cpu_parts": ["0x41:0xd08"],
                 "cores": 4, "features": ["neon"], "mem_mb": 3793},
        "device_auto": {"name": "rpi-4b", "threads": 4, "precision": "int8"},
        "thermal": {"temp_c": 55.0}, "opencv_wheels": ["opencv-python-headless"],
        "system_picamera2": False, "display": False,
    }
    report.update(changes)
    return report


def _advice(**changes: Any) -> str:
    return "\n".join(doctor.advice(_report(**changes)))


def test_advice_on_a_pi_names_threads_and_precision_with_reasons() -> None:
    text = _advice()
    assert "Detected Raspberry Pi 4 Model B: use --threads 4 (or --device auto) — Four A72 cores." in text
    assert "ship the int8 variant — No dot-product." in text


def test_advice_when_picamera2_is_missing_depends_on_whether_apt_installed_it() -> None:
    assert "sudo apt install python3-picamera2" in _advice(picamera2=False)
    text = _advice(picamera2=False, system_picamera2=True)
    assert "cannot import it: recreate the venv with python3 -m venv --system-site-packages" in text
    assert "picamera2" not in _advice(picamera2=False, device=None, machine="x86_64",
                                      host={"features": ["avx2"], "mem_mb": 16000})


def test_advice_on_numpy_backend_mismatch() -> None:
    broken = [{"backend": "tflite-runtime", "version": "2.14.0", "ok": False,
               "error": "BackendMissing: tflite-runtime 2.14.0 does not work with NumPy 2.2.0: it needs numpy<2"}]
    tips = doctor.advice(_report(backends=broken))
    mismatch = [t for t in tips if "tflite-runtime" in t]
    assert len(mismatch) == 1, tips  # one tip, not the same advice twice
    assert mismatch[0].startswith("NumPy/backend mismatch: tflite-runtime 2.14.0 does not work with NumPy 2.2.0")
    assert "Use ai-edge-litert" in mismatch[0] and "pip install 'numpy<2'" in mismatch[0]
    working = [{"backend": "tflite-runtime", "version": "2.14.0", "ok": None, "error": "not tested"}]
    assert "tflite-runtime needs numpy<2 and NumPy 2.2.0 is installed" in _advice(backends=working)
    assert "numpy<2" not in _advice(numpy="1.26.4", backends=[{"backend": "tflite-runtime", "version": "2.14.0",
                                                                "ok": True, "error": None}])


def test_advice_on_headless_opencv_says_how_to_preview() -> None:
    assert "preview in a browser with `edgekit run --serve 8080`" in _advice()
    gui = {"version": "4.10.0", "gui": "GTK3", "headless": False, "video_io": []}
    assert "No display (DISPLAY/WAYLAND_DISPLAY unset)" in _advice(opencv=gui)
    assert "--serve" not in _advice(opencv=gui, display=True)
    assert "Several OpenCV wheels" in _advice(opencv_wheels=["opencv-python", "opencv-python-headless"])


def test_advice_on_32_bit_os_missing_isa_low_memory_and_throttling() -> None:
    assert "install the 64-bit Raspberry Pi OS" in _advice(machine="armv7l")
    pi5 = dict(_report()["device"], isa=["neon", "dotprod", "fp16"])
    assert "does not report dotprod, fp16" in _advice(device=pi5)
    assert "Only 427 MB of RAM" in _advice(host={"features": ["neon"], "mem_mb": 427})
    assert "under-voltage: use the official power supply" in _advice(thermal={"throttled": ["under-voltage"]})


def test_advice_on_an_unknown_machine_points_to_bench_and_the_fallback() -> None:
    text = _advice(device=None, machine="x86_64", picamera2=False, cameras=[],
                   device_auto={"name": "generic-x86-64", "threads": 2, "precision": "float32"})
    assert "No device profile matches this machine" in text
    assert "(generic-x86-64: --threads 2, float32)" in text and "`edgekit bench default --threads 1,2,4`" in text


def _commands(advice: str) -> list[list[str]]:
    return [shlex.split(command) for command in re.findall(r"`(edgekit [^`]+)`", advice)]


def test_every_command_the_advice_gives_is_accepted_as_given() -> None:
    from edgekit.cli.run import run_cmd
    from edgekit.cli.sinks import check_sink_options, pop_sink_options
    from edgekit.cli.tools import bench_cmd, devices_cmd

    advice = "\n".join([_advice(), _advice(device=None, cameras=[], picamera2=False),
                        _advice(opencv={"version": "4.10.0", "gui": "GTK3", "headless": False,
                                        "video_io": []})])
    commands = _commands(advice)
    assert {c[1] for c in commands} == {"run", "bench", "devices"}
    for command in commands:
        parse = {"run": run_cmd, "bench": bench_cmd, "devices": devices_cmd}[command[1]].make_context
        ctx = parse(command[1], command[2:])
        if command[1] == "run":
            check_sink_options(**pop_sink_options(dict(ctx.params)))  # e.g. a public --serve needs --token


@pytest.mark.slow  # inspect/doctor try each backend in a child: TensorFlow's import
def test_doctor_json_carries_device_host_and_thermal() -> None:
    result = CliRunner().invoke(cli, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {"device", "device_auto", "host", "thermal", "advice", "opencv_wheels"} <= set(report)
    assert report["host"]["cores"] >= 1 and report["device_auto"]["name"]
    assert any("device profile" in tip or "Detected" in tip for tip in report["advice"])


def test_devices_list_show_and_doctor_give_one_thread_count() -> None:
    listed = json.loads(CliRunner().invoke(cli, ["devices", "--json"]).output)
    threads = {d["name"]: d["threads"] for d in listed["devices"]}
    for name in ("generic-x86-64", "generic-aarch64", "rpi-4b"):
        shown = json.loads(CliRunner().invoke(cli, ["devices", "--show", name, "--json"]).output)
        assert threads[name] == shown["threads"], name
    auto = doctor._auto()  # what doctor reports as "device_auto"
    assert threads[auto["name"]] == auto["threads"]
    text = CliRunner().invoke(cli, ["devices"]).output
    line = next(row for row in text.splitlines() if f" {auto['name']} " in row)
    assert f"threads={auto['threads']} " in line
