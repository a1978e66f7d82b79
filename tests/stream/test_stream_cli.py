"""``edgekit run`` as a real subprocess: JSON lines, signals, errors, picam, reconnection."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

import fake_picamera2
import pytest
from streamkit import MjpegCamera, edgekit_cmd, edgekit_env, write_video
from testkit import default_signals, wall_limit


def _run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(edgekit_cmd("run", *args), capture_output=True, text=True,
                          timeout=timeout, env=edgekit_env(**env), stdin=subprocess.DEVNULL,
                          check=False)


def _start(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(edgekit_cmd("run", *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=edgekit_env(**env),
                            stdin=subprocess.DEVNULL, preexec_fn=default_signals)


def _read_until(stream: IO[str], predicate, limit: float = 30.0) -> list[dict]:  # type: ignore[no-untyped-def]
    """JSON lines from ``stream`` until ``predicate(rows)`` (the process must keep writing)."""
    rows: list[dict] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        rows.append(json.loads(line))
        if predicate(rows):
            return rows
    raise AssertionError(f"condition not met; last rows: {rows[-3:]}")


def test_run_with_no_options_classifies_the_demo_with_the_default_model(default_model: Path) -> None:
    done = _run("--max-frames", "5")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 6
    for row in rows[:5]:
        assert row["source"] == "demo" and row["task"] == "classify"
        assert set(row["latency_ms"]) == {"age", "pre", "invoke", "post", "total"}
        assert row["classes"][0]["label"] in [str(d) for d in range(10)]
    assert rows[-1]["event"] == "stopped"
    assert "5 inferred of" in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_run_cleanly_within_2_seconds(signum: int, digits_model: Path) -> None:
    proc = _start("--model", str(digits_model))
    assert proc.stdout is not None and proc.stderr is not None
    _read_until(proc.stdout, lambda rows: len(rows) >= 10)
    sent = time.monotonic()
    proc.send_signal(signum)
    rest, err = proc.communicate(timeout=20)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 0, err
    assert elapsed < wall_limit(2.0), f"took {elapsed:.2f} s to stop"
    last = json.loads(rest.splitlines()[-1])  # complete: it parses
    assert last["event"] == "stopped" and signal.Signals(signum).name in last["message"]
    assert "inferred of" in err, "the summary is printed"


def test_a_second_signal_exits_at_once(digits_model: Path) -> None:
    proc = _start("--model", str(digits_model))
    assert proc.stdout is not None
    _read_until(proc.stdout, lambda rows: len(rows) >= 5)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    proc.communicate(timeout=20)
    assert time.monotonic() - sent < wall_limit(0.5) or proc.returncode == 0
    assert proc.returncode in (0, 128 + signal.SIGTERM)


def test_a_source_that_does_not_exist_is_a_one_line_error(digits_model: Path) -> None:
    done = _run("--model", str(digits_model), "--source", "missing/clip.mp4")
    assert done.returncode == 6
    errors = [line for line in done.stderr.splitlines() if not line.startswith("INFO:")]
    assert errors == [("SourceOpenError: missing/clip.mp4: no such file, folder, camera or URL "
                       "(sources: demo, demo:detect, 0, /dev/videoN, picam, a file, a folder, a glob, a URL)")]
    assert done.stdout == ""


def test_a_camera_that_cannot_be_opened_is_a_one_line_error(digits_model: Path) -> None:
    done = _run("--model", str(digits_model), "--camera", "7")
    assert done.returncode == 6
    assert done.stderr.strip().splitlines()[-1].startswith("SourceOpenError: camera:7: cannot open")
    assert "Traceback" not in done.stderr


def test_camera_and_source_together_are_refused(digits_model: Path) -> None:
    done = _run("--model", str(digits_model), "--camera", "0", "--source", "demo")
    assert done.returncode == 2
    assert "ConfigError: give --camera or --source, not both" in done.stderr


def test_run_reads_a_video_file_to_the_end_into_an_out_file(tmp_path: Path, digits_model: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=20)
    out = tmp_path / "results.jsonl"
    done = _run("--model", str(digits_model), "--source", str(video), "--out", str(out), "-q")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in rows[:-1]] == list(range(20))
    assert rows[-1] == {**rows[-1], "event": "stopped", "message": "end of the source"}
    assert "inferred of" not in done.stderr, "--quiet: no summary"


def test_run_camera_picam_goes_through_picamera2(tmp_path: Path, digits_model: Path) -> None:
    site = fake_picamera2.install(tmp_path / "site")
    log = tmp_path / "calls.txt"
    done = _run("--model", str(digits_model), "--camera", "picam", "--width", "64", "--height", "48",
                "--max-frames", "3", PYTHONPATH=str(site), FAKE_PICAMERA2_LOG=str(log))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["source"] for r in rows] == ["picam"] * 4
    calls = log.read_text()
    assert "{'size': (64, 48), 'format': 'RGB888'}" in calls
    assert calls.strip().splitlines()[-2:] == ["('stop',)", "('close',)"], "the camera is released"


def test_run_reports_the_stream_going_offline_and_online_in_its_json_lines(digits_model: Path) -> None:
    camera = MjpegCamera(fps=30).start()
    proc = _start("--model", str(digits_model), "--source", camera.url, "--stall-timeout", "1")
    try:
        assert proc.stdout is not None
        _read_until(proc.stdout, lambda rows: len(rows) >= 10)
        camera.stop()
        _read_until(proc.stdout, lambda rows: rows[-1].get("event") == "source_offline")
        camera.start()
        rows = _read_until(proc.stdout, lambda rows: rows[-1].get("event") == "source_online")
        after = _read_until(proc.stdout, lambda rows: len(rows) >= 5)
        assert all("classes" in r for r in after), "results flow again"
        assert rows[-1]["source"] == camera.url
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        camera.stop()


def test_run_help_lists_the_stream_options() -> None:
    done = subprocess.run(edgekit_cmd("run", "--help"), capture_output=True, text=True, timeout=60,
                          check=False)
    for option in ("--camera", "--source", "--max-fps", "--every", "--max-frames", "--duration",
                   "--stall-timeout", "--loop", "--realtime", "--out", "--mqtt", "--threads"):
        assert option in done.stdout


def test_run_stops_when_the_reader_of_stdout_goes_away(tmp_path: Path, default_model: Path) -> None:
    out = tmp_path / "copy.jsonl"
    proc = _start("--out", str(out), "--json")
    assert proc.stdout is not None
    rows = [json.loads(proc.stdout.readline()) for _ in range(3)]
    proc.stdout.close()  # what `| head -3` does after its third line
    _, err = proc.communicate(timeout=30)  # generous: a loaded machine must not fail this
    assert all("classes" in row for row in rows)
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Error" not in err
    assert "stdout closed by its reader" in err.splitlines()[-1], "the summary says why it stopped"
    last = json.loads(out.read_text().splitlines()[-1])
    assert last["event"] == "stopped", "--out was flushed and closed as after Ctrl-C"


def test_run_piped_into_head_ends_with_head(default_model: Path) -> None:
    command = " ".join(f"'{part}'" for part in edgekit_cmd("run"))
    done = subprocess.run(["bash", "-c", f"set -o pipefail; timeout 60 {command} | head -3"],
                          capture_output=True, text=True, timeout=90, env=edgekit_env(),
                          stdin=subprocess.DEVNULL, check=False)
    assert len(done.stdout.splitlines()) == 3
    assert done.returncode == 141, f"not stopped by timeout (124): {done.stderr}"


def test_out_file_alone_keeps_piped_stdout_empty(tmp_path: Path, digits_model: Path) -> None:
    out = tmp_path / "r.jsonl"
    done = _run("--model", str(digits_model), "--max-frames", "3", "--out", str(out), "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "", "one destination unless --json asks for stdout too"
    assert len(out.read_text().splitlines()) == 4
    both = _run("--model", str(digits_model), "--max-frames", "3", "--out", str(tmp_path / "b.jsonl"),
                "--json", "-q")
    assert len(both.stdout.splitlines()) == 4 and len((tmp_path / "b.jsonl").read_text().splitlines()) == 4


def test_run_model_as_an_argument_names_the_model_option() -> None:
    done = _run("model.tflite")
    assert done.returncode == 2
    assert "unexpected argument 'model.tflite'; the model is an option: edgekit run --model model.tflite" \
        in done.stderr


def test_serve_prints_its_url_once_with_the_port_it_got(digits_model: Path) -> None:
    import re

    done = _run("--model", str(digits_model), "--max-frames", "2", "--serve", "0", "-q")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "web preview" in line]
    assert len(lines) == 1 and re.fullmatch(r"web preview: http://127\.0\.0\.1:(\d+)/", lines[0]), lines
    assert int(re.search(r":(\d+)/", lines[0]).group(1)) > 0, "--serve 0: the port actually bound"
    public = _run("--model", str(digits_model), "--max-frames", "2", "--serve", "0.0.0.0:0",
                  "--token", "s3cret", "-q")
    assert public.returncode == 0, public.stderr
    line = next(line for line in public.stderr.splitlines() if "web preview" in line)
    assert re.fullmatch(r"web preview: http://<this machine's address>:\d+/\?token=<the --token value>", line)
    assert "s3cret" not in public.stderr, "the secret itself is not printed"
