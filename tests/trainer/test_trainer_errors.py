"""Bad input gets one clear error and leaves nothing half-written."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from trainer_folders import write_digit_folder

from edgekit.cli import cli

pytest.importorskip("tensorflow")
# Keras calls np.array(x, copy=False)-style APIs that NumPy 2 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

TINY = ["--model", "tiny", "--size", "32", "--channels", "1", "--epochs", "1", "--quiet"]


def _last_line(output: str) -> str:
    return [line for line in output.splitlines() if line.strip()][-1]


def test_train_without_tensorflow_names_the_train_extra_and_exits_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real(name, *a))
    for args in (["train", str(tmp_path), "--out", str(tmp_path / "r")], ["export", str(tmp_path)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert result.output.strip().count("\n") == 0
        assert "ExtraMissing" in result.output and "edgekit-tflite[train]" in result.output


def test_train_refuses_an_existing_out_folder_without_force(tmp_path: Path) -> None:
    data = write_digit_folder(tmp_path / "d", per_class=4, classes=(0, 1))
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["train", str(data), "--out", str(out), *TINY])
    assert result.exit_code == 2
    assert _last_line(result.output) == f"RunExists: {out}: already exists; pass --force to overwrite it"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "no such folder"),
    (lambda d: d.mkdir(), "empty, no class folders"),
    (lambda d: write_digit_folder(d, per_class=5, classes=(4,)), "only one class"),
    (lambda d: write_digit_folder(d, per_class=5, classes=(4,)) and write_digit_folder(d, per_class=1, classes=(5,)),
     "class folder(s) with a single image: 5"),
])
def test_train_rejects_bad_folders_and_writes_nothing(tmp_path: Path, setup, message: str) -> None:  # type: ignore[no-untyped-def]
    data, out = tmp_path / "data", tmp_path / "run"
    setup(data)
    result = CliRunner().invoke(cli, ["train", str(data), "--out", str(out), *TINY])
    assert result.exit_code == 2, result.output
    assert _last_line(result.output).startswith("DatasetError: ") and message in result.output
    assert not out.exists()


def test_imagenet_weights_that_cannot_download_give_one_actionable_line(tmp_path: Path) -> None:
    from keras.src.backend.config import keras_home

    cached = Path(keras_home()) / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    if cached.exists():
        pytest.skip(f"{cached} is cached here, so nothing needs downloading")
    data = write_digit_folder(tmp_path / "d", per_class=4, classes=(0, 1), rgb=True)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", str(data), "--out", str(out), "--model", "mobilenet_v2",
                                      "--size", "96", "--alpha", "0.35", "--epochs", "1", "--quiet"])
    assert result.exit_code == 2, result.output
    line = _last_line(result.output)
    assert line.startswith("WeightsUnavailable: cannot download ImageNet weights for mobilenet_v2")
    assert "--weights none" in line and f"put it at {cached}" in line
    assert not out.exists()


def test_export_of_a_missing_run_says_how_to_make_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "nope")])
    assert result.exit_code == 3
    assert "ModelNotFound" in result.output and "edgekit train DATA --out" in result.output


def test_evaluate_rejects_folders_that_match_no_model_label(tmp_path: Path) -> None:
    import zoo

    data = tmp_path / "animals"
    for name in ("cat", "dog"):
        (data / name).mkdir(parents=True)
        import cv2

        cv2.imwrite(str(data / name / "a.png"), np.zeros((32, 32), np.uint8))
    result = CliRunner().invoke(cli, ["evaluate", str(zoo.digits_classifier("uint8")), str(data)])
    assert result.exit_code == 2
    assert "DatasetError: class folder(s) cat, dog match no model class" in result.output
    assert "zero" in result.output


def test_evaluate_maps_integer_folders_to_class_ids_of_unlabelled_models(tmp_path: Path) -> None:
    import zoo

    data = write_digit_folder(tmp_path / "d", per_class=15)
    model = zoo.digits_classifier("uint8")
    labels = tmp_path / "ids.txt"  # a foreign model's labels given on the command line
    labels.write_text("\n".join(str(i) for i in range(10)) + "\n")
    result = CliRunner().invoke(cli, ["evaluate", str(model), str(data), "--labels", str(labels), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(_last_line(result.output))
    assert report["samples"] == 150 and report["accuracy"] >= 0.9


@pytest.mark.slow  # trains
def test_train_skips_corrupt_files_takes_grey_and_non_square_images_and_warns_about_few(tmp_path: Path) -> None:
    import cv2

    data = write_digit_folder(tmp_path / "d", per_class=8, classes=(0, 1))
    (data / "0" / "corrupt.jpg").write_bytes(b"\xff\xd8 truncated")
    (data / "1" / "Thumbs.db").write_bytes(b"\x00" * 10)
    digit = cv2.imread(str(next((data / "1").glob("*.png"))), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(data / "1" / "wide.jpg"), cv2.resize(digit, (90, 30)))  # grey, 3:1
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", str(data), "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert "skipped 2 files" in result.stderr and "0/corrupt.jpg" in result.stderr
    assert result.stderr.startswith(f"warning: {data.resolve()}: few images in 0 (9), 1 (9); aim for 10+")
    prov = json.loads((out / "provenance.json").read_text())
    assert set(dict(prov["dataset"]["skipped"])) == {"0/corrupt.jpg", "1/Thumbs.db"}
    assert "1/wide.jpg" in {p for p, _ in json.loads((out / "split.json").read_text())["train"]} | \
        {p for p, _ in json.loads((out / "split.json").read_text())["val"]}


def test_evaluate_writes_nothing_into_the_current_folder_unless_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_digit_folder(tmp_path / "d", per_class=3)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = CliRunner().invoke(cli, ["evaluate", "default", str(data), "--json"])
    assert result.exit_code == 0, result.output
    assert list(here.iterdir()) == []
    assert json.loads(_last_line(result.output))["confusion_png"] is None
