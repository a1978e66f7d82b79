"""Resumable runs: a checkpoint after every epoch, and the checks before a run continues.

::

    RUN/backup/state.json       the stage being trained, stages completed, the history so far
    RUN/backup/stage-<n>/       tf.keras.callbacks.BackupAndRestore's folder for stage n:
                                weights and optimizer state (two generations), epoch reached

A killed run (Ctrl-C, ``kill -9``, a lost worker, a power cut) keeps ``RUN/backup/``;
resuming it restores the last finished epoch of the stage it was in and trains on, with
the split, seed and options recorded in the run (a resume whose data or options differ is
refused: :func:`check_resumable`). A run that completes removes ``RUN/backup/``.

What is not restored: the patience counter of early stopping starts again (the warm-up +
cosine learning rate goes on from the restored optimizer step), and the shuffle order after the resume point differs from that of
an uninterrupted run (same seed, but the generator restarts); a stage that had not begun
starts from the best checkpoint, ``RUN/model.keras``.

The same pieces serve any Keras training written as stages of ``fit()`` (the detector's
too): open the run with :func:`open_run`, add :meth:`RunState.callbacks` to each stage's
``fit``, call :meth:`RunState.restore_weights` before it, and skip the stages below
:attr:`RunState.completed_stages`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import rundir
from .distribute import Worker, cluster_errors, work_dir
from .errors import ResumeRefused

__all__ = ["BACKUP", "RunState", "check_resumable", "differences", "fit_guarded", "open_run", "recorded_options"]

BACKUP = "backup"
NOT_COMPARED = frozenset({"data", "out", "force", "verbose", "command", "resume", "join_timeout"})


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``"name value (run: recorded)"`` for every training option that differs."""
    now = json.loads(json.dumps(current))  # tuples → lists, as recorded
    names = sorted((set(recorded) | set(now)) - NOT_COMPARED)
    return [f"{name} {now.get(name)!r} (run: {recorded.get(name)!r})"
            for name in names if recorded.get(name) != now.get(name)]


def check_resumable(run: Path, provenance: dict[str, Any], split: dict[str, Any]) -> dict[str, Any]:
    """The recorded provenance of ``run``, if it may continue with this data and these options.

    Args:
        run: The run folder.
        provenance: What the resumed training would record (dataset fingerprint, config).
        split: What it would record in ``split.json``.

    Raises:
        ResumeRefused: no such run, already complete, or other data, split or options.
    """
    try:
        recorded = json.loads((run / "provenance.json").read_text())
        recorded_split = json.loads((run / "split.json").read_text())
    except (OSError, ValueError):
        raise ResumeRefused(f"{run}: no run to resume (provenance.json or split.json is missing or unreadable; "
                            "every worker must see the chief's run folder)") from None
    if recorded.get("status") == "complete":
        raise ResumeRefused(f"{run}: this run is complete; there is nothing to resume")
    if recorded.get("dataset", {}).get("fingerprint") != provenance["dataset"]["fingerprint"]:
        raise ResumeRefused(f"{run}: the images differ from the ones the run was started on "
                            f"({recorded.get('dataset', {}).get('root')}); a run resumes on the same data")
    changed = differences(recorded.get("config", {}), provenance["config"])
    if changed:
        raise ResumeRefused(f"{run}: options differ from the run's: {', '.join(changed)}")
    if {k: recorded_split.get(k) for k in ("classes", "train", "val", "test")} != \
            {k: split.get(k) for k in ("classes", "train", "val", "test")}:
        raise ResumeRefused(f"{run}: the train/validation split differs from the one recorded in split.json")
    return recorded


def recorded_options(run: str | Path) -> dict[str, Any]:
    """The options a run was started with (``data`` is the dataset's absolute folder).

    Raises:
        ResumeRefused: ``run`` is not a run folder.
    """
    try:
        recorded = json.loads((Path(run) / "provenance.json").read_text())
        return {**recorded["config"], "data": recorded["dataset"]["root"]}
    except (OSError, ValueError, KeyError, TypeError):
        raise ResumeRefused(f"{run}: no run to resume (provenance.json is missing or unreadable)") from None


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _truncate(history: dict[str, list[float]], stage: int, epochs: int) -> dict[str, list[float]]:
    """Keep the earlier stages' epochs and the first ``epochs`` of ``stage``."""
    stages = history.get("stage", [])
    keep = sum(1 for s in stages if s < stage) + min(epochs, sum(1 for s in stages if s == stage))
    return {key: list(values[:keep]) for key, values in history.items()}


