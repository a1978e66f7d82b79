"""`edgekit bench`: the measurement loop, the --json schema, backends in child processes,
--save/--compare. No timing assertions here (speed lives in tests/benchmarks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zoo
from testkit import needs_tensorflow

from edgekit._tools import bench, bench_report
from edgekit.errors import ConfigError

QUICK = ["--runs", "5", "--min-seconds", "0", "--warmup-seconds", "0"]


def _edgekit(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "edgekit"), *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_latency_stats_from_known_samples() -> None:
    stats = bench.LatencyStats.from_samples([float(v) for v in range(1, 101)])
    assert (stats.count, stats.min, stats.max) == (100, 1.0, 100.0)
    assert stats.p50 == pytest.approx(50.5) and stats.p90 == pytest.approx(90.1)
    assert stats.p99 == pytest.approx(99.01) and stats.mean == pytest.approx(50.5)
    assert stats.std == pytest.approx(28.866, abs=1e-3)
    with pytest.raises(ConfigError, match="no latency samples"):
        bench.LatencyStats.from_samples([])


def test_loop_runs_at_least_the_asked_runs_and_duration() -> None:
    calls: list[int] = []
    samples, _ = bench._loop(lambda: calls.append(1), runs=50, min_s=0.0, max_s=60)
    assert len(samples) == len(calls) == 50
    samples, seconds = bench._loop(lambda: None, runs=1, min_s=0.05, max_s=60)
    assert seconds >= 0.05 and len(samples) > 1


def test_loop_stops_at_max_seconds() -> None:
    samples, _ = bench._loop(lambda: None, runs=10**9, min_s=0.0, max_s=0.02)
    assert 0 < len(samples) < 10**9


@pytest.mark.parametrize("quant", ["float32", "float16", "dynamic", "int8", "uint8"])
def test_model_precision_recognises_each_quantization(quant: str) -> None:
    data = zoo.mobilenet_v2(quant).read_bytes()
    expected = "int8" if quant == "uint8" else quant  # uint8 I/O, int8 inside
    assert bench.model_precision(data) == expected


def test_memory_is_read_from_proc() -> None:
    mem = bench.memory_mb()
    assert mem["rss"] and mem["peak"] and mem["peak"] >= mem["rss"] > 1


def _check_row(row: dict[str, Any], threads: int) -> None:
    assert row.get("error") is None, row
    assert row["threads"] == threads and row["backend"] == "litert" and row["backend_version"]
    assert row["init_ms"] > 0 and row["first_ms"] > 0 and row["warmup"]["runs"] >= 1
    assert row["runs"] >= 5 and row["seconds"] > 0
    lat = row["latency_ms"]
    assert set(lat) == {"count", "min", "p50", "p90", "p99", "max", "mean", "std"}
    assert lat["count"] == row["runs"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    rss = row["rss_mb"]
    assert 0 < rss["baseline"] <= rss["init"] <= rss["peak"]
    assert set(row["thermal"]) == {"before", "after"}
    assert row["input"][0]["shape"] == [1, 96, 96, 3]


def test_bench_json_schema_with_a_thread_sweep_and_two_models() -> None:
    models = [str(zoo.mobilenet_v2("float32")), str(zoo.mobilenet_v2("int8"))]
    proc = _edgekit("bench", *models, "--threads", "1,2", "--json", *QUICK)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["schema"] == "edgekit.bench/1" and report["created"] > 0
    env = report["env"]
    assert {"device", "host", "python", "numpy", "edgekit", "backends", "thermal", "cpu_count"} <= set(env)
    assert env["device"]["name"] and "litert" in env["backends"]
    rows = report["results"]
    assert [(r["name"], r["threads"]) for r in rows] == [
        (Path(models[0]).name, 1), (Path(models[0]).name, 2), (Path(models[1]).name, 1), (Path(models[1]).name, 2)]
    assert [r["precision"] for r in rows] == ["float32", "float32", "int8", "int8"]
    for row in rows:
        _check_row(row, row["threads"])


def test_bench_text_table_and_weights_only_int8_line_print_only_what_was_measured() -> None:
    import re

    models = [str(zoo.mobilenet_v2("float32")), str(zoo.mobilenet_v2("dynamic"))]
    proc = _edgekit("bench", *models, "--threads", "1", *QUICK)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "p50" in out and "p99" in out and "RSS init/peak MB" in out
    assert out.count("weights-only int8") == 1  # only the dynamic model is flagged
    assert "2-20" not in out and "XNNPACK" not in out  # no claim the run did not measure
    p50 = {Path(m).name: float(line.split()[7]) for m in models for line in out.splitlines()
           if line.startswith(Path(m).name)}
    said = re.search(r"p50 is ([0-9.]+)× its float32 variant's here", out)
    assert said is not None
    dynamic, float32 = (Path(m).name for m in reversed(models))
    # the table rounds p50 to 0.01 ms and the line the ratio to 0.01: the ratio the table allows
    low = (p50[dynamic] - 0.005) / (p50[float32] + 0.005) - 0.005
    high = (p50[dynamic] + 0.005) / (p50[float32] - 0.005) + 0.005
    assert low <= float(said.group(1)) <= high


def test_a_weights_only_int8_model_benched_alone_gets_no_ratio() -> None:
    proc = _edgekit("bench", str(zoo.mobilenet_v2("dynamic")), "--threads", "1", *QUICK)
    assert proc.returncode == 0, proc.stderr
    assert "weights-only int8" in proc.stdout and "bench its float32 variant beside it" in proc.stdout
    assert "×" not in proc.stdout.split("weights-only int8")[1]


@needs_tensorflow
@pytest.mark.slow  # a child imports TensorFlow
def test_backends_are_compared_in_child_processes_and_tensorflow_stays_out() -> None:
    code = (
        "import sys, json\n"
        "from edgekit._tools.bench import BenchSpec, run_bench\n"
        f"specs = [BenchSpec({str(zoo.mobilenet_v2('float32'))!r}, b, 1, 3, 0.0, 0.0) for b in ('litert', 'tensorflow')]\n"
        "report = run_bench(specs)\n"
        "print(json.dumps({'tf': 'tensorflow' in sys.modules,\n"
        "                  'rows': [(r.get('backend'), r.get('error')) for r in report['results']]}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tf"] is False
    assert out["rows"] == [["litert", None], ["tensorflow", None]]


def test_a_file_that_is_not_a_model_is_model_invalid_like_every_command(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("shopping list\n")
    proc = _edgekit("bench", str(bad), "--threads", "1", *QUICK)
    assert proc.returncode == 4
    assert proc.stderr.strip().splitlines() == [(f"ModelInvalid: {bad}: not a TFLite model (file identifier "
                                                 "b'ping', expected b'TFL3')")]
    assert proc.stdout == "", "no empty table"


def test_a_configuration_that_fails_in_its_process_is_an_error_row_and_exit_1(tmp_path: Path) -> None:
    proc = _edgekit("bench", "default", "--backend", "nosuch", "--threads", "1", "--json", *QUICK)
    assert proc.returncode == 1
    row = json.loads(proc.stdout)["results"][0]
    assert row["error"].startswith("ConfigError: backend 'nosuch' is not one of")


@pytest.mark.parametrize("model", ["/nonexistent/model.tflite", "nosuchdir/"])
def test_a_missing_model_is_model_not_found_like_every_command(model: str) -> None:
    proc = _edgekit("bench", model)
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines() == [f"ModelNotFound: {model}: no such file"]


def test_bench_default_measures_the_bundled_model() -> None:
    proc = _edgekit("bench", "default", "--threads", "1", "--json", *QUICK)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["name"] == "digits_int8.tflite"


def _report(p50: dict[str, float], **env: Any) -> dict[str, Any]:
    rows = [{"name": name, "backend": "litert", "threads": 2, "init_ms": 10.0,
             "latency_ms": {"p50": value}, "rss_mb": {"peak": 100.0}} for name, value in p50.items()]
    return {"schema": bench.SCHEMA, "created": 1.0, "env": {"device": {"name": "rpi-4b"}, **env},
            "results": rows}


def test_compare_reports_ratios_verdicts_missing_rows_and_environment_changes() -> None:
    saved = _report({"a.tflite": 10.0, "b.tflite": 10.0, "gone.tflite": 3.0}, numpy="1.26.4")
    now = _report({"a.tflite": 20.0, "b.tflite": 9.0, "new.tflite": 1.0}, numpy="2.4.0")
    result = bench_report.compare(now, saved)
    rows = {r["key"]: r for r in result["rows"]}
    a = rows["a.tflite|litert|2"]
    assert a["p50_ms"] == {"now": 20.0, "saved": 10.0, "ratio": 2.0} and a["verdict"] == "slower"
    assert rows["b.tflite|litert|2"]["p50_ms"]["ratio"] == 0.9 and rows["b.tflite|litert|2"]["verdict"] == "faster"
    assert rows["new.tflite|litert|2"]["status"] == "new"
    assert result["missing"] == ["gone.tflite|litert|2"]
    assert result["env_changed"]["numpy"] == {"saved": "1.26.4", "now": "2.4.0"}
    text = bench_report.render_compare(result)
    assert "2.000×  slower" in text and "not measured now" in text and "numpy: 1.26.4 → 2.4.0" in text


def test_compare_refuses_a_file_that_is_not_a_bench_report() -> None:
    with pytest.raises(ConfigError, match="not an edgekit.bench/1 report"):
        bench_report.compare(_report({}), {"schema": "something/else"})


def test_save_then_compare_through_the_cli(tmp_path: Path) -> None:
    model = str(zoo.mobilenet_v2("int8"))
    saved = tmp_path / "pi.json"
    first = _edgekit("bench", model, "--threads", "1", "--save", str(saved), *QUICK)
    assert first.returncode == 0, first.stderr
    assert json.loads(saved.read_text())["schema"] == "edgekit.bench/1"
    second = _edgekit("bench", model, "--threads", "1", "--compare", str(saved), "--json", *QUICK)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    row = report["compare"]["rows"][0]
    assert row["status"] == "compared" and row["key"] == f"{Path(model).name}|litert|1"
    assert row["p50_ms"]["ratio"] == pytest.approx(row["p50_ms"]["now"] / row["p50_ms"]["saved"], rel=1e-3)
    text = _edgekit("bench", model, "--threads", "1", "--compare", str(saved), *QUICK)
    assert "compare" in text.stdout and "×" in text.stdout


def test_device_option_picks_the_variant_and_threads(tmp_path: Path) -> None:
    run = tmp_path / "RUN"
    run.mkdir()
    for quant in ("float32", "int8"):
        (run / f"digits_{quant}.tflite").write_bytes(zoo.mobilenet_v2(quant).read_bytes())
    proc = _edgekit("bench", str(run), "--device", "rpi-4b", "--json", *QUICK)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["results"]
    assert [(r["name"], r["threads"]) for r in rows] == [("digits_int8.tflite", 4)]


def test_pipeline_numbers_through_the_demo_source() -> None:
    model = str(zoo.digits_classifier("int8"))
    proc = _edgekit("bench", model, "--threads", "1", "--pipeline-seconds", "1.5", "--json", *QUICK,
                    "--pipeline")
    assert proc.returncode == 0, proc.stderr
    pipe = json.loads(proc.stdout)["results"][0]["pipeline"]
    assert pipe["source"] == "demo" and pipe["inferred"] > 0 and pipe["fps"] > 0
    assert pipe["frames"] >= pipe["inferred"] and pipe["dropped"] >= 0
    assert 0 <= pipe["age_ms"]["p50"] <= pipe["age_ms"]["p95"]
    assert 0 < pipe["total_ms"]["p50"] <= pipe["total_ms"]["p95"]


def test_text_report_shows_temperature_and_throttling() -> None:
    row = {"name": "m_int8.tflite", "precision": "int8", "backend": "litert", "threads": 4, "init_ms": 80.0,
           "first_ms": 30.0, "runs": 50, "warnings": [],
           "latency_ms": {"count": 50, "min": 20.0, "p50": 21.0, "p90": 22.0, "p99": 25.0, "max": 26.0,
                          "mean": 21.2, "std": 0.9},
           "rss_mb": {"baseline": 40.0, "init": 60.0, "peak": 64.0},
           "thermal": {"before": {"temp_c": 70.0}, "after": {"temp_c": 81.5, "throttled": ["throttled"]}}}
    report = {"schema": bench.SCHEMA, "created": 1.0, "results": [row],
              "env": {"device": {"name": "rpi-4b", "title": "Raspberry Pi 4 Model B", "detected": True},
                      "cpu_count": 4, "host": {"cpu": ""}, "machine": "aarch64", "edgekit": "0.1.0",
                      "python": "3.11.2", "numpy": "2.2.0", "backends": {"litert": "2.3.0"},
                      "thermal": {"temp_c": 70.0, "throttled": ["soft-temperature-limit-occurred"]}}}
    text = bench_report.render(report)
    assert "Raspberry Pi 4 Model B (rpi-4b)" in text and "not detected" not in text
    assert "thermal  70.0 °C, throttled: soft-temperature-limit-occurred" in text
    table_row = next(line for line in text.splitlines() if line.startswith("m_int8.tflite"))
    assert "21.00" in table_row and "60/64" in table_row and table_row.rstrip().endswith("82 throttled")
