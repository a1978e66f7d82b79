"""Sources: demo, images, video files, names → sources, picamera2 wiring, loop and pacing."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import fake_picamera2 as fake_picamera2_pkg
import numpy as np
import pytest
from streamkit import write_video

from edgekit.errors import ConfigError, FrameInvalid, ImageUnreadable, SourceOpenError
from edgekit.sources import (
    CameraSource,
    DemoSource,
    ImageSource,
    Looped,
    Paced,
    PicamSource,
    Source,
    SourceOptions,
    VideoSource,
    source_factory,
)
from edgekit.sources.demo import load_demo_digits


# -- demo -------------------------------------------------------------------------------
def test_demo_frames_are_bgr_uint8_at_the_requested_size() -> None:
    source = DemoSource(width=200, height=150, fps=60)
    source.open()
    frame, ts = source.read()
    source.close()
    assert frame.shape == (150, 200, 3) and frame.dtype == np.uint8
    assert isinstance(source, Source) and source.live
    assert abs(ts - time.time()) < 5


def test_demo_shows_a_bright_digit_near_the_centre_on_a_dark_noisy_background() -> None:
    source = DemoSource()
    frame = cv2.cvtColor(source.frame_at(0), cv2.COLOR_BGR2GRAY)
    ys, xs = np.nonzero(frame > 128)
    assert len(xs) > 500, "the digit is drawn"
    assert 0.2 * 240 < ys.max() - ys.min() < 0.9 * 240  # about 0.8× the height (the stroke is smaller)
    assert abs(xs.mean() - 160) < 0.25 * 320 and abs(ys.mean() - 120) < 0.25 * 240
    corner = frame[:20, :20]
    assert 0 < corner.mean() < 30, "mild noise, no digit in the corner"


def test_demo_is_deterministic_and_labels_each_frame_with_the_digit_shown() -> None:
    a, b = DemoSource(fps=30), DemoSource(fps=30)
    digits = load_demo_digits()
    assert np.array_equal(a.frame_at(5), b.frame_at(5))
    labels = [a.label_at(i) for i in range(600)]
    assert all(0 <= v <= 9 for v in labels)
    for start in range(0, 600, 30):
        assert labels[start:start + 30] == [labels[start]] * 30, "one digit per second at 30 FPS"
    assert len(set(labels)) >= 5, "twenty seconds show several different digits"
    assert set(labels) <= {int(v) for v in digits.labels}
    # a new digit is drawn at each change: frames of different slots differ
    assert not np.array_equal(a.frame_at(0), a.frame_at(30))


def test_demo_timestamps_follow_the_frame_rate() -> None:
    source = DemoSource(fps=50)
    source.open()
    items = [source.read() for _ in range(5)]
    positions = []
    source.close()
    first = items[0][1]
    for frame, ts in items:
        assert frame is not None
        positions.append(round((ts - first) * 50))
    assert positions == sorted(positions) and len(set(positions)) == 5
    for _, ts in items:  # every timestamp is on the 50 FPS grid
        assert abs((ts - first) * 50 - round((ts - first) * 50)) < 1e-3


def test_demo_misses_frames_like_a_camera_when_the_reader_is_late() -> None:
    source = DemoSource(fps=30)
    source.open()
    source.read()
    first = source.position
    time.sleep(0.3)
    source.read()
    source.close()
    assert source.position - first >= 5


def test_demo_with_missing_digits_file_is_a_source_open_error(tmp_path: Path) -> None:
    source = DemoSource(digits=tmp_path / "missing.npz")
    with pytest.raises(SourceOpenError, match="cannot read the demo digits"):
        source.open()


def test_demo_rejects_a_tiny_frame_size() -> None:
    with pytest.raises(ConfigError, match="too small"):
        DemoSource(width=4, height=4)


# -- images -----------------------------------------------------------------------------
def _write_images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img_{i:02d}.png"
        cv2.imwrite(str(path), np.full((40, 50, 3), i * 20, np.uint8))
        paths.append(path)
    return paths


def test_image_folder_reads_each_image_once_in_name_order(tmp_path: Path) -> None:
    paths = _write_images(tmp_path / "imgs", 4)
    source = ImageSource(tmp_path / "imgs")
    source.open()
    seen = []
    while (item := source.read()) is not None:
        seen.append((source.input, int(item[0].mean())))
    assert seen == [(str(p), i * 20) for i, p in enumerate(paths)]
    assert not source.live


def test_image_source_raises_image_unreadable_for_a_corrupt_file_and_goes_on(tmp_path: Path) -> None:
    _write_images(tmp_path, 2)
    (tmp_path / "img_00b.jpg").write_bytes(b"not a jpeg")
    source = ImageSource(str(tmp_path / "img_*"))
    source.open()
    assert source.read() is not None
    with pytest.raises(ImageUnreadable, match="not a decodable image"):
        source.read()
    assert source.read() is not None
    assert source.read() is None


def test_empty_folder_and_unmatched_glob_are_source_open_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceOpenError, match="holds no image"):
        ImageSource(tmp_path).open()
    with pytest.raises(SourceOpenError, match="no file matches"):
        ImageSource(str(tmp_path / "*.jpg")).open()


# -- video files ------------------------------------------------------------------------
def test_video_file_is_read_frame_by_frame_to_the_end(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", frames=24)
    source = VideoSource(path)
    source.open()
    levels = []
    while (item := source.read()) is not None:
        levels.append(round(float(item[0].mean())))
    source.close()
    assert not source.live
    assert len(levels) == 24
    assert all(abs(level - (i * 8) % 256) <= 3 for i, level in enumerate(levels))
    assert source.position == 23


def test_a_file_that_is_not_a_video_is_a_source_open_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.mp4"
    path.write_text("hello")
    with pytest.raises(SourceOpenError, match="not a video"):
        VideoSource(path).open()


def test_looped_file_starts_again_with_increasing_positions(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", frames=5)
    source = Looped(VideoSource(path))
    source.open()
    positions = []
    for _ in range(12):
        item = source.read()
        assert item is not None
        positions.append(source.position)
    source.close()
    assert positions == list(range(12))


def test_paced_file_is_live_finite_and_stamped_on_its_frame_rate(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", frames=4)
    source = Paced(VideoSource(path), fps=20)
    source.open()
    stamps = [source.read()[1] for _ in range(4)]
    assert source.read() is None
    source.close()
    assert source.live and source.finite
    assert np.allclose(np.diff(stamps), 1 / 20)


# -- names → sources --------------------------------------------------------------------
@pytest.mark.parametrize(("spec", "kind"), [
    ("demo", DemoSource), (0, CameraSource), ("2", CameraSource), ("/dev/video3", CameraSource),
    ("picam", PicamSource), ("rtsp://cam.local/stream", VideoSource),
    ("http://127.0.0.1:8080/video.mjpg", VideoSource),
])
def test_source_factory_maps_names_to_sources(spec: object, kind: type) -> None:
    source = source_factory(spec)()  # type: ignore[arg-type]
    assert isinstance(source, kind)


def test_stream_urls_are_live_and_credentials_are_not_in_the_name() -> None:
    source = source_factory("rtsp://admin:secret@10.0.0.2/live")()
    assert source.live
    assert "secret" not in source.name and source.name == "rtsp://***@10.0.0.2/live"


def test_source_factory_applies_loop_and_realtime_to_files(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", frames=3, fps=15)
    looped = source_factory(str(path), SourceOptions(loop=True))()
    paced = source_factory(str(path), SourceOptions(realtime=True))()
    assert isinstance(looped, Looped) and not looped.live
    assert isinstance(paced, Paced) and paced.live and paced.fps == pytest.approx(15)


def test_source_factory_rejects_what_does_not_exist() -> None:
    with pytest.raises(SourceOpenError, match="no such file, folder, camera or URL"):
        source_factory("no/such/clip.mp4")
    with pytest.raises(ConfigError, match="a camera index is 0 or more"):
        source_factory(-1)
    with pytest.raises(ConfigError, match="must be a camera index"):
        source_factory(3.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="^width must be at least 8"):
        SourceOptions(width=2)


def test_an_absent_camera_is_a_one_line_source_open_error() -> None:
    with pytest.raises(SourceOpenError, match=r"camera:9: cannot open the camera"):
        CameraSource(9).open()
    with pytest.raises(SourceOpenError, match="does not exist"):
        CameraSource("/dev/video99").open()


def test_check_frame_rejects_empty_and_non_image_frames() -> None:
    from edgekit.sources.opencv import check_frame

    with pytest.raises(FrameInvalid, match="empty frame"):
        check_frame(np.zeros((0, 3), np.uint8))
    with pytest.raises(FrameInvalid, match="not an H×W×3 uint8"):
        check_frame(np.zeros((4, 4, 3), np.float64))


# -- picamera2 --------------------------------------------------------------------------
@pytest.fixture()
def fake_picamera2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(fake_picamera2_pkg.install(tmp_path)))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    import picamera2

    yield picamera2
    sys.modules.pop("picamera2", None)


def test_picam_source_configures_picamera2_and_delivers_bgr_frames(fake_picamera2) -> None:  # type: ignore[no-untyped-def]
    source = source_factory("picam", SourceOptions(width=320, height=240, fps=15))()
    source.open()
    frame, _ = source.read()
    source.close()
    assert frame.shape == (240, 320, 3)
    assert frame[0, 0].tolist() == [255, 0, 0], "libcamera RGB888 is BGR: passed through as is"
    calls = [c[0] for c in fake_picamera2.CALLS]
    assert calls == ["init", "create_video_configuration", "configure", "start", "stop", "close"]
    config = fake_picamera2.CALLS[1]
    assert config[1] == {"size": (320, 240), "format": "RGB888"}
    assert config[2] == {"FrameRate": 15.0}


def test_picam_source_reports_a_missing_camera(fake_picamera2) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SourceOpenError, match="no CSI camera found"):
        PicamSource(camera=1).open()


def test_picam_without_picamera2_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails as if not installed
    with pytest.raises(SourceOpenError,
                       match=r"python3-picamera2.*--system-site-packages"):
        PicamSource().open()
