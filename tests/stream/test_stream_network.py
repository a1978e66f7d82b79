"""A live stream on loopback from a real ffmpeg process: results, unplug/replug, freeze."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from streamkit import MjpegCamera

import edgekit
from edgekit import FrameResult, StreamEvent

pytestmark = pytest.mark.skipif(not any(
    os.access(os.path.join(d, "ffmpeg"), os.X_OK) for d in os.environ.get("PATH", "").split(":")
), reason="needs the ffmpeg program (Debian package ffmpeg)")


@pytest.fixture(scope="module")
def model(digits_model: Path) -> edgekit.Model:
    with edgekit.load(digits_model) as loaded:
        yield loaded


def _drive(running: edgekit.stream, actions: dict[str, object], limit: float = 40.0
           ) -> tuple[list[FrameResult], list[tuple[str, int]]]:
    """Iterate ``running``; call ``actions[trigger]`` when the trigger first holds.

    Triggers: ``"results:N"`` (N results so far), ``"event:NAME"`` (that event arrived).
    Returns the results and the events as (name, number of results before it).
    """
    results: list[FrameResult] = []
    events: list[tuple[str, int]] = []
    pending = dict(actions)
    deadline = time.monotonic() + limit
    for item in running:
        if isinstance(item, StreamEvent):
            events.append((item.event, len(results)))
        else:
            results.append(item)
        for trigger in list(pending):
            kind, _, arg = trigger.partition(":")
            hit = (kind == "results" and len(results) >= int(arg)) or \
                (kind == "event" and any(name == arg for name, _ in events))
            if hit:
                pending.pop(trigger)()  # type: ignore[operator]
        if time.monotonic() > deadline:
            running.stop("test deadline")
    return results, events


def test_a_loopback_mjpeg_stream_gives_live_newest_frame_results(model: edgekit.Model) -> None:
    with MjpegCamera(fps=30) as camera:
        running = edgekit.stream(model, camera.url, max_frames=40)
        results = list(running)
        summary = running.summary()
    assert len(results) == 40
    assert results[0].source == camera.url
    frames = [r.frame for r in results]
    assert frames == sorted(frames) and len(set(frames)) == 40
    assert summary.frames >= summary.inferred + summary.dropped
    assert all(r.latency.age < 5000 for r in results)


@pytest.mark.slow  # real reconnect waits
def test_the_stream_comes_back_after_the_camera_server_stops_and_restarts(
        model: edgekit.Model) -> None:
    camera = MjpegCamera(fps=30).start()
    try:
        running = edgekit.stream(model, camera.url, events=True, stall_timeout=1.0)
        restart = threading.Timer(1.5, camera.start)
        results, events = _drive(running, {
            "results:15": camera.stop,
            "event:source_offline": restart.start,
            "event:source_online": lambda: threading.Timer(1.0, running.stop).start(),
        }, limit=30)
        names = [name for name, _ in events]
        assert names[:2] == ["source_offline", "source_online"], events
        assert names[-1] == "stopped"
        back = {name: count for name, count in reversed(events)}
        assert back["source_offline"] >= 15
        assert len(results) > back["source_online"], "results flow again after source_online"
    finally:
        camera.stop()


@pytest.mark.slow  # real watchdog and freeze waits
def test_a_stream_that_freezes_is_reopened_by_the_watchdog(model: edgekit.Model) -> None:
    camera = MjpegCamera(fps=30).start()
    assert camera.proc is not None
    pid = camera.proc.pid
    try:
        running = edgekit.stream(model, camera.url, events=True, stall_timeout=1.0)
        thaw = threading.Timer(2.5, lambda: os.kill(pid, signal.SIGCONT))
        results, events = _drive(running, {
            "results:10": lambda: os.kill(pid, signal.SIGSTOP),  # connected, but silent
            "event:source_offline": thaw.start,
            "event:source_online": lambda: threading.Timer(1.0, running.stop).start(),
        }, limit=30)
        names = [name for name, _ in events]
        assert names == ["source_offline", "source_online", "stopped"], events
        offline = next(count for name, count in events if name == "source_offline")
        assert len(results) > offline
    finally:
        os.kill(pid, signal.SIGCONT)
        camera.stop()
