"""Detector training across two real worker processes on this host, and a killed detector run resumed.

Same data, seed and options everywhere (a tiny detector, 3 epochs: the plumbing is under test). The
pair must agree with each other epoch by epoch (same weights, so the same validation mAP and the same
early-stopping decision), log the loss a single process logs for the same first epoch, and leave only
the chief's run folder. A single process SIGKILLed after its first checkpointed epoch continues with
``edgekit train --resume RUN`` from that epoch and finishes.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import detect_scenes
import pytest
import workers

pytest.importorskip("tensorflow")
pytest.importorskip("pycocotools")
pytestmark = pytest.mark.slow

ARTEFACTS = {"model.keras", "labels.txt", "history.json", "provenance.json", "split.json", "training.png"}
TRAIN = ["--task", "detect", "--model", "tiny", "--size", "96", "--width", "16", "--epochs", "3",
         "--batch-size", "8", "--warmup-epochs", "1", "--no-flip"]
TIMEOUT = 420  # seconds for a whole training on a shared 2-core machine; the tests never wait longer
EPOCH_LINE = re.compile(r"- loss: ([0-9.e+-]+) - images_per_s: [0-9.e+-]+ - val_map50: ([0-9.e+-]+) "
                        r"- val_map: ([0-9.e+-]+)")


def _epochs_backed_up(run: Path) -> int:
    """Epochs both checkpointed and recorded (the checkpoint is written first)."""
    try:
        saved = int(json.loads((run / "backup" / "stage-1" / "training_metadata.json").read_text())["epoch"])
        recorded = len(json.loads((run / "backup" / "state.json").read_text())["history"]["loss"])
    except (OSError, ValueError, KeyError):
        return 0
    return min(saved, recorded)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A pair of workers and, at the same time, a single process that is killed after one epoch."""
    base = tmp_path_factory.mktemp("detect-mw")
    data = detect_scenes.write_yolo(base / "scenes", train=24, val=8, test=0, seed=3)
    ports = workers.free_ports(2)
    pair = [workers.start([str(data), *TRAIN, "--out", str(base / "pair"), "--strategy", "multiworker"],
                          base / f"w{i}", ports, i) for i in range(2)]
    single = workers.start([str(data), *TRAIN, "--out", str(base / "single")], base / "single-first")
    again = None
    try:
        backed_up = workers.wait_for(lambda: _epochs_backed_up(base / "single") >= 1, TIMEOUT, [single])
        before = json.loads((base / "single" / "backup" / "state.json").read_text())["history"] if backed_up else {}
        os.killpg(single.proc.pid, signal.SIGKILL)
        single.proc.wait()
        again = workers.start(["--resume", str(base / "single")], base / "single-again")  # while the pair trains
        *codes, resumed = workers.wait([*pair, again], TIMEOUT)
    finally:
        workers.stop([*pair, single, *([again] if again else [])])
    return {"base": base, "pair": pair, "codes": codes, "ports": ports, "backed_up": backed_up,
            "before": before, "again": again, "resumed": resumed}


def _epochs(stdout: str) -> list[tuple[float, float, float]]:
    return [tuple(map(float, m.groups())) for m in EPOCH_LINE.finditer(stdout)]  # type: ignore[misc]


def test_two_detector_workers_complete_and_only_the_chief_writes_the_run(runs: dict) -> None:  # type: ignore[type-arg]
    chief, other = runs["pair"]
    assert runs["codes"] == [0, 0], chief.stderr[-2000:] + other.stderr[-2000:]
    run = runs["base"] / "pair"
    assert {p.name for p in run.iterdir()} == ARTEFACTS  # no checkpoints left, nothing else
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["task"] == "detect" and prov["status"] == "complete"
    assert prov["strategy"] == {"name": "multiworker", "replicas": 2}
    for worker in (chief, other):  # the non-chief's temporary run folder is gone, nothing else was left
        assert list(worker.tmpdir.iterdir()) == []
    assert f"worker 0 of 2 at 127.0.0.1:{runs['ports'][0]} (chief, writes the run folder)" in chief.stdout
    assert other.stdout.strip().splitlines()[-1].endswith(f"the chief writes the run folder {run}")
    assert "Traceback" not in chief.stderr + other.stderr


def test_detector_workers_agree_every_epoch_and_log_the_single_process_loss(
        runs: dict) -> None:  # type: ignore[type-arg]
    chief, other = runs["pair"]
    ours, theirs = _epochs(chief.stdout), _epochs(other.stdout)
    assert len(ours) == 3 and ours == theirs  # same weights and batch-norm statistics: same mAP, same stop
    history = json.loads((runs["base"] / "pair" / "history.json").read_text())
    assert history["val_map50"] == pytest.approx([e[1] for e in ours], rel=1e-3, abs=1e-5)
    assert runs["backed_up"], "the single process never finished its first epoch"
    alone = runs["before"]["loss"][0]  # same data, seed and options on one process
    assert abs(ours[0][0] - alone) <= 0.25 * alone, (ours[0][0], alone)  # a loss counted per worker doubles


def test_a_killed_detector_run_resumes_from_its_checkpoint_and_finishes(runs: dict) -> None:  # type: ignore[type-arg]
    again, run = runs["again"], runs["base"] / "single"
    assert runs["resumed"] == 0, again.stderr[-3000:]
    first_epoch = int(re.search(r"Epoch (\d+)/3", again.stdout).group(1))  # type: ignore[union-attr]
    assert first_epoch >= 2 and "warm-up" not in again.stdout  # from the checkpoint, past the warm-up
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 3 and history["loss"][:1] == runs["before"]["loss"][:1]
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["status"] == "complete" and len(prov["resumed"]) == 1 and prov["epochs"] == 3
    assert {p.name for p in run.iterdir()} == ARTEFACTS
    assert "validation mAP@0.5" in again.stdout and f"run folder: {run}" in again.stdout
