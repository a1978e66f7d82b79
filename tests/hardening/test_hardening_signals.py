"""SIGTERM / SIGINT against real ``edgekit run`` and ``edgekit batch`` processes.

Each must exit within 2 s of the signal (0.5 s after a second one) and leave
valid output: every stdout / ``--out`` line a JSON object. The measured exit
times are printed (run with ``-s``). The 2 s / 0.5 s bounds are the issue's
requirements, not speed measurements; they hold on an idle machine and are stretched by the
CPU contention at the time (``testkit.wall_limit``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import zoo
from testkit import default_signals, wall_limit

EDGEKIT = str(Path(sys.executable).with_name("edgekit"))
EXIT_LIMIT = 2.0
SECOND_SIGNAL_LIMIT = 0.5


class Process:
    """A child whose stdout lines are collected (with arrival times) by a thread."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen([EDGEKIT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, preexec_fn=default_signals)
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line))

    def wait_lines(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.lines) < count and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.02)
        assert len(self.lines) >= count, (self.proc.poll(), self._stderr())

    def signal_and_time(self, signum: int, second_after: float | None = None) -> float:
        """Send ``signum`` (and again after ``second_after`` s); seconds until exit from the last."""
        self.proc.send_signal(signum)
        sent = time.monotonic()
        if second_after is not None:
            time.sleep(second_after)
            if self.proc.poll() is None:
                self.proc.send_signal(signum)
                sent = time.monotonic()
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        elapsed = time.monotonic() - sent
        self._reader.join(5)
        return elapsed

    def _stderr(self) -> str:
        return self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for _, line in self.lines if line.strip()]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_cleanly_mid_stream_on_a_signal(signum: int) -> None:
    run = Process(["run", "--source", "demo"])
    run.wait_lines(3)
    elapsed = run.signal_and_time(signum)
    print(f"\nedgekit run mid-stream, {signal.Signals(signum).name}: exit in {elapsed:.2f} s")
    assert elapsed < wall_limit(EXIT_LIMIT)
    assert run.proc.returncode == 0
    rows = run.json_lines()
    assert rows[-1]["event"] == "stopped" and signal.Signals(signum).name in rows[-1]["message"]
    assert all("frame" in r for r in rows[:-1])


def test_run_exits_at_once_on_a_second_signal() -> None:
    run = Process(["run", "--source", "demo"])
    run.wait_lines(2)
    elapsed = run.signal_and_time(signal.SIGTERM, second_after=0.01)
    print(f"\nedgekit run, second SIGTERM: exit in {elapsed:.3f} s (rc {run.proc.returncode})")
    assert elapsed < wall_limit(SECOND_SIGNAL_LIMIT)
    # 143: the second signal cut the clean stop short; 0: the clean stop had already finished;
    # -15: it came while Python was tearing itself down (handlers are reset to the default then).
    assert run.proc.returncode in (0, 128 + signal.SIGTERM, -signal.SIGTERM)
    run.json_lines()  # whatever was written is whole lines of JSON


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_exits_promptly_when_signalled_while_loading(signum: int) -> None:
    run = Process(["run", "--source", "demo", "--model", str(zoo.mobilenet_v2("float32"))])
    time.sleep(0.4)  # imports and model loading: no result yet
    elapsed = run.signal_and_time(signum)
    print(f"\nedgekit run while loading, {signal.Signals(signum).name}: exit in {elapsed:.2f} s "
          f"(rc {run.proc.returncode})")
    assert elapsed < wall_limit(EXIT_LIMIT)
    # 0: edgekit's handler stopped the start-up (nothing was open yet); 130: Ctrl-C while the
    # command module was still importing; -signum: the signal came while Python itself was
    # still starting, before any handler existed.
    assert run.proc.returncode in (0, 130, -signum)
    lines = run.json_lines()  # whatever was written is whole lines of JSON
    assert not lines or lines[-1]["event"] == "stopped"


class _StallingMjpeg(BaseHTTPRequestHandler):
    """An MJPEG camera that sends ``frames`` frames, then keeps the connection open, silent."""

    frames = 30
    release = threading.Event()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        import cv2

        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            for i in range(self.frames):
                jpg = cv2.imencode(".jpg", np.full((64, 64, 3), (i * 7) % 255, np.uint8))[1].tobytes()
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                 % len(jpg) + jpg + b"\r\n")
                self.wfile.flush()
                time.sleep(1 / 30)
        except OSError:
            return
        self.release.wait(120)


@pytest.fixture()
def stalling_camera() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StallingMjpeg)
    _StallingMjpeg.release.clear()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/camera.mjpg"
    _StallingMjpeg.release.set()
    server.shutdown()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_exits_within_2s_when_signalled_during_a_hung_read(stalling_camera: str, signum: int) -> None:
    run = Process(["run", "--source", stalling_camera, "--stall-timeout", "60"])
    run.wait_lines(10)
    last = 0
    while len(run.lines) != last:  # the camera has gone silent: the read is now hung
        last = len(run.lines)
        time.sleep(1.0)
    elapsed = run.signal_and_time(signum)
    stderr = run.proc.stderr.read() if run.proc.stderr else ""
    print(f"\nedgekit run during a hung read, {signal.Signals(signum).name}: exit in {elapsed:.2f} s")
    assert elapsed < wall_limit(EXIT_LIMIT)
    assert run.proc.returncode == 0, stderr
    assert "still blocked in the source; abandoned" in stderr
    assert run.json_lines()[-1]["event"] == "stopped"


@pytest.fixture(scope="module")
def many_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import cv2

    folder = tmp_path_factory.mktemp("many")
    images, _ = zoo.digits()
    for i in range(600):
        cv2.imwrite(str(folder / f"d{i:04d}.png"), cv2.resize(images[i], (96, 96)))
    return folder


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_batch_stops_within_2s_with_a_valid_resumable_output(many_images: Path, tmp_path: Path,
                                                               signum: int, code: int) -> None:
    out = tmp_path / "results.jsonl"
    model = str(zoo.mobilenet_v2("float32"))
    batch = Process(["batch", model, str(many_images), "--out", str(out), "--no-progress"])
    deadline = time.monotonic() + 60
    while (not out.exists() or out.stat().st_size < 2000) and time.monotonic() < deadline:
        time.sleep(0.05)
    elapsed = batch.signal_and_time(signum)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    print(f"\nedgekit batch, {signal.Signals(signum).name} after {len(rows)} of 600: "
          f"exit in {elapsed:.2f} s (rc {batch.proc.returncode})")
    assert elapsed < wall_limit(EXIT_LIMIT)
    assert batch.proc.returncode == code
    assert 0 < len(rows) < 600
    resumed = subprocess.run([EDGEKIT, "batch", model, str(many_images), "--out", str(out), "--resume",
                              "--no-progress"], capture_output=True, text=True, timeout=300,
                             check=False)
    assert resumed.returncode == 0, resumed.stderr
    inputs = [json.loads(line)["input"] for line in out.read_text().splitlines()]
    assert len(inputs) == len(set(inputs)) == 600
