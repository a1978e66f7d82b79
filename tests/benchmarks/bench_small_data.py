"""Small real datasets (100–300 training images): the network against HOG + logistic regression.

Run with ``pytest --benchmarks tests/benchmarks/bench_small_data.py -s``. For each dataset
(built from real images scikit-image and scikit-learn ship, see ``tests/trainer/small_datasets.py``):
``train`` with the small default backbone (``tiny``, no pretrained weights), ``export --quantize
int8``, then on the held-out ``test`` folder: the Keras float model, the int8 file through the
edgekit runtime (``edgekit.evaluate``, as on a device) and the baseline fitted on the very same
training split. Goal: int8 ≥ baseline − 2 points on every dataset, train + export ≤ 2 min.

Wall time depends on what else the machine runs; the process's CPU time (all threads) is printed
next to it: on an otherwise idle machine train + export takes at most that long (less when its
threads share the cores well), so the time goal is checked on CPU time.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trainer"))

pytestmark = pytest.mark.benchmark

# name -> (builder, train options a user would pick for such images)
CASES: dict[str, dict[str, Any]] = {
    "photos (cat/coffee)": {"size": 48},
    "textures (brick/grass/gravel)": {"size": 48},
    "faces (lfw subset)": {"size": 32},
    "digits (25 per class)": {"size": 32, "channels": 1, "flip": False},
}
GOAL_POINTS = 2.0
GOAL_SECONDS = 120.0


def _held_out(test: Path, spec: Any) -> tuple[np.ndarray, np.ndarray]:
    from edgekit_trainer.data import decode, scan

    _, per_split, _ = scan(test)
    split, _ = decode(test.resolve(), per_split["all"], spec)
    return split.x, split.y


def _one(name: str, options: dict[str, Any], base: Path) -> dict[str, Any]:
    import keras
    from edgekit_trainer import ExportConfig, TrainConfig, export, train
    from edgekit_trainer.baseline import Baseline
    from edgekit_trainer.data import read_split
    from edgekit_trainer.rundir import open_run
    from small_datasets import BUILDERS

    import edgekit

    train_dir, test_dir = BUILDERS[name](base / "data")
    wall, cpu = time.perf_counter(), time.process_time()
    result = train(TrainConfig(str(train_dir), str(base / "run"), model="tiny", verbose=0, **options))
    (model,) = export(ExportConfig(str(result.run), quantize="int8"))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    run = open_run(result.run)
    x_test, y_test = _held_out(test_dir, run.spec)
    float_acc = float((keras.models.load_model(run.model_path).predict(x_test.astype(np.float32), verbose=0)
                       .argmax(1) == y_test).mean())
    int8 = edgekit.evaluate(model.path, test_dir)
    trained_on = read_split(run.split["root"], run.labels, run.split["train"], run.spec)
    baseline = Baseline().fit(trained_on.x, trained_on.y)
    base_acc = float((baseline.predict(x_test) == y_test).mean())
    return {"name": name, "classes": len(run.labels), "train": len(trained_on), "test": len(y_test),
            "float": float_acc, "int8": int8.accuracy, "baseline": base_acc,
            "majority": int8.majority_rate, "epochs": result.epochs, "wall": wall, "cpu": cpu}


def test_bench_small_real_datasets_int8_against_the_hog_baseline(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("skimage")
    cores = len(os.sched_getaffinity(0))
    rows = [_one(name, options, tmp_path / f"case{i}") for i, (name, options) in enumerate(CASES.items())]
    print(f"\n\nsmall real datasets, tiny backbone, no pretrained weights; held-out accuracy; "
          f"load average {os.getloadavg()[0]:.1f} on {cores} cores")
    print(f"{'dataset':<30} {'k':>2} {'train':>5} {'test':>4} {'float %':>7} {'int8 %':>7} {'HOG+LR %':>8} "
          f"{'major %':>7} {'int8-HOG':>8} {'epochs':>6} {'wall s':>6} {'cpu s':>6}  goal")
    for r in rows:
        delta = (r["int8"] - r["baseline"]) * 100
        ok = delta >= -GOAL_POINTS and r["cpu"] <= GOAL_SECONDS
        print(f"{r['name']:<30} {r['classes']:>2} {r['train']:>5} {r['test']:>4} {r['float'] * 100:>7.1f} "
              f"{r['int8'] * 100:>7.1f} {r['baseline'] * 100:>8.1f} {r['majority'] * 100:>7.1f} {delta:>+8.1f} "
              f"{r['epochs']:>6} {r['wall']:>6.0f} {r['cpu']:>6.0f}  {'met' if ok else 'MISSED'}")
    print(f"goal: int8 >= HOG+LR - {GOAL_POINTS:g} points, train + export <= {GOAL_SECONDS:.0f} s of CPU time "
          "(wall time is longer while other jobs share the machine)")
    for r in rows:
        assert r["int8"] >= r["baseline"] - GOAL_POINTS / 100, r
