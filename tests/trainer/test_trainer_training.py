"""Training behaviour: interruption keeps the best checkpoint, two-stage transfer learning,
class weights, and tf.distribute over two logical CPUs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from trainer_folders import write_digit_folder

pytest.importorskip("tensorflow")
# Keras calls np.array(x, copy=False)-style APIs that NumPy 2 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

from edgekit_trainer import ExportConfig, TrainConfig, export, train
from edgekit_trainer.fit import class_weights


def _tiny(data: Path, out: Path, **kw) -> TrainConfig:  # type: ignore[no-untyped-def]
    base = {"model": "tiny", "size": 32, "channels": 1, "flip": False, "verbose": 0, "batch_size": 16}
    return TrainConfig(str(data), str(out), **{**base, **kw})


def test_class_weights_balance_unequal_classes() -> None:
    weights = class_weights(np.array([0] * 30 + [1] * 10), 3)
    assert weights[0] == pytest.approx(40 / 90) and weights[1] == pytest.approx(40 / 30)
    assert weights[2] == 1.0


@pytest.mark.slow  # trains
def test_interrupted_training_keeps_a_usable_best_checkpoint(tmp_path: Path) -> None:
    import keras

    data = write_digit_folder(tmp_path / "d", per_class=20, classes=(0, 1, 2))
    out = tmp_path / "run"

    class StopAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:  # type: ignore[type-arg]
            if epoch == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match="best checkpoint so far"):
        train(_tiny(data, out, epochs=10), callbacks=(StopAfterTwo(),))
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["status"] == "interrupted" and prov["epochs"] == 2
    assert keras.models.load_model(out / "model.keras").output_shape == (None, 3)
    assert not (out / "model.tmp.keras").exists()
    models = export(ExportConfig(str(out), quantize="float32", force=True))  # two epochs: maybe not above chance
    assert models[0].path.is_file()


@pytest.mark.slow
def test_pretrained_backbone_trains_in_two_stages_frozen_then_fine_tuned(tmp_path: Path) -> None:
    import keras

    weights = tmp_path / "backbone.weights.h5"
    keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False,
                                   weights=None, pooling="avg").save_weights(weights)
    data = write_digit_folder(tmp_path / "d", per_class=8, classes=(0, 1), rgb=True)
    result = train(TrainConfig(str(data), str(tmp_path / "run"), model="mobilenet_v2", size=32, alpha=0.35,
                               weights=str(weights), epochs=1, fine_tune_epochs=1, verbose=0, batch_size=8))
    assert result.stages == 2
    assert result.history["stage"] == [1.0, 2.0]


@pytest.mark.slow  # trains in a child process
def test_mirrored_strategy_trains_over_two_logical_cpus(tmp_path: Path) -> None:
    data = write_digit_folder(tmp_path / "d", per_class=12, classes=(0, 1))
    script = textwrap.dedent(f"""
        import json, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
        from edgekit_trainer import TrainConfig, train
        r = train(TrainConfig({str(data)!r}, {str(tmp_path / 'run')!r}, model="tiny", size=32, channels=1,
                              epochs=2, batch_size=8, strategy="mirrored", verbose=0))
        print(json.dumps({{"replicas": r.replicas, "epochs": r.epochs}}))
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"replicas": 2, "epochs": 2}
    prov = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert prov["strategy"] == {"name": "mirrored", "replicas": 2}
