"""`edgekit service`: the unit rendered from devices/edgekit._tools.service.in, installed under a
redirected root, verified by systemd-analyze, removed again."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit._tools import service
from edgekit.cli import cli
from edgekit.errors import ConfigError

EDGEKIT = "/opt/venv/bin/edgekit"


def _unquote(word_line: str) -> list[str]:
    """Parse ExecStart the way systemd does for what we emit: quotes, \\ escapes, $$ and %%."""
    words = shlex.split(word_line, posix=True)
    return [w.replace("$$", "$").replace("%%", "%") for w in words]


@pytest.mark.parametrize("arg", [
    "plain", "--camera", "0", "mqtt://user@broker:1883/x", "a b", 'quo"te', "back\\slash", "$HOME",
    "${HOME}", "100%", "%n", "", "ünïcode", "--topic=a b", "single'quote", ";", "*.jpg",
])
def test_systemd_quote_round_trips_every_argument(arg: str) -> None:
    line = " ".join(service.systemd_quote(a) for a in [EDGEKIT, "run", arg])
    assert _unquote(line) == [EDGEKIT, "run", arg]


def test_systemd_quote_escapes_what_systemd_would_expand() -> None:
    assert service.systemd_quote("$HOME") == '"$$HOME"'
    assert service.systemd_quote("50%") == '"50%%"'
    assert service.systemd_quote("--threads") == "--threads"


@pytest.mark.parametrize("bad", ["line\nbreak", "nul\x00", "tab\there"])
def test_control_characters_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="contains a control character"):
        service.systemd_quote(bad)


def _unit(args: list[str] | None = None, **kw: object) -> service.ServiceUnit:
    return service.render_unit("door", args or ["run", "--camera", "0", "--mqtt", "mqtt://b:1883"],
                               exec_path=EDGEKIT, root="/nonexistent-root", **kw)  # type: ignore[arg-type]


def _setting(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def test_run_unit_is_notify_with_watchdog_restart_and_a_dedicated_user() -> None:
    unit = _unit(watchdog_sec=20, user="camuser")
    assert _setting(unit.text, "Type") == ["notify"]
    assert _setting(unit.text, "WatchdogSec") == ["20"]
    assert _setting(unit.text, "Restart") == ["on-failure"]
    assert _setting(unit.text, "User") == ["camuser"]
    assert _setting(unit.text, "SupplementaryGroups") == ["video"]
    exec_start = _setting(unit.text, "ExecStart")
    assert len(exec_start) == 1
    assert _unquote(exec_start[0]) == [EDGEKIT, "run", "--camera", "0", "--mqtt", "mqtt://b:1883"]
    assert unit.path == Path("/nonexistent-root/etc/systemd/system/edgekit-door.service")
    assert "@" not in unit.text.replace("user@", "")  # every placeholder filled


def test_batch_is_an_exec_unit_without_watchdog_or_reload() -> None:
    unit = _unit(["batch", "model.tflite", "in/", "--out", "r.jsonl"])
    assert _setting(unit.text, "Type") == ["exec"]
    assert _setting(unit.text, "WatchdogSec") == []
    assert _setting(unit.text, "ExecReload") == []
    assert _setting(_unit(watchdog_sec=0).text, "WatchdogSec") == []


def test_run_reloads_its_model_on_systemctl_reload_unless_told_not_to() -> None:
    assert _setting(_unit().text, "ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert _setting(_unit(["run", "--no-reload"]).text, "ExecReload") == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"args": []}, "nothing to run"),
    ({"args": ["frobnicate"]}, "'frobnicate' is not an edgekit command"),
    ({"args": ["service", "install"]}, "'service' is not an edgekit command"),
    ({"user": "root"}, "user 'root' must be a dedicated"),
    ({"user": "Bad User"}, "user 'Bad User' must be"),
    ({"name": "../etc/passwd"}, "service name '../etc/passwd' must be"),
    ({"exec_path": "edgekit"}, "must be an absolute path"),
])
def test_bad_requests_are_config_errors(kwargs: dict[str, object], message: str) -> None:
    args = kwargs.pop("args", ["run"])
    name = kwargs.pop("name", "door")
    kwargs.setdefault("exec_path", EDGEKIT)
    with pytest.raises(ConfigError, match=message):
        service.render_unit(name, args, root="/nonexistent-root", **kwargs)  # type: ignore[arg-type]


def test_the_default_executable_is_this_environment_s_absolute_edgekit() -> None:
    exe = service.find_executable()
    assert os.path.isabs(exe) and Path(exe).name == "edgekit" and os.access(exe, os.X_OK)


def _verify(path: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return subprocess.run([tool, "verify", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)


def test_generated_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = service.render_unit("door", ["run", "--camera", "0", "--topic", 'a b$%"c', "--out", "r.jsonl",
                                        "--token", "secret"], root=tmp_path)
    assert _setting(unit.text, "EnvironmentFile") == ["/etc/edgekit/door.env"]
    service.install(unit, root=tmp_path)
    proc = _verify(unit.path)
    assert proc.returncode == 0, proc.stderr


def test_systemd_analyze_verify_does_reject_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a unit with unbalanced quotes is refused."""
    unit = service.render_unit("door", ["run"], root=tmp_path)
    broken = unit.text.replace("ExecStart=", 'ExecStart="', 1)
    path = tmp_path / "edgekit-broken.service"
    path.write_text(broken)
    proc = _verify(path)
    assert proc.returncode != 0 and "quot" in proc.stderr.lower()


