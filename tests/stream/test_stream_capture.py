"""Capture: newest-frame mailbox, file read-ahead without drops, the live watchdog."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from streamkit import write_video

from edgekit.errors import FrameInvalid, SourceOpenError
from edgekit.sources import ImageSource, VideoSource
from edgekit.sources.base import Frame
from edgekit.sources.capture import FileCapture, Mailbox, open_with_timeout
from edgekit.sources.live import Backoff, LiveCapture

FAST = Backoff(first=0.05, cap=0.2)


def _frame(index: int) -> Frame:
    return Frame(np.zeros((4, 4, 3), np.uint8), index, time.time())


class ScriptedSource:
    """A live source at ~``fps`` that, after ``good`` frames, does ``then``:
    ``"hang"`` (blocks until released), ``"bad"`` (raises FrameInvalid), ``"end"`` (None)."""

    live = True

    def __init__(self, good: int = 10**9, then: str = "hang", fps: float = 200.0,
                 release: threading.Event | None = None) -> None:
        self.name = "scripted"
        self.good, self.then, self.fps = good, then, fps
        self.release = release or threading.Event()
        self.count = 0
        self.opened = self.closed = 0

    def open(self) -> None:
        self.opened += 1

    def read(self):  # type: ignore[no-untyped-def]
        time.sleep(1 / self.fps)
        if self.count >= self.good:
            if self.then == "hang":
                self.release.wait()
                return None
            if self.then == "bad":
                raise FrameInvalid("scripted bad frame")
            return None
        self.count += 1
        return np.full((8, 8, 3), self.count % 256, np.uint8), time.time()

    def close(self) -> None:
        self.closed += 1


def _collect(capture: LiveCapture, seconds: float, until=None) -> tuple[list[Frame], list[str]]:  # type: ignore[no-untyped-def]
    frames, events = [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        events += [e.event for e in capture.drain_events()]
        frame = capture.take(0.05)
        if frame is not None:
            frames.append(frame)
        if until is not None and until(frames, events):
            break
    return frames, events


# -- mailbox ----------------------------------------------------------------------------
def test_mailbox_keeps_only_the_newest_frame_and_counts_replaced_ones_as_dropped() -> None:
    box = Mailbox()
    for i in range(5):
        box.put(_frame(i))
    assert box.take(0.1).index == 4
    assert (box.published, box.dropped, box.skipped) == (5, 4, 0)


def test_mailbox_counts_frames_passed_over_on_purpose_as_skipped() -> None:
    box = Mailbox()
    box.put(_frame(0))
    assert box.take(0.1).index == 0
    threading.Timer(0.05, lambda: [box.put(_frame(i)) for i in range(1, 4)]).start()
    frame = box.take(2.0, min_index=3)  # --every 3
    assert frame.index == 3
    assert (box.dropped, box.skipped) == (0, 2)
    threading.Timer(0.02, lambda: [box.put(_frame(i)) for i in range(4, 7)]).start()
    frame = box.take(2.0, not_before=time.monotonic() + 0.3)  # --max-fps: waiting on purpose
    assert frame.index == 6
    assert (box.dropped, box.skipped) == (0, 4)


def test_mailbox_take_returns_none_when_nothing_comes() -> None:
    box = Mailbox()
    assert box.take(0.05) is None
    box.close()
    assert box.take(5.0) is None


# -- files ------------------------------------------------------------------------------
def test_file_capture_hands_over_every_frame_in_order_to_a_slow_consumer(tmp_path: Path) -> None:
    capture = FileCapture(VideoSource(write_video(tmp_path / "c.avi", frames=20)))
    capture.start()
    indices = []
    while not capture.finished:
        frame = capture.take(1.0)
        if frame is not None:
            indices.append(frame.index)
            time.sleep(0.01)
    capture.stop()
    assert indices == list(range(20))
    assert capture.counters() == {"frames": 20, "dropped": 0, "skipped": 0, "bad_frames": 0}


def test_file_capture_skips_frames_below_min_index_on_purpose(tmp_path: Path) -> None:
    capture = FileCapture(VideoSource(write_video(tmp_path / "c.avi", frames=10)))
    capture.start()
    taken, last = [], -3
    while not capture.finished:
        frame = capture.take(1.0, min_index=last + 3)
        if frame is not None:
            taken.append(frame.index)
            last = frame.index
    capture.stop()
    assert taken == [0, 3, 6, 9]
    assert capture.skipped == 6 and capture.dropped == 0


def test_file_capture_counts_unreadable_images_and_goes_on(tmp_path: Path) -> None:
    import cv2

    for name in ("a.png", "c.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(b"broken")
    capture = FileCapture(ImageSource(tmp_path))
    capture.start()
    inputs = []
    while not capture.finished:
        frame = capture.take(1.0)
        if frame is not None:
            inputs.append(Path(frame.input).name)
    capture.stop()
    assert inputs == ["a.png", "c.png"]
    assert capture.bad_frames == 1


def test_file_capture_that_cannot_open_raises_source_open_error(tmp_path: Path) -> None:
    with pytest.raises(SourceOpenError, match="no such file"):
        FileCapture(VideoSource(tmp_path / "none.mp4")).start()


# -- live -------------------------------------------------------------------------------
def test_live_capture_gives_the_newest_frame_and_counts_the_rest_as_dropped() -> None:
    capture = LiveCapture(lambda: ScriptedSource(fps=300), stall_timeout=5)
    capture.start()
    taken = []
    for _ in range(10):
        frame = capture.take(1.0)
        assert frame is not None
        taken.append(frame.index)
        time.sleep(0.05)  # a slow model
    capture.stop()
    assert taken == sorted(taken) and len(set(taken)) == 10
    assert capture.dropped > 0
    assert capture.frames == len(taken) + capture.dropped + capture.skipped + \
        int(capture.mailbox.pending)


def test_a_read_that_hangs_forever_does_not_hang_the_pipeline() -> None:
    release = threading.Event()
    made: list[ScriptedSource] = []

    def factory() -> ScriptedSource:
        made.append(ScriptedSource(good=20 if not made else 10**9, then="hang", release=release))
        return made[-1]

    capture = LiveCapture(factory, stall_timeout=0.3, backoff=FAST)
    capture.start()
    try:
        frames, events = _collect(capture, 10.0, lambda f, e: "source_online" in e and len(f) > 30)
    finally:
        capture.stop()
        release.set()
    assert events[:2] == ["source_offline", "source_online"]
    assert len(made) == 2, "the stuck source was abandoned and a new one opened"
    indices = [f.index for f in frames]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert made[1].opened == 1 and made[1].closed == 1


def test_a_run_of_bad_frames_is_counted_and_reopens_the_source() -> None:
    made: list[ScriptedSource] = []

    def factory() -> ScriptedSource:
        made.append(ScriptedSource(good=10 if not made else 10**9, then="bad"))
        return made[-1]

    capture = LiveCapture(factory, stall_timeout=0.3, backoff=FAST)
    capture.start()
    _, events = _collect(capture, 10.0, lambda f, e: "source_online" in e)
    capture.stop()
    assert events == ["source_offline", "source_online"]
    assert capture.bad_frames >= 5
    assert made[0].closed == 1, "the bad source was closed by its own thread"


def test_a_source_that_ends_is_reopened_with_events() -> None:
    made: list[ScriptedSource] = []

    def factory() -> ScriptedSource:
        made.append(ScriptedSource(good=5 if len(made) < 1 else 10**9, then="end"))
        return made[-1]

    capture = LiveCapture(factory, stall_timeout=2.0, backoff=FAST)
    capture.start()
    _, events = _collect(capture, 10.0, lambda f, e: "source_online" in e)
    capture.stop()
    assert events == ["source_offline", "source_online"]


def test_failed_reconnections_emit_one_offline_event_and_keep_trying() -> None:
    attempts: list[float] = []

    def factory() -> ScriptedSource:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            return ScriptedSource(good=3, then="end")
        if len(attempts) < 4:
            raise SourceOpenError("scripted: camera unplugged")
        return ScriptedSource()

    capture = LiveCapture(factory, stall_timeout=0.5, backoff=FAST)
    capture.start()
    _, events = _collect(capture, 10.0, lambda f, e: "source_online" in e)
    capture.stop()
    assert events == ["source_offline", "source_online"]
    assert len(attempts) == 4 and capture.reconnects == 3
    assert np.all(np.diff(attempts[1:]) > 0.09), "attempts wait for the backoff, not a busy loop"


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff()
    assert [backoff.next() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next() == 1


def test_a_finite_live_source_ends_the_capture_instead_of_reconnecting() -> None:
    source = ScriptedSource(good=5, then="end")
    source.finite = True  # type: ignore[attr-defined]
    capture = LiveCapture(lambda: source, stall_timeout=2.0, reconnect=False, backoff=FAST)
    capture.start()
    _collect(capture, 5.0, lambda f, e: capture.finished)
    capture.stop()
    assert capture.finished
    assert capture.drain_events() == []


def test_a_source_that_never_opens_is_a_source_open_error() -> None:
    class Stuck(ScriptedSource):
        def open(self) -> None:
            time.sleep(3)

    with pytest.raises(SourceOpenError, match="scripted: did not open within 0.2 s"):
        LiveCapture(Stuck, stall_timeout=0.1, open_timeout=0.2).start()


def test_a_source_that_opens_after_the_timeout_is_closed_when_it_arrives() -> None:
    release, closed = threading.Event(), threading.Event()

    class Late(ScriptedSource):
        def open(self) -> None:
            release.wait(10)
            self.opened += 1

        def close(self) -> None:
            self.closed += 1
            closed.set()

    late = Late()
    with pytest.raises(SourceOpenError, match="did not open within 0.1 s"):
        open_with_timeout(late, 0.1)
    assert (late.opened, late.closed) == (0, 0)  # still opening
    release.set()
    assert closed.wait(5), "the late open left the device open"
    assert (late.opened, late.closed) == (1, 1)


def test_a_source_that_opens_in_time_is_left_open() -> None:
    source = ScriptedSource()
    open_with_timeout(source, 5.0)
    time.sleep(0.1)
    assert (source.opened, source.closed) == (1, 0)


def test_frames_that_are_not_images_count_as_bad_and_a_run_of_them_reopens_the_source() -> None:
    made: list[ScriptedSource] = []

    class EmptyFrames(ScriptedSource):
        def read(self):  # type: ignore[no-untyped-def]
            time.sleep(1 / self.fps)
            return np.zeros((0, 0, 3), np.uint8), time.time()

    def factory() -> ScriptedSource:
        made.append(EmptyFrames() if not made else ScriptedSource())
        return made[-1]

    capture = LiveCapture(factory, stall_timeout=0.3, backoff=FAST)
    capture.start()
    frames, events = _collect(capture, 10.0, lambda f, e: "source_online" in e and f)
    capture.stop()
    assert events[:2] == ["source_offline", "source_online"]
    assert capture.bad_frames >= 5
    assert all(f.image.size for f in frames), "no empty frame reached the pipeline"
