"""Detection parity with Ultralytics' own ``predict``, on Ultralytics' own ``.tflite`` exports.

The fixtures in ``tests/detect/ultralytics/`` (``README.md`` there lists them;
``make_fixtures.py`` makes them with ``ultralytics`` in a throw-away venv, so that
CI never needs torch): real exports of both TFLite routes (``format='litert'``,
channels-first, normalized boxes; ``format='saved_model'`` through onnx2tf,
channels-last, boxes in pixels), float and int8, a raw head and an end-to-end
one, with Ultralytics' predictions at conf 0.25 and 0.01 on real photos and on
every frame of a clip. On every fixture, photo and frame edgekit must find each
of Ultralytics' boxes (same class, IoU > 0.9, score within 1e-3) — at least
99 % of them, and the report prints the exact rate — and no other box.

Ultralytics keeps a box lying wholly outside the image as a zero-width or
zero-height box; edgekit leaves it out (README, "Object detection"): those are
counted apart, and edgekit must have none of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgekit
from edgekit._detect.boxes import box_iou

FIXTURES = Path(__file__).resolve().parent / "ultralytics"
MODELS = sorted(p for p in FIXTURES.glob("*.tflite") if p.with_suffix(".predictions.json").exists())
CONFS = (0.25, 0.01)
IOU_MIN, SCORE_TOL, RATE_MIN = 0.9, 1e-3, 0.99

pytestmark = pytest.mark.skipif(not MODELS, reason=f"no Ultralytics fixtures in {FIXTURES}")


def _inputs() -> Iterator[tuple[str, np.ndarray]]:
    """The photos (by file name), then every frame of the clip (``clip.mp4#<frame>``)."""
    import cv2

    for path in sorted((FIXTURES / "images").glob("*.png")):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert image is not None, path
        yield path.name, image
    capture = cv2.VideoCapture(str(FIXTURES / "clip.mp4"))
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        yield f"clip.mp4#{index}", frame
        index += 1
    capture.release()


@pytest.fixture(scope="module")
def inputs() -> list[tuple[str, np.ndarray]]:
    found = list(_inputs())
    assert sum(name.startswith("clip.mp4#") for name, _ in found) >= 30
    return found


def _reference(model: Path, conf: float, key: str | None = None) -> dict[str, np.ndarray]:
    """Ultralytics' boxes per input name: ``N×6`` rows ``x1, y1, x2, y2, score, class`` (source pixels).

    ``key``: ``"conf"`` — what Ultralytics' ``predict`` returned; ``"conf_pixel_units"`` (onnx2tf
    files only) — Ultralytics' own ``non_max_suppression`` + ``scale_boxes`` on the raw output with the
    boxes in the pixels they are in. ``predict`` itself multiplies them by the input size once more: its
    LiteRT backend takes every ``.tflite`` for a normalized litert-torch export. ``None``: the right one.
    """
    data: dict[str, Any] = json.loads(model.with_suffix(".predictions.json").read_text())
    table = data[key or ("conf_pixel_units" if "conf_pixel_units" in data else "conf")][str(conf)]
    rows = {**table["images"], **{f"clip.mp4#{i}": frame for i, frame in enumerate(table["clip.mp4"])}}
    return {name: np.asarray(boxes, np.float64).reshape(-1, 6) for name, boxes in rows.items()}


def test_the_clip_decodes_to_the_frames_ultralytics_saw(inputs: list[tuple[str, np.ndarray]]) -> None:
    import hashlib

    data = json.loads(MODELS[0].with_suffix(".predictions.json").read_text())
    frames = [image for name, image in inputs if name.startswith("clip.mp4#")]
    assert [hashlib.md5(f.tobytes()).hexdigest() for f in frames] == data["clip"]["frame_md5"]


def _match(theirs: np.ndarray, ours: np.ndarray) -> tuple[int, int, float, float]:
    """Each of Ultralytics' boxes, best first, takes the best free box of ours that matches it.

    Returns:
        ``(matched, extra, lowest IoU, largest score difference)`` over the matched pairs.
    """
    free = np.ones(len(ours), bool)
    iou = box_iou(theirs[:, :4], ours[:, :4])
    matched, low, diff = 0, 1.0, 0.0
    for k, row in enumerate(theirs):
        ok = free & (ours[:, 5] == row[5]) & (iou[k] > IOU_MIN) & (np.abs(ours[:, 4] - row[4]) <= SCORE_TOL)
        if ok.any():
            j = np.flatnonzero(ok)[np.argmax(iou[k][ok])]
            free[j] = False
            matched, low, diff = matched + 1, min(low, iou[k, j]), max(diff, abs(ours[j, 4] - row[4]))
    return matched, int(free.sum()), low, diff


def _parity(model: edgekit.Model, reference: dict[str, np.ndarray],
            inputs: list[tuple[str, np.ndarray]]) -> tuple[float, int, str]:
    """``(match rate, extra boxes, report line)`` of ``model`` against ``reference`` on every input."""
    assert set(reference) == {name for name, _ in inputs}
    total = matched = extra = outside = 0
    low, diff, short = 1.0, 0.0, []
    for name, image in inputs:
        dets = model.predict(image).detections
        ours = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2, d.score, d.id] for d in dets],
                        np.float64).reshape(-1, 6)
        theirs = reference[name]
        visible = (theirs[:, 2] > theirs[:, 0]) & (theirs[:, 3] > theirs[:, 1])
        got, more, worst_iou, worst_diff = _match(theirs[visible], ours)
        if got < visible.sum() or more:
            short.append(f"{name} ({got}/{int(visible.sum())}, {more} extra)")
        total, matched, extra = total + int(visible.sum()), matched + got, extra + more
        outside, low, diff = outside + int((~visible).sum()), min(low, worst_iou), max(diff, worst_diff)
    rate = matched / total if total else 1.0
    line = (f"{matched}/{total} of Ultralytics' boxes matched ({rate:.4%}), {extra} extra, lowest IoU "
            f"{low:.5f}, largest score difference {diff:.2e}; {outside} zero-size boxes outside the image "
            f"left out; inputs not identical: {', '.join(short) or 'none'}")
    return rate, extra, line


