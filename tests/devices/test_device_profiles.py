"""Device profiles: every shipped TOML validates, malformed ones name file and field,
fake /proc trees of real boards are detected as the right profile."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgekit
from edgekit._device import profiles as devices
from edgekit._device.variants import choose_variant
from edgekit.cli import cli
from edgekit.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
PROC = Path(__file__).resolve().parent / "proc"
SHIPPED = sorted((REPO / "devices").glob("*.toml"))
REQUIRED = {"rpi-zero-2w", "rpi-3bplus", "rpi-4b", "rpi-5", "rpi-cm4", "cortex-a55-board",
            "cortex-a76-board", "generic-x86-64", "generic-aarch64"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_profile_loads_and_validates(path: Path) -> None:
    profile = devices.load_profile(path)
    assert profile.name == path.stem
    assert profile.precision in ("int8", "float16", "float32")
    assert profile.threads >= 1 and (profile.cores == 0 or profile.threads <= profile.cores)
    assert profile.threads_why and profile.precision_why and profile.camera_stack
    assert profile.isa, "ISA features that matter to XNNPACK must be listed"
    assert profile.references, "each profile states its reference latencies (or that none is known)"
    for ref in profile.references:
        assert ref.latency_ms is None or ref.source, "a published figure needs its source"
        assert ref.latency_ms is not None or ref.note, "an unknown figure needs a note saying so"


def test_the_issue_s_device_list_is_shipped() -> None:
    assert REQUIRED <= set(devices.profiles())


def test_profiles_are_looked_up_in_the_wheel_then_the_checkout() -> None:
    package = Path(edgekit.__file__).resolve().parent
    assert devices.profile_dirs() == [package / "_devices", package.parent / "devices"]


def _write_broken(tmp_path: Path, old: str, new: str) -> Path:
    text = (REPO / "devices" / "rpi-4b.toml").read_text()
    assert old in text
    path = tmp_path / "rpi-4b.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ("threads = 4", 'threads = "four"', r"rpi-4b\.toml: field 'recommend\.threads' must be an integer"),
    ("threads = 4", "threads = 9", r"field 'recommend\.threads' must be an integer >= 1 <= 4"),
    ('precision = "int8"', 'precision = "int4"', r"field 'recommend\.precision' must be one of float32, float16, int8"),
    ("[soc]", "[chip]", r"rpi-4b\.toml: unknown field 'chip'"),
    ('name = "rpi-4b"', 'name = "pi4"', r"field 'name' must be the file name 'rpi-4b'"),
    ('cpu_parts = []', 'cpu_parts = ["d08"]', r"field 'detect\.cpu_parts' must be a list of strings matching"),
    ("latency_ms = 72.62\nsource = ", "latency_ms = 72.62\nxsource = ", r"field 'reference\[0\]\.source' must be a citation"),
    ("vcgencmd = true", 'vcgencmd = "yes"', r"field 'thermal\.vcgencmd' must be true or false"),
    ("cores = 4", "cores = 4\ncores = 5", r"rpi-4b\.toml: not valid TOML"),
])
def test_a_malformed_profile_is_a_config_error_naming_file_and_field(
        tmp_path: Path, old: str, new: str, message: str) -> None:
    path = _write_broken(tmp_path, old, new)
    with pytest.raises(ConfigError, match=message):
        devices.load_profile(path)


def test_a_missing_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text('schema = 1\nname = "tiny"\ntitle = "Tiny"\n')
    with pytest.raises(ConfigError, match=r"tiny\.toml: field 'soc' must be a table, got '<missing>'"):
        devices.load_profile(path)


def test_a_broken_profile_in_the_profile_directory_fails_loudly(tmp_path: Path) -> None:
    shutil.copy(REPO / "devices" / "rpi-5.toml", tmp_path)
    _write_broken(tmp_path, 'precision = "int8"', 'precision = 8')
    with pytest.raises(ConfigError, match=r"rpi-4b\.toml: field 'recommend\.precision'"):
        devices.profiles(str(tmp_path))


@pytest.mark.parametrize("board", sorted(REQUIRED - {"generic-x86-64", "generic-aarch64"}))
def test_fake_proc_tree_of_each_board_is_detected_as_its_profile(board: str) -> None:
    found = devices.detect_device(root=PROC / board)
    assert found is not None and found.name == board


def test_pi_3_model_b_is_not_taken_for_a_3b_plus() -> None:
    assert devices.detect_device(root=PROC / "rpi-3b-not-plus") is None


def test_unknown_arm_board_is_not_detected_and_auto_falls_back_to_generic_aarch64(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert devices.detect_device(root=PROC / "pine-a64") is None
    monkeypatch.setattr(devices, "detect_device", lambda **kw: None)
    monkeypatch.setattr(devices.platform, "machine", lambda: "aarch64")
    assert devices.get_profile("auto").name == "generic-aarch64"


def test_x86_64_host_falls_back_to_generic_x86_64(monkeypatch: pytest.MonkeyPatch) -> None:
    assert devices.detect_device(root=PROC / "generic-x86-64") is None
    monkeypatch.setattr(devices, "detect_device", lambda **kw: None)
    monkeypatch.setattr(devices.platform, "machine", lambda: "x86_64")
    assert devices.get_profile("auto").name == "generic-x86-64"


def test_detection_without_a_device_tree_uses_the_cpuinfo_model_line(tmp_path: Path) -> None:
    shutil.copytree(PROC / "rpi-4b" / "proc", tmp_path / "proc")
    shutil.rmtree(tmp_path / "proc" / "device-tree")  # as inside many containers
    found = devices.detect_device(root=tmp_path)
    assert found is not None and found.name == "rpi-4b"


def test_probe_reads_cpu_parts_features_cores_and_memory() -> None:
    host = devices.probe_host(PROC / "cortex-a76-board")
    assert host.model == "Orange Pi 5"
    assert host.cpu_parts == ("0x41:0xd05", "0x41:0xd0b")
    assert host.cores == 8
    assert set(host.features) >= {"neon", "dotprod", "fp16"} and "i8mm" not in host.features
    assert host.mem_mb == 7911384 // 1024
    x86 = devices.probe_host(PROC / "generic-x86-64")
    assert x86.cpu_name == "AMD EPYC 7763 64-Core Processor" and {"avx2", "fma"} <= set(x86.features)


def test_32_bit_pi_os_features_still_count_as_neon() -> None:
    host = devices.probe_host(PROC / "rpi-3bplus")
    assert "neon" in host.features and "dotprod" not in host.features


def test_unknown_device_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown device 'pi9'; known devices: auto, cortex-a55-board, .*rpi-4b"):
        devices.get_profile("pi9")


@pytest.mark.parametrize(("cpus", "threads"), [(1, 1), (2, 2), (16, 4)])
def test_generic_profile_never_recommends_more_threads_than_cpus(
        monkeypatch: pytest.MonkeyPatch, cpus: int, threads: int) -> None:
    monkeypatch.setattr(devices.os, "cpu_count", lambda: cpus)
    assert devices.get_profile("generic-x86-64").threads == threads
    assert devices.get_profile("rpi-4b").threads == 4  # a specific board keeps its figure


def _variants(directory: Path, names: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"")


def test_choose_variant_takes_the_profile_s_precision_from_a_directory(tmp_path: Path) -> None:
    run = tmp_path / "RUN"
    _variants(run, [f"model_{q}.tflite" for q in ("float32", "float16", "dynamic", "int8")])
    assert choose_variant(str(run), devices.get_profile("rpi-4b").precision) == str(run / "model_int8.tflite")
    x86 = devices.get_profile("generic-x86-64")
    assert choose_variant(str(run), x86.precision) == str(run / "model_float32.tflite")


def test_choose_variant_swaps_a_variant_file_for_its_sibling(tmp_path: Path) -> None:
    _variants(tmp_path, ["model_float32.tflite", "model_int8.tflite", "other_float16.tflite"])
    pi5 = devices.get_profile("rpi-5")
    assert choose_variant(str(tmp_path / "model_float32.tflite"), pi5.precision) == str(tmp_path / "model_int8.tflite")


def test_choose_variant_falls_back_and_never_prefers_dynamic(tmp_path: Path) -> None:
    _variants(tmp_path, ["m_dynamic.tflite", "m_float16.tflite"])
    assert choose_variant(str(tmp_path), devices.get_profile("rpi-4b").precision).endswith("m_float16.tflite")


def test_choose_variant_leaves_other_models_alone(tmp_path: Path) -> None:
    plain = tmp_path / "detector.tflite"
    plain.write_bytes(b"")
    assert choose_variant(str(plain), devices.get_profile("rpi-4b").precision) == str(plain)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="found 0 .tflite files"):
        choose_variant(str(empty), devices.get_profile("rpi-4b").precision)


def test_load_with_a_device_uses_the_profile_s_thread_count() -> None:
    import zoo

    with edgekit.load(zoo.digits_classifier("int8"), device="rpi-4b") as model:
        assert model.info.threads == 4


def test_devices_command_lists_every_profile_and_marks_the_detected_one(monkeypatch: pytest.MonkeyPatch) -> None:
    pi = devices.get_profile("rpi-4b")
    monkeypatch.setattr(devices, "detect_device", lambda **kw: pi)
    result = CliRunner().invoke(cli, ["devices"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("* rpi-4b ") for line in lines)
    assert sum(line.startswith("* ") for line in lines) == 1
    for name in REQUIRED:
        assert any(f" {name} " in line for line in lines)


def test_devices_json_and_show() -> None:
    import json

    result = CliRunner().invoke(cli, ["devices", "--json"])
    data = json.loads(result.output)
    assert {d["name"] for d in data["devices"]} >= REQUIRED and "host" in data
    shown = CliRunner().invoke(cli, ["devices", "--show", "rpi-3bplus"])
    assert "Cortex-A53" in shown.output and "194.5 ms" in shown.output and "ncnn" in shown.output
