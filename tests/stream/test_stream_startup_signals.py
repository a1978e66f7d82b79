"""Ctrl-C while ``edgekit`` starts: one answer from the first instant, never a traceback.

The children get SIGINT's default disposition from the test itself (a runner started
with SIGINT ignored — nohup, ``&`` — would pass it on otherwise). "The first instant" is
read from the child's /proc entry rather than guessed from the clock: the moment NumPy is
mapped (the heavy imports have begun) or, for ``run``, it catches SIGTERM if that comes
first (installed by the first lines of ``main``, before click or NumPy). A
signal before ``main`` runs lands in Python's own start-up, which no program can answer.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamkit import edgekit_cmd, edgekit_env

IMAGE = str(Path(__file__).resolve().parents[2] / "edgekit" / "data" / "digit_sample.png")
DELAYS = (0.0, 0.05, 0.15, 0.4, 1.0)  # after the first instant

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _catches_sigterm(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def _numpy_loaded(pid: int) -> bool:
    return "numpy" in Path(f"/proc/{pid}/maps").read_text()


def _interrupt(args: tuple[str, ...], ready: Callable[[int], bool], delay: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(edgekit_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=edgekit_env(), stdin=subprocess.DEVNULL,
                            preexec_fn=_default_sigint)  # noqa: PLW1509 - the test's own disposition
    deadline = time.monotonic() + 30
    while proc.poll() is None and not ready(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.slow
@pytest.mark.parametrize("delay", DELAYS)
def test_ctrl_c_while_run_starts_stops_it_cleanly_with_exit_0(delay: float, default_model: Path) -> None:
    done = _interrupt(("run",), lambda pid: _catches_sigterm(pid) or _numpy_loaded(pid), delay)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == "stopped: SIGINT received while starting" or last.endswith("SIGINT received"), last


@pytest.mark.slow
@pytest.mark.parametrize("delay", DELAYS)
def test_ctrl_c_while_predict_starts_is_interrupted_130(delay: float, default_model: Path) -> None:
    done = _interrupt(("predict", "default", IMAGE), _numpy_loaded, delay)
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode == 0:  # it finished first: then it printed its answer
        assert "id=" in done.stdout
        return
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().splitlines() == ["Interrupted"]


def test_sigint_ignored_at_start_stays_ignored(default_model: Path) -> None:
    proc = subprocess.Popen(edgekit_cmd("run", "--duration", "1.5"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=edgekit_env(),
                            stdin=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # noqa: PLW1509
    assert proc.stdout is not None
    proc.stdout.readline()  # running
    proc.send_signal(signal.SIGINT)  # as `nohup edgekit run &` would ignore it
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err.strip().splitlines()[-1].endswith("1.5 s done"), "it ran to its own end"
