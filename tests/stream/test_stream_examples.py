"""The three IoT examples run briefly against the demo source and do their job."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from streamkit import REPO, edgekit_env, free_port

from edgekit.sources import DemoSource

EXAMPLES = REPO / "examples"


def _example(name: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, timeout=timeout, env=edgekit_env(), stdin=subprocess.DEVNULL, check=False)


def _first_digit() -> str:
    """The label of the digit the demo shows first (the default model's labels are '0'…'9')."""
    return str(DemoSource().label_at(0))


def test_print_when_seen_prints_once_when_the_label_appears(default_model: Path) -> None:
    done = _example("print_when_seen.py", "--label", _first_digit(), "--source", "demo",
                    "--max-frames", "20")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and f"seen {_first_digit()} (frame " in lines[0]


def test_trigger_command_runs_the_command_when_the_label_holds(tmp_path: Path,
                                                              default_model: Path) -> None:
    marker = tmp_path / "fired.txt"
    done = _example("trigger_command.py", "--label", _first_digit(), "--hold", "3", "--of", "5",
                    "--source", "demo", "--max-frames", "20", "--",
                    sys.executable, "-c", "import sys; open(sys.argv[1], 'a').write('x')", str(marker))
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "x", "ran exactly once (cooldown, re-armed only when it goes away)"
    assert "held, running" in done.stdout


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs mosquitto (Debian package)")
def test_count_and_publish_sends_counts_to_an_mqtt_broker(default_model: Path) -> None:
    import paho.mqtt.client as mqtt

    port = free_port()
    broker = subprocess.Popen(["mosquitto", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    messages: list[dict] = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe("test/counts", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda c, u, msg: messages.append(json.loads(msg.payload))
    try:
        for _ in range(50):
            try:
                client.connect("127.0.0.1", port)
                break
            except OSError:
                time.sleep(0.1)
        client.loop_start()
        assert subscribed.wait(10)
        done = _example("count_and_publish.py", "--mqtt-host", "127.0.0.1", "--mqtt-port", str(port),
                        "--topic", "test/counts", "--interval", "1", "--duration", "2.5")
        assert done.returncode == 0, done.stderr
        time.sleep(0.5)
    finally:
        client.loop_stop()
        broker.terminate()
        broker.wait(10)
    assert len(messages) >= 2
    assert messages[0]["counts"].get(_first_digit()) == 1
    assert all(m["to"] > m["from"] for m in messages)