def test_install_print_and_uninstall_through_the_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["service", "install", "--name", "door", "--root", str(tmp_path), "--", "run", "--camera", "0"]
    printed = runner.invoke(cli, [*args[:6], "--print", *args[6:]])
    assert printed.exit_code == 0, printed.output
    assert "Type=notify" in printed.output and not (tmp_path / "etc").exists()
    installed = runner.invoke(cli, args)
    assert installed.exit_code == 0, installed.output
    path = tmp_path / "etc/systemd/system/edgekit-door.service"
    assert path.read_text() == printed.output
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    removed = runner.invoke(cli, ["service", "uninstall", "--name", "door", "--root", str(tmp_path)])
    assert removed.exit_code == 0 and not path.exists()
    again = runner.invoke(cli, ["service", "uninstall", "--name", "door", "--root", str(tmp_path)])
    assert again.exit_code == 2 and "ConfigError: no service edgekit-door" in again.output


def test_the_unit_directory_can_be_redirected_by_environment(tmp_path: Path) -> None:
    env = {"EDGEKIT_SERVICE_ROOT": str(tmp_path)}
    result = CliRunner(env=env).invoke(cli, ["service", "install", "--name", "x1", "--", "run"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "etc/systemd/system/edgekit-x1.service").is_file()


def test_a_venv_in_a_private_home_is_flagged(tmp_path: Path) -> None:
    home = tmp_path / "home" / "pi"
    (home / "venv" / "bin").mkdir(parents=True)
    exe = home / "venv" / "bin" / "edgekit"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    home.chmod(0o700)
    try:
        unit = service.render_unit("door", ["run"], exec_path=str(exe), root=tmp_path)
    finally:
        home.chmod(0o755)
    assert unit.warnings and "not searchable by other users" in unit.warnings[0]


# -- secrets stay off the command line ---------------------------------------------------------

TOKEN = 'tok-SECRET $HOME "q" `x` \\ end'
PASSWORD = "pw-SECRET-456"
SOURCE = "rtsp://cam:url-SECRET@192.168.1.20/stream"
SECRET_ARGS = ["run", "--source", SOURCE, "--serve", "0.0.0.0:8080", "--token", TOKEN,
               "--mqtt", "mqtt://b:1883", "--mqtt-username", "cam", f"--mqtt-password={PASSWORD}"]


def _sourced(path: Path, *names: str) -> list[str]:
    """The variables as a shell reads the file (its double-quote rules are systemd's)."""
    script = f'set -a; . "{path}"; ' + "; ".join(f'printf "%s\\0" "${n}"' for n in names)
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True, timeout=10).stdout
    return out.decode().split("\0")[:-1]


