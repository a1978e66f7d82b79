"""`edgekit serve` as a command: its start line, its checks, its signals, as a systemd service."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("starlette", reason="edgekit serve needs the serve extra")
httpx = pytest.importorskip("httpx")

from serve_helpers import Cli  # noqa: E402

from edgekit._tools import service  # noqa: E402
from edgekit.cli import cli  # noqa: E402

TOKEN = "tok-SECRET-42"


@pytest.mark.slow
def test_the_token_comes_from_the_environment_is_required_and_is_never_printed(jpegs: list[bytes]) -> None:
    os.environ["EDGEKIT_SERVE_TOKEN"] = TOKEN  # as the service's EnvironmentFile= sets it
    try:
        server = Cli(["default", "--port", "0"]).start()
    finally:
        del os.environ["EDGEKIT_SERVE_TOKEN"]
    try:
        with httpx.Client(verify=False, timeout=60) as client:
            refused = client.post(server.url + "/predict", content=jpegs[0])
            answered = client.post(server.url + "/predict", content=jpegs[0],
                                   headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        code = server.stop(signal.SIGTERM)
    assert refused.status_code == 401 and answered.status_code == 200
    assert code == 0
    start = [line for line in server.stderr_lines if line.startswith("serving ")]
    assert len(start) == 1 and "Authorization: Bearer <the --token value>" in start[0]
    assert not any(TOKEN in line for line in server.stderr_lines + server.stdout_lines)
    assert server.stderr_lines[-1].startswith("served 2 requests (1 images, 1 errors)")
    assert server.stderr_lines[-1].endswith("stopped: SIGTERM received")


@pytest.mark.slow
def test_ctrl_c_stops_it_gracefully(jpegs: list[bytes]) -> None:
    server = Cli(["default", "--port", "0"]).start()
    with httpx.Client(verify=False, timeout=60) as client:
        assert client.post(server.url + "/predict", content=jpegs[0]).status_code == 200
    assert server.stop(signal.SIGINT) == 0
    assert server.stderr_lines[-1].endswith("stopped: SIGINT received")


@pytest.mark.parametrize(("args", "message"), [
    (["--host", "0.0.0.0"], "ConfigError: --host 0.0.0.0 is reachable from other machines; give --token"),
    (["--token", " "], "ConfigError: --token must not be empty"),
    (["--model-topic", "x/model"], "ConfigError: --model-topic needs --mqtt URL"),
    (["--mqtt", "mqtt://127.0.0.1:1"], "ConfigError: --mqtt is only for --model-topic here"),
    (["--mqtt", "http://broker", "--model-topic", "m"], "ConfigError: MQTT URL 'http://broker': it must start"),
])
def test_bad_options_are_one_line_config_errors_before_anything_loads(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["serve", "default", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == message or result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.output


def test_without_the_serve_extra_it_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    result = CliRunner().invoke(cli, ["serve", "default"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("ExtraMissing: edgekit serve needs uvicorn: install the 'serve' extra "
                                     "(pip install 'edgekit-tflite[serve]', or '.[serve]' in a checkout)")


def test_serve_is_listed_with_the_other_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "serve" in result.output.split("Commands:")[1]


SERVE_ARGS = ["serve", "/opt/models/door.tflite", "--host", "0.0.0.0", "--port", "8080", "--token", TOKEN,
              "--mqtt", "mqtt://broker:1883", "--mqtt-username", "cam", "--mqtt-password=pw-SECRET",
              "--model-topic", "door/model"]


def _setting(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def test_a_serve_service_notifies_reloads_on_sighup_and_keeps_its_secrets_off_the_unit(tmp_path: Path) -> None:
    unit = service.render_unit("door", SERVE_ARGS, exec_path="/opt/venv/bin/edgekit", root=tmp_path)
    assert "SECRET" not in unit.text
    assert _setting(unit.text, "Type") == ["notify"] and _setting(unit.text, "WatchdogSec") == ["30"]
    assert _setting(unit.text, "ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert unit.environment == {"EDGEKIT_SERVE_TOKEN": TOKEN, "EDGEKIT_MQTT_PASSWORD": "pw-SECRET"}
    assert "--token" not in _setting(unit.text, "ExecStart")[0]
    service.install(unit, root=tmp_path)
    assert oct((tmp_path / "etc/edgekit/door.env").stat().st_mode & 0o777) == "0o600"
    no_reload = service.render_unit("door", ["serve", "m.tflite", "--no-reload"], exec_path="/x/edgekit",
                                    root=tmp_path)
    assert _setting(no_reload.text, "ExecReload") == []  # SIGHUP would end it: no reload verb
    tool = shutil.which("systemd-analyze")
    if tool is not None:  # with this environment's real edgekit, that systemd checks is executable
        real = service.render_unit("door", SERVE_ARGS, root=tmp_path)
        service.install(real, root=tmp_path)
        done = subprocess.run([tool, "verify", str(real.path)], capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stderr


def test_serve_reads_its_mqtt_password_from_the_environment_like_the_unit_sets_it() -> None:
    from edgekit.cli.serve import serve_cmd

    option = next(p for p in serve_cmd.params if p.name == "mqtt_password")
    token = next(p for p in serve_cmd.params if p.name == "token")
    assert option.envvar == service.SECRET_OPTIONS["serve"]["--mqtt-password"]
    assert token.envvar == service.SECRET_OPTIONS["serve"]["--token"]
