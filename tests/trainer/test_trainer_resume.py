"""Resumable runs in one process: an interrupted run continues from its last finished epoch,
and a resume with other data or options is refused with one clear line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from trainer_folders import write_digit_folder

from edgekit.cli import cli

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

from edgekit_trainer import ResumeRefused, TrainConfig, train
from edgekit_trainer.checkpoints import _truncate, differences

EPOCHS = 4


def _config(data: Path, out: Path, **kw) -> TrainConfig:  # type: ignore[no-untyped-def]
    base = {"model": "tiny", "size": 32, "channels": 1, "flip": False, "verbose": 0, "batch_size": 16,
            "epochs": EPOCHS, "patience": 10}
    return TrainConfig(str(data), str(out), **{**base, **kw})


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run stopped by Ctrl-C after its second epoch: ``(data, run)``."""
    import keras

    base = tmp_path_factory.mktemp("resume")
    data = write_digit_folder(base / "d", per_class=20, classes=(0, 1, 2))

    class CtrlCAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:  # type: ignore[type-arg]
            if epoch == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_config(data, base / "run"), callbacks=(CtrlCAfterTwo(),))
    return data, base / "run"


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


@pytest.mark.slow
def test_an_interrupted_run_resumes_from_its_last_epoch_with_the_options_it_recorded(
        interrupted: tuple[Path, Path], tmp_path: Path) -> None:
    data, original = interrupted
    run = _copy(original, tmp_path)
    saved = json.loads((run / "backup" / "state.json").read_text())
    assert json.loads((run / "provenance.json").read_text())["status"] == "interrupted"
    assert len(saved["history"]["loss"]) == 2
    result = CliRunner().invoke(cli, ["train", "--resume", str(run), "--quiet"])  # no DATA, no options
    assert result.exit_code == 0, result.output
    assert f"after {EPOCHS} epochs" in result.output and f"run folder: {run}" in result.output
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == EPOCHS and history["loss"][:2] == saved["history"]["loss"]
    assert history["loss"][2] < history["loss"][0]  # the third epoch started from the second's weights
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["status"] == "complete" and len(prov["resumed"]) == 1 and prov["epochs"] == EPOCHS
    assert prov["config"]["model"] == "tiny" and not (run / "backup").exists()
    with pytest.raises(ResumeRefused, match="this run is complete; there is nothing to resume"):
        train(_config(data, run, resume=True))


@pytest.mark.slow  # shares the interrupted training run
def test_resume_refuses_other_options_in_one_line(interrupted: tuple[Path, Path], tmp_path: Path) -> None:
    run = _copy(interrupted[1], tmp_path)
    result = CliRunner().invoke(cli, ["train", "--resume", str(run), "--epochs", "9", "--seed", "1", "--quiet"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"ResumeRefused: {run}: options differ from the run's: epochs 9 (run: {EPOCHS}), seed 1 (run: 0)")
    assert json.loads((run / "backup" / "state.json").read_text())["history"]["loss"]  # untouched


@pytest.mark.slow  # shares the interrupted training run
def test_resume_refuses_changed_images(interrupted: tuple[Path, Path], tmp_path: Path) -> None:
    data = Path(shutil.copytree(interrupted[0], tmp_path / "d"))
    run = _copy(interrupted[1], tmp_path)
    victim = min((data / "1").iterdir())
    shutil.copyfile(min((data / "2").iterdir()), victim)
    with pytest.raises(ResumeRefused, match="the images differ from the ones the run was started on"):
        train(_config(data, run, resume=True))


def test_resume_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path / "nothing"), "--quiet"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith(
        f"ResumeRefused: {tmp_path / 'nothing'}: no run to resume")


def test_option_differences_ignore_output_and_display_settings() -> None:
    recorded = {"epochs": 4, "seed": 0, "out": "a", "verbose": None, "command": ["x"], "size": 32}
    assert differences(recorded, {**recorded, "out": "b", "verbose": 0, "command": ("y",)}) == []
    assert differences(recorded, {**recorded, "size": 64}) == ["size 64 (run: 32)"]


def test_history_is_cut_back_to_the_restored_epoch() -> None:
    history = {"loss": [5.0, 4.0, 3.0, 2.0, 1.0], "stage": [1.0, 1.0, 2.0, 2.0, 2.0]}
    assert _truncate(history, stage=2, epochs=1) == {"loss": [5.0, 4.0, 3.0], "stage": [1.0, 1.0, 2.0]}
    assert _truncate(history, stage=1, epochs=1) == {"loss": [5.0], "stage": [1.0]}
