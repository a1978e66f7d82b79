"""Delegates and the cost of inference, measured side by side in one run.

1. ``--delegate none`` (built-in kernels) against ``xnnpack`` (the default) on MobileNetV2 1.0
   224 float32 and int8: p50 latency of :func:`edgekit._tools.bench.measure` (what ``edgekit
   bench``'s child runs), alternating the two in rounds so load from other processes hits both.
2. ``bench``'s throughput (every core busy: one single-threaded interpreter per core) against
   ``1000 / p50 × cores used`` from the same row: the two must agree within 10 %, or the
   throughput (and every energy figure derived from it) is not what the latency says.

Run with ``pytest --benchmarks tests/benchmarks/bench_delegates.py -s``.
"""

from __future__ import annotations

import statistics

import pytest
import zoo

from edgekit._tools.bench import BenchSpec, measure

ROUNDS = 6
THREADS = 2


def _p50(model: str, delegate: str) -> float:
    spec = BenchSpec(model, None, THREADS, runs=20, min_seconds=1.0, warmup_seconds=0.3,
                     delegate=delegate, throughput_seconds=0)
    return measure(spec)["latency_ms"]["p50"]


@pytest.mark.benchmark
@pytest.mark.parametrize("quant", ["float32", "int8"])
def test_delegate_none_against_xnnpack_on_mobilenet_v2(quant: str) -> None:
    model = str(zoo.mobilenet_v2(quant, size=224, alpha=1.0))
    xnn, none = [], []
    for i in range(ROUNDS):
        order = (("xnnpack", xnn), ("none", none)) if i % 2 == 0 else (("none", none), ("xnnpack", xnn))
        for delegate, out in order:
            out.append(_p50(model, delegate))
    ratios = [b / a for a, b in zip(xnn, none)]
    print(f"\nMobileNetV2 1.0 224 {quant}, {THREADS} threads, p50 ms over {ROUNDS} alternating rounds: "
          f"xnnpack {statistics.median(xnn):.2f}, none {statistics.median(none):.2f}; "
          f"none / xnnpack = {statistics.median(ratios):.2f}× (per round {min(ratios):.2f}..{max(ratios):.2f})")
    assert all(v > 0 for v in xnn + none)


@pytest.mark.benchmark
@pytest.mark.parametrize("quant", ["float32", "int8"])
def test_bench_throughput_agrees_with_its_own_latency(quant: str) -> None:
    model = str(zoo.mobilenet_v2(quant, size=224, alpha=1.0))
    rows = [measure(BenchSpec(model, None, 1, runs=30, min_seconds=2.0, warmup_seconds=0.5,
                              throughput_seconds=3.0)) for _ in range(3)]
    agreement = []
    for row in rows:
        rate = row["throughput"]
        implied = 1000.0 / row["latency_ms"]["p50"] * rate["cores_used"]
        agreement.append(rate["ips"] / implied)
        print(f"\nMobileNetV2 224 {quant}, 1 thread × {rate['interpreters']} interpreters: throughput "
              f"{rate['ips']:.1f}/s ({rate['per_core']:.1f} per core) vs 1000/p50 × {rate['cores_used']} = "
              f"{implied:.1f}/s → {rate['ips'] / implied:.3f}")
    middle = statistics.median(agreement)
    print(f"median agreement {middle:.3f} (goal 0.90..1.10)")
    assert 0.90 <= middle <= 1.10, f"throughput is {middle:.3f}× what the latency implies"
