"""`edgekit serve` throughput and latency, and the cost of a live model swap.

Run with ``pytest --benchmarks tests/benchmarks/bench_serve.py -s``.

- Requests/s and p50/p99 latency of ``POST /predict`` (a 640×480 camera JPEG, or one
  the client made small; raw body) at 1, 2 and 4 concurrent clients (and with
  ``--fast-decode``), for the bundled digits model and MobileNetV2 (96 α 0.35 and
  224 α 1.0, float32), against bare in-process loops over the same image: ``predict(array)`` on one interpreter (the goal's baseline: the
  server should reach ≥ 0.8× its rate, HTTP and JPEG decode included), and, to
  show where the time goes, ``decode + predict`` on one interpreter and on one
  replica per core. The server is the ``edgekit serve`` command (its defaults:
  one replica per core); the load generator, tests/serve/loadgen.py, is a
  third process (it costs CPU on the same cores: the server's numbers are
  pessimistic). Contenders alternate, ``ROUNDS`` rounds; medians are reported.
- Sustained: the bundled model at capacity for ``SUSTAINED_S`` (60 s), errors and RSS.
- Swaps: the time from a replaced file to the new model answering, and what a
  swap costs in flight: requests that failed during swaps under load (goal 0),
  and frames an ``edgekit.stream`` over a file source lost (goal 0) and its
  longest gap between two results.

Set ``EDGEKIT_BENCH_STRICT=1`` to fail when a goal is missed.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zoo

pytestmark = pytest.mark.benchmark

SERVE_TESTS = Path(__file__).resolve().parents[1] / "serve"
if str(SERVE_TESTS) not in sys.path:
    sys.path.insert(0, str(SERVE_TESTS))

ROUNDS = int(os.environ.get("EDGEKIT_BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("EDGEKIT_BENCH_SECONDS", "5"))
SUSTAINED_S = float(os.environ.get("EDGEKIT_BENCH_SUSTAINED", "60"))
CLIENTS = (1, 2, 4)
GOAL = 0.8


def _jpeg(image: np.ndarray, size: tuple[int, int]) -> bytes:
    import cv2

    frame = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def _camera_jpeg(image: np.ndarray) -> bytes:
    return _jpeg(image, (640, 480))


def _configs() -> list[tuple[str, Path, bytes, bool]]:
    """(title, model, the JPEG posted, with --fast-decode contenders): a camera's 640x480 frame,
    and a snapshot the client already made small (the model's size, or near it)."""
    import edgekit
    from edgekit.sources.demo import load_demo_digits

    digit = load_demo_digits().images[3]
    photo = zoo.skimage_photos()[1]
    digits, mobilenet = Path(edgekit.default_model_path()), zoo.mobilenet_v2("float32")
    return [("digits (bundled), 640x480 JPEG", digits, _camera_jpeg(digit), True),
            ("digits (bundled), 64x64 JPEG", digits, _jpeg(digit, (64, 64)), False),
            ("MobileNetV2 96 a0.35 float32, 640x480 JPEG", mobilenet, _camera_jpeg(photo), True),
            ("MobileNetV2 96 a0.35 float32, 128x128 JPEG", mobilenet, _jpeg(photo, (128, 128)), False),
            ("MobileNetV2 224 a1.0 float32, 640x480 JPEG", zoo.mobilenet_v2("float32", size=224, alpha=1.0),
             _camera_jpeg(photo), True)]


def _bare(model_path: Path, jpeg: bytes, seconds: float, decode: bool, workers: int = 1) -> dict[str, float]:
    """Predictions per second of ``workers`` threads, each with its own interpreter, in this process."""
    import edgekit
    from edgekit.imagefile import decode_image

    data = np.frombuffer(jpeg, np.uint8)
    latencies: list[float] = []
    lock = threading.Lock()
    with edgekit.load(model_path) as first:
        grey = first.input_format.grey
        image = decode_image(data, grey) if not decode else None
        models = [first] + [first.replica() for _ in range(workers - 1)]
        models[0].predict(np.zeros((8, 8, 3), np.uint8))
        stop = time.perf_counter() + seconds

        def loop(model: Any) -> None:
            mine = []
            while time.perf_counter() < stop:
                started = time.perf_counter()
                model.predict(decode_image(data, grey) if decode else image)
                mine.append((time.perf_counter() - started) * 1e3)
            with lock:
                latencies.extend(mine)

        started, cpu = time.perf_counter(), time.process_time()
        threads = [threading.Thread(target=loop, args=(m,)) for m in models]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        for m in models[1:]:
            m.close()
    return {"rate": len(latencies) / elapsed, "p50": float(np.percentile(latencies, 50)),
            "p99": float(np.percentile(latencies, 99)), "cpu": cpu / len(latencies) * 1e3, "client": 0.0}


def _served(cli: Any, jpeg: bytes, tmp: Path, clients: int, seconds: float) -> dict[str, float]:
    """The load generator's numbers, and the CPU time per request of the server and of the generator."""
    import resource

    import psutil
    from serve_helpers import load

    server = psutil.Process(cli.proc.pid)
    before, children = server.cpu_times(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = load(cli.url + "/predict", jpeg, tmp, clients=clients, duration=seconds)
    after, children_after = server.cpu_times(), resource.getrusage(resource.RUSAGE_CHILDREN)
    assert set(result["status"]) == {"200"} and not result["errors"], result
    count = result["status"]["200"]
    spent = (after.user - before.user) + (after.system - before.system)
    client = (children_after.ru_utime - children.ru_utime) + (children_after.ru_stime - children.ru_stime)
    return {"rate": result["ok_per_s"], "p50": result["p50_ms"], "p99": result["p99_ms"],
            "cpu": spent / count * 1e3, "client": client / count * 1e3}


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def _table(title: str, results: dict[str, dict[str, float]], baseline: str) -> list[str]:
    lines = [f"\n{title}  ({os.cpu_count()} cores, median of {ROUNDS} rounds of {SECONDS:g} s, "
             f"load average {os.getloadavg()[0]:.1f}: pessimistic)",
             f"  {'contender':<34} {'req/s':>8} {'vs base':>8} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'CPU ms/req':>10} {'client CPU':>10}"]
    for name, r in results.items():
        lines.append(f"  {name:<34} {r['rate']:8.1f} {r['rate'] / results[baseline]['rate']:7.2f}× "
                     f"{r['p50']:8.2f} {r['p99']:8.2f} {r['cpu']:10.3f} {r['client']:10.3f}")
    return lines


@pytest.mark.timeout(3600)
def test_requests_per_second_and_latency_vs_a_bare_predict_loop(tmp_path: Path) -> None:
    from serve_helpers import Cli

    missed = []
    for title, model_path, jpeg, with_fast in _configs():
        cli = Cli([str(model_path), "--port", "0", "--no-reload"]).start()
        fast = Cli([str(model_path), "--port", "0", "--no-reload", "--fast-decode"]).start() \
            if with_fast else None
        try:
            contenders: dict[str, Callable[[], dict[str, float]]] = {
                "bare predict(array), 1 interpreter": lambda: _bare(model_path, jpeg, SECONDS, False),
                "bare decode+predict, 1 interpreter": lambda: _bare(model_path, jpeg, SECONDS, True),
                f"bare decode+predict, {os.cpu_count()} replicas":
                    lambda: _bare(model_path, jpeg, SECONDS, True, os.cpu_count() or 1),
            }
            for clients in CLIENTS:
                contenders[f"serve, {clients} client{'s' * (clients > 1)}"] = \
                    lambda c=clients: _served(cli, jpeg, tmp_path, c, SECONDS)
            for clients in CLIENTS[1:] if fast is not None else ():
                contenders[f"serve --fast-decode, {clients} clients"] = \
                    lambda c=clients: _served(fast, jpeg, tmp_path, c, SECONDS)
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
            names = list(contenders)
            for round_ in range(ROUNDS):
                for name in names[round_ % len(names):] + names[:round_ % len(names)]:  # alternate
                    runs[name].append(contenders[name]())
        finally:
            cli.stop(signal.SIGTERM)
            if fast is not None:
                fast.stop(signal.SIGTERM)
        results = {name: _median(r) for name, r in runs.items()}
        base = "bare predict(array), 1 interpreter"
        report = _table(f"{title}: POST /predict", results, base)
        served = [results[f"serve, {c} client{'s' * (c > 1)}"] for c in CLIENTS]
        best = max(r["rate"] for r in served)
        ratio = best / results[base]["rate"]
        # On a loaded machine the wall rates say more about the neighbours than about edgekit; the
        # CPU time per request does not: what idle cores would sustain, the server's side alone.
        cores = os.cpu_count() or 1
        idle_served = cores * 1e3 / statistics.median(r["cpu"] for r in served)
        idle_base = 1e3 / results[base]["cpu"]
        report.append(f"  measured: best served rate / bare predict(array) {ratio:.2f}× "
                      f"(goal ≥ {GOAL}×: {'met' if ratio >= GOAL else 'MISSED'})")
        report.append(f"  from CPU time: {cores} idle cores would serve ≈ {idle_served:.0f} req/s, the bare "
                      f"predict(array) loop ≈ {idle_base:.0f}/s on its one core: {idle_served / idle_base:.2f}×")
        if ratio < GOAL:
            missed.append(title)
        print("\n".join(report), flush=True)
    if os.environ.get("EDGEKIT_BENCH_STRICT") == "1":
        assert not missed, f"below {GOAL}× the bare loop: {missed}"


@pytest.mark.timeout(1800)
def test_sustained_load_at_capacity(tmp_path: Path) -> None:
    import psutil
    from serve_helpers import Cli, load

    import edgekit
    from edgekit.sources.demo import load_demo_digits

    jpeg = _camera_jpeg(load_demo_digits().images[5])  # the camera frame: decoding included
    cli = Cli([edgekit.default_model_path(), "--port", "0", "--no-reload"]).start()
    try:
        process = psutil.Process(cli.proc.pid)
        load(cli.url + "/predict", jpeg, tmp_path, clients=os.cpu_count() or 1, duration=3)
        before = process.memory_info().rss
        result = load(cli.url + "/predict", jpeg, tmp_path, clients=os.cpu_count() or 1, duration=SUSTAINED_S)
        after = process.memory_info().rss
    finally:
        cli.stop(signal.SIGTERM)
    print(f"\nsustained {SUSTAINED_S:g} s at capacity ({os.cpu_count()} clients, bundled model): "
          f"{result['ok_per_s']:.0f} req/s, p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
          f"max {result['max_ms']:.1f} ms, answers {result['status']}, errors {result['errors']}, "
          f"RSS {before / 1e6:.1f} → {after / 1e6:.1f} MB")
    assert set(result["status"]) == {"200"} and not result["errors"]


def _replace(path: Path, source: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    shutil.copy(source, tmp)
    os.replace(tmp, path)


@pytest.mark.timeout(1800)
def test_swap_time_and_what_a_swap_loses(tmp_path: Path) -> None:
    """Swap MobileNetV2 float32 ↔ int8 (another input format) under load: serve, then a stream."""
    from serve_helpers import Cli, load

    variants = [zoo.mobilenet_v2("float32"), zoo.mobilenet_v2("int8")]
    model = tmp_path / "model.tflite"
    shutil.copy(variants[0], model)
    jpeg = _camera_jpeg(zoo.skimage_photos()[2])
    cli = Cli([str(model), "--port", "0"]).start()
    swaps = 6
    try:
        done: dict[str, Any] = {}
        loader = threading.Thread(target=lambda: done.update(load(
            cli.url + "/predict", jpeg, tmp_path, clients=2, duration=3 * swaps + 4)))
        loader.start()
        replaced = []
        for index in range(swaps):
            time.sleep(3)
            replaced.append(time.time())
            _replace(model, variants[(index + 1) % 2])
        loader.join()
    finally:
        cli.stop(signal.SIGTERM)
    events = [e for e in cli.events() if e["event"] == "model_changed"]
    loaded_ms = [float(e["message"].split("loaded in ")[1].split(" ms")[0]) for e in events]
    noticed_ms = [(e["ts"] - r) * 1e3 for e, r in zip(events, replaced)]
    failed = sum(v for k, v in done["status"].items() if k != "200") + sum(done["errors"].values())
    print(f"\nserve swaps under load (2 clients, MobileNetV2 96 float32 <-> int8): {len(events)}/{swaps} swaps; "
          f"load+warm-up+replicas median {statistics.median(loaded_ms):.0f} ms (max {max(loaded_ms):.0f}); "
          f"file replaced → answering median {statistics.median(noticed_ms):.0f} ms (poll 0.5 s, one stable "
          f"poll); requests {sum(done['status'].values())}, failed {failed}; models answering "
          f"{ {k[:8]: v for k, v in done['models'].items()} }")
    frames = _frames(tmp_path)
    control = [_stream_swaps(variants, frames, tmp_path, swap=False) for _ in range(2)]
    swapped = [_stream_swaps(variants, frames, tmp_path, swap=True) for _ in range(2)]
    lost = max(run[0] for run in swapped)
    print(f"stream over {len(list(frames.iterdir()))} files (every frame), a swap every 60 frames: frames lost "
          f"{[run[0] for run in swapped]}; longest gap between two results "
          f"{[round(run[1]) for run in swapped]} ms (median gap {swapped[0][2]:.1f} ms); the same runs without "
          f"swaps: longest gap {[round(run[1]) for run in control]} ms")
    if os.environ.get("EDGEKIT_BENCH_STRICT") == "1":
        assert failed == 0 and lost == 0 and len(events) == swaps


def _frames(tmp_path: Path) -> Path:
    import cv2

    frames = tmp_path / "frames"
    frames.mkdir()
    photos = zoo.skimage_photos()
    for index in range(300):
        cv2.imwrite(str(frames / f"{index:04d}.jpg"), cv2.resize(photos[index % len(photos)], (320, 240)))
    return frames


def _stream_swaps(variants: list[Path], frames: Path, tmp_path: Path, swap: bool) -> tuple[int, float, float]:
    """Frames lost, longest and median gap (ms) between two results of a stream over ``frames``."""
    import edgekit

    count = len(list(frames.iterdir()))
    model = tmp_path / "stream_model.tflite"
    shutil.copy(variants[0], model)
    stamps, seen, changed = [], [], 0
    with edgekit.stream(model, str(frames), reload=swap, events=True, max_fps=60) as stream:
        for item in stream:
            if isinstance(item, edgekit.StreamEvent):
                changed += item.event == "model_changed"
                continue
            stamps.append(time.perf_counter())
            seen.append(item.frame)
            if swap and len(seen) % 60 == 0:
                _replace(model, variants[(len(seen) // 60) % 2])
    gaps = np.diff(stamps) * 1e3
    assert changed >= 2 or not swap, "the stream saw no swap"
    return count - len(set(seen)), float(gaps.max()), float(np.median(gaps))
