"""Detector training end to end through the real commands: a small YOLO dataset of digits pasted onto
photos → ``edgekit train --task detect`` → ``edgekit export --quantize int8`` → ``predict`` / ``run`` with
no options → ``edgekit evaluate``.

One tiny model is trained once for the module (96 px, two epochs: the plumbing is under test; the
accuracy floors are in ``tests/benchmarks/bench_detect_train.py``). What is checked: the training summary
names the label files it left out, the exported file declares everything the runtime needs, the runtime
fed with image files reproduces the Keras model's output within int8 steps, and every command reports
what it must.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import detect_scenes
import numpy as np
import pytest
from click.testing import CliRunner

import edgekit
from edgekit.cli import cli
from edgekit.imagefile import read_image

pytest.importorskip("tensorflow")
pytest.importorskip("pycocotools")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

SIZE = 96
TRAIN = ["--task", "detect", "--model", "tiny", "--size", str(SIZE), "--epochs", "2", "--batch-size", "16",
         "--no-flip", "--quiet", "--width", "16", "--warmup-epochs", "0"]
BAD_LABELS = {"00003.txt": "12 0.5 0.5 0.1 0.1\n", "00004.txt": "0 0.5 0.5 0.1 1.7\n"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = detect_scenes.write_yolo(tmp_path_factory.mktemp("scenes"), train=42, val=12, test=12, seed=1)
    for name, text in BAD_LABELS.items():
        (root / "labels" / "train" / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("det") / "run"
    result = CliRunner().invoke(cli, ["train", str(data), "--out", str(out), *TRAIN])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def exported(trained: tuple[Path, str]) -> Path:
    run = trained[0]
    target = run.parent / "det_int8.tflite"
    result = CliRunner().invoke(cli, ["export", str(run), "--quantize", "int8", "--calib", "32",
                                      "--max-drop", "100", "--out", str(target), "--json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.strip().splitlines()[-1])
    assert line["path"] == str(target) and line["quantize"] == "int8" and line["parity"]["metric"] == "map50"
    assert line["parity"]["samples"] == 12
    return target


@pytest.mark.slow
def test_the_training_summary_names_each_left_out_label_file_and_why(trained: tuple[Path, str]) -> None:
    run, output = trained
    assert "skipped 2 files (listed in" in output
    assert "00003.txt: line 1: class 12 is not one of the 10 class ids 0..9" in output
    assert "00004.txt: line 1: coordinate 1.7 is outside [0, 1]" in output
    assert "validation mAP@0.5" in output and "40 train, 12 val, 12 test images" in output
    skipped = json.loads((run / "provenance.json").read_text())["dataset"]["skipped"]
    assert sorted(Path(p).name for p, _ in skipped) == sorted(BAD_LABELS)


@pytest.mark.slow
def test_the_run_folder_records_a_detector_and_its_validation_map(trained: tuple[Path, str]) -> None:
    run = trained[0]
    for name in ("model.keras", "labels.txt", "history.json", "provenance.json", "split.json", "training.png"):
        assert (run / name).is_file(), name
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["task"] == "detect" and prov["status"] == "complete" and prov["epochs"] == 2
    assert prov["config"]["resize"] == "letterbox" and prov["dataset"]["format"] == "yolo"
    assert 0.0 <= prov["val_map"] <= prov["val_map50"] <= 1.0
    assert len(json.loads((run / "history.json").read_text())["val_map50"]) == 2
    assert (run / "labels.txt").read_text().split() == list(detect_scenes.NAMES)


@pytest.mark.slow
def test_the_export_declares_layout_units_and_resize_so_the_runtime_needs_no_options(exported: Path) -> None:
    with edgekit.load(exported) as model:
        meta = model.info.metadata
        assert model.task == "detect" and model.labels == detect_scenes.NAMES
        assert meta.detection["layout"] == "yolov8:xywh:normalized"
        assert (meta.detection["boxes"], meta.detection["coords"]) == ("xywh", "normalized")
        assert model.input_format.resize == "letterbox" and model.input_format.color == "rgb"
        assert meta.quantization["mode"] == "int8" and meta.parity["metric"] == "map50"
        cells = sum((SIZE // s) ** 2 for s in (8, 16, 32))
        assert list(model.outputs[0].shape) == [1, 4 + 10, cells]


@pytest.mark.slow
def test_the_runtime_on_image_files_gives_the_keras_output_within_int8_steps(
        trained: tuple[Path, str], exported: Path, data: Path) -> None:
    import keras
    from edgekit_trainer.detect.data import decode_split, read_dataset
    from edgekit_trainer.detect.model import with_decoder

    split = decode_split(read_dataset(data).splits["test"][:6], SIZE)
    decoded = with_decoder(keras.models.load_model(trained[0] / "model.keras", compile=False), SIZE)
    want = np.asarray(decoded(split.images.astype(np.float32)))
    with edgekit.load(exported) as model:  # JPEG files, decoded and letterboxed by the runtime
        step = model.outputs[0].scale
        got = np.concatenate([model.predict(read_image(s.image)).tensors[0] for s in split.samples])
    assert 0 < step <= 1.01 / 255  # boxes and probabilities share one [0, 1] int8 scale
    assert np.abs(got[:, :4] - want[:, :4]).mean() < 2 * step  # boxes: well under a pixel at 96
    assert np.abs(got[:, 4:] - want[:, 4:]).mean() < 2 * step


@pytest.mark.slow
def test_predict_and_run_on_the_detect_demo_need_no_options(exported: Path, data: Path) -> None:
    image = data / "images" / "test" / "00000.jpg"
    result = CliRunner().invoke(cli, ["predict", str(exported), str(image), "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert row["task"] == "detect" and isinstance(row["detections"], list)
    # below the default threshold, the two-epoch model still ranks boxes: labels and boxes must be sane
    result = CliRunner().invoke(cli, ["predict", str(exported), str(image), "--json", "--score-threshold", "0.001"])
    dets = json.loads(result.output)["detections"]
    assert dets and {d["label"] for d in dets} <= set(detect_scenes.NAMES)
    assert all(0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 240 for x1, y1, x2, y2 in (d["box"] for d in dets))
    result = CliRunner().invoke(cli, ["run", "--model", str(exported), "--source", "demo:detect",
                                      "--max-frames", "3", "--out", "-", "--quiet"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in result.output.splitlines() if x.startswith("{")]
    frames = [r for r in rows if "frame" in r]
    assert len(frames) == 3 and all(r["task"] == "detect" and r["source"] == "demo:detect" for r in frames)
    assert rows[-1]["event"] == "stopped"


@pytest.mark.slow
def test_evaluate_gives_coco_map_per_class_and_a_pr_curve_only_when_asked(
        exported: Path, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["evaluate", str(exported), str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["split"] == "test" and report["images"] == 12 and 0.0 <= report["map"] <= report["map50"] <= 1.0
    assert [c["label"] for c in report["per_class"]] == list(detect_scenes.NAMES)
    assert os.listdir(tmp_path) == []  # nothing written into the current directory unasked
    # the same images and boxes as COCO JSON score the same
    coco = CliRunner().invoke(cli, ["evaluate", str(exported), str(detect_scenes.write_coco(data, "test")), "--json"])
    assert coco.exit_code == 0, coco.output
    assert json.loads(coco.output)["map50"] == pytest.approx(report["map50"], abs=1e-6)
    figures = tmp_path / "figures"
    result = CliRunner().invoke(cli, ["evaluate", str(exported), str(data / "images" / "val"), "--out", str(figures)])
    assert result.exit_code == 0, result.output
    assert "mAP@0.5" in result.output and "(all, 12 images" in result.output
    assert (figures / "precision_recall.png").stat().st_size > 1000


def test_the_parity_gate_counts_map50_points_and_names_each_failing_variant() -> None:
    from edgekit_trainer.detect.export import DetectParity, check_parity
    from edgekit_trainer.errors import ParityFailed

    parities = {"float16": DetectParity(20, 0.91, 0.6, 0.909, 0.6), "int8": DetectParity(20, 0.91, 0.6, 0.87, 0.55)}
    assert parities["int8"].drop_points == pytest.approx(4.0)
    check_parity(parities, None)
    check_parity(parities, 4.5)
    with pytest.raises(ParityFailed, match=r"more than --max-drop 2 points: int8 mAP@0.5 0.870 vs float 0.910 "
                                           r"\(-4.00 points\); no file written"):
        check_parity(parities, 2.0)


def test_a_dataset_without_class_names_is_a_one_line_error(tmp_path: Path) -> None:
    data = detect_scenes.write_yolo(tmp_path / "d", train=4, val=0, test=0)
    (data / "data.yaml").unlink()
    result = CliRunner().invoke(cli, ["train", str(data), "--out", str(tmp_path / "r"), *TRAIN])
    assert result.exit_code == 2
    assert result.output.strip().startswith("DatasetError: ") and "no class names found" in result.output
    assert result.output.strip().count("\n") == 0 and not (tmp_path / "r").exists()


def test_detectors_take_rgb_letterboxed_input_only(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", str(tmp_path), "--out", str(tmp_path / "r"), *TRAIN,
                                      "--channels", "1"])
    assert result.exit_code == 2 and "ConfigError: detectors take RGB input (--channels 3)" in result.output


def test_multiworker_detector_training_without_tf_config_is_a_one_line_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["train", str(tmp_path), "--out", str(tmp_path / "r"), *TRAIN,
                                      "--strategy", "multiworker"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("ConfigError: multi-worker training needs TF_CONFIG on every worker")
    assert not (tmp_path / "r").exists()


def test_detector_options_are_refused_for_a_classifier(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", str(tmp_path), "--out", str(tmp_path / "r"), "--width", "32"])
    assert result.exit_code == 2 and "ConfigError: --width is for detectors (--task detect)" in result.output
