"""Home Assistant MQTT discovery against a real mosquitto, checked against the documented schema."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from ha_schema import problems
from sinks_helpers import Broker, classify_result, detect_result
from streamkit import edgekit_cmd, edgekit_env
from testkit import terminate

from edgekit import StreamEvent
from edgekit.errors import ConfigError
from edgekit.sinks import HomeAssistantSink
from edgekit.sinks.homeassistant import discovery_configs


class Retained:
    """A raw paho subscriber: the latest payload (bytes) and retain flag of every topic."""

    def __init__(self, port: int, pattern: str = "#") -> None:
        import paho.mqtt.client as mqtt

        self.latest: dict[str, bytes] = {}
        self.history: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ha-test-{time.time_ns()}")
        self.client.on_connect = lambda c, *_: c.subscribe(pattern, qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert ready.wait(10), "subscribed"

    def _message(self, client, userdata, message) -> None:
        with self._lock:
            self.latest[message.topic] = message.payload
            self.history.append((message.topic, message.payload))

    def wait(self, predicate, timeout: float = 15.0) -> dict[str, bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                got = dict(self.latest)
            if predicate(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"not seen within {timeout} s: {sorted(got)}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _configs(got: dict[str, bytes], prefix: str = "homeassistant") -> dict[str, dict]:  # type: ignore[type-arg]
    return {t: json.loads(p) for t, p in got.items() if t.startswith(prefix + "/") and t.endswith("/config")}


def test_every_discovery_config_follows_the_documented_schema() -> None:
    configs = discovery_configs("pi_garden", "Pi garden", "edgekit/pi_garden", "homeassistant",
                                ["person>=0.6 for 3/5", "car at the gate"], ["person", "traffic light"],
                                "yolov8n.tflite")
    assert [t for t, _ in configs] == [
        "homeassistant/binary_sensor/pi_garden/rule_person_0_6_for_3_5/config",
        "homeassistant/binary_sensor/pi_garden/rule_car_at_the_gate/config",
        "homeassistant/sensor/pi_garden/count_person/config",
        "homeassistant/sensor/pi_garden/count_traffic_light/config",
        "homeassistant/image/pi_garden/snapshot/config"]
    for topic, payload in configs:
        assert problems(topic, payload) == [], topic
    ids = [p["unique_id"] for _, p in configs]
    assert len(set(ids)) == len(ids)
    assert {p["device"]["identifiers"][0] for _, p in configs} == {"edgekit_pi_garden"}


def test_the_schema_check_finds_what_home_assistant_would_refuse() -> None:
    good = discovery_configs("n", "n", "b", "homeassistant", ["r"], [], None)[0][1]
    assert problems("homeassistant/binary_sensor/n/r/config", {**good, "colour": "red"}) == \
        ["colour is not a documented binary_sensor option"]
    assert "state_topic is required" in problems("homeassistant/sensor/n/c/config", {"name": "x"})
    assert problems("homeassistant/binary_sensor/n/a b/config", good)[0].startswith("topic ")
    no_id = {**good, "unique_id": ""}
    assert "device information needs a unique_id" in problems("homeassistant/binary_sensor/n/r/config", no_id)


def test_the_device_appears_with_its_entities_and_their_states(broker: Broker) -> None:
    watcher = Retained(broker.port)
    sink = HomeAssistantSink(broker.url, rules=["door"], labels=["person", "dog"], device="Pi Garden",
                             model="det.tflite", snapshot_interval=0)
    try:
        got = watcher.wait(lambda g: len(_configs(g)) == 4 and g.get("edgekit/pi_garden/availability") == b"online")
        for topic, payload in _configs(got).items():
            assert problems(topic, payload) == [], topic
        frame = np.full((240, 320, 3), 90, np.uint8)
        result = detect_result(7)
        sink.write(result, frame)
        event = StreamEvent("rule", result.ts, "test", "door: on", rule="door", state="on", frame=7,
                            label="person", score=0.88, count=1)
        sink.write(event, frame)
        got = watcher.wait(lambda g: "edgekit/pi_garden/snapshot" in g)
        assert got["edgekit/pi_garden/rule/door/state"] == b"ON"
        assert json.loads(got["edgekit/pi_garden/rule/door/attributes"]) == event.to_dict()
        assert got["edgekit/pi_garden/count/person/state"] == b"1"
        assert got["edgekit/pi_garden/count/dog/state"] == b"0"
        snapshot = cv2.imdecode(np.frombuffer(got["edgekit/pi_garden/snapshot"], np.uint8), cv2.IMREAD_COLOR)
        assert snapshot.shape == (240, 320, 3) and np.abs(snapshot.astype(int) - 90).max() > 100, \
            "the annotated frame: the box is drawn"
        sink.write(StreamEvent("rule", result.ts + 1, "test", rule="door", state="off", frame=9), None)
        watcher.wait(lambda g: g.get("edgekit/pi_garden/rule/door/state") == b"OFF")
    finally:
        sink.close()
    watcher.wait(lambda g: g.get("edgekit/pi_garden/availability") == b"offline")
    watcher.close()
    later = Retained(broker.port)  # a Home Assistant that starts now gets everything retained
    got = later.wait(lambda g: len(_configs(g)) == 4 and "edgekit/pi_garden/rule/door/state" in g)
    later.close()
    assert got["edgekit/pi_garden/availability"] == b"offline"


def test_a_count_change_waits_for_the_minimum_interval(broker: Broker) -> None:
    watcher = Retained(broker.port, "edgekit/#")
    sink = HomeAssistantSink(broker.url, labels=["cat"], device="cam", min_interval=3600)
    try:
        sink.write(classify_result(0, label="cat"))
        watcher.wait(lambda g: g.get("edgekit/cam/count/cat/state") == b"1")
        for i in range(1, 20):
            sink.write(classify_result(i, label="dog"))
        time.sleep(0.5)
    finally:
        sink.close()
    states = [p for t, p in watcher.history if t == "edgekit/cam/count/cat/state"]
    watcher.close()
    assert states == [b"1"], "the change to 0 waits for the interval"


WILL_SCRIPT = """
import sys, time
from edgekit.sinks import HomeAssistantSink
sink = HomeAssistantSink(sys.argv[1], rules=["door"], device="doomed")
print("ready", flush=True)
time.sleep(120)
"""


def test_the_broker_says_offline_when_the_process_dies_without_a_goodbye(broker: Broker) -> None:
    watcher = Retained(broker.port)
    proc = subprocess.Popen([sys.executable, "-c", WILL_SCRIPT, broker.url], stdout=subprocess.PIPE,
                            text=True, env=edgekit_env())
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        watcher.wait(lambda g: g.get("edgekit/doomed/availability") == b"online")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        watcher.wait(lambda g: g.get("edgekit/doomed/availability") == b"offline")
    finally:
        terminate(proc)
        watcher.close()


def test_a_bad_prefix_is_refused(broker: Broker) -> None:
    with pytest.raises(ConfigError, match=r"discovery prefix 'home/#'"):
        HomeAssistantSink(broker.url, prefix="home/#")


@pytest.mark.slow
def test_run_with_ha_discovery_and_rules_publishes_it_all(broker: Broker, tmp_path: Path) -> None:
    watcher = Retained(broker.port)
    done = subprocess.run(edgekit_cmd("run", "--duration", "4", "--mqtt", broker.url, "--topic", "cam/results",
                                      "--ha-discovery", "--ha-name", "desk", "--when", "3>=0.6",
                                      "--when", "8>=0.6", "--snapshots", str(tmp_path)),
                          capture_output=True, text=True, timeout=120, env=edgekit_env(),
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr
    got = watcher.wait(lambda g: g.get("edgekit/desk/availability") == b"offline")
    rule_events = [json.loads(p) for t, p in watcher.history if t == "cam/results" and b'"rule"' in p]
    watcher.close()
    configs = _configs(got)
    assert sorted(configs) == ["homeassistant/binary_sensor/desk/rule_3_0_6/config",
                               "homeassistant/binary_sensor/desk/rule_8_0_6/config",
                               "homeassistant/image/desk/snapshot/config",
                               "homeassistant/sensor/desk/count_3/config",
                               "homeassistant/sensor/desk/count_8/config"]
    assert all(problems(t, p) == [] for t, p in configs.items())
    assert configs["homeassistant/image/desk/snapshot/config"]["device"]["model"] == "digits_int8.tflite"
    assert rule_events and all(e["event"] == "rule" for e in rule_events), "rule events on --topic too"
    states = {t: p for t, p in got.items() if t.startswith("edgekit/desk/rule/") and t.endswith("/state")}
    assert states and set(states.values()) <= {b"ON", b"OFF"}
    assert "edgekit/desk/snapshot" in got


def test_names_that_would_share_an_entity_id_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"rules \['a b', 'a_b'\] get the same Home Assistant id"):
        HomeAssistantSink("mqtt://127.0.0.1:1", rules=["a b", "a_b"])
