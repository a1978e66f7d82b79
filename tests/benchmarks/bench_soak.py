"""10-minute soak of ``edgekit run`` on the demo source: RSS slope, fds, threads.

Run with ``pytest --benchmarks tests/benchmarks/bench_soak.py -s``. Prints the
RSS slope (Theil–Sen) after a 2-minute warm-up for the default run and for a
run capped at 10 inferences/s, side by side, and checks the issue's bound:
less than 1 MB per 10 minutes, fds and threads constant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hardening"))

import hardening_soak as hs

SOAK_S = 600.0
WARMUP_S = 120.0
LIMIT_MB_PER_10_MIN = 1.0


@pytest.mark.benchmark
@pytest.mark.timeout(SOAK_S * 2 + 300)
def test_soak_10_minutes_rss_slope_under_1mb_per_10_minutes() -> None:
    from concurrent.futures import ThreadPoolExecutor

    variants = {"default (30 FPS demo)": (), "--max-fps 10": ("--max-fps", "10")}
    with ThreadPoolExecutor(len(variants)) as pool:  # side by side, in the same 10 minutes
        futures = {name: pool.submit(hs.soak, SOAK_S, WARMUP_S, 2.0, extra)
                   for name, extra in variants.items()}
        runs = {name: future.result() for name, future in futures.items()}
    print("\n| run | RSS slope MB/10 min | RSS after warm-up MB | fds | threads |")
    print("|---|---|---|---|---|")
    for name, report in runs.items():
        tail = report.after_warmup()
        rss = [s.rss / 1e6 for s in tail]
        print(f"| {name} | {report.mb_per_10_min:+.3f} | {min(rss):.1f}-{max(rss):.1f} | "
              f"{sorted({s.fds for s in tail})} | {sorted({s.threads for s in tail})} |")
    ratio = runs["default (30 FPS demo)"].slope_bytes_per_s / max(runs["--max-fps 10"].slope_bytes_per_s, 1e-9)
    print(f"slope ratio 30 FPS / 10 FPS: {ratio:.2f} (a per-frame leak would show ~3)")
    for report in runs.values():
        tail = report.after_warmup()
        assert report.returncode == 0, report.summary
        assert len({s.fds for s in tail}) == 1 and len({s.threads for s in tail}) == 1
        assert report.mb_per_10_min < LIMIT_MB_PER_10_MIN, report.line()


@pytest.mark.benchmark
def test_structural_check_costs_a_small_fraction_of_a_load() -> None:
    """check_model time vs a full edgekit.load of the same bytes, side by side."""
    import time

    import zoo

    import edgekit
    from edgekit._modelfile.validate import check_model

    models = {
        "digits uint8": zoo.digits_classifier("uint8"),
        "mobilenet_v2 96 int8": zoo.mobilenet_v2("int8"),
        "mobilenet_v2 224 float32": zoo.mobilenet_v2("float32", size=224, alpha=1.0),
        "mobilenet_v3_small 224": zoo.mobilenet_v3_small("float32", size=224, classes=1000),
    }
    print("\n| model | MB | check_model ms | load ms | check / load |")
    print("|---|---|---|---|---|")
    for name, path in models.items():
        data = path.read_bytes()
        check_model(data, name)  # warm the schema tables
        checks, loads = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            check_model(data, name)
            t1 = time.perf_counter()
            edgekit.load(data, threads=1).close()
            t2 = time.perf_counter()
            checks.append(t1 - t0)
            loads.append(t2 - t1)
        check_ms, load_ms = min(checks) * 1e3, min(loads) * 1e3
        print(f"| {name} | {len(data) / 1e6:.1f} | {check_ms:.2f} | {load_ms:.1f} | "
              f"{check_ms / load_ms:.3f} |")
        assert check_ms < 100
