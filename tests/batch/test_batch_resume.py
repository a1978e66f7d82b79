"""Kill a real ``edgekit batch`` process mid-run, then ``--resume``: every input exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zoo
from batch_data import write_digit
from testkit import default_signals

COUNT = 900


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> list[str]:
    """Enough small real images that a run lasts a few seconds with one worker."""
    root = tmp_path_factory.mktemp("many")
    x, _ = zoo.digits()
    for i in range(COUNT):
        sub = root / f"part{i // 300}"
        sub.mkdir(exist_ok=True)
        write_digit(sub / f"{i:04d}.png", x[i % len(x)], size=96)
    return sorted(str(p) for p in root.rglob("*.png"))


def edgekit_cmd() -> list[str]:
    script = Path(sys.executable).parent / "edgekit"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from edgekit.cli import main; main()"]


def start(model_path, folder: str, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*edgekit_cmd(), "batch", str(model_path), folder, "--out", str(out), "--workers", "1",
         "--threads", "1", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals,
    )


def complete_lines(out: Path) -> int:
    try:
        return out.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def interrupt_after(proc: subprocess.Popen, out: Path, sig: int, lines: int = 40) -> None:
    deadline = time.monotonic() + 120
    while complete_lines(out) < lines:
        assert proc.poll() is None, f"the run ended before the signal: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "no output after 120 s"
        time.sleep(0.002)
    proc.send_signal(sig)


def check_exactly_once(out: Path, expected: list[str]) -> None:
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n")
    rows = [json.loads(line) for line in text.splitlines()]  # every line is valid JSON
    inputs = [r["input"] for r in rows]
    assert len(inputs) == len(set(inputs)), "duplicates"
    assert inputs == expected  # no gaps, and still in input order
    assert all("classes" in r for r in rows)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGKILL, -signal.SIGKILL),
                                           (signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_run_then_resume_gives_every_input_exactly_once(model_path, many, tmp_path,
                                                                    sig, code):
    out = tmp_path / "results.jsonl"
    folder = os.path.dirname(os.path.dirname(many[0]))

    first = start(model_path, folder, out)
    interrupt_after(first, out, sig)
    _, stderr = first.communicate(timeout=120)

    assert first.returncode == code, stderr
    written = complete_lines(out)
    assert 0 < written < COUNT, "the first run was not interrupted mid-way"
    if sig != signal.SIGKILL:  # a clean stop leaves only whole lines and says how to go on
        assert out.read_text().endswith("\n")
        assert "--resume" in stderr and ("SIGTERM" in stderr or "SIGINT" in stderr)

    second = start(model_path, folder, out, "--resume")
    _, stderr = second.communicate(timeout=300)

    assert second.returncode == 0, stderr
    check_exactly_once(out, many)
    assert f"{COUNT - written} processed" in stderr or f"{COUNT - written + 1} processed" in stderr


def test_resume_after_a_kill_that_left_half_a_line(model_path, many, tmp_path):
    out = tmp_path / "results.jsonl"
    folder = os.path.dirname(os.path.dirname(many[0]))
    first = start(model_path, folder, out)
    interrupt_after(first, out, signal.SIGKILL, lines=25)
    first.communicate(timeout=120)
    with open(out, "a", encoding="utf-8") as handle:  # what a kill inside write() leaves
        handle.write('{"input": "' + many[-1] + '", "task": "clas')

    second = start(model_path, folder, out, "--resume")
    _, stderr = second.communicate(timeout=300)

    assert second.returncode == 0, stderr
    check_exactly_once(out, many)
