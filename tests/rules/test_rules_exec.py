"""``Exec``: real commands, the event on stdin and in the environment, timeouts, one at a time."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

import edgekit
from edgekit import Exec, StreamEvent
from edgekit._actions.execute import event_environment
from edgekit.errors import ConfigError

PY = sys.executable
RECORD = """
import json, os, sys
out = sys.argv[1]
env = {k: v for k, v in os.environ.items() if k.startswith("EDGEKIT_")}
open(out + ".tmp", "w").write(json.dumps({"stdin": sys.stdin.read(), "env": env, "argv": sys.argv[2:]}))
os.replace(out + ".tmp", out)
"""
SLOW = """
import os, sys, time
log = sys.argv[1]
fd = os.open(log + ".lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY)   # fails if two overlap
open(log, "a").write(f"start {os.getpid()}\\n")
time.sleep(float(sys.argv[2]))
open(log, "a").write("end\\n")
os.close(fd); os.unlink(log + ".lock")
"""


def _event(state: str = "on", rule: str = "door", **extra: object) -> StreamEvent:
    return StreamEvent("rule", 1764395000.5, "camera:0", f"{rule}: {state}", rule=rule, state=state,
                       frame=42, label="person", score=0.875, count=2, **extra)  # type: ignore[arg-type]


def _until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"not true within {timeout} s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_command_gets_the_event_as_json_on_stdin_and_in_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    event = _event(snapshot=str(tmp_path / "missing.jpg"))
    with Exec([PY, "-c", RECORD, str(out), "a b", "$HOME;|"], snapshot_wait=0.1) as runner:
        runner.write(event)
        _until(out.exists)
    seen = json.loads(out.read_text())
    assert json.loads(seen["stdin"]) == event.to_dict()
    assert seen["argv"] == ["a b", "$HOME;|"], "arguments arrive as given: no shell"
    assert seen["env"] == event_environment(event)
    assert seen["env"]["EDGEKIT_RULE"] == "door" and seen["env"]["EDGEKIT_STATE"] == "on"
    assert seen["env"]["EDGEKIT_SCORE"] == "0.875" and seen["env"]["EDGEKIT_COUNT"] == "2"
    assert json.loads(seen["env"]["EDGEKIT_EVENT_JSON"]) == event.to_dict()
    assert runner.runs == 1 and runner.failures == 0


def test_a_missing_command_is_an_error_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"command 'no-such-program-h17' is not on the PATH"):
        Exec(["no-such-program-h17", "--flag"])
    script = tmp_path / "notify.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(ConfigError, match=r"notify.sh' is not an executable file"):
        Exec([str(script)])
    with pytest.raises(ConfigError, match=r"a command is a non-empty list of strings"):
        Exec([])


def test_a_hanging_command_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with Exec([PY, "-c", SLOW, str(log), "60"], timeout=3) as runner:  # Python starts within 3 s
        runner.write(_event())
        _until(log.exists)
        pid = int(log.read_text().split()[1])
        _until(lambda: runner.timeouts == 1)
        assert not _alive(pid)
        assert "end" not in log.read_text()
        runner.write(_event())  # free again: the next event runs
        _until(lambda: runner.runs == 2)
    assert runner.skipped == 0


def test_one_command_at_a_time_and_events_meanwhile_are_skipped(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with Exec([PY, "-c", SLOW, str(log), "0.5"]) as runner:
        runner.write(_event())
        _until(log.exists)
        for _ in range(4):
            runner.write(_event())
        _until(lambda: log.read_text().count("end") == 1)
        _until(lambda: not runner.running)  # the worker has reaped it
        runner.write(_event())
        _until(lambda: log.read_text().count("end") == 2)
    assert (runner.runs, runner.skipped, runner.failures) == (2, 4, 0)


def test_only_the_chosen_states_and_rules_run_it(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    with Exec([PY, "-c", RECORD, str(out)], states=("off",), rules=["door"]) as runner:
        runner.write(_event("on"))
        runner.write(_event("off", rule="gate"))
        runner.write(StreamEvent("source_offline", time.time(), "camera:0"))
        runner.write(_event("off"))
        _until(out.exists)
    assert json.loads(json.loads(out.read_text())["stdin"])["state"] == "off"
    assert runner.runs == 1


def test_a_failing_command_is_counted_and_the_next_event_runs_again(tmp_path: Path) -> None:
    with Exec([PY, "-c", "import sys; sys.exit(3)"]) as runner:
        runner.write(_event())
        _until(lambda: runner.failures == 1)
        _until(lambda: not runner.running)
        runner.write(_event())
        _until(lambda: runner.failures == 2)
    assert runner.runs == 2


def test_closing_stops_a_command_that_still_runs(tmp_path: Path) -> None:
    log = tmp_path / "log"
    runner = Exec([PY, "-c", SLOW, str(log), "60"], timeout=600)
    runner.write(_event())
    _until(log.exists)
    pid = int(log.read_text().split()[1])
    runner.close(timeout=0.2)
    assert not _alive(pid)


def test_a_hanging_command_never_holds_up_the_stream(tmp_path: Path, default_model: Path) -> None:
    log = tmp_path / "log"
    runner = Exec([PY, "-c", SLOW, str(log), "60"], timeout=30)
    rules = [f"{digit}>=0.6" for digit in range(10)]
    items = list(edgekit.stream(default_model, "demo", rules=rules, sinks=[runner], events=True,
                                duration=3.0))
    started = [i for i, item in enumerate(items) if isinstance(item, StreamEvent) and item.event == "rule"]
    assert runner.runs == 1 and runner.skipped >= 1, "later events came while it hung"
    after = [item for item in items[started[0]:] if isinstance(item, edgekit.FrameResult)]
    assert len(after) >= 30, "results kept coming while the command hung"
    pid = int(log.read_text().split()[1])
    _until(lambda: not _alive(pid))  # the stream's end stops it (SIGTERM, SIGKILL a second later)
