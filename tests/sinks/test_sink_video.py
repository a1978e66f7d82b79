"""--save: the annotated video plays back (ffprobe and OpenCV read it), files are not clobbered."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sinks_helpers import classify_result, detect_result, stats_for
from testkit import read_video

from edgekit.errors import ConfigError
from edgekit.results import StreamEvent
from edgekit.sinks import VideoSink
from edgekit.sinks.video import estimate_fps


def _ffprobe(path: Path) -> dict:
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed (Debian package: ffmpeg)")
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames,avg_frame_rate:format=duration",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def test_saved_video_plays_back_with_every_annotated_frame(tmp_path: Path,
                                                           photos: list[np.ndarray]) -> None:
    path = tmp_path / "out.mp4"
    t0 = 1764395000.0
    with VideoSink(path) as sink:
        for i in range(30):
            sink.write(detect_result(i, ts=t0 + i / 15), photos[i % len(photos)], stats_for(i))
        sink.write(StreamEvent("stopped", t0 + 3, "test"))  # events are not frames
    info = _ffprobe(path)
    stream = info["streams"][0]
    assert stream["codec_name"] == "mpeg4"
    assert (stream["width"], stream["height"]) == (320, 240)
    assert int(stream["nb_read_frames"]) == 30
    assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.15)  # 30 frames at 15 FPS
    frames = read_video(path)
    assert len(frames) == 30 and frames[0].shape == (240, 320, 3)
    # What was saved is the annotated photo: close to the photo, but not equal to it.
    diff = np.abs(frames[0].astype(int) - photos[0].astype(int)).mean(axis=2)
    assert np.median(diff) < 12 and (diff > 60).mean() > 0.005


def test_frame_rate_comes_from_the_capture_timestamps() -> None:
    assert estimate_fps([0.0, 0.1, 0.2, 0.3]) == pytest.approx(10.0)
    assert estimate_fps([0.0, 0.1, 0.3, 0.4, 0.5]) == pytest.approx(10.0)  # median, not mean
    assert estimate_fps([5.0]) == 10.0 and estimate_fps([0.0, 100.0]) == 1.0


def test_frames_of_another_size_are_scaled_to_the_first(tmp_path: Path, photos: list[np.ndarray]) -> None:
    import cv2

    path = tmp_path / "mixed.mp4"
    with VideoSink(path, fps=10) as sink:
        sink.write(classify_result(0), photos[0])
        sink.write(classify_result(1), cv2.resize(photos[1], (640, 360)))
        sink.write(classify_result(2), photos[2][:, :, 0])  # grayscale
    frames = read_video(path)
    assert [f.shape for f in frames] == [(240, 320, 3)] * 3


def test_an_existing_video_is_refused_without_force(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"keep me")
    with pytest.raises(ConfigError, match=r"--save .*out\.mp4' already exists; pass --force"):
        VideoSink(path)
    assert path.read_bytes() == b"keep me"
    VideoSink(path, force=True).close()


def test_an_unknown_container_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"OpenCV cannot write 'mp4v' video there"):
        VideoSink(tmp_path / "out.unknownext")


def test_no_frames_leaves_no_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    VideoSink(path).close()
    assert not path.exists()


def test_sigterm_handler_that_closes_the_sink_leaves_a_playable_file(tmp_path: Path) -> None:
    """What `edgekit run` does on SIGTERM (close the sinks) finalises the MP4."""
    path = tmp_path / "term.mp4"
    script = f"""
import signal, sys, time
import numpy as np
sys.path.insert(0, {str(Path(__file__).parent)!r})
from sinks_helpers import classify_result
from edgekit.sinks import VideoSink
sink = VideoSink({str(path)!r}, fps=20)
def stop(*_):
    sink.close()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
rng = np.random.default_rng(0)
i = 0
while True:
    sink.write(classify_result(i), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    i += 1
    if i == 25:
        print("ready", flush=True)
    time.sleep(0.01)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
    info = _ffprobe(path)
    assert int(info["streams"][0]["nb_read_frames"]) >= 25
    assert len(read_video(path)) >= 25


def test_a_matroska_file_still_plays_after_a_hard_kill(tmp_path: Path) -> None:
    """SIGKILL gives no chance to finalise: .mkv keeps what was written (an .mp4 would not)."""
    path = tmp_path / "killed.mkv"
    script = f"""
import sys, time
import numpy as np
sys.path.insert(0, {str(Path(__file__).parent)!r})
from sinks_helpers import classify_result
from edgekit.sinks import VideoSink
sink = VideoSink({str(path)!r}, fps=20)
rng = np.random.default_rng(0)
i = 0
while True:
    sink.write(classify_result(i), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    i += 1
    if i == 40:
        print("ready", flush=True)
    time.sleep(0.01)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)
    assert int(_ffprobe(path)["streams"][0]["nb_read_frames"]) >= 20
    assert len(read_video(path)) >= 20
