"""Trainer benchmark: time to train + export the digits model, and what each quantization costs.

Run with ``pytest --benchmarks tests/benchmarks/bench_trainer.py -s``. Latencies of
the four variants are measured side by side (interleaved rounds) through the
edgekit runtime, so machine load affects them alike.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trainer"))

pytestmark = pytest.mark.benchmark
GOALS = {"int8": (0.29, 1.0), "float16": (0.53, 0.1)}  # size ratio, accuracy points


def _interleaved_latency(paths: dict[str, Path], frames: list[np.ndarray], rounds: int = 5) -> dict[str, float]:
    import edgekit

    models = {v: edgekit.load(p) for v, p in paths.items()}
    times: dict[str, list[float]] = {v: [] for v in paths}
    for _ in range(rounds):
        for variant, model in models.items():
            for frame in frames:
                t0 = time.perf_counter()
                model.predict(frame)
                times[variant].append((time.perf_counter() - t0) * 1e3)
    for model in models.values():
        model.close()
    return {v: float(np.median(t)) for v, t in times.items()}


def test_bench_digits_train_export_and_quantization_costs(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from edgekit_trainer import ExportConfig, TrainConfig, export, train
    from edgekit_trainer.parity import as_bgr
    from trainer_folders import write_digit_folder

    data = write_digit_folder(tmp_path / "digits")
    t0 = time.perf_counter()
    result = train(TrainConfig(str(data), str(tmp_path / "run"), model="tiny", size=32, channels=1, flip=False,
                               epochs=12, patience=3, verbose=0))
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    models = export(ExportConfig(str(result.run), quantize="all"))
    t_export = time.perf_counter() - t0
    by = {m.quantize: m for m in models}
    from edgekit_trainer.data import read_split
    from edgekit_trainer.rundir import open_run

    run = open_run(result.run)
    frames = [as_bgr(x) for x in read_split(run.split["root"], run.labels, run.split["val"][:100], run.spec).x]
    latency = _interleaved_latency({v: m.path for v, m in by.items()}, frames)
    base = by["float32"]
    from edgekit._modelfile.reader import read_file_info

    meta = {v: len(read_file_info(m.path.read_bytes()).metadata["edgekit"]) for v, m in by.items()}
    bare = {v: m.size - meta[v] for v, m in by.items()}  # the model without its edgekit JSON
    print(f"\n\ndigits, tiny backbone, {len(base.parity.per_class_delta)} classes, "
          f"{base.parity.samples} validation images, {result.epochs} epochs")
    print(f"train {t_train:.1f} s + export (4 variants, parity-checked) {t_export:.1f} s "
          f"= {t_train + t_export:.1f} s on this machine")
    print(f"{'variant':<8} {'size KB':>8} {'size/f32':>9} {'acc %':>7} {'d pts':>7} {'agree %':>8} "
          f"{'p50 ms':>7} {'lat/f32':>8} {'bare/f32':>9}  goal")
    for variant in ("float32", "float16", "dynamic", "int8"):
        m = by[variant]
        size_ratio = m.size / base.size
        delta = -m.parity.drop_points
        goal = ""
        if variant in GOALS:
            max_ratio, max_drop = GOALS[variant]
            ok = size_ratio <= max_ratio and abs(delta) <= max_drop
            ok_bare = bare[variant] / bare["float32"] <= max_ratio and abs(delta) <= max_drop
            goal = (f"size <= {max_ratio}x, |d| <= {max_drop}: {'met' if ok else 'MISSED'}"
                    f" ({'met' if ok_bare else 'missed'} without the metadata)")
        print(f"{variant:<8} {m.size / 1024:>8.1f} {size_ratio:>9.3f} {m.parity.quant_accuracy * 100:>7.2f} "
              f"{delta:>+7.2f} {m.parity.agreement * 100:>8.2f} {latency[variant]:>7.3f} "
              f"{latency[variant] / latency['float32']:>8.2f} {bare[variant] / bare['float32']:>9.3f}  {goal}")
    print(f"(edgekit metadata: {meta['int8'] / 1024:.1f} KB per file)")
    assert result.val_accuracy >= 0.96


def test_bench_mobilenet_latency_ratios_through_the_runtime() -> None:
    """MobileNetV2 (96 px, alpha 0.35): where dynamic-range quantization hurts on x86."""
    pytest.importorskip("tensorflow")
    import zoo

    paths = {q: zoo.mobilenet_v2(q) for q in ("float32", "float16", "dynamic", "uint8")}
    frames = [cv for cv in zoo.skimage_photos()[:4]]
    latency = _interleaved_latency(paths, frames, rounds=10)
    print("\n\nMobileNetV2 96 px alpha 0.35, median predict latency through the edgekit runtime")
    for q, value in latency.items():
        size = paths[q].stat().st_size / paths["float32"].stat().st_size
        print(f"{q:<8} {value:>8.3f} ms  {value / latency['float32']:>6.2f}x float32  size {size:.3f}x")
