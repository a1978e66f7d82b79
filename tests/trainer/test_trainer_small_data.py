"""Small datasets: precise batch norm, above-chance models from ~100 real photos, and the chance guard.

Before the fix, 112 real face / non-face photos trained to 96 % training accuracy while validation
sat at 50 % every epoch (the batch-norm moving statistics had not converged after 4 steps per epoch).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from small_datasets import write_faces

from edgekit.cli import cli

pytest.importorskip("tensorflow")
# Keras calls np.array(x, copy=False)-style APIs that NumPy 2 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _layer_inputs(model, layer, images: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    import keras

    return keras.Model(model.input, layer.input)(images.astype(np.float32), training=False).numpy()


def test_precise_batchnorm_stores_the_real_statistics_of_the_training_images() -> None:
    import keras
    from edgekit_trainer.backbones import Architecture, build_model
    from edgekit_trainer.batchnorm import recalibrate_batchnorm, trainable_batchnorms
    from skimage import data

    keras.utils.set_random_seed(0)
    images = (data.lfw_subset()[:40, :24, :24, None] * 255).astype(np.float32)
    model = build_model(Architecture("tiny", 2, 24, channels=1))
    norms = trainable_batchnorms(model)
    assert len(norms) == 5
    first_inputs = _layer_inputs(model, norms[0], images)
    assert np.allclose(norms[0].moving_variance.numpy(), 1.0)  # Keras' start: nothing like the data
    assert first_inputs.var(axis=(0, 1, 2)).max() < 0.1
    assert recalibrate_batchnorm(model, images, chunk=7) == 5  # chunks of 7: pooled exactly
    assert np.allclose(norms[0].moving_mean.numpy(), first_inputs.mean(axis=(0, 1, 2)), atol=1e-5)
    assert np.allclose(norms[0].moving_variance.numpy(), first_inputs.var(axis=(0, 1, 2)), rtol=1e-3)
    recalibrate_batchnorm(model, images, chunk=len(images))  # one chunk: every layer exact
    for norm in norms:
        seen = _layer_inputs(model, norm, images)
        assert np.allclose(norm.moving_variance.numpy(), seen.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-6)


@pytest.fixture(scope="module")
def faces_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("faces")
    train_dir, _ = write_faces(base / "faces")
    run = base / "run"
    result = CliRunner().invoke(cli, ["train", str(train_dir), "--out", str(run), "--model", "tiny",
                                                      "--size", "32", "--epochs", "6", "--quiet"])
    assert result.exit_code == 0, result.output + result.stderr
    return run, result.stdout


@pytest.mark.slow
def test_a_hundred_real_photos_train_clearly_above_chance_and_near_the_baseline(faces_run: tuple[Path, str]) -> None:
    run, output = faces_run
    verdict = json.loads((run / "provenance.json").read_text())["verdict"]
    assert verdict["chance"]["above_chance"] and verdict["chance"]["predicted_classes"] == 2
    assert verdict["val_accuracy"] >= 0.9  # was 0.536 (chance) before batch-norm recalibration
    assert verdict["val_accuracy"] >= verdict["baseline"]["val_accuracy"] - 0.05
    assert re.search(r"\n  baseline: HOG \+ logistic regression +\d+\.\d%\n", output)
    assert re.search(r"\n  majority class \(chance\) +50\.0%\n", output)
    assert "NOT ABOVE CHANCE" not in output


@pytest.fixture(scope="module")
def blank_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    """Frames from a camera with its lens cap on, sorted into two classes: nothing to learn."""
    import cv2

    base = tmp_path_factory.mktemp("blank")
    data = base / "door"
    for label in ("open", "closed"):
        (data / label).mkdir(parents=True)
        for i in range(8):
            cv2.imwrite(str(data / label / f"{i}.png"), np.full((40, 30, 3), 3, np.uint8))
    run = base / "run"
    result = CliRunner().invoke(cli, ["train", str(data), "--out", str(run), "--model", "tiny",
                                                      "--size", "16", "--epochs", "2", "--no-augment", "--quiet"])
    assert result.exit_code == 0, result.output + result.stderr
    return data, run, result


@pytest.mark.slow
def test_a_model_that_learned_nothing_ends_train_with_a_loud_line(blank_run) -> None:  # type: ignore[no-untyped-def]
    _, run, result = blank_run
    loud = result.stderr.strip().splitlines()[-1]
    assert loud.startswith("WARNING: NOT ABOVE CHANCE: accuracy 50.0% on 4 images is not clearly above "
                           "the majority-class rate 50.0%")
    assert "answers one class for every image" in loud and "export will refuse it" in loud
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["verdict"]["chance"]["above_chance"] is False
    assert any("few images in closed (8), open (8)" in w for w in prov["warnings"])
    assert (run / "training.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_export_refuses_a_chance_level_model_unless_forced(blank_run) -> None:  # type: ignore[no-untyped-def]
    data, run, _ = blank_run
    refused = CliRunner().invoke(cli, ["export", str(run), "--quantize", "float32"])
    assert refused.exit_code == 1
    line = refused.stderr.strip().splitlines()[-1]
    assert line.startswith(f"ChanceLevel: {run}: float32: accuracy 50.0% on 4 images is not clearly above")
    assert line.endswith("No file written (pass --force to write it anyway)")
    assert not list(run.glob("*.tflite"))
    forced = CliRunner().invoke(cli, ["export", str(run), "--quantize", "float32", "--force"])
    assert forced.exit_code == 0, forced.output + forced.stderr
    assert (run / "model_float32.tflite").is_file()
    evaluated = CliRunner().invoke(cli, ["evaluate", str(run / "model_float32.tflite"), str(data)])
    assert "(majority-class rate 50.00%)" in evaluated.output
    assert evaluated.output.strip().splitlines()[-1].startswith("WARNING: accuracy 50.0% on 16 images")
