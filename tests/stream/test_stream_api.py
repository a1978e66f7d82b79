"""``edgekit.stream``: results, sinks, callbacks, limits, files vs live, systemd, accuracy."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from streamkit import RecordingSink, write_video

import edgekit
from edgekit import FrameResult, StreamEvent
from edgekit.errors import ConfigError, SourceOpenError
from edgekit.results import StreamStats
from edgekit.sources import DemoSource


@pytest.fixture(scope="module")
def model(digits_model: Path) -> edgekit.Model:
    with edgekit.load(digits_model) as loaded:
        yield loaded


class FlakyFrames:
    """A live source whose every 3rd frame has 5 channels (the model cannot take it)."""

    live = True
    name = "flaky"

    def __init__(self) -> None:
        self.i = 0
        self.closed = False

    def open(self) -> None:
        self.closed = False

    def read(self):  # type: ignore[no-untyped-def]
        time.sleep(0.005)
        self.i += 1
        channels = 5 if self.i % 3 == 0 else 3
        return np.zeros((32, 32, channels), np.uint8), time.time()

    def close(self) -> None:
        self.closed = True


def test_stream_yields_frame_results_of_the_demo_source(model: edgekit.Model) -> None:
    results = list(edgekit.stream(model, "demo", max_frames=15))
    assert len(results) == 15 and all(isinstance(r, FrameResult) for r in results)
    assert [r.source for r in results] == ["demo"] * 15
    frames = [r.frame for r in results]
    assert frames == sorted(frames) and len(set(frames)) == 15
    for r in results:
        lat = r.latency
        assert min(lat.age, lat.pre, lat.invoke, lat.post) >= 0 and lat.invoke > 0
        assert r.to_dict()["latency_ms"]["total"] == pytest.approx(lat.total, abs=0.02)
        assert r.task == "classify" and len(r.classes) == 5
        assert abs(r.ts - time.time()) < 60
    assert not model.closed, "a Model passed in stays open"


def test_stream_loads_a_model_path_and_closes_it_at_the_end(digits_model: Path) -> None:
    with edgekit.stream(str(digits_model), "demo", max_frames=3, top_k=2) as running:
        results = list(running)
    assert len(results) == 3 and len(results[0].classes) == 2
    assert running.model.closed


def test_sinks_get_each_result_with_its_frame_and_stats_then_stopped(model: edgekit.Model) -> None:
    sink = RecordingSink()
    with edgekit.stream(model, "demo", sinks=[sink], max_frames=8) as running:
        results = list(running)
    assert sink.closed
    assert sink.items[:8] == results
    for frame, stats in zip(sink.frames[:8], sink.stats[:8]):
        assert isinstance(frame, np.ndarray) and frame.shape == (240, 320, 3)
        assert isinstance(stats, StreamStats) and stats.inferred >= 1
    assert sink.stats[7].inferred == 8
    last = sink.items[-1]
    assert isinstance(last, StreamEvent) and last.event == "stopped"
    assert last.message == "8 frames done", "the reason names no CLI flag"


def test_a_slow_sink_loses_results_instead_of_blocking_inference(tmp_path: Path,
                                                                  model: edgekit.Model) -> None:
    path = write_video(tmp_path / "clip.avi", frames=60)
    slow = RecordingSink("slow", delay=0.2)
    running = edgekit.stream(model, str(path), sinks=[slow], queue_size=2)
    results = list(running)
    summary = running.summary()
    assert len(results) == 60, "every frame of the file was inferred"
    received = [i for i in slow.items if isinstance(i, FrameResult)]
    assert len(received) < 60
    assert summary.sink_drops["slow"] == 60 - len(received)
    assert slow.items[-1].event == "stopped", "events are not dropped for results"


def test_callbacks_see_results_and_events(model: edgekit.Model) -> None:
    seen: list[int] = []
    events: list[str] = []
    summary = edgekit.stream(model, "demo", on_result=lambda r: seen.append(r.frame),
                             on_event=lambda e: events.append(e.event), max_frames=5).run()
    assert len(seen) == 5 and summary.inferred == 5
    assert events == ["stopped"]


def test_events_true_yields_the_stopped_event_last(model: edgekit.Model) -> None:
    items = list(edgekit.stream(model, "demo", events=True, max_frames=3))
    assert [type(i).__name__ for i in items] == ["FrameResult"] * 3 + ["StreamEvent"]
    assert items[-1].event == "stopped"


def test_a_video_file_is_inferred_frame_by_frame_without_drops(tmp_path: Path,
                                                               model: edgekit.Model) -> None:
    path = write_video(tmp_path / "clip.avi", frames=30)
    running = edgekit.stream(model, path)
    frames = [r.frame for r in running]
    summary = running.summary()
    assert frames == list(range(30))
    assert (summary.frames, summary.inferred, summary.dropped) == (30, 30, 0)
    assert summary.reason == "end of the source"


def test_every_n_infers_every_nth_frame(tmp_path: Path, model: edgekit.Model) -> None:
    path = write_video(tmp_path / "clip.avi", frames=20)
    assert [r.frame for r in edgekit.stream(model, path, every=5)] == [0, 5, 10, 15]


def test_loop_starts_the_file_again(tmp_path: Path, model: edgekit.Model) -> None:
    path = write_video(tmp_path / "clip.avi", frames=10)
    frames = [r.frame for r in edgekit.stream(model, path, loop=True, max_frames=25)]
    assert frames == list(range(25))


def test_realtime_file_behaves_as_live_and_drops_what_the_model_misses(
        tmp_path: Path, model: edgekit.Model) -> None:
    path = write_video(tmp_path / "clip.avi", frames=45, fps=30)
    running = edgekit.stream(model, path, realtime=True, on_result=lambda r: time.sleep(0.1))
    frames = [r.frame for r in running]
    summary = running.summary()
    assert summary.dropped > 0 and summary.frames == 45
    assert len(frames) < 45 and frames == sorted(frames)
    assert summary.reason == "end of the source"


def test_max_fps_paces_inference_and_counts_the_rest_as_skipped(model: edgekit.Model) -> None:
    running = edgekit.stream(model, DemoSource(fps=30), max_fps=4, duration=1.5)
    results = list(running)
    summary = running.summary()
    assert 1 <= len(results) <= 7  # at most 4/s (+1 for the first)
    assert summary.skipped > summary.dropped


def test_duration_stops_the_stream(model: edgekit.Model) -> None:
    running = edgekit.stream(model, "demo", duration=0.5)
    results = list(running)
    assert results and running.summary().reason == "0.5 s done"


def test_image_folder_results_carry_their_input_path(tmp_path: Path, model: edgekit.Model) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((20, 20, 3), 50 * i, np.uint8))
    results = list(edgekit.stream(model, tmp_path))
    assert [Path(r.prediction.input).name for r in results] == ["0.png", "1.png", "2.png"]
    assert results[0].to_dict()["input"].endswith("0.png")


def test_frames_the_model_cannot_take_are_counted_as_bad_and_skipped(model: edgekit.Model) -> None:
    source = FlakyFrames()
    running = edgekit.stream(model, source, max_frames=10)
    results = list(running)
    assert len(results) == 10
    assert running.summary().bad_frames >= 3
    assert source.closed, "the source was released"


def test_a_source_that_cannot_open_raises_at_start_and_closes_the_sinks(model: edgekit.Model) -> None:
    sink = RecordingSink()
    running = edgekit.stream(model, "rtsp://127.0.0.1:9/none", sinks=[sink], stall_timeout=1)
    with pytest.raises(SourceOpenError, match=r"rtsp://127.0.0.1:9/none: cannot connect"):
        running.start()
    assert sink.closed


class NoCamera:
    """A live source whose open fails (a camera that is unplugged)."""

    live = True
    name = "nocamera"

    def open(self) -> None:
        raise SourceOpenError("nocamera: cannot open the camera")

    def read(self) -> None:
        return None

    def close(self) -> None:
        pass


def _threads_started_since(before: set[int], wait: float = 2.0) -> list[str]:
    """Threads alive now that were not in ``before`` (giving exiting ones ``wait`` s to end)."""
    deadline = time.monotonic() + wait
    while True:
        new = [t.name for t in threading.enumerate() if t.ident not in before and t.is_alive()]
        if not new or time.monotonic() > deadline:
            return new
        time.sleep(0.02)


def test_a_stream_that_cannot_start_leaves_no_thread_and_closes_the_model_it_loaded(
        digits_model: Path) -> None:
    before = {t.ident for t in threading.enumerate()}
    sinks = [RecordingSink("same"), RecordingSink("same")]
    running = edgekit.stream(str(digits_model), lambda: NoCamera(), sinks=sinks)  # a factory
    assert len(_threads_started_since(before, wait=0)) == 2  # one queue thread per sink
    with pytest.raises(SourceOpenError, match="nocamera: cannot open the camera"):
        running.start()
    assert _threads_started_since(before) == []
    assert running.model.closed and all(s.closed for s in sinks)
    with pytest.raises(ConfigError, match="this stream is closed"):
        running.start()


def test_a_stream_that_cannot_be_created_closes_its_sinks_and_the_model_it_loaded(
        digits_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[edgekit.Model] = []
    close = edgekit.Model.close
    monkeypatch.setattr(edgekit.Model, "close", lambda self: (closed.append(self), close(self))[1])
    before = {t.ident for t in threading.enumerate()}
    sink = RecordingSink()
    with pytest.raises(SourceOpenError, match="missing.mp4"):
        edgekit.stream(str(digits_model), str(tmp_path / "missing.mp4"), sinks=[sink])
    assert _threads_started_since(before) == []
    assert sink.closed and len(closed) == 1 and closed[0].closed


def test_two_sinks_with_one_name_are_counted_apart(model: edgekit.Model) -> None:
    summary = edgekit.stream(model, "demo", sinks=[RecordingSink("same"), RecordingSink("same")],
                             max_frames=2).run()
    assert set(summary.sink_drops) == {"same", "same#2"}


def test_a_stream_closed_before_it_started_closes_the_model_it_loaded(digits_model: Path) -> None:
    running = edgekit.stream(str(digits_model), "demo")
    assert running.close() is None
    assert running.model.closed


def test_stream_rejects_limits_out_of_range(model: edgekit.Model) -> None:
    with pytest.raises(ConfigError, match="every must be >= 1"):
        edgekit.stream(model, "demo", every=0)
    with pytest.raises(ConfigError, match="max_fps must be > 0"):
        edgekit.stream(model, "demo", max_fps=0)
    with pytest.raises(ConfigError, match="need a model path"):
        edgekit.stream(model, "demo", top_k=3)


def test_stream_tells_systemd_ready_watchdog_and_stopping(tmp_path: Path, model: edgekit.Model,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    address = str(tmp_path / "notify.sock")
    messages: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        server.settimeout(0.5)

        def receive() -> None:  # like systemd: read as they come (the queue holds only ~10)
            try:
                while True:
                    messages.append(server.recv(4096).decode())
            except (TimeoutError, OSError):
                pass

        reader = threading.Thread(target=receive)
        reader.start()
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        monkeypatch.setenv("WATCHDOG_USEC", "200000")  # ping every 0.1 s
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
        list(edgekit.stream(model, "demo", duration=1.0))
        reader.join()
    assert messages[0] == "READY=1"
    assert messages.count("READY=1") == 1
    assert messages.count("WATCHDOG=1") >= 2
    assert messages[-1] == "STOPPING=1"


def test_stats_carry_the_board_temperature(model: edgekit.Model,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import edgekit._device.thermal

    monkeypatch.setattr(edgekit._device.thermal, "read_thermal", lambda: {"temp_c": 42.5})
    sink = RecordingSink()
    list(edgekit.stream(model, "demo", sinks=[sink], duration=0.5))
    temps = [s.thermal.get("temp_c") for s in sink.stats if s is not None]
    assert 42.5 in temps


def test_default_model_classifies_the_demo_digits(default_model: Path) -> None:
    source = DemoSource(period=0.5)  # eight digits in 4 s
    correct = total = 0
    for result in edgekit.stream(default_model, source, duration=4):
        total += 1
        correct += result.classes[0].id == source.label_at(result.frame)
    assert total >= 30
    assert correct / total >= 0.90, f"{correct}/{total} frames classified right"


def test_preprocessing_ahead_gives_the_same_results_as_inline(tmp_path: Path,
                                                             model: edgekit.Model) -> None:
    path = write_video(tmp_path / "clip.avi", frames=12)
    ahead = list(edgekit.stream(model, path))
    inline = list(edgekit.stream(model, path, prepare_ahead=False))
    assert [r.classes for r in ahead] == [r.classes for r in inline]
    assert all(r.latency.pre > 0 for r in ahead + inline)


def test_live_results_account_for_the_time_before_invoke(model: edgekit.Model) -> None:
    for prepare_ahead in (True, False):
        for r in edgekit.stream(model, "demo", max_frames=5, prepare_ahead=prepare_ahead):
            lat = r.latency
            # capture → end of post-processing, whoever pre-processed
            assert r.ts + lat.total / 1e3 <= time.time() + 0.01
            assert lat.pre > 0 and lat.age >= 0
