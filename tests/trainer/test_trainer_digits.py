"""End to end on real data: digits image folder → `edgekit train` (tiny) → `edgekit export` → runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from trainer_folders import write_digit_folder

import edgekit
from edgekit.cli import cli
from edgekit.imagefile import read_image

pytest.importorskip("tensorflow")
# Keras calls np.array(x, copy=False)-style APIs that NumPy 2 deprecates; not ours to fix.
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning"),
              pytest.mark.slow]  # every test here shares one training run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("digits")
    data = write_digit_folder(base / "digits")
    run = base / "run"
    result = CliRunner().invoke(cli, [
        "train", str(data), "--out", str(run), "--model", "tiny", "--size", "32", "--channels", "1",
        "--no-flip", "--epochs", "12", "--patience", "3", "--quiet",
    ])
    assert result.exit_code == 0, result.output
    assert "validation accuracy" in result.output
    return run


@pytest.fixture(scope="module")
def int8_model(digits_run: Path) -> Path:
    result = CliRunner().invoke(cli, ["export", str(digits_run), "--quantize", "int8", "--max-drop", "1.0"])
    assert result.exit_code == 0, result.output
    assert "int8" in result.output and "wrote" in result.output
    return digits_run / "model_int8.tflite"


def _runtime_accuracy(model_path: Path, run: Path) -> float:
    split = json.loads((run / "split.json").read_text())
    root = Path(split["root"])
    with edgekit.load(model_path) as model:
        hits = [model.predict(read_image(root / p)).classes[0].id == label for p, label in split["val"]]
    return float(np.mean(hits))


def test_run_folder_holds_checkpoint_labels_history_provenance_and_curves(digits_run: Path) -> None:
    for name in ("model.keras", "labels.txt", "history.json", "provenance.json", "training.png", "split.json"):
        assert (digits_run / name).is_file(), name
    assert (digits_run / "labels.txt").read_text().split() == [str(i) for i in range(10)]
    prov = json.loads((digits_run / "provenance.json").read_text())
    assert prov["status"] == "complete" and prov["seed"] == 0
    assert sum(prov["dataset"]["counts"]["train"].values()) + sum(prov["dataset"]["counts"]["val"].values()) == 1797
    assert "tensorflow" in prov["versions"] and prov["command"]
    history = json.loads((digits_run / "history.json").read_text())
    assert len(history["val_loss"]) == len(history["loss"]) >= 3
    assert (digits_run / "training.png").read_bytes()[:4] == b"\x89PNG"


def test_tiny_backbone_reaches_96_percent_on_real_digits(digits_run: Path) -> None:
    prov = json.loads((digits_run / "provenance.json").read_text())
    assert prov["val_accuracy"] >= 0.96


def test_int8_export_is_within_one_point_of_float_through_the_runtime(digits_run: Path, int8_model: Path) -> None:
    prov = json.loads((digits_run / "provenance.json").read_text())
    measured = _runtime_accuracy(int8_model, digits_run)  # images read from disk, as on a device
    assert measured >= prov["val_accuracy"] - 0.01
    assert int8_model.stat().st_size < 200_000


def test_int8_export_is_self_describing(digits_run: Path, int8_model: Path) -> None:
    with edgekit.load(int8_model) as model:
        meta = model.metadata
        spec = model.inputs[0]
    assert meta is not None and meta.task == "classify"
    assert meta.labels == tuple(str(i) for i in range(10))
    assert (meta.color, meta.resize, meta.mean, meta.std) == ("gray", "stretch", (0.0,), (1.0,))
    assert meta.quantization["mode"] == "int8" and meta.quantization["io"] == "uint8"
    assert spec.dtype == "uint8" and abs(spec.scale - 1.0) < 0.05 and abs(spec.zero_point) <= 2
    assert meta.provenance["backbone"] == "tiny" and len(meta.provenance["dataset_fingerprint"]) == 64
    parity = meta.parity
    assert parity["samples"] == len(json.loads((digits_run / "split.json").read_text())["val"])
    assert parity["top1_agreement"] >= 0.97 and parity["drop_points"] <= 1.0
    assert set(parity["per_class_delta_points"]) == {str(i) for i in range(10)}
    assert meta.extra["compatibility"]["litert"]["ok"] is True
    assert meta.provenance["command"][0] == "edgekit"  # then this process's own arguments (pytest's)
    assert not any(str(arg).startswith("/") for arg in meta.provenance["command"])
    assert str(digits_run.parent) not in json.dumps(meta.to_dict()), "no build-machine folder in the file"


def test_the_exported_command_keeps_only_the_last_part_of_absolute_paths() -> None:
    from edgekit_trainer.exporter import portable_command

    assert portable_command(["/venv/bin/edgekit", "train", "/home/ann/photos/", "--out=/srv/runs/a",
                             "--out", "runs/b", "-q"]) == \
        ["edgekit", "train", "photos", "--out=a", "--out", "runs/b", "-q"]
    assert portable_command(None) is None


def test_reading_the_metadata_back_does_not_import_tensorflow(int8_model: Path) -> None:
    code = (
        "import json, sys, edgekit\n"
        f"m = edgekit.load({str(int8_model)!r})\n"
        "print(json.dumps({'labels': list(m.labels), 'mean': list(m.metadata.mean),"
        " 'std': list(m.metadata.std), 'tf': 'tensorflow' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {"labels": [str(i) for i in range(10)], "mean": [0.0], "std": [1.0], "tf": False}


def test_evaluate_prints_accuracy_per_class_metrics_and_confusion_matrix(
        digits_run: Path, int8_model: Path, tmp_path: Path) -> None:
    data = Path(json.loads((digits_run / "split.json").read_text())["root"])
    result = CliRunner().invoke(cli, ["evaluate", str(int8_model), str(data), "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["samples"] == 1797 and report["accuracy"] >= 0.96
    assert [c["label"] for c in report["per_class"]] == [str(i) for i in range(10)]
    assert all(c["f1"] > 0.85 for c in report["per_class"])
    matrix = np.array(report["confusion_matrix"]["matrix"])
    assert matrix.shape == (10, 11) and matrix.sum() == 1797 and np.trace(matrix) == round(report["accuracy"] * 1797)
    assert report["latency_ms_p50"] > 0 and report["majority_rate"] < 0.11 and report["above_chance"]
    assert (tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "report.json").read_text()) == report


def test_parity_gate_fails_without_writing_when_the_export_disagrees(
        digits_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgekit_trainer.exporter as ex
    from edgekit_trainer import ExportConfig, ParityFailed, export

    real = ex.runtime_probs

    def broken(model, images, **kw):  # type: ignore[no-untyped-def]
        probs, latencies = real(model, images, **kw)
        return np.roll(probs, 1, axis=1), latencies  # every class shifted: a broken conversion

    monkeypatch.setattr(ex, "runtime_probs", broken)
    out = tmp_path / "gated.tflite"
    with pytest.raises(ParityFailed, match=r"more than --max-drop 1 points: float16 .*no file written"):
        export(ExportConfig(str(digits_run), quantize="float16", max_drop=1.0, out=str(out)))
    assert not list(tmp_path.iterdir())


def test_export_runs_as_a_real_subprocess_and_prints_json(digits_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "digits_f16.tflite"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user runs it
    proc = subprocess.run([sys.executable, "-m", "edgekit", "export", str(digits_run), "--quantize", "float16",
                           "--out", str(out), "--json"], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == ""  # no absl / CUDA / XNNPACK lines, no deprecated-interpreter warning
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    assert row["path"] == str(out) and row["quantize"] == "float16" and out.is_file()
    assert row["parity"]["top1_agreement"] >= 0.99
