"""Helpers for the sink tests: hand-built results and stats, a real mosquitto broker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

from edgekit.results import BBox, Classification, Detection, FrameResult, Latency, Prediction
from edgekit.sinks import StreamStats


def classify_result(index: int, label: str = "cat", score: float = 0.9, ts: float | None = None,
                    source: str = "test") -> FrameResult:
    """A classification result as the pipeline would build it."""
    pred = Prediction(task="classify",
                      classes=(Classification(index % 10, label, score), Classification(99, "dog", 0.05)),
                      latency=Latency(pre=1.0, invoke=10.0 + index % 3, post=0.5, age=2.0))
    return FrameResult(frame=index, ts=time.time() if ts is None else ts, source=source, prediction=pred)


def detect_result(index: int, box: tuple[float, float, float, float] = (40, 30, 200, 180),
                  ts: float | None = None) -> FrameResult:
    """A detection result with one box in source pixels."""
    pred = Prediction(task="detect",
                      detections=(Detection(0, "person", 0.88, BBox(*box)),),
                      latency=Latency(pre=1.0, invoke=20.0, post=1.0, age=3.0))
    return FrameResult(frame=index, ts=time.time() if ts is None else ts, source="test", prediction=pred)


def stats_for(index: int) -> StreamStats:
    return StreamStats(fps=20.0 + index % 5, latency_p50=12.0 + index % 7, latency_p95=20.0,
                       frames=index + 1, inferred=index + 1, dropped=index // 10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Broker:
    """A real mosquitto on a loopback port that tests can stop and restart."""

    def __init__(self, folder: Path, passwords: dict[str, str] | None = None,
                 tls: tuple[Path, Path, Path] | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.tls = tls is not None
        # Persistence keeps a subscriber's session (and messages queued for it) across restarts.
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", "log_type all",
                 f"persistence_location {folder}/", "queue_qos0_messages true"]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to a user that cannot read tmp_path
        if tls is not None:
            lines += [f"cafile {tls[0]}", f"certfile {tls[1]}", f"keyfile {tls[2]}"]
        if passwords:
            pwfile = folder / "passwd"
            pwfile.touch(mode=0o600)
            for user, password in passwords.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pwfile), user, password], check=True,
                               capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.folder / "mosquitto.log", "ab") as log:
            self.proc = subprocess.Popen(["mosquitto", "-c", str(self.config)], stdout=log,
                                         stderr=log)
        wait_port(self.port)

    def stop(self) -> None:
        from testkit import terminate  # only the test process has tests/ on sys.path

        terminate(self.proc)
        self.proc = None


class Subscriber:
    """A paho subscriber that collects the JSON messages of one topic."""

    def __init__(self, port: int, topic: str, username: str | None = None,
                 password: str | None = None, cafile: Path | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[dict] = []
        self._ready = threading.Event()
        self._lock = threading.Lock()
        # A persistent session: messages published while it reconnects are kept for it.
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{time.time_ns()}",
                                  clean_session=False)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        if username:
            self.client.username_pw_set(username, password)
        if cafile:
            self.client.tls_set(ca_certs=str(cafile))
        self.client.on_connect = lambda c, u, f, rc, p=None: (c.subscribe(topic, qos=2), None)
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("subscriber did not subscribe within 10 s")

    def _on_message(self, client, userdata, message) -> None:  # noqa: ANN001
        with self._lock:
            self.messages.append(json.loads(message.payload))

    def wait_for(self, predicate, timeout: float = 15.0) -> list[dict]:  # noqa: ANN001
        """Wait until ``predicate(messages)`` holds; return the messages (fails on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                got = list(self.messages)
            if predicate(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"condition not met within {timeout} s; got {len(got)} messages: "
                             f"{[m.get('frame', m.get('event')) for m in got]}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def make_tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 (``openssl`` CLI)."""
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.pem", "server.key", "server.csr",
                                                       "server.pem"))
    ext = folder / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", "2", "-subj", "/CN=edgekit test CA"],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ]
    for cmd in run:
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True, timeout=60)
    return ca, cert, key
