"""Faults around actions, for real: a full disk (a tmpfs of our own) and a hard kill mid-clip."""

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


def _need_namespaces() -> None:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-Urm", "true"],
                                                         capture_output=True, check=False).returncode:
        pytest.skip("needs unshare with user and mount namespaces (a tmpfs of our own)")


CLIP_ON_A_FULL_DISK = """
import sys, errno
from pathlib import Path
import cv2, numpy as np
from edgekit._actions.clips import ClipWriter
rng = np.random.default_rng(0)
writer = ClipWriter(Path(sys.argv[1]) / "clip.mkv", 10.0, (640, 480))
for _ in range(20):  # 20 frames of ~0.35 MB: far more than the 2 MB disk
    ok, data = cv2.imencode(".jpg", rng.integers(0, 255, (480, 640, 3), np.uint8))
    try:
        writer.add(data.tobytes(), (640, 480))
    except OSError as exc:
        print("ENOSPC" if exc.errno == errno.ENOSPC else exc.errno, exc.strerror)
        writer.abort()
        break
print(sorted(p.name for p in Path(sys.argv[1]).iterdir()))
"""


def test_a_clip_stops_before_the_disk_is_full_and_leaves_nothing(tmp_path: Path) -> None:
    _need_namespaces()
    disk = tmp_path / "disk"
    disk.mkdir()
    script = 'mount -t tmpfs -o size=2m tmpfs "$1" || exit 99; exec "$2" -c "$3" "$1"'
    done = subprocess.run(["unshare", "-Urm", "sh", "-c", script, "sh", str(disk), sys.executable,
                           CLIP_ON_A_FULL_DISK], capture_output=True, text=True, timeout=120,
                          env=edgekit_env(), check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == ["ENOSPC the disk is (nearly) full", "[]"], done.stdout
    assert "FFmpeg" not in done.stderr, "the muxer never ran into the full disk"


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
    _need_namespaces()
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
