"""``edgekit run`` with rules and actions, as a real process: options, errors, faults, kills."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from streamkit import edgekit_cmd, edgekit_env

from edgekit.cli import cli

DIGITS = [arg for d in range(10) for arg in ("--when", f"{d}>=0.6 for 2/3")]


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(edgekit_cmd("run", *args), capture_output=True, text=True, timeout=timeout,
                          env=edgekit_env(), stdin=subprocess.DEVNULL, check=False)


def _error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if not line.startswith("INFO: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (["--when", "person>=0.6"], ("ConfigError: rule 'person>=0.6': the model has no label 'person'; "
                                 "its labels: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9")),
    (["--when", "3>=0.6", "--exec", "no-such-program-h17", "x"],
     "ConfigError: --exec: command 'no-such-program-h17' is not on the PATH"),
    (["--snapshots", "ev"], "ConfigError: --snapshots needs a rule to act on: --when 'LABEL>=SCORE'"),
    (["--when", "3", "--pre-roll", "2"], "ConfigError: --pre-roll needs --snapshots DIR"),
    (["--ha-discovery"], "ConfigError: --ha-discovery needs the broker: --mqtt mqtt://host"),
    (["--when", "3>0.5"], "ConfigError: rule '3>0.5': write LABEL>=SCORE [for N/M], e.g. 'person>=0.6 for 3/5'"),
    (["--when", "3", "--zone", "1,2,3"], ("ConfigError: zone '1,2,3': give a box 'x1,y1,x2,y2' or a "
                                          "polygon 'x1,y1 x2,y2 x3,y3 ...' in source pixels")),
    (["--when", "3", "--zone", "0,0,10,10"], ("ConfigError: rule '3>=0.5': zones need a detection model "
                                              "(this one does classify)")),
    (["--capture", "cap", "--capture-band", "0.3"], "ConfigError: --capture-band '0.3': give two numbers as A,B"),
])
def test_bad_rule_and_action_options_are_one_line_errors_and_create_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["run", "--duration", "5", *args])
    assert done.exit_code == 2
    assert done.stderr.splitlines() == [message]
    assert list(tmp_path.iterdir()) == []


def test_bad_options_are_one_line_errors_from_the_command_too(tmp_path: Path) -> None:
    done = subprocess.run(edgekit_cmd("run", "--duration", "5", "--when", "person>=0.6"), capture_output=True,
                          text=True, timeout=120, env=edgekit_env(), cwd=tmp_path, stdin=subprocess.DEVNULL,
                          check=False)
    assert done.returncode == 2
    assert _error_line(done).startswith("ConfigError: rule 'person>=0.6': the model has no label 'person'")
    assert list(tmp_path.iterdir()) == []


def test_exec_without_a_command_is_a_usage_error() -> None:
    done = CliRunner().invoke(cli, ["run", "--when", "3", "--exec"])
    assert done.exit_code == 2 and "--exec needs a command" in done.stderr


@pytest.mark.slow
def test_a_run_with_rules_writes_events_snapshots_and_runs_the_command(tmp_path: Path) -> None:
    record = tmp_path / "runs.txt"
    script = ("import os, sys; data = sys.stdin.read(); print('exec output'); "
              "open(sys.argv[1], 'a').write(os.environ['EDGEKIT_SNAPSHOT'] + ' ' "
              "+ str(os.path.isfile(os.environ['EDGEKIT_SNAPSHOT'])) + '\\n')")
    done = _run("--duration", "4", *DIGITS, "--cooldown", "0.5", "--snapshots", str(tmp_path / "ev"),
                "--capture", str(tmp_path / "cap"), "--exec", sys.executable, "-c", script, str(record))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]  # the command's output is not here
    events = [r for r in rows if r.get("event") == "rule"]
    ons = [e for e in events if e["state"] == "on"]
    assert len(ons) >= 2 and all(Path(e["snapshot"]).is_file() for e in ons)
    assert "exec output" in done.stderr
    runs = record.read_text().splitlines()
    assert runs and all(line.endswith(" True") for line in runs), "the snapshot was there for the command"
    assert {line.split()[0] for line in runs} <= {e["snapshot"] for e in ons}
    assert rows[-1]["event"] == "stopped"
