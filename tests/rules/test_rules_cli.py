"""``edgekit run`` with rules and actions, as a real process: options, errors, faults, kills."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from streamkit import edgekit_cmd, edgekit_env
from testkit import read_video, terminate

from edgekit.sources import DemoSource

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
        tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(edgekit_cmd("run", "--duration", "5", *args), capture_output=True, text=True,
                          timeout=120, env=edgekit_env(), cwd=tmp_path, stdin=subprocess.DEVNULL,
                          check=False)
    assert done.returncode == 2
    assert _error_line(done) == message
    assert list(tmp_path.iterdir()) == []


def test_exec_without_a_command_is_a_usage_error() -> None:
    done = _run("--when", "3", "--exec")
    assert done.returncode == 2 and "--exec needs a command" in done.stderr


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


def _frames_for_a_full_disk(folder: Path) -> Path:
    """Big noisy frames, a '3' then a blank one, over and over: the rule fires every other frame."""
    demo = DemoSource()
    three = cv2.resize(demo.frame_at(next(i for i in range(0, 900, 30) if demo.label_at(i) == 3)), (1280, 960))
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(24):
        base = three if i % 2 == 0 else np.full_like(three, 60)
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.add(base, rng.integers(0, 40, base.shape, np.uint8)))
    return folder


@pytest.mark.slow
def test_a_full_disk_stops_snapshots_with_an_event_and_inference_goes_on(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-Urm", "true"],
                                                         capture_output=True, check=False).returncode:
        pytest.skip("needs unshare with user and mount namespaces (a tmpfs of our own)")
    frames = _frames_for_a_full_disk(tmp_path / "frames")
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    (out / "files").mkdir(parents=True)
    # In a private mount namespace: a 1.2 MB tmpfs holds two snapshots (~0.44 MB each), not three.
    script = ('mount -t tmpfs -o size=1200k tmpfs "$1" || exit 99; dir=$1; out=$2; shift 2; '
              '"$@" > "$out/out.jsonl"; code=$?; cp -a "$dir/." "$out/files/"; exit $code')
    done = subprocess.run(["unshare", "-Urm", "sh", "-c", script, "sh", str(disk), str(out),
                           *edgekit_cmd("run", "--source", str(frames), "--when", "3>=0.6",
                                        "--snapshots", str(disk), "--min-free-mb", "0")],
                          capture_output=True, text=True, timeout=300, env=edgekit_env(), check=False)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (out / "out.jsonl").read_text().splitlines()]
    full = [i for i, r in enumerate(rows) if r.get("event") == "storage_full"]
    assert len(full) == 1, rows
    assert "snapshots stopped: " in rows[full[0]]["message"] and "No space left on device" in rows[full[0]]["message"]
    assert sum("frame" in r and "task" in r for r in rows) == 24, "every frame was still inferred"
    assert sum("task" in r for r in rows[full[0]:]) >= 10
    files = sorted((out / "files").iterdir())
    assert len(files) == 2 and all(cv2.imread(str(f)) is not None for f in files), \
        "the snapshots on disk are whole; the one that did not fit left nothing"
    written = {r["snapshot"] for r in rows if r.get("snapshot")}
    assert {str(disk / f.name) for f in files} <= written


@pytest.mark.slow
def test_a_killed_run_leaves_only_whole_files_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    events = tmp_path / "ev"
    proc = subprocess.Popen(edgekit_cmd("run", *DIGITS, "--snapshots", str(events), "--pre-roll", "1",
                                        "--clip-seconds", "60", "--duration", "60"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=edgekit_env())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (list(events.glob(".tmp-*.mkv"))
                                                   and list(events.glob("*.jpg"))):
            time.sleep(0.1)
        time.sleep(1.0)  # a clip is being written
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        terminate(proc)
    temps = list(events.glob(".tmp-*"))
    assert temps, "killed while a clip was being written"
    whole = [p for p in events.iterdir() if not p.name.startswith(".")]
    assert whole and all(cv2.imread(str(p)) is not None for p in whole if p.suffix == ".jpg")
    assert all(read_video(p) for p in whole if p.suffix == ".mkv")
    done = _run("--when", "3", "--snapshots", str(events), "--max-frames", "1")
    assert done.returncode == 0, done.stderr
    assert not list(events.glob(".tmp-*"))
