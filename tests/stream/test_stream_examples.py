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


def test_count_and_publish_without_paho_says_so_in_one_line(tmp_path: Path) -> None:
    blocked = tmp_path / "site" / "paho"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('paho-mqtt is not installed')\n")
    env = edgekit_env(PYTHONPATH=f"{tmp_path / 'site'}:{edgekit_env().get('PYTHONPATH', '')}")
    done = subprocess.run([sys.executable, str(EXAMPLES / "count_and_publish.py")], capture_output=True,
                          text=True, timeout=60, env=env, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [("count_and_publish.py needs paho-mqtt: pip install "
                                         "'edgekit-tflite[mqtt]'")]


def test_count_and_publish_without_a_broker_fails_with_a_message() -> None:
    pytest.importorskip("paho.mqtt.client")
    port = free_port()  # nothing listens there
    done = _example("count_and_publish.py", "--mqtt-host", "127.0.0.1", "--mqtt-port", str(port),
                    "--duration", "1")
    assert done.returncode == 1
    assert done.stderr.strip() == (f"count_and_publish.py: cannot reach the MQTT broker at 127.0.0.1:{port}: "
                                   "Connection refused")


def test_trigger_command_refuses_a_missing_command_at_start() -> None:
    done = _example("trigger_command.py", "--label", "7", "--", "no-such-command-here", "--flag")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == ("trigger_command.py: error: no-such-command-here: command "
                                                    "not found (give a program on PATH or its path)")


@pytest.mark.parametrize("name", ["print_when_seen.py", "trigger_command.py"])
def test_the_label_the_help_suggests_is_one_the_bundled_model_has(name: str, default_model: Path) -> None:
    import re

    import edgekit

    done = _example(name, "--help")
    suggested = re.search(r"watch for, e\.g\.\s+(\S+)", " ".join(done.stdout.split())).group(1)
    with edgekit.load(default_model) as model:
        assert suggested in model.labels