@pytest.mark.slow
@pytest.mark.parametrize("conf", CONFS)
@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_edgekit_finds_ultralytics_boxes_and_no_others_on_every_photo_and_frame(
    path: Path, conf: float, inputs: list[tuple[str, np.ndarray]]
) -> None:
    reference = _reference(path, conf)
    with edgekit.load(path, score_threshold=conf) as model:
        rate, extra, line = _parity(model, reference, inputs)
    print(f"\n{path.name} conf {conf}: {line}")
    assert sum(len(boxes) for boxes in reference.values()) > 0
    assert rate >= RATE_MIN
    assert extra == 0


PIXEL_MODELS = [p for p in MODELS if "conf_pixel_units" in json.loads(p.with_suffix(".predictions.json").read_text())]


@pytest.mark.slow
@pytest.mark.parametrize("path", PIXEL_MODELS, ids=[p.stem for p in PIXEL_MODELS])
def test_told_the_units_ultralytics_assumes_edgekit_repeats_even_its_predict_on_pixel_boxes(
    path: Path, inputs: list[tuple[str, np.ndarray]]
) -> None:
    # Ultralytics' predict reads an onnx2tf file's pixel boxes as normalized: forced to do the
    # same, edgekit gives the same (wrong) boxes — the decode is the same, only the units differ
    with edgekit.load(path) as plain:
        assert plain.info.detection is not None
        forced = f"{plain.info.detection['layout']}:normalized"
    with edgekit.load(path, layout=forced, score_threshold=0.25) as model:
        rate, extra, line = _parity(model, _reference(path, 0.25, "conf"), inputs)
    print(f"\n{path.name} as {forced}, conf 0.25, vs Ultralytics' predict: {line}")
    assert rate >= RATE_MIN
    assert extra == 0


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_inspect_says_where_labels_and_box_units_came_from(path: Path) -> None:
    with edgekit.load(path) as model:
        info = model.info
    assert info.task == "detect" and info.label_source == "ultralytics" and len(info.labels) == 80
    assert info.detection is not None
    nchw = info.inputs[0].shape[1] == 3
    if nchw:  # litert-torch: the rule of Ultralytics' own LiteRT backend, from its metadata.json
        assert info.detection["decided_by"].startswith("from Ultralytics metadata.json")
    else:  # onnx2tf: boxes in pixels, found by the check at load; scores are Ultralytics' sigmoid
        assert info.detection["coords"] == "pixels"
        assert info.detection["decided_by"].startswith("units checked at load: median box centre")
        assert info.detection["decided_by"].endswith("; scores from Ultralytics metadata.json")