def test_secret_options_move_to_a_root_only_environment_file(tmp_path: Path) -> None:
    unit = service.render_unit("door", SECRET_ARGS, exec_path=EDGEKIT, root=tmp_path)
    for secret in ("SECRET", TOKEN, PASSWORD, SOURCE):
        assert secret not in unit.text and secret not in repr(unit)
    assert _unquote(_setting(unit.text, "ExecStart")[0]) == [
        EDGEKIT, "run", "--serve", "0.0.0.0:8080", "--mqtt", "mqtt://b:1883", "--mqtt-username", "cam"]
    assert _setting(unit.text, "EnvironmentFile") == ["/etc/edgekit/door.env"]
    service.install(unit, root=tmp_path)
    env = tmp_path / "etc/edgekit/door.env"
    assert oct(env.stat().st_mode & 0o777) == "0o600"
    assert oct(env.parent.stat().st_mode & 0o777) == "0o700"
    assert oct(unit.path.stat().st_mode & 0o777) == "0o644"
    assert _sourced(env, "EDGEKIT_SERVE_TOKEN", "EDGEKIT_MQTT_PASSWORD", "EDGEKIT_SOURCE") == [
        TOKEN, PASSWORD, SOURCE]


@pytest.mark.parametrize("value", ["plain", "a b", '"', "\\", "\\\\n", "$HOME", "${X}", "`id`", "'",
                                   "#not a comment", "  spaces  ", "ünïcode", "=", ""])
def test_environment_file_values_read_back_exactly(tmp_path: Path, value: str) -> None:
    path = tmp_path / "x.env"
    path.write_text(f"V={service.env_file_quote(value)}\n")
    assert _sourced(path, "V") == [value]


def test_service_install_print_with_a_token_prints_no_token(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["service", "install", "--name", "door", "--root", str(tmp_path),
                                      "--exec", EDGEKIT, "--print", "--", *SECRET_ARGS])
    assert result.exit_code == 0, result.output
    assert "SECRET" not in result.output and "SECRET" not in (result.stderr or "")
    assert "EnvironmentFile=/etc/edgekit/door.env" in result.output
    assert "EDGEKIT_SERVE_TOKEN" in result.stderr and not (tmp_path / "etc").exists()


def test_a_password_in_a_url_that_cannot_move_is_refused() -> None:
    with pytest.raises(ConfigError, match="argument 3 has a password in a URL"):
        service.render_unit("door", ["batch", "m.tflite", "rtsp://u:p@cam/x"], exec_path=EDGEKIT,
                            root="/nonexistent-root")
    unit = service.render_unit("door", ["run", "--source", "rtsp://user@cam/x"], exec_path=EDGEKIT,
                               root="/nonexistent-root")  # a user name alone is no secret
    assert "rtsp://user@cam/x" in unit.text and unit.environment == {}


def test_reinstalling_without_secrets_and_uninstalling_remove_the_environment_file(tmp_path: Path) -> None:
    service.install(service.render_unit("door", SECRET_ARGS, exec_path=EDGEKIT, root=tmp_path), root=tmp_path)
    env = tmp_path / "etc/edgekit/door.env"
    assert env.exists()
    plain = service.render_unit("door", ["run", "--camera", "0"], exec_path=EDGEKIT, root=tmp_path)
    assert _setting(plain.text, "EnvironmentFile") == []
    assert any("removed" in line for line in service.install(plain, root=tmp_path)) and not env.exists()
    service.install(service.render_unit("door", SECRET_ARGS, exec_path=EDGEKIT, root=tmp_path), root=tmp_path)
    assert service.uninstall("door", root=tmp_path) == [
        f"removed {tmp_path}/etc/systemd/system/edgekit-door.service", f"removed {env}"]


def test_run_reads_its_source_from_the_environment(tmp_path: Path) -> None:
    """What the unit relies on: `run` takes --source from EDGEKIT_SOURCE."""
    import cv2
    import numpy as np

    image = tmp_path / "seven.png"
    cv2.imwrite(str(image), np.full((32, 32, 3), 200, np.uint8))
    env = {**os.environ, "EDGEKIT_SOURCE": str(image), "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "edgekit", "run", "--max-frames", "1", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["source"] == str(image)
