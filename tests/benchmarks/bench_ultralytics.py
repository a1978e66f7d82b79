"""edgekit's ``predict`` vs Ultralytics' own ``predict`` on the same YOLOv8n-320 ``.tflite``, side by side.

Run with ``EDGEKIT_ULTRALYTICS_PYTHON=/path/to/venv/bin/python pytest --benchmarks
tests/benchmarks/bench_ultralytics.py -s``. Ultralytics (torch, ~6 GB) lives in its
own interpreter: a child process loads the model there and predicts on request,
while this process runs edgekit; rounds alternate (edgekit, Ultralytics, edgekit,
…) over every frame of the fixture clip (640×360), so that the noise of a shared
machine falls on both, and the medians of per-frame wall times are compared.
Both use the same interpreter thread count (Ultralytics' own choice), letterbox to
320, conf 0.25, IoU 0.7, at most 300 boxes. The file is the onnx2tf export
(``yolov8n_savedmodel_float16.tflite``), the one Ultralytics' own timing used; its
``predict`` misreads that file's pixel boxes (see ``test_detect_ultralytics.py``) but
runs its whole pipeline all the same, NMS included.

A second table: edgekit's post-processing time as a share of its invoke time, at
score thresholds 0.25 and 0.01 (300 boxes kept), measured on the same frames.

Goals (issue 14): edgekit / Ultralytics ≤ 1.0; post-processing ≤ 5 % of invoke at
0.25 and ≤ 10 % at 0.01.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "detect" / "ultralytics"
# another YOLOv8n-320 export may be named with EDGEKIT_BENCH_YOLO
MODEL = Path(os.environ.get("EDGEKIT_BENCH_YOLO") or FIXTURES / "yolov8n_savedmodel_float16.tflite")
CLIP = FIXTURES / "clip.mp4"
ROUNDS = 7
# Runs in Ultralytics' interpreter: loads the model, then answers "N" with N per-frame times (ms).
CHILD = r"""
import json, os, sys, time
os.environ.setdefault("YOLO_OFFLINE", "1"); os.environ.setdefault("YOLO_VERBOSE", "False")
import cv2
from ultralytics import YOLO
from ultralytics.utils import NUM_THREADS
cap = cv2.VideoCapture(sys.argv[2]); frames = []
while True:
    ok, frame = cap.read()
    if not ok:
        break
    frames.append(frame)
model = YOLO(sys.argv[1], task="detect")
for frame in frames[:3]:
    model.predict(frame, imgsz=320, conf=0.25, iou=0.7, max_det=300, verbose=False)
print(json.dumps({"threads": NUM_THREADS, "frames": len(frames)}), flush=True)
for line in sys.stdin:
    times = []
    for frame in frames:
        t0 = time.perf_counter()
        model.predict(frame, imgsz=320, conf=0.25, iou=0.7, max_det=300, verbose=False)
        times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps(times), flush=True)
"""


def _frames() -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(CLIP))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


@pytest.fixture(scope="module")
def ultralytics():  # type: ignore[no-untyped-def]
    python = os.environ.get("EDGEKIT_ULTRALYTICS_PYTHON")
    if not python:
        pytest.skip("EDGEKIT_ULTRALYTICS_PYTHON (an interpreter with ultralytics installed) is not set")
    if not MODEL.exists():
        pytest.skip(f"{MODEL} is missing")
    env = {**os.environ, "YOLO_CONFIG_DIR": str(Path(os.environ.get("TMPDIR", "/tmp")) / "edgekit-ultralytics")}
    env.pop("PYTHONPATH", None)
    child = subprocess.Popen([python, "-c", CHILD, str(MODEL), str(CLIP)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert child.stdin is not None and child.stdout is not None
    hello = json.loads(child.stdout.readline())

    def run_round() -> list[float]:
        child.stdin.write("go\n")
        child.stdin.flush()
        return json.loads(child.stdout.readline())

    yield hello, run_round
    child.stdin.close()
    child.wait(timeout=60)


def _edgekit_round(model, frames: list[np.ndarray]) -> list[tuple[float, float, float, float]]:  # type: ignore[no-untyped-def]
    import time

    rows = []
    for frame in frames:
        t0 = time.perf_counter()
        pred = model.predict(frame)
        wall = (time.perf_counter() - t0) * 1e3
        rows.append((wall, pred.latency.invoke, pred.latency.post, len(pred.detections)))
    return rows


@pytest.mark.benchmark
def test_edgekit_predict_is_no_slower_than_ultralytics_predict_on_the_same_file(ultralytics) -> None:  # type: ignore[no-untyped-def]
    import edgekit

    hello, ultra_round = ultralytics
    threads = int(hello["threads"])
    frames = _frames()
    assert len(frames) == hello["frames"]
    ours: list[float] = []
    theirs: list[float] = []
    with edgekit.load(MODEL, threads=threads) as model:
        _edgekit_round(model, frames[:3])
        for _ in range(ROUNDS):
            ours += [row[0] for row in _edgekit_round(model, frames)]
            theirs += ultra_round()
    mine, other = statistics.median(ours), statistics.median(theirs)
    print(f"\nYOLOv8n-320 {MODEL.name}, {len(frames)} frames 640x360 × {ROUNDS} alternating rounds, "
          f"{threads} interpreter threads each")
    print(f"{'predict per frame':28}{'median ms':>10}")
    print(f"{'edgekit':28}{mine:10.2f}")
    print(f"{'Ultralytics':28}{other:10.2f}")
    print(f"{'edgekit / Ultralytics':28}{mine / other:10.3f}")
    assert mine / other <= 1.0


@pytest.mark.benchmark
def test_postprocessing_is_a_small_share_of_invoke_at_both_thresholds() -> None:
    import edgekit

    if not MODEL.exists():
        pytest.skip(f"{MODEL} is missing")
    frames = _frames()
    results: dict[float, list[tuple[float, float, float, float]]] = {0.25: [], 0.01: []}
    with edgekit.load(MODEL, threads=1, score_threshold=0.25) as high, \
            edgekit.load(MODEL, threads=1, score_threshold=0.01) as low:
        for model in (high, low):
            _edgekit_round(model, frames[:3])
        for _ in range(ROUNDS):
            for threshold, model in ((0.25, high), (0.01, low)):
                results[threshold] += _edgekit_round(model, frames)
    print(f"\nedgekit post-processing vs invoke, {MODEL.name}, 1 thread, {len(frames)} frames × {ROUNDS} rounds")
    print(f"{'score threshold':18}{'boxes':>8}{'invoke ms':>11}{'post ms':>9}{'post/invoke':>13}")
    shares = {}
    for threshold, rows in results.items():
        invoke = statistics.median(r[1] for r in rows)
        post = statistics.median(r[2] for r in rows)
        boxes = statistics.median(r[3] for r in rows)
        shares[threshold] = post / invoke
        print(f"{threshold:<18}{boxes:8.0f}{invoke:11.2f}{post:9.3f}{post / invoke:13.1%}")
    assert shares[0.25] <= 0.05
    assert shares[0.01] <= 0.10
