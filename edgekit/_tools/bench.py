"""``edgekit bench``: how fast a model runs here, in the spirit of TF's ``benchmark_model``.

Each configuration (model × backend × threads, optionally end-to-end through a
source) is measured in its own child process (``python -m edgekit._tools.bench SPEC``):
memory numbers are per configuration, a native crash is one failed row, and
TensorFlow (``--backend tensorflow``) never enters the calling process.

A measurement: init (load + allocate), first inference, warm-up (≥ 1 run and
``warmup_seconds``), then ≥ ``runs`` runs and ≥ ``min_seconds`` (capped at
``max_seconds``), timing nothing but :meth:`edgekit.Model.invoke` on random inputs. The tables
and ``--compare`` live in :mod:`edgekit._tools.bench_report`.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["SCHEMA", "BenchSpec", "LatencyStats", "add_energy", "environment", "measure",
           "model_precision", "run_bench", "run_child", "throughput"]

SCHEMA = "edgekit.bench/1"
@dataclass(frozen=True, slots=True)
class BenchSpec:
    """One configuration to measure (sent to the child process as JSON)."""

    model: str
    backend: str | None = None
    threads: int | None = None
    runs: int = 50
    min_seconds: float = 1.0
    warmup_seconds: float = 0.5
    max_seconds: float = 150.0
    pipeline: str | None = None
    pipeline_seconds: float = 5.0
    delegate: str | None = None
    throughput_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Latency distribution in milliseconds."""

    count: int
    min: float
    p50: float
    p90: float
    p99: float
    max: float
    mean: float
    std: float

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float]) -> LatencyStats:
        import numpy as np

        if not len(samples_ms):
            raise ConfigError("no latency samples")
        a = np.asarray(samples_ms, dtype=np.float64)
        p50, p90, p99 = np.percentile(a, [50, 90, 99])
        return cls(int(a.size), float(a.min()), float(p50), float(p90), float(p99), float(a.max()),
                   float(a.mean()), float(a.std()))

    def to_dict(self) -> dict[str, float]:
        return {k: (v if k == "count" else round(v, 4)) for k, v in asdict(self).items()}


