"""MobileNetV2 (no pretrained weights) trains, exports all four variants, and each runs in the runtime."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from trainer_folders import write_digit_folder

from edgekit.cli import cli

pytest.importorskip("tensorflow")
# Keras calls np.array(x, copy=False)-style APIs that NumPy 2 deprecates; not ours to fix.
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning"),
              pytest.mark.slow]  # every test here shares one training run and its export


@pytest.fixture(scope="module")
def mobilenet_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("mnv2")
    data = write_digit_folder(base / "data", per_class=10, classes=(0, 1, 7), rgb=True)
    run = base / "run"
    result = CliRunner().invoke(cli, [
        "train", str(data), "--out", str(run), "--model", "mobilenet_v2", "--weights", "none",
        "--size", "64", "--alpha", "0.35", "--epochs", "1", "--batch-size", "8", "--quiet",
    ])
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def mobilenet_exports(mobilenet_run: Path) -> tuple[Path, str]:
    """The export of all four variants (its folder and printed table), shared by the tests below."""
    out = mobilenet_run / "exports"
    # one epoch on 30 images need not beat chance; this test is about the four conversions
    result = CliRunner().invoke(cli, ["export", str(mobilenet_run), "--quantize", "all", "--calib", "16",
                                      "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_mobilenet_v2_exports_all_four_variants_with_one_comparison_table(
        mobilenet_exports: tuple[Path, str]) -> None:
    out, table = mobilenet_exports
    for variant in ("float32", "float16", "dynamic", "int8"):
        assert (out / f"model_{variant}.tflite").is_file()
        assert any(line.startswith(variant) for line in table.splitlines()), table
    assert "agree %" in table and "p50 ms" in table
    assert "note: dynamic:" in table and "slower than float32" in table and "x float32]" in table
    sizes = {v: (out / f"model_{v}.tflite").stat().st_size for v in ("float32", "float16", "int8")}
    assert sizes["float16"] < 0.6 * sizes["float32"] and sizes["int8"] < 0.4 * sizes["float32"]


def test_every_variant_loads_in_the_runtime_and_round_trips_its_metadata_without_tensorflow(
        mobilenet_exports: tuple[Path, str]) -> None:
    out, _ = mobilenet_exports
    code = (
        "import json, sys, numpy as np, edgekit\n"
        "rows = []\n"
        "for path in sys.argv[1:]:\n"
        "    with edgekit.load(path) as m:\n"
        "        pred = m.predict(np.zeros((48, 80, 3), np.uint8))\n"
        "        rows.append({'labels': list(m.labels), 'color': m.metadata.color,"
        " 'mean': list(m.metadata.mean), 'std': list(m.metadata.std),"
        " 'mode': m.metadata.quantization['mode'], 'dtype': m.inputs[0].dtype,"
        " 'n': len(pred.classes), 'parity': sorted(m.metadata.parity)})\n"
        "print(json.dumps({'rows': rows, 'tf': 'tensorflow' in sys.modules}))\n"
    )
    paths = [str(out / f"model_{v}.tflite") for v in ("float32", "float16", "dynamic", "int8")]
    proc = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, check=True)
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["tf"] is False
    assert [r["mode"] for r in found["rows"]] == ["float32", "float16", "dynamic", "int8"]
    assert [r["dtype"] for r in found["rows"]] == ["float32", "float32", "float32", "uint8"]
    for row in found["rows"]:
        assert row["labels"] == ["0", "1", "7"] and row["color"] == "rgb"
        assert row["mean"] == [0.0, 0.0, 0.0] and row["std"] == [1.0, 1.0, 1.0]
        assert row["n"] == 3 and "top1_agreement" in row["parity"]
