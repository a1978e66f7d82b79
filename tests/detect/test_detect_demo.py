"""Objects at known places: digits pasted onto photos (scenes) and the ``demo:detect`` source."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import ConfigError
from edgekit.sources import SourceOptions, source_factory
from edgekit.sources.demo import DemoSource, load_demo_digits
from edgekit.sources.scenes import compose, fit_background


def _photo() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(100, 160, (300, 400, 3), np.uint8)


def test_pasted_digits_do_not_overlap_and_their_boxes_hold_the_ink() -> None:
    digits = load_demo_digits()
    rng = np.random.default_rng(0)
    back = fit_background(_photo(), 320, 240, rng)
    scene = compose(back, digits.images[:4], digits.labels[:4], rng)
    assert scene.image.shape == (240, 320, 3) and len(scene.boxes) == len(scene.labels) >= 3
    assert scene.labels.tolist() == digits.labels[:len(scene.labels)].tolist()
    diff = np.abs(scene.image.astype(int) - back.astype(int)).max(axis=2)
    changed = diff > 40
    inside = np.zeros_like(changed)
    for x1, y1, x2, y2 in scene.boxes.astype(int):
        assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 240
        inside[y1:y2, x1:x2] = True
        assert changed[y1:y2, x1:x2].mean() > 0.2  # the ink is really there, visibly
    assert not ((diff > 64) & ~inside).any()  # outside the boxes, ink is fainter than 0.25 opacity
    for i, a in enumerate(scene.boxes):
        for b in scene.boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_ink_is_dark_on_light_patches_and_light_on_dark_ones() -> None:
    digit = np.zeros((32, 32), np.uint8)
    digit[4:28, 12:20] = 255
    for level, dark in ((230, True), (20, False)):
        back = np.full((120, 160, 3), level, np.uint8)
        scene = compose(back, [digit], [1], np.random.default_rng(1))
        x1, y1, x2, y2 = scene.boxes[0].astype(int)
        ink = scene.image[y1:y2, x1:x2].reshape(-1, 3).mean(axis=1)
        assert (ink.min() < 60) if dark else (ink.max() > 200)


def test_compose_rejects_a_grey_background_and_unmatched_labels() -> None:
    with pytest.raises(ConfigError, match=r"background must be H×W×3 uint8, got uint8\[10, 10\]"):
        compose(np.zeros((10, 10), np.uint8), [], [], np.random.default_rng(0))
    with pytest.raises(ConfigError, match="2 digits but 1 labels"):
        compose(np.zeros((10, 10, 3), np.uint8), [np.zeros((4, 4), np.uint8)] * 2, [1],
                np.random.default_rng(0))


def test_demo_detect_frames_are_deterministic_and_change_scene_every_period() -> None:
    a = DemoSource(320, 240, fps=10, period=1.0, mode="detect")
    b = DemoSource(320, 240, fps=10, period=1.0, mode="detect")
    assert np.array_equal(a.frame_at(3), b.frame_at(3)) and np.array_equal(a.frame_at(0), a.frame_at(9))
    assert not np.array_equal(a.frame_at(9), a.frame_at(10))
    scene = a.objects_at(12)
    assert 1 <= len(scene.labels) <= 3 and np.array_equal(scene.image, a.frame_at(12))
    assert a.name == "demo:detect"


def test_objects_at_needs_detect_mode_and_unknown_modes_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"objects_at needs mode='detect'"):
        DemoSource().objects_at(0)
    with pytest.raises(ConfigError, match="demo: mode 'boxes' is not one of classify, detect"):
        DemoSource(mode="boxes")
    with pytest.raises(ConfigError, match="use demo .* or demo:detect"):
        source_factory("demo:boxes", SourceOptions())


def test_the_source_name_demo_detect_opens_the_detect_demo() -> None:
    source = source_factory("demo:detect", SourceOptions(width=160, height=120, fps=50))()
    try:
        frame, _ = source.read()
    finally:
        source.close()
    assert isinstance(source, DemoSource) and source.mode == "detect" and frame.shape == (120, 160, 3)