# -- what is measured, in the child ------------------------------------------------------
def memory_mb() -> dict[str, float | None]:
    """Resident set size now and its peak (``VmRSS``/``VmHWM``), in MiB."""
    out: dict[str, float | None] = {"rss": None, "peak": None}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out["rss" if key == "VmRSS" else "peak"] = round(int(value.split()[0]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    if out["peak"] is None:  # ru_maxrss is in KiB on Linux
        out["peak"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def model_precision(data: bytes) -> str:
    """``float32 | float16 | dynamic | int8 | uint8`` from the tensors feeding the compute ops."""
    from .._modelfile.reader import schema

    s = schema()
    types, builtin = s.TensorType, s.BuiltinOperator
    compute = {builtin.CONV_2D, builtin.DEPTHWISE_CONV_2D, builtin.FULLY_CONNECTED,
               builtin.TRANSPOSE_CONV, builtin.BATCH_MATMUL}
    model = s.Model.GetRootAs(data, 0)
    codes = [max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    graph = model.Subgraphs(0)
    kinds: set[str] = set()
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = codes[op.OpcodeIndex()]
        ins = [graph.Tensors(j).Type() for j in op.InputsAsNumpy() if j >= 0] if op.InputsLength() else []
        if code == builtin.DEQUANTIZE and ins and ins[0] == types.FLOAT16:
            kinds.add("float16")
        if code not in compute or len(ins) < 2:
            continue
        if ins[0] == types.FLOAT32 and ins[1] in (types.INT8, types.UINT8, types.INT4):
            kinds.add("dynamic")
        elif ins[0] in (types.INT8, types.INT16):
            kinds.add("int8")
        elif ins[0] == types.UINT8:
            kinds.add("uint8")
    for kind in ("dynamic", "int8", "uint8", "float16"):
        if kind in kinds:
            return kind
    return "float32"


def _random_inputs(specs: Sequence[Any]) -> list[Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = []
    for spec in specs:
        dtype = np.dtype(spec.dtype)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            arrays.append(rng.integers(max(info.min, -128), min(info.max, 255) + 1, spec.shape, dtype=dtype))
        elif dtype.kind == "b":
            arrays.append(rng.integers(0, 2, spec.shape).astype(dtype))
        else:
            arrays.append(rng.random(spec.shape, dtype=np.float32).astype(dtype))
    return arrays


def _loop(invoke: Callable[[], Any], runs: int, min_s: float, max_s: float) -> tuple[list[float], float]:
    perf = time.perf_counter
    samples: list[float] = []
    start = perf()
    while len(samples) < runs or perf() - start < min_s:
        t0 = perf()
        invoke()
        samples.append((perf() - t0) * 1e3)
        if perf() - start >= max_s:
            break
    return samples, perf() - start


def measure(spec: BenchSpec) -> dict[str, Any]:
    """Measure one configuration in this process; the row of the report (JSON-able)."""
    from .._device.thermal import read_thermal
    from ..model import load

    data = Path(spec.model).read_bytes()
    row: dict[str, Any] = {"model": spec.model, "name": Path(spec.model).name, "threads": spec.threads,
                           "thermal": {"before": read_thermal()}, "warnings": []}
    memory = {"baseline": memory_mb()["rss"]}
    t0 = time.perf_counter()
    model = load(spec.model, threads=spec.threads, backend=spec.backend, task="raw", delegate=spec.delegate)
    row["delegate"] = model.delegate
    row["init_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
    memory["init"] = memory_mb()["rss"]
    row.update(backend=model.info.backend, backend_version=model.info.backend_version,
               precision=model_precision(data), input=[s.to_dict() for s in model.inputs])
    tensors = _random_inputs(model.inputs)

    def invoke() -> Any:
        return model.invoke(*tensors)

    t0 = time.perf_counter()
    invoke()
    row["first_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
    warm, _ = _loop(invoke, 1, spec.warmup_seconds, max(spec.warmup_seconds, 1e-3))
    row["warmup"] = {"runs": len(warm), "mean_ms": round(sum(warm) / len(warm), 3)}
    samples, seconds = _loop(invoke, spec.runs, spec.min_seconds, spec.max_seconds)
    if len(samples) < spec.runs or seconds < spec.min_seconds:
        row["warnings"].append(f"stopped at --max-seconds {spec.max_seconds:g} after {len(samples)} runs")
    row.update(runs=len(samples), seconds=round(seconds, 3),
               latency_ms=LatencyStats.from_samples(samples).to_dict())
    memory["peak"] = memory_mb()["peak"]
    row["rss_mb"] = memory
    if spec.throughput_seconds > 0:
        row["throughput"] = throughput(model, tensors, spec.throughput_seconds)
    model.close()
    if spec.pipeline:
        row["pipeline"] = _pipeline(spec)
    row["thermal"]["after"] = read_thermal()
    return row


def throughput(model: Any, tensors: Sequence[Any], seconds: float,
               cores: int | None = None) -> dict[str, Any]:
    """Inferences per second with every core busy: ``cores // threads`` interpreters (the model
    and its replicas), each invoked back to back on its own thread for ``seconds``.

    Returns:
        ``{"interpreters", "threads", "cores_used", "ips", "per_core", "seconds"}``.
    """
    import threading

    cores = cores or os.cpu_count() or 1
    threads = model.threads or 1
    count = max(1, cores // threads)
    models = [model] + [model.replica() for _ in range(count - 1)]
    done = [0] * count
    start_gate, stop = threading.Barrier(count + 1), threading.Event()

    def work(i: int) -> None:
        start_gate.wait()
        while not stop.is_set():
            models[i].invoke(*tensors)
            done[i] += 1

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(count)]
    for w in workers:
        w.start()
    start_gate.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    for extra in models[1:]:
        extra.close()
    used = min(cores, count * threads)
    ips = sum(done) / elapsed
    return {"interpreters": count, "threads": threads, "cores_used": used, "ips": round(ips, 3),
            "per_core": round(ips / used, 3), "seconds": round(elapsed, 3)}


def _pipeline(spec: BenchSpec) -> dict[str, Any]:
    """End-to-end numbers through a source (:func:`edgekit.stream`): FPS, frame age, drops."""
    from .._stream.factory import stream
    from ..errors import ModelIncompatible
    from ..model import load

    try:  # the model's own task, so that post-processing is part of the numbers
        model = load(spec.model, threads=spec.threads, backend=spec.backend)
    except ModelIncompatible:
        model = load(spec.model, threads=spec.threads, backend=spec.backend, task="raw")
    ages, totals = [], []
    with model:
        run = stream(model, source=spec.pipeline, duration=spec.pipeline_seconds)
        for result in run:
            ages.append(result.prediction.latency.age)
            totals.append(result.prediction.latency.total)
        summary = run.summary()
    if not ages:
        return {"source": spec.pipeline, "error": f"no frame was inferred ({summary.reason})"}
    return {"source": summary.source, "seconds": round(summary.seconds, 3), "frames": summary.frames,
            "inferred": summary.inferred, "fps": round(summary.fps, 2), "dropped": summary.dropped,
            "age_ms": {"p50": round(_p(ages, 50), 3), "p95": round(_p(ages, 95), 3)},
            "total_ms": {"p50": round(_p(totals, 50), 3), "p95": round(_p(totals, 95), 3)}}


def _p(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


# -- orchestration, in the parent --------------------------------------------------------
def run_child(spec: BenchSpec, timeout: float | None = None) -> dict[str, Any]:
    """Measure ``spec`` in a fresh Python process; a failed child becomes an ``error`` row."""
    cmd = [sys.executable, "-m", "edgekit._tools.bench", json.dumps(asdict(spec))]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    limit = timeout or spec.max_seconds + spec.pipeline_seconds + 120
    base = {"model": spec.model, "name": Path(spec.model).name, "backend": spec.backend,
            "threads": spec.threads, "delegate": spec.delegate or "xnnpack"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=False, env=env)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {limit:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if lines:
        return json.loads(lines[-1])
    tail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    return {**base, "error": f"the benchmark process died (exit {proc.returncode}): {tail}"}


def environment() -> dict[str, Any]:
    """The stamp of a report: device, host, versions, thermal state."""
    import numpy

    from .._device.profiles import detect_device, get_profile, probe_host
    from .._device.thermal import read_thermal
    from .._version import __version__
    from ..backend import available

    detected = detect_device()
    profile = detected or get_profile("auto")
    return {
        "device": {"name": profile.name, "title": profile.title, "detected": detected is not None,
                   "threads": profile.threads, "precision": profile.precision,
                   "power": profile.power.to_dict()},
        "host": probe_host().to_dict(), "machine": platform.machine(), "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "python": platform.python_version(), "numpy": numpy.__version__,
        "edgekit": __version__, "backends": {b.name: b.version() for b in available()},
        "thermal": read_thermal(),
    }


def run_bench(specs: Iterable[BenchSpec],
              on_row: Callable[[dict[str, Any]], None] | None = None, *,
              price_kwh: float | None = None, watts: float | None = None) -> dict[str, Any]:
    """Measure every spec, one child process at a time; the whole report (``SCHEMA``).

    Each row with a throughput gets an ``energy`` estimate from the device profile's power
    figures (``watts`` overrides its load figure; ``price_kwh`` adds the cost per million).
    """
    report: dict[str, Any] = {"schema": SCHEMA, "created": round(time.time(), 3), "env": environment(),
                              "results": []}
    power = _profile_power(report["env"])
    for spec in specs:
        row = run_child(spec)
        add_energy(row, power, price_kwh, watts)
        report["results"].append(row)
        if on_row is not None:
            on_row(row)
    from .._device.thermal import read_thermal

    report["env"]["thermal_after"] = read_thermal()
    return report


def _profile_power(env: dict[str, Any]) -> Any:
    from .._device.energy import Power

    figures = env["device"].get("power") or {}
    return Power(figures.get("idle_w"), figures.get("load_w"), figures.get("source") or "")


def add_energy(row: dict[str, Any], power: Any, price_kwh: float | None = None,
               watts: float | None = None) -> None:
    """Put the energy estimate (or why there is none) into a measured row."""
    from .._device.energy import estimate

    rate = (row.get("throughput") or {}).get("ips")
    if row.get("error") or not rate:
        return
    found = estimate(rate, power, price_kwh, watts)
    row["energy"] = found.to_dict() if found else {
        "error": "no load power figure for this device: pass --watts W (a USB power meter reading)"}


def main(argv: list[str]) -> None:  # pragma: no cover - exercised through run_child
    spec = BenchSpec(**json.loads(argv[0]))
    from ..errors import EdgekitError

    try:
        row = measure(spec)
    except (EdgekitError, OSError) as exc:
        row = {"model": spec.model, "name": Path(spec.model).name, "backend": spec.backend,
               "threads": spec.threads, "delegate": spec.delegate or "xnnpack",
               "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(row) + "\n")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
