"""--mqtt against a real mosquitto: order and schema, QoS, credentials, TLS, broker restarts."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest
from sinks_helpers import Broker, Subscriber, classify_result, detect_result, make_tls_files

from edgekit.cli.sinks import build_sinks
from edgekit.errors import ConfigError
from edgekit.results import StreamEvent
from edgekit.sinks import MqttSink, QueuedSink, close_sinks

TOPIC = "edgekit/test/results"


def _frames(messages: list[dict]) -> list[int]:
    return [m["frame"] for m in messages if "frame" in m]


def _until(predicate, timeout: float = 20.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s")


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_results_arrive_in_order_with_the_schema(broker: Broker, qos: int) -> None:
    sub = Subscriber(broker.port, TOPIC)
    sink = MqttSink(broker.url, topic=TOPIC, qos=qos)
    try:
        assert sink.connected
        expected = [classify_result(i, label="three", score=0.97) for i in range(40)]
        for result in expected:
            sink.write(result)
        sink.write(StreamEvent("stopped", time.time(), "test"))
        got = sub.wait_for(lambda m: any("event" in x for x in m))
    finally:
        sink.close()
        sub.close()
    assert got[:-1] == [r.to_dict() for r in expected]
    assert got[-1]["event"] == "stopped"
    assert sink.unsent == 0 and sink.dropped == 0 and sink.sent == 41


def test_build_sinks_publishes_through_a_queue(broker: Broker) -> None:
    sub = Subscriber(broker.port, "cams/1")
    sinks = build_sinks(stdout_is_tty=True, no_status=True, mqtt=broker.url, topic="cams/1", qos=1)
    assert len(sinks) == 1 and isinstance(sinks[0], QueuedSink)
    for i in range(10):
        sinks[0].write(detect_result(i))
    assert close_sinks(sinks, timeout=10) == {sinks[0].name: True}
    got = sub.wait_for(lambda m: len(m) >= 10)
    sub.close()
    assert _frames(got) == list(range(10)) and got[0]["detections"][0]["label"] == "person"


def test_username_and_password_are_sent(password_broker: Broker) -> None:
    sub = Subscriber(password_broker.port, TOPIC, username="camera", password="s3cret pass")
    sink = MqttSink(password_broker.url, topic=TOPIC, username="camera", password="s3cret pass")
    for i in range(5):
        sink.write(classify_result(i))
    got = sub.wait_for(lambda m: len(m) >= 5)
    sink.close()
    sub.close()
    assert _frames(got) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("username", "password"), [("camera", "wrong"), (None, None)])
def test_refused_credentials_are_a_config_error(password_broker: Broker, username: str | None,
                                                password: str | None) -> None:
    with pytest.raises(ConfigError, match=rf"^MQTT broker 127\.0\.0\.1:{password_broker.port} refused the "
                                          r"connection: (Bad user name or password|Not authorized)"):
        MqttSink(password_broker.url, topic=TOPIC, username=username, password=password)


def test_tls_with_a_ca_file(tmp_path: Path) -> None:
    if shutil.which("openssl") is None or shutil.which("mosquitto") is None:
        pytest.skip("needs openssl and mosquitto")
    ca, cert, key = make_tls_files(tmp_path)
    broker = Broker(tmp_path, tls=(ca, cert, key))
    broker.start()
    try:
        assert broker.url.startswith("mqtts://")
        sub = Subscriber(broker.port, TOPIC, cafile=ca)
        sink = MqttSink(broker.url, topic=TOPIC, cafile=str(ca))
        for i in range(3):
            sink.write(classify_result(i))
        got = sub.wait_for(lambda m: len(m) >= 3)
        sink.close()
        sub.close()
        assert _frames(got) == [0, 1, 2]
        # Without our CA the broker's certificate is not trusted: nothing is sent.
        untrusted = MqttSink(broker.url, topic=TOPIC, connect_wait=1.0, close_timeout=0.2)
        assert not untrusted.connected
        untrusted.write(classify_result(9))
        untrusted.close()
        assert untrusted.unsent == 1
    finally:
        broker.stop()


def test_the_sink_reconnects_after_a_broker_restart_and_sends_what_waited(
        broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="edgekit.sinks")
    sub = Subscriber(broker.port, TOPIC)
    # QoS 2 end to end: exactly once, even for messages in flight when the broker stops.
    sink = MqttSink(broker.url, topic=TOPIC, qos=2)
    try:
        for i in range(10):
            sink.write(classify_result(i))
        sub.wait_for(lambda m: len(m) >= 10)
        _until(lambda: sink.sent == 10)
        broker.stop()
        _until(lambda: not sink.connected)
        for i in range(10, 20):  # written while the broker is away: they wait
            sink.write(classify_result(i))
        assert sink.pending == 10
        broker.start()
        _until(lambda: sink.connected, timeout=60)  # backoff: 1, 2, 4 … s
        for i in range(20, 30):
            sink.write(classify_result(i))
        got = sub.wait_for(lambda m: 29 in _frames(m), timeout=30)
    finally:
        sink.close()
        sub.close()
    assert _frames(got) == list(range(30)), str(_frames(got))
    assert sink.dropped == 0 and sink.unsent == 0 and sink.sent == 30
    assert "mqtt: disconnected" in caplog.text and "mqtt: reconnected" in caplog.text


def test_the_waiting_queue_is_bounded_and_overflow_is_counted(tmp_path: Path) -> None:
    if shutil.which("mosquitto") is None:
        pytest.skip("needs mosquitto")
    broker = Broker(tmp_path)  # not started yet: the broker is down
    sink = MqttSink(broker.url, topic=TOPIC, qos=1, queue_size=5, connect_wait=0.2)
    try:
        assert not sink.connected
        for i in range(20):
            sink.write(classify_result(i))
        assert sink.dropped == 15 and sink.pending == 5
        broker.start()
        sub = Subscriber(broker.port, TOPIC)
        _until(lambda: sink.connected, timeout=60)
        sink.write(classify_result(20))
        got = sub.wait_for(lambda m: 20 in _frames(m), timeout=30)
        sub.close()
        _until(lambda: sink.sent == 6)  # the 5 kept (the newest) and the new one, acknowledged
        # The subscriber may join just after the sink's flush; what it sees is in order.
        frames = _frames(got)
        assert frames == [15, 16, 17, 18, 19, 20][-len(frames):]
    finally:
        sink.close()
        broker.stop()


def test_close_reports_what_could_not_be_sent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="edgekit.sinks")
    sink = MqttSink(f"mqtt://127.0.0.1:{Broker(tmp_path).port}", topic=TOPIC, connect_wait=0.2,
                    close_timeout=0.2)
    for i in range(7):
        sink.write(classify_result(i))
    sink.close()
    assert sink.unsent == 7
    assert "not reachable yet" in caplog.text and "mqtt: 7 results were not sent" in caplog.text


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"qos": 3}, "^qos must be 0, 1 or 2, got 3"),
    ({"topic": "a/#"}, "^topic .a/#.: a publish topic must be non-empty, without # \\+ or NUL"),
])
def test_bad_qos_and_topic_are_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MqttSink("mqtt://127.0.0.1:1", **kwargs)
