"""The bundled default model: small, int8, labelled, and right on demo-style camera frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import edgekit

DATA = Path(edgekit.__file__).parent / "data"


def render_frame(digit: np.ndarray, rng: np.random.Generator, width: int = 320, height: int = 240) -> np.ndarray:
    """A demo-source-like frame: black, mild noise, the digit at ~0.8 of the height, jittered."""
    side = round(0.8 * height * (1 + rng.uniform(-0.08, 0.08)))
    big = cv2.resize(digit, (side, side), interpolation=cv2.INTER_CUBIC)
    cx = width / 2 + rng.uniform(-0.05, 0.05) * width
    cy = height / 2 + rng.uniform(-0.05, 0.05) * height
    x0 = int(np.clip(round(cx - side / 2), 0, width - side))
    y0 = int(np.clip(round(cy - side / 2), 0, height - side))
    grey = np.zeros((height, width), np.uint8)
    grey[y0:y0 + side, x0:x0 + side] = big
    grey = cv2.add(grey, rng.integers(0, 24, (height, width), np.uint8))
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def test_default_model_is_a_small_int8_classifier_with_labels() -> None:
    path = Path(edgekit.default_model_path())
    assert path.stat().st_size < 200_000
    with edgekit.load(path) as model:
        assert model.task == "classify" and model.inputs[0].dtype == "uint8"
        assert model.labels in (tuple(str(i) for i in range(10)),
                                ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"))
        assert model.metadata is not None and model.metadata.quantization["mode"] == "int8"
        assert model.metadata.resize == "crop"


def test_demo_digits_are_held_out_real_digits() -> None:
    with np.load(DATA / "demo_digits.npz") as data:
        images, labels = data["images"], data["labels"]
    assert images.dtype == np.uint8 and images.shape[1:] == (32, 32) and labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).min() >= 15 and len(labels) < 400
    from sklearn.datasets import load_digits

    real = (load_digits().images * (255.0 / 16.0)).astype(np.uint8)
    small = cv2.resize(images[0], (8, 8), interpolation=cv2.INTER_AREA)
    assert np.abs(real.astype(int) - small.astype(int)).reshape(len(real), -1).mean(axis=1).min() < 20


@pytest.mark.parametrize("size", [(320, 240), (640, 480)])
def test_default_model_reads_demo_frames_at_90_percent(size: tuple[int, int]) -> None:
    with np.load(DATA / "demo_digits.npz") as data:
        images, labels = data["images"], data["labels"]
    rng = np.random.default_rng(42)
    hits = []
    with edgekit.load(edgekit.default_model_path()) as model:
        for image, label in zip(images, labels):
            pred = model.predict(render_frame(image, rng, *size))
            hits.append(pred.classes[0].id == label)
    assert np.mean(hits) >= 0.90, f"top-1 {np.mean(hits):.1%} on {len(hits)} frames"


def test_digit_sample_is_recognised() -> None:
    with edgekit.load(edgekit.default_model_path()) as model:
        pred = model.predict(str(DATA / "digit_sample.png"))
    assert pred.classes[0].id == 3 and pred.classes[0].score > 0.5
