"""``Snapshots``: snapshots and pre-roll clips from a real stream, retention, atomic files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import zoo
from testkit import read_video

import edgekit
from edgekit import Clips, Retention, Snapshots, StreamEvent
from edgekit._actions.clips import JpegRing
from edgekit._actions.storage import file_stamp
from edgekit.sources import DemoSource

DIGIT_RULES = [f"{d}>=0.6 for 2/3" for d in range(10)]  # the bundled model's labels: '0' … '9'


def _rule_events(items: list) -> list[StreamEvent]:  # type: ignore[type-arg]
    return [i for i in items if isinstance(i, StreamEvent) and i.event == "rule"]


def _best_match(image: np.ndarray, demo: DemoSource, indexes: range) -> int:
    """The demo frame index whose picture ``image`` (a decoded JPEG) is closest to."""
    diffs = {i: float(np.abs(image.astype(np.int16) - demo.frame_at(i)).mean()) for i in indexes}
    return min(diffs, key=diffs.get)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, default_model: Path) -> tuple[Path, list]:  # type: ignore[type-arg]
    """Four seconds of the demo with a rule per digit, snapshots and 1 s pre-roll clips."""
    folder = tmp_path_factory.mktemp("events")
    snaps = Snapshots(folder, clips=Clips(pre_roll=1.0, post_roll=0.5, max_seconds=1.5))
    items = list(edgekit.stream(default_model, DemoSource(), rules=DIGIT_RULES, sinks=[snaps],
                                events=True, duration=4.5))
    return folder, items


def test_each_rule_that_turns_on_gets_a_snapshot_named_in_its_event(recorded: tuple) -> None:  # type: ignore[type-arg]
    folder, items = recorded
    ons = [e for e in _rule_events(items) if e.state == "on"]
    assert len(ons) >= 3
    for event in ons:
        assert event.snapshot is not None and Path(event.snapshot).parent == folder
        assert Path(event.snapshot).name.startswith(file_stamp(event.ts))
        image = cv2.imread(event.snapshot)
        assert image is not None and image.shape == (240, 320, 3)
    assert all(e.snapshot is None for e in _rule_events(items) if e.state == "off")
    assert not list(folder.glob(".tmp-*")), "no temporary file is left behind"


def test_clips_start_a_pre_roll_before_the_event_and_play(recorded: tuple) -> None:  # type: ignore[type-arg]
    _, items = recorded
    demo = DemoSource()
    clips = {e.clip for e in _rule_events(items) if e.clip}
    deadline = time.monotonic() + 20  # the last one is finished as the stream closes, maybe just after
    while not all(Path(c).is_file() for c in clips) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert clips and all(Path(c).is_file() for c in clips)
    # The events that opened a clip (others joined one still open), once the pre-roll had filled.
    opening = [e for e in _rule_events(items) if e.state == "on" and e.frame > 45
               and Path(e.clip).stem == Path(e.snapshot).stem]  # type: ignore[arg-type]
    assert opening and len(clips) >= 2
    for event in opening:
        frames = read_video(Path(event.clip))  # type: ignore[arg-type]
        assert len(frames) >= 10 and frames[0].shape == (240, 320, 3)
        first = _best_match(frames[0], demo, range(max(0, event.frame - 60), event.frame + 1))
        assert event.frame - 40 <= first <= event.frame - 20, \
            f"the clip starts ~1 s (30 frames) before the event at {event.frame}, found {first}"


def test_the_snapshot_is_the_frame_that_fired_drawn_or_clean(tmp_path: Path, default_model: Path) -> None:
    demo = DemoSource()
    drawn, clean = Snapshots(tmp_path / "drawn"), Snapshots(tmp_path / "clean", annotate=False)
    items = list(edgekit.stream(default_model, demo, rules=DIGIT_RULES[:5], sinks=[drawn, clean],
                                events=True, duration=3.5))
    for event in (e for e in _rule_events(items) if e.state == "on"):
        name = Path(event.snapshot).name  # type: ignore[arg-type]
        raw = demo.frame_at(event.frame).astype(np.int16)  # type: ignore[arg-type]
        plain = cv2.imread(str(tmp_path / "clean" / name)).astype(np.int16)
        fancy = cv2.imread(str(tmp_path / "drawn" / name)).astype(np.int16)
        assert np.abs(plain - raw).mean() < 4, "clean: the camera's frame (JPEG-close)"
        assert np.abs(fancy - plain)[:24, :48].mean() > 20, "drawn: the top class is written top left"


def test_the_pre_roll_buffer_is_bounded_in_time_rate_and_bytes() -> None:
    photos = [cv2.resize(p, (640, 480)) for p in zoo.skimage_photos()]
    raw_frame = 640 * 480 * 3
    ring = JpegRing(seconds=5.0, fps=15.0, max_bytes=64_000_000, quality=80)
    for i in range(30 * 8):  # 8 s of a 30 FPS camera
        ring.add(i / 30, photos[i // 30 % len(photos)])
    assert 74 <= len(ring) <= 76, "5 s at 15 FPS"
    assert ring.bytes == sum(len(f[1]) for f in ring.since(0)) and ring.peak_bytes >= ring.bytes
    assert ring.bytes < len(ring) * raw_frame / 5, "JPEG holds it in a fifth of the pixels' memory"
    tight = JpegRing(seconds=5.0, fps=15.0, max_bytes=500_000)
    for i in range(150):
        tight.add(i / 30, photos[i // 30 % len(photos)])
        assert tight.bytes <= 500_000
    assert 0 < len(tight) < 75


def _own(folder: Path, ts: float, i: int, size: int = 1000, ext: str = "jpg") -> Path:
    path = folder / f"{file_stamp(ts)}_door_f{i:06d}.{ext}"
    path.write_bytes(b"x" * size)
    os.utime(path, (ts, ts))
    return path


def test_retention_deletes_the_oldest_of_its_own_files_only(tmp_path: Path) -> None:
    now = time.time()
    files = [_own(tmp_path, now - 3600 * (10 - i), i) for i in range(10)]
    foreign = tmp_path / "holiday.jpg"
    foreign.write_bytes(b"y" * 10**6)
    assert Retention(max_files=4).enforce(tmp_path) == files[:6]
    assert Retention(max_mb=0.0025).enforce(tmp_path) == files[6:8], "2 × 1000 bytes fit in 2.5 kB"
    _own(tmp_path, now - 86400 * 3, 98)
    old = _own(tmp_path, now - 86400 * 3, 99, ext="mkv")
    assert old in Retention(max_days=2).enforce(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([files[8].name, files[9].name, "holiday.jpg"])


def test_a_new_run_removes_the_temporary_files_a_killed_one_left(tmp_path: Path) -> None:
    (tmp_path / ".tmp-20250101-120000-000_door_f000001.mkv").write_bytes(b"half a clip")
    (tmp_path / "notes.txt").write_text("mine")
    Snapshots(tmp_path).close()
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_too_little_free_space_stops_snapshots_with_an_event_and_inference_goes_on(
        tmp_path: Path, default_model: Path) -> None:
    snaps = Snapshots(tmp_path / "events", min_free_mb=10**12)
    items = list(edgekit.stream(default_model, "demo", rules=DIGIT_RULES, sinks=[snaps], events=True,
                                duration=2.5))
    full = [i for i in items if isinstance(i, StreamEvent) and i.event == "storage_full"]
    assert len(full) == 1 and full[0].source == "demo"
    assert full[0].message.startswith("snapshots stopped: ") and "inference goes on" in full[0].message
    assert all(e.snapshot is None for e in _rule_events(items))
    after = items[items.index(full[0]):]
    assert sum(isinstance(i, edgekit.FrameResult) for i in after) >= 20
    assert not list((tmp_path / "events").iterdir())
