"""Real-time stream benchmark: frame age, model busy time, pipeline overhead.

A loopback "camera" (ffmpeg ``testsrc`` at 30 FPS served as MJPEG over HTTP, each
frame stamped with its number in a barcode, its publication time logged) feeds:

1. ``edgekit.stream`` and a naive ``cap.read()`` → infer loop, side by side, with a
   model slower than a frame period: frame age at invoke start (true age: invoke
   start − the time the server published that frame), p50 in ms and in frame
   periods (goal for edgekit: ≤ 1.5), and how busy the model is with frames it
   had not seen (goal: ≥ 90 % of wall time).
2. With a source faster than the model: ``edgekit.stream`` results per second vs a
   bare ``model.invoke`` loop on the same model and threads (goal: ≥ 0.95×).

Run: ``pytest --benchmarks tests/benchmarks/bench_stream.py -s``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stream"))

from mjpeg_server import read_barcode
from streamkit import MjpegCamera

import edgekit

pytestmark = pytest.mark.benchmark

SOURCE_FPS = 30
PERIOD_MS = 1000 / SOURCE_FPS
RUN_S = 12.0
WARMUP_S = 2.0  # let the naive reader's buffers fill: its steady state is what users get
THREADS = 1  # a core left for capture and decoding (on a 4-core Pi: threads=3)


def _publications(log: Path) -> dict[int, float]:
    out = {}
    for line in log.read_text().splitlines():
        number, ts = line.split()
        out[int(number)] = float(ts)
    return out


def _edgekit_run(model: edgekit.Model, url: str) -> list[tuple[int, float, float, float]]:
    """(frame number, invoke start wall time, invoke ms, post-invoke end wall time) per result."""
    rows = []
    running = edgekit.stream(model, url, duration=RUN_S)
    for result in running:
        frame = running.last_frame
        assert frame is not None
        lat = result.latency
        start = result.ts + (lat.age + lat.pre) / 1e3
        rows.append((read_barcode(frame.image), start, lat.invoke, start + (lat.invoke + lat.post) / 1e3))
    return rows


def _naive_run(model: edgekit.Model, url: str) -> list[tuple[int, float, float, float]]:
    import cv2

    rows = []
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    assert cap.isOpened()
    end = time.time() + RUN_S
    while time.time() < end:
        ok, frame = cap.read()
        if not ok:
            continue
        tensor, transform = model.preprocess(frame)
        start = time.time()
        t0 = time.perf_counter()
        outputs = model.invoke(tensor)
        invoke_ms = (time.perf_counter() - t0) * 1e3
        model.postprocess(outputs, transform)
        rows.append((read_barcode(frame), start, invoke_ms, time.time()))
    cap.release()
    return rows


def _ages(rows: list[tuple[int, float, float, float]], published: dict[int, float]) -> dict[str, float]:
    first = rows[0][1]
    steady = [r for r in rows if r[1] >= first + WARMUP_S and r[0] in published]
    ages = [(start - published[n]) * 1e3 for n, start, _, _ in steady]
    seen: set[int] = set()
    busy_ms = 0.0
    for n, _, invoke_ms, _ in steady:
        if n not in seen:  # the same picture inferred twice is not useful work
            seen.add(n)
            busy_ms += invoke_ms
    wall_ms = (steady[-1][3] - steady[0][1]) * 1e3
    return {"age_p50": float(np.percentile(ages, 50)), "age_p95": float(np.percentile(ages, 95)),
            "busy": busy_ms / wall_ms, "fps": (len(steady) - 1) / (wall_ms / 1e3),
            "unique": len(seen) / len(steady)}


def _bare_invoke_fps(model: edgekit.Model, seconds: float = 6.0) -> float:
    tensor = np.zeros(model.inputs[0].shape, model.inputs[0].dtype)
    model.invoke(tensor)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.invoke(tensor)
        count += 1
    return count / (time.perf_counter() - start)


def _pipeline_fps(model: edgekit.Model, source: object, seconds: float) -> float:
    running = edgekit.stream(model, source, duration=seconds + 0.5)
    stamps = [time.perf_counter() for _ in running]
    stamps = [t for t in stamps if t >= stamps[0] + 0.5]  # after the source's start
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def _paired_ratio(model: edgekit.Model, make_source, rounds: int = 4,  # type: ignore[no-untyped-def]
                  seconds: float = 3.0) -> tuple[float, float, float]:
    """Median of (pipeline FPS / bare invoke FPS) over rounds measured back to back.

    Other processes load this machine unevenly; pairing each pipeline run with a
    bare run right before it cancels most of that drift.
    """
    pairs = []
    for _ in range(rounds):
        bare = _bare_invoke_fps(model, seconds)
        pipe = _pipeline_fps(model, make_source(), seconds)
        pairs.append((pipe / bare, pipe, bare))
    pairs.sort()
    return pairs[len(pairs) // 2]


def _models() -> list[tuple[str, Path]]:
    """MobileNetV2 float at 224 (the issue's example) and at 448 (slower than a frame here)."""
    import zoo

    return [(f"mobilenet_v2 {size} f32", zoo.mobilenet_v2("float32", size=size, alpha=1.0))
            for size in (224, 448)]


def test_stream_frame_age_busy_time_and_overhead(tmp_path: Path) -> None:
    rows = []
    for name, path in _models():
        log = tmp_path / f"{name.replace(' ', '_')}.log"
        with edgekit.load(path, threads=THREADS) as model, \
                MjpegCamera(fps=SOURCE_FPS, barcode=True, log=log) as camera:
            ours = _edgekit_run(model, camera.url)
            invoke_ms = float(np.median([r[2] for r in ours]))
            naive = _naive_run(model, camera.url)
            published = _publications(log)
            live = _paired_ratio(model, lambda: camera.url) if invoke_ms > PERIOD_MS else None
            demo = _paired_ratio(model, lambda: edgekit.sources.DemoSource(fps=200))
        rows.append((name, invoke_ms, _ages(ours, published), _ages(naive, published), live, demo))

    print(f"\nloopback MJPEG camera at {SOURCE_FPS} FPS (frame period T = {PERIOD_MS:.1f} ms), "
          f"threads={THREADS}; fps ratios = pipeline / bare invoke loop, median of paired rounds")
    print(f"{'model':<22}{'invoke':>8} | {'age p50 edgekit':>17} {'naive':>15} {'ratio':>6} | "
          f"{'busy':>5} {'uniq':>5} | {'fps live/bare':>20} | {'fps demo200/bare':>20}")
    for name, invoke_ms, e, n, live, demo in rows:
        live_text = f"{live[1]:5.1f}/{live[2]:5.1f} = {live[0]:4.2f}" if live else f"{'n/a':>20}"
        print(f"{name:<22}{invoke_ms:6.1f}ms | "
              f"{e['age_p50']:7.1f}ms {e['age_p50'] / PERIOD_MS:5.2f}T "
              f"{n['age_p50']:7.1f}ms {n['age_p50'] / PERIOD_MS:5.1f}T "
              f"{n['age_p50'] / e['age_p50']:5.1f}x | {e['busy']:5.0%} {e['unique']:5.0%} | "
              f"{live_text} | {demo[1]:5.1f}/{demo[2]:5.1f} = {demo[0]:4.2f}")
        print(f"{'':<22}age p95: edgekit {e['age_p95']:.1f} ms, naive {n['age_p95']:.1f} ms; "
              f"naive: busy {n['busy']:.0%}, {n['unique']:.0%} unique frames, {n['fps']:.1f} FPS")
    slow = [r for r in rows if r[1] > PERIOD_MS]
    assert slow, "no model slower than a frame period to measure with"
    for name, _, e, n, _, _ in slow:
        assert e["age_p50"] < n["age_p50"], f"{name}: edgekit's frames are not fresher than naive's"
        assert e["age_p50"] <= 1.5 * PERIOD_MS, f"{name}: frame age p50 above 1.5 frame periods"
