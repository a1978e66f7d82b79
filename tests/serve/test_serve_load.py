"""`edgekit serve` under load from a separate process (tests/serve/loadgen.py), on loopback.

Scaled down from the issue's 60 s (the benchmark, tests/benchmarks/bench_serve.py,
runs the long version and reports the numbers): these check behaviour, not speed.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="edgekit serve needs the serve extra")
pytest.importorskip("httpx")

from serve_helpers import Cli, Running, load  # noqa: E402

import edgekit  # noqa: E402
from edgekit._serve.limits import ServeLimits  # noqa: E402


@pytest.mark.slow
def test_sustained_load_at_capacity_has_no_error_and_memory_stays_flat(jpegs: list[bytes], tmp_path: Path) -> None:
    import psutil

    server = Cli(["default", "--port", "0", "--replicas", "2"]).start()
    try:
        url = server.url + "/predict"
        process = psutil.Process(server.proc.pid)
        warm = load(url, jpegs[0], tmp_path, clients=2, duration=2)  # the capacity: 2 clients fill 2 replicas
        before = process.memory_info().rss
        steady = load(url, jpegs[1], tmp_path, clients=2, duration=10)
        bad = load(url, jpegs[2][: len(jpegs[2]) // 2], tmp_path, clients=2, duration=2)
        after = process.memory_info().rss
    finally:
        assert server.stop(signal.SIGTERM) == 0
    assert warm["status"].get("200", 0) > 0 and not warm["errors"]
    assert set(steady["status"]) == {"200"} and steady["status"]["200"] > 50 and not steady["errors"], steady
    assert set(bad["status"]) == {"400"} and not bad["errors"], bad
    grown = (after - before) / 1e6
    served = steady["status"]["200"] + bad["status"]["400"]
    assert grown < 15, f"RSS grew {grown:.1f} MB over {served} requests"


@pytest.mark.slow
def test_twice_the_capacity_gets_only_503s_beyond_it_and_the_accepted_wait_a_bounded_time(
        jpegs: list[bytes], tmp_path: Path) -> None:
    limits = ServeLimits(replicas=2, queue=4, timeout=10)
    capacity = limits.replicas + limits.queue  # type: ignore[operator]
    with edgekit.load(edgekit.default_model_path()) as model, Running(model, limits=limits) as running:
        result = load(running.url + "/predict", jpegs[0], tmp_path, clients=2 * capacity, duration=4)
        peak = running.server.pool.peak_admitted
    assert set(result["status"]) == {"200", "503"}, result
    assert result["503_without_retry_after"] == 0 and not result["errors"], result
    assert peak == capacity  # full, never more: an accepted image waits behind at most capacity - 1
    assert result["max_ms"] < limits.timeout * 1000  # no accepted request ran into its time limit
