"""The sink options and ``build_sinks``: what is opened, what is refused before anything opens."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from edgekit.cli.sinks import SINK_OPTION_NAMES, build_sinks, pop_sink_options, sink_options
from edgekit.errors import ConfigError, ExtraMissing
from edgekit.sinks import close_sinks, parse_mqtt_url, parse_serve
from edgekit.sinks.mqtt import MqttSink, MqttTarget
from edgekit.sinks.web import ServeAddress


def _kinds(sinks: list) -> list[str]:
    return [type(s.inner).__name__ for s in sinks]


@click.command()
@sink_options
def probe(**kwargs: object) -> None:
    opts = pop_sink_options(kwargs)
    assert not kwargs
    click.echo(repr(sorted(opts.items())))


def test_sink_options_parse_into_build_sinks_keywords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEKIT_MQTT_PASSWORD", "from-env")
    result = CliRunner().invoke(probe, ["--out", "r.jsonl", "--serve", "0.0.0.0:8080", "--token", "t",
                                       "--mqtt", "mqtt://h", "--qos", "2", "--mqtt-username", "u",
                                       "--json", "--force", "--no-status"])
    assert result.exit_code == 0, result.output
    opts = dict(eval(result.output))  # noqa: S307 - our own repr
    assert set(opts) == set(SINK_OPTION_NAMES)
    assert opts["qos"] == 2 and opts["topic"] == "edgekit/results"
    assert opts["mqtt_password"] == "from-env" and opts["json"] is True


def test_qos_outside_0_to_2_is_a_usage_error() -> None:
    result = CliRunner().invoke(probe, ["--qos", "3"])
    assert result.exit_code == 2 and "--qos" in result.output


def test_json_lines_go_to_stdout_when_it_is_not_a_terminal() -> None:
    sinks = build_sinks(stdout_is_tty=False)
    try:
        assert _kinds(sinks) == ["JsonLinesSink"] and sinks[0].name == "jsonl:stdout"
    finally:
        close_sinks(sinks)


def test_a_terminal_gets_the_status_line_and_json_forces_lines_instead() -> None:
    sinks = build_sinks(stdout_is_tty=True)
    assert _kinds(sinks) == ["StatusSink"]
    close_sinks(sinks)
    sinks = build_sinks(stdout_is_tty=True, json=True)
    assert _kinds(sinks) == ["JsonLinesSink"]
    close_sinks(sinks)
    assert build_sinks(stdout_is_tty=True, no_status=True) == []


def test_several_sinks_at_once_in_a_fixed_order(tmp_path: Path) -> None:
    sinks = build_sinks(stdout_is_tty=False, out=str(tmp_path / "r.jsonl"), json=True,
                        save=str(tmp_path / "v.mp4"), serve="127.0.0.1:0")
    try:
        assert _kinds(sinks) == ["JsonLinesSink", "JsonLinesSink", "VideoSink", "WebSink"]
        assert [s.name for s in sinks[:2]] == ["jsonl:stdout", f"jsonl:{tmp_path / 'r.jsonl'}"]
    finally:
        close_sinks(sinks)


def test_an_out_file_is_the_only_destination_of_json_lines_unless_json_is_asked_too(tmp_path: Path) -> None:
    sinks = build_sinks(stdout_is_tty=False, out=str(tmp_path / "r.jsonl"))
    try:
        assert [s.name for s in sinks] == [f"jsonl:{tmp_path / 'r.jsonl'}"], "stdout is piped: still one"
    finally:
        close_sinks(sinks)


def test_an_existing_output_is_refused_before_any_sink_is_opened(tmp_path: Path) -> None:
    (tmp_path / "v.mp4").write_bytes(b"old video")
    with pytest.raises(ConfigError, match=r"--save .*v\.mp4' already exists; pass --force"):
        build_sinks(stdout_is_tty=False, out=str(tmp_path / "r.jsonl"), save=str(tmp_path / "v.mp4"))
    assert not (tmp_path / "r.jsonl").exists()
    assert (tmp_path / "v.mp4").read_bytes() == b"old video"


def test_serving_on_all_interfaces_needs_a_token_or_insecure() -> None:
    with pytest.raises(ConfigError, match=r"0\.0\.0\.0:0 is reachable from other machines; give --token"):
        build_sinks(stdout_is_tty=True, no_status=True, serve="0.0.0.0:0")
    for extra in ({"token": "s3cret"}, {"insecure": True}):
        sinks = build_sinks(stdout_is_tty=True, no_status=True, serve="0.0.0.0:0", **extra)
        assert sinks[0].inner.host == "0.0.0.0"
        close_sinks(sinks)


@pytest.mark.parametrize(("text", "expected"), [
    ("8080", ServeAddress("127.0.0.1", 8080)),
    ("0.0.0.0:80", ServeAddress("0.0.0.0", 80)),
    ("[::1]:9000", ServeAddress("::1", 9000)),
    ("localhost:0", ServeAddress("localhost", 0)),
])
def test_parse_serve_defaults_to_loopback(text: str, expected: ServeAddress) -> None:
    assert parse_serve(text) == expected


def test_loopback_detection() -> None:
    assert parse_serve("8080").loopback and parse_serve("[::1]:1").loopback
    assert parse_serve("localhost:1").loopback
    assert not parse_serve("0.0.0.0:1").loopback and not parse_serve("camera.lan:1").loopback


@pytest.mark.parametrize(("text", "message"), [
    ("http", "PORT must be a number"),
    ("host:70000", "port 70000 is outside 0..65535"),
    (":80", "the host before ':' is empty"),
])
def test_parse_serve_rejects_bad_values(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_serve(text)


def test_parse_mqtt_url() -> None:
    assert parse_mqtt_url("mqtt://broker") == MqttTarget("broker", 1883, False)
    assert parse_mqtt_url("mqtts://broker:9999") == MqttTarget("broker", 9999, True)
    assert parse_mqtt_url("mqtts://broker").port == 8883
    with pytest.raises(ConfigError, match="must start with mqtt:// or mqtts://"):
        parse_mqtt_url("tcp://broker")
    with pytest.raises(ConfigError, match="not in the URL"):
        parse_mqtt_url("mqtt://user:pw@broker")


def test_mqtt_cafile_needs_mqtts_and_password_needs_a_user(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(ConfigError, match="--mqtt-cafile needs an mqtts:// URL"):
        build_sinks(stdout_is_tty=False, mqtt="mqtt://h", mqtt_cafile=str(ca))
    with pytest.raises(ConfigError, match="--mqtt-password needs --mqtt-username"):
        build_sinks(stdout_is_tty=False, mqtt="mqtt://h", mqtt_password="pw")


def test_show_on_headless_opencv_points_to_serve() -> None:
    import cv2

    if "GUI:                           NONE" not in cv2.getBuildInformation():
        pytest.skip("this OpenCV has GUI support")
    with pytest.raises(ConfigError, match=r"--show needs OpenCV with GUI support .*--serve"):
        build_sinks(stdout_is_tty=False, show=True)


def test_gui_backend_is_read_from_the_build_information() -> None:
    from edgekit.sinks.window import gui_backend

    assert gui_backend("  GUI:                           NONE\n") is None
    assert gui_backend("  GUI:                           QT5\n    QT: YES") == "QT5"


def test_mqtt_without_paho_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)
    message = r"needs paho-mqtt: install the 'mqtt' extra \(pip install 'edgekit-tflite\[mqtt\]'"
    with pytest.raises(ExtraMissing, match="^--mqtt " + message):
        build_sinks(stdout_is_tty=False, mqtt="mqtt://127.0.0.1:1")
    with pytest.raises(ExtraMissing, match="^MqttSink " + message):
        MqttSink("mqtt://127.0.0.1:1")


def test_a_failing_mqtt_sink_leaves_no_out_or_save_file(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import edgekit.cli.sinks as cli_sinks

    def refused(*args: object) -> None:
        raise ConfigError("MQTT broker 127.0.0.1:1 refused the connection: Not authorized")

    monkeypatch.setattr(cli_sinks, "_mqtt", refused)
    with pytest.raises(ConfigError, match="refused the connection"):
        build_sinks(stdout_is_tty=False, out=str(tmp_path / "r.jsonl"), save=str(tmp_path / "v.mp4"),
                    mqtt="mqtt://127.0.0.1:1")
    assert list(tmp_path.iterdir()) == [], "no file is created before every sink has started"


def test_credentials_in_the_mqtt_url_are_refused_naming_the_options() -> None:
    with pytest.raises(ConfigError, match="^--mqtt: give the user name and password with --mqtt-username"):
        build_sinks(stdout_is_tty=False, mqtt="mqtt://user:pw@127.0.0.1:1")


def test_out_dash_means_json_lines_on_stdout_even_on_a_terminal() -> None:
    sinks = build_sinks(stdout_is_tty=True, out="-")
    try:
        assert [s.name for s in sinks] == ["jsonl:stdout"]
    finally:
        close_sinks(sinks)


def test_every_sink_has_the_sink_protocol(tmp_path: Path) -> None:
    import io

    from edgekit.sinks import JsonLinesSink, QueuedSink, Sink, StatusSink, VideoSink, WebSink

    web = WebSink("127.0.0.1", 0)
    sinks = [JsonLinesSink(io.StringIO()), StatusSink(), VideoSink(tmp_path / "v.mp4"), web]
    try:
        for sink in sinks + [QueuedSink(JsonLinesSink(io.StringIO()))]:
            assert isinstance(sink, Sink), type(sink).__name__
            assert isinstance(sink.name, str) and sink.name
    finally:
        close_sinks(sinks)


def test_check_sink_options_validates_without_opening_anything(tmp_path: Path) -> None:
    from edgekit.cli.sinks import check_sink_options

    check_sink_options(out=str(tmp_path / "r.jsonl"), save=str(tmp_path / "v.mp4"), serve="8080",
                       mqtt="mqtt://broker", topic="t", qos=1)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="--out and --save name the same file"):
        check_sink_options(out=str(tmp_path / "x"), save=str(tmp_path / "x"))
