"""The detectors through the real ``edgekit`` command: ``predict --json`` and ``run --save``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import detect_models as dm
import numpy as np
import pytest
from testkit import read_video


def _edgekit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgekit", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, check=False)


def _grey_image(path: Path, width: int, height: int) -> Path:
    import cv2

    assert cv2.imwrite(str(path), np.full((height, width, 3), 127, np.uint8))
    return path


def test_predict_json_prints_the_detections_with_source_pixel_boxes(tmp_path: Path) -> None:
    image = _grey_image(tmp_path / "frame.png", 640, 480)
    done = _edgekit("predict", dm.yolo("yolov8"), image, "--json")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["input"] == str(image) and row["task"] == "detect"
    assert [d["label"] for d in row["detections"]] == ["person", "car", "dog"]
    np.testing.assert_allclose([d["box"] for d in row["detections"]],
                               dm.expected_boxes(640, 480, "letterbox"), atol=0.5)


def test_predict_passes_layout_classes_and_resize_through(tmp_path: Path) -> None:
    image = _grey_image(tmp_path / "frame.png", 300, 500)
    done = _edgekit("predict", dm.yolo("yolov5"), image, "--json", "--layout", "yolov5",
                    "--classes", "car", "--resize", "stretch")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert [d["label"] for d in row["detections"]] == ["car"]
    np.testing.assert_allclose(row["detections"][0]["box"], dm.expected_boxes(300, 500, "stretch")[1],
                               atol=0.5)


def test_predict_with_a_layout_that_does_not_fit_exits_with_a_one_line_error(tmp_path: Path) -> None:
    image = _grey_image(tmp_path / "frame.png", 64, 64)
    done = _edgekit("predict", dm.yolo("yolov8"), image, "--task", "detect", "--layout", "ssd")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("ModelIncompatible: ")
    assert "[1, 84, 2100]" in done.stderr


@pytest.mark.slow  # inspect/doctor try each backend in a child: TensorFlow's import
def test_inspect_shows_the_recognised_layout() -> None:
    done = _edgekit("inspect", dm.ssd(), "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert (info["task"], info["layout"]) == ("detect", "ssd")


def _write_video(path: Path, frames: list[np.ndarray]) -> Path:
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def test_run_on_a_video_finds_a_moving_red_square_and_saves_an_annotated_playable_video(
    tmp_path: Path,
) -> None:
    frames, squares = [], []
    for i in range(8):  # the square walks one grid cell right per frame
        frame = np.full((480, 640, 3), 110, np.uint8)
        squares.append(dm.paint_cells(frame, [(5, 1 + i)], "letterbox")[0])
        frames.append(frame)
    video = _write_video(tmp_path / "in.mp4", frames)
    out, results = tmp_path / "out.mp4", tmp_path / "results.jsonl"
    done = _edgekit("run", "-m", dm.red_square_detector(), "--source", video, "--save", out,
                    "--out", results, "-q", "--no-status", timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    rows = [row for row in lines if "event" not in row]  # a "stopped" event ends the file
    assert [row["frame"] for row in rows] == list(range(8))
    for row, square in zip(rows, squares):
        assert len(row["detections"]) == 1, row
        np.testing.assert_allclose(row["detections"][0]["box"], square, atol=0.5)
    saved, original = read_video(out), read_video(video)
    assert len(saved) == 8 and saved[0].shape == (480, 640, 3)

    def redness(image: np.ndarray) -> float:  # just above the square: its label's background
        x1, y1 = np.rint(squares[-1][:2]).astype(int)
        patch = image[y1 - 14:y1 - 2, x1 + 2:x1 + 40].astype(float)
        return float((patch[..., 2] - patch[..., 0]).mean())

    assert redness(saved[-1]) - redness(original[-1]) > 60