@dataclass
class RunState:
    """A training's run folder, fresh or resumed, on this worker.

    Attributes:
        path: Where this worker writes: the run folder for the chief, a temporary
            folder (removed afterwards) for the other workers.
        run: The run folder.
        created: Whether this training created ``path``.
        history: Per-epoch metrics so far (empty for a fresh run).
        completed_stages: Stages finished before a resume (0 for a fresh run).
        provenance: The record to complete at the end (the original one when resumed).
        resumed: Whether the run continues an interrupted one.
    """

    path: Path
    run: Path
    created: bool
    history: dict[str, list[float]]
    completed_stages: int
    provenance: dict[str, Any]
    resumed: bool = False

    @property
    def backup(self) -> Path:
        return self.path / BACKUP

    def stage_dir(self, stage: int) -> Path:
        return self.backup / f"stage-{stage}"

    def callbacks(self, stage: int) -> list[Any]:
        """The callbacks that checkpoint every epoch of ``stage`` (put them after the one that
        fills :attr:`history`)."""
        return _callbacks(self, stage)

    def restore_weights(self, model: Any, stage: int) -> bool:
        """Before a resumed stage that has no checkpoint of its own, load the best weights so far.

        Call it under the strategy's scope. Returns whether weights were loaded.
        """
        best = self.path / "model.keras"
        if not self.resumed or self.stage_dir(stage).is_dir() or not best.is_file() or not self.history:
            return False
        import keras

        model.set_weights(keras.models.load_model(best, compile=False).get_weights())
        return True


def _callbacks(state: RunState, stage: int) -> list[Any]:
    import keras

    class StageBackup(keras.callbacks.BackupAndRestore):  # type: ignore[misc]
        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            # Keras never clears the epoch a previous fit() restored; this stage starts from
            # its own checkpoint, or from its first epoch.
            self.model._initial_epoch = None
            super().on_train_begin(logs)

    class StateRecorder(keras.callbacks.Callback):  # type: ignore[misc]
        def _write(self, completed: int) -> None:
            state.backup.mkdir(parents=True, exist_ok=True)
            rundir.write_json(state.backup / "state.json",
                              {"stage": stage, "completed_stages": completed, "history": state.history})

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._write(stage - 1)

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            self._write(stage)

    return [StateRecorder(), StageBackup(str(state.stage_dir(stage)), double_checkpoint=True)]


def _resume(path: Path, run: Path, worker: Worker, provenance: dict[str, Any],
            split: dict[str, Any]) -> RunState:
    recorded = check_resumable(run, provenance, split)
    if path != run:  # another worker: start from a copy of the chief's records and checkpoints
        shutil.copytree(run, path, dirs_exist_ok=True)
    saved = _read_json(path / BACKUP / "state.json", {})
    completed = int(saved.get("completed_stages", 0))
    stage = completed + 1
    epochs = int(_read_json(path / BACKUP / f"stage-{stage}" / "training_metadata.json", {}).get("epoch", 0))
    history = _truncate(saved.get("history", {}), stage, epochs)
    resumes = [*recorded.get("resumed", []), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())]
    prov = {**recorded, "command": provenance["command"], "versions": provenance["versions"],
            "strategy": provenance["strategy"], "resumed": resumes}
    rundir.write_json(path / "provenance.json", {**prov, "status": "training"})
    return RunState(path, run, False, history, completed, prov, resumed=True)


def _fresh(path: Path, run: Path, provenance: dict[str, Any], split: dict[str, Any],
           labels: tuple[str, ...]) -> RunState:
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(path / BACKUP, ignore_errors=True)  # a forced restart forgets the old checkpoints
    rundir.write_text(path / "labels.txt", "\n".join(labels) + "\n")
    rundir.write_json(path / "split.json", split)
    rundir.write_json(path / "provenance.json", {**provenance, "status": "training"})
    return RunState(path, run, created, {}, 0, provenance)


@contextlib.contextmanager
def open_run(out: str | Path, worker: Worker, provenance: dict[str, Any], split: dict[str, Any],
             labels: tuple[str, ...], resume: bool = False) -> Iterator[RunState]:
    """Prepare the run folder (this worker's view of it) for a fresh or resumed training.

    The chief writes ``out``; the other workers write to a temporary folder that is
    removed when the block ends. The checkpoints are removed when the block ends without
    an exception (the run is complete); any exception, Ctrl-C included, keeps them.

    Raises:
        ResumeRefused: ``resume`` and the run cannot continue (see :func:`check_resumable`).
    """
    with work_dir(out, worker) as (path, run):
        state = _resume(path, run, worker, provenance, split) if resume else \
            _fresh(path, run, provenance, split, labels)
        yield state
        shutil.rmtree(state.backup, ignore_errors=True)


def fit_guarded(state: RunState, worker: Worker, fit: Callable[[], Any]) -> tuple[Any, bool]:
    """``(fit(), False)``, or ``(None, True)`` after Ctrl-C (the records so far are kept).

    Cluster failures become one :class:`~.errors.ClusterError`; any other failure of a fresh run
    before its first checkpoint leaves nothing behind.
    """
    try:
        with cluster_errors(worker):
            return fit(), False
    except KeyboardInterrupt:
        return None, True
    except BaseException:
        if not (state.path / "model.keras").is_file() and not state.resumed:
            rundir.remove_artefacts(state.path, state.created)
        raise
