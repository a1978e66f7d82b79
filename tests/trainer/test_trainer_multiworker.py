"""Multi-worker training with real worker processes on this host (loopback ports, bounded in time).

Two workers train the digits together while one process trains them alone (same data, seed and
options); a lone worker whose peer never comes up gives up after its join timeout. Then a run
whose chief is SIGKILLed mid-run is restarted on both workers with ``--resume`` and finishes.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
import workers
from trainer_folders import write_digit_folder

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.slow

ARTEFACTS = {"model.keras", "labels.txt", "history.json", "provenance.json", "split.json", "training.png"}
TINY = ["--model", "tiny", "--size", "32", "--channels", "1", "--no-flip", "--batch-size", "32"]
TIMEOUT = 420  # seconds for a whole training on a shared 2-core machine; the tests never wait longer


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digit_folder(tmp_path_factory.mktemp("mw") / "digits")


@pytest.fixture(scope="module")
def runs(digits: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two workers, one single process and one lone worker, all at once."""
    base = tmp_path_factory.mktemp("runs")
    ports, lone_ports = workers.free_ports(2), workers.free_ports(2)
    args = [str(digits), *TINY, "--epochs", "5"]
    pair = [workers.start([*args, "--out", str(base / "run2"), "--strategy", "multiworker"], base / f"w{i}",
                          ports, i) for i in range(2)]
    single = workers.start([*args, "--out", str(base / "run1")], base / "single")
    lone = workers.start([*args, "--out", str(base / "lone"), "--strategy", "multiworker", "--join-timeout", "5"],
                         base / "lone-w0", lone_ports, 0)
    codes = workers.wait([*pair, single, lone], TIMEOUT)
    return {"base": base, "pair": pair, "single": single, "lone": lone, "codes": codes, "ports": ports}


def _prov(run: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((run / "provenance.json").read_text())


def test_two_workers_complete_and_only_the_chief_writes_the_run(runs: dict) -> None:  # type: ignore[type-arg]
    chief, other = runs["pair"]
    assert runs["codes"][:2] == [0, 0], chief.stderr[-2000:] + other.stderr[-2000:]
    run = runs["base"] / "run2"
    assert {p.name for p in run.iterdir()} == ARTEFACTS  # no checkpoints left, nothing else
    prov = _prov(run)
    assert prov["status"] == "complete" and prov["strategy"] == {"name": "multiworker", "replicas": 2}
    for worker in (chief, other):  # the non-chief's temporary run folder is gone, nothing else was left
        assert list(worker.tmpdir.iterdir()) == []
    port = runs["ports"][0]
    assert f"worker 0 of 2 at 127.0.0.1:{port} (chief, writes the run folder); devices: CPU:0" in chief.stdout
    assert "images_per_s:" in chief.stdout
    assert other.stdout.strip().splitlines()[-1].endswith(f"the chief writes the run folder {run}")


def test_two_workers_reach_the_single_worker_accuracy_within_one_point(runs: dict) -> None:  # type: ignore[type-arg]
    assert runs["codes"][2] == 0, runs["single"].stderr[-2000:]
    alone, together = _prov(runs["base"] / "run1"), _prov(runs["base"] / "run2")
    assert alone["strategy"]["replicas"] == 1
    assert together["val_accuracy"] > 0.9
    assert abs(together["val_accuracy"] - alone["val_accuracy"]) <= 0.01, (together["val_accuracy"],
                                                                          alone["val_accuracy"])


def test_a_worker_whose_peer_never_comes_up_stops_after_the_join_timeout(runs: dict) -> None:  # type: ignore[type-arg]
    lone = runs["lone"]
    assert runs["codes"][3] == 8, lone.stderr[-2000:]
    assert re.fullmatch(r"ClusterError: worker 0 of 2 at 127\.0\.0\.1:\d+ \(chief, writes the run folder\): "
                        r"the cluster did not form within 5 s \(.*\); start every worker .*", lone.last_error_line)
    assert "Traceback" not in lone.stderr and not (runs["base"] / "lone").exists()


def _epochs_backed_up(run: Path) -> int:
    try:
        return int(json.loads((run / "backup" / "stage-1" / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def test_a_run_whose_chief_is_killed_resumes_on_both_workers_and_finishes(
        digits: Path, tmp_path: Path) -> None:
    run, ports = tmp_path / "run", workers.free_ports(2)
    first = [workers.start([str(digits), *TINY, "--epochs", "3", "--out", str(run), "--strategy", "multiworker"],
                           tmp_path / f"first-w{i}", ports, i) for i in range(2)]
    try:
        assert workers.wait_for(lambda: _epochs_backed_up(run) >= 1, TIMEOUT, first), first[0].stderr[-2000:]
        before = json.loads((run / "backup" / "state.json").read_text())["history"]
        os.killpg(first[0].proc.pid, signal.SIGKILL)  # the chief, which writes the run and its checkpoints
        codes = workers.wait(first, 120)
    finally:
        workers.stop(first)
    assert codes[1] == 8, first[1].stderr[-2000:]  # the survivor stops with one line, no hang
    assert first[1].last_error_line.startswith("ClusterError: worker 1 of 2 at 127.0.0.1:")
    assert re.search(r"lost contact with (worker 0 at 127\.0\.0\.1:\d+|the other workers) \(",
                     first[1].last_error_line)  # TensorFlow does not always say which peer went
    assert f"(on every worker: edgekit train --resume {run})" in first[1].last_error_line
    assert _prov(run)["status"] == "training"

    ports = workers.free_ports(2)
    again = [workers.start(["--resume", str(run)], tmp_path / f"again-w{i}", ports, i) for i in range(2)]
    codes = workers.wait(again, TIMEOUT)
    assert codes == [0, 0], again[0].stderr[-2000:] + again[1].stderr[-2000:]
    resumed_at = int(re.search(r"Epoch (\d+)/3", again[0].stdout).group(1))  # type: ignore[union-attr]
    assert resumed_at >= 2  # from the checkpoint, not from the first epoch
    history = json.loads((run / "history.json").read_text())
    assert len(history["val_loss"]) == 3 and history["val_loss"][:1] == before["val_loss"][:1]
    prov = _prov(run)
    assert prov["status"] == "complete" and len(prov["resumed"]) == 1
    assert {p.name for p in run.iterdir()} == ARTEFACTS
