"""sd_notify: READY/WATCHDOG datagrams reach a fake NOTIFY_SOCKET, from the module and from a
real `edgekit run` subprocess started as systemd would (NOTIFY_SOCKET + WATCHDOG_USEC)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgekit._stream import sdnotify


@pytest.fixture()
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def _received(sock: socket.socket, until: float) -> list[str]:
    messages = []
    sock.settimeout(0.2)
    while time.monotonic() < until:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return messages


def test_notify_sends_the_state_as_one_datagram(notify_socket: socket.socket) -> None:
    assert sdnotify.notify("READY=1") is True
    assert notify_socket.recv(4096) == b"READY=1"


def test_notify_reaches_an_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"edgekit-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.notify("WATCHDOG=1")
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_notify_is_a_no_op_outside_systemd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert sdnotify.notify("READY=1") is False


@pytest.mark.parametrize(("usec", "pid", "expected"), [
    ("10000000", None, 5.0), ("10000000", "self", 5.0), ("10000000", "1", None), (None, None, None),
    ("garbage", None, None), ("1", None, 0.05),
])
def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process(
        monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None) -> None:
    for key, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", str(os.getpid()) if pid == "self" else pid)):
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    assert sdnotify.watchdog_interval() == expected


def test_watchdog_pings_at_most_once_per_interval(notify_socket: socket.socket,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")  # ping every 1 s
    now = [100.0]
    dog = sdnotify.Watchdog(clock=lambda: now[0])
    assert dog.tick() is True  # first tick pings
    now[0] += 0.5
    assert dog.tick() is False
    now[0] += 0.6
    assert dog.tick() is True
    assert [notify_socket.recv(64), notify_socket.recv(64)] == [b"WATCHDOG=1", b"WATCHDOG=1"]


def test_watchdog_is_silent_when_systemd_did_not_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert sdnotify.Watchdog().tick() is False


RUN_MODULE = Path(__file__).resolve().parents[2] / "edgekit" / "cli" / "run.py"


@pytest.mark.skipif(not RUN_MODULE.exists(), reason="edgekit run (edgekit/cli/run.py) is not written yet")
def test_a_real_edgekit_run_sends_ready_and_watchdog_to_systemd(notify_socket: socket.socket) -> None:
    """As under systemd (Type=notify, WatchdogSec=): READY=1 once running, then WATCHDOG=1 pings."""
    import zoo

    env = dict(os.environ, NOTIFY_SOCKET=os.environ["NOTIFY_SOCKET"], WATCHDOG_USEC="400000")
    env.pop("WATCHDOG_PID", None)
    exe = str(Path(sys.executable).parent / "edgekit")
    cmd = [exe, "run", "--model", str(zoo.digits_classifier("int8")), "--source", "demo",
           "--max-frames", "60", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        messages: list[str] = []
        while proc.poll() is None and time.monotonic() < deadline:  # listen until it exits
            messages += _received(notify_socket, time.monotonic() + 0.5)
        messages += _received(notify_socket, time.monotonic() + 0.3)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "READY=1" in messages, messages
    assert messages.index("READY=1") < messages.index("WATCHDOG=1"), messages
    assert messages.count("WATCHDOG=1") >= 2, messages
