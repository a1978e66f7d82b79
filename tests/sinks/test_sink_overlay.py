"""The one overlay: boxes, labels, top classes, the FPS line — on a copy of the frame."""

from __future__ import annotations

import numpy as np
import pytest
from sinks_helpers import classify_result, detect_result, stats_for

from edgekit.errors import FrameInvalid
from edgekit.sinks import StreamStats
from edgekit.sinks.overlay import annotate, class_lines, stats_line


def test_annotate_draws_on_a_copy_and_leaves_the_frame_alone(photos: list[np.ndarray]) -> None:
    frame = photos[0].copy()
    before = frame.copy()
    out = annotate(frame, detect_result(1), stats_for(1))
    assert np.array_equal(frame, before)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, frame)


def test_detection_box_is_drawn_where_the_box_is(photos: list[np.ndarray]) -> None:
    frame = photos[1]
    out = annotate(frame, detect_result(1, box=(100, 100, 220, 200)))
    changed = np.any(out != frame, axis=2)
    assert changed[150, 100] and changed[100, 160]          # left edge, top edge
    assert not changed[150, 160]                            # the inside stays the photo
    assert not changed[20:80, 250:].any()                   # far from box/label/text: untouched


def test_classification_draws_the_top_classes_at_the_top_left(photos: list[np.ndarray]) -> None:
    frame = photos[2]
    out = annotate(frame, classify_result(3, label="coffee"))
    changed = np.any(out != frame, axis=2)
    assert changed[:40, :80].mean() > 0.2
    assert class_lines(classify_result(3, label="coffee").prediction) == ["coffee 0.90", "dog 0.05"]


def test_the_stats_line_is_at_the_bottom(photos: list[np.ndarray]) -> None:
    frame = photos[0]
    stats = StreamStats(fps=29.8, latency_p50=12.1, latency_p95=15.0, dropped=3)
    out = annotate(frame, None, stats)
    changed = np.any(out != frame, axis=2)
    assert changed[-20:, :100].mean() > 0.2 and not changed[:100].any()
    assert stats_line(classify_result(7), stats) == "#7  29.8 FPS  p50 12.1 ms  p95 15.0 ms  dropped 3"


def test_grayscale_and_bgra_frames_come_back_as_bgr(photos: list[np.ndarray]) -> None:
    gray = photos[0][:, :, 0]
    assert annotate(gray, classify_result(1)).shape == (*gray.shape, 3)
    bgra = np.dstack([photos[0], np.full(gray.shape, 255, np.uint8)])
    assert annotate(bgra, classify_result(1)).shape == photos[0].shape


def test_boxes_outside_the_frame_and_non_ascii_labels_do_not_fail(photos: list[np.ndarray]) -> None:
    from edgekit.results import BBox, Detection, FrameResult, Prediction

    det = Detection(3, "café ☕", 0.5, BBox(-50, -50, 5000, 5000))
    result = FrameResult(1, 0.0, "t", Prediction("detect", detections=(det,)))
    out = annotate(photos[0], result)
    assert out.shape == photos[0].shape


def test_annotate_rejects_a_missing_frame_with_frame_invalid() -> None:
    with pytest.raises(FrameInvalid, match="frame is None"):
        annotate(None, classify_result(1))  # type: ignore[arg-type]
