"""Live model updates in `edgekit run` / `edgekit.stream`: swapped between frames, none lost or doubled."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import tinymodels
from serve_helpers import Cli, encode

import edgekit
from edgekit.results import FrameResult, StreamEvent

FRAMES = 40


@pytest.fixture
def frames(tmp_path: Path, digit_images: list[np.ndarray]) -> Path:
    """A folder of FRAMES real digit images: a file source, every frame read in order."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(FRAMES):
        (folder / f"{index:03d}.png").write_bytes(encode(digit_images[index % len(digit_images)], ".png"))
    return folder


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _run_with_update(model_file: Path, frames: Path, new: bytes, at: int = 5,
                     until: str = "model_changed") -> tuple[list[FrameResult], list[StreamEvent]]:
    """Stream the folder; replace the model at frame ``at`` and read slowly until ``until`` comes."""
    results: list[FrameResult] = []
    events: list[StreamEvent] = []
    deadline = time.monotonic() + 30
    with edgekit.stream(model_file, str(frames), reload=True, events=True) as stream:
        for item in stream:
            if isinstance(item, StreamEvent):
                events.append(item)
                continue
            results.append(item)
            if len(results) == at:
                _replace(model_file, new)
            if len(results) >= at and not any(e.event == until for e in events):
                assert time.monotonic() < deadline, "no update within 30 s"
                time.sleep(0.05)  # hold the stream back until the update is in
    return results, events


def test_a_replaced_model_file_takes_over_between_frames_and_no_frame_is_lost(model_file: Path,
                                                                            frames: Path) -> None:
    old_sha = hashlib.sha256(model_file.read_bytes()).hexdigest()
    new = tinymodels.classifier(3)  # another input format too: frames read ahead are redone
    results, events = _run_with_update(model_file, frames, new)
    assert [r.frame for r in results] == list(range(FRAMES))
    changed = [e for e in events if e.event == "model_changed"]
    assert len(changed) == 1
    assert changed[0].old_sha256 == old_sha and changed[0].new_sha256 == hashlib.sha256(new).hexdigest()
    assert changed[0].model == str(model_file) and changed[0].message.startswith("file changed; loaded in")
    kinds = [len(r.classes) == 3 and r.classes[0].label is None for r in results]  # the tiny model's rows
    switch = kinds.index(True)
    assert switch >= 5 and not any(kinds[:switch]) and all(kinds[switch:])


def test_a_broken_replacement_is_rejected_and_the_old_model_keeps_every_frame(model_file: Path,
                                                                           frames: Path) -> None:
    results, events = _run_with_update(model_file, frames, b"TFL3" * 100, until="model_rejected")
    assert [r.frame for r in results] == list(range(FRAMES))
    rejected = [e.to_dict() for e in events if e.event == "model_rejected"]
    assert len(rejected) == 1 and "ModelInvalid" in rejected[0]["message"]
    assert not any(e.event == "model_changed" for e in events)
    assert all(r.classes[0].label is not None for r in results)  # the digits model throughout


def test_stream_reload_loads_another_file_with_its_sha256(model_file: Path, frames: Path) -> None:
    other = model_file.with_name("v2.tflite")
    other.write_bytes(tinymodels.classifier(4))
    seen: list[StreamEvent] = []
    with edgekit.stream(model_file, str(frames), reload=True, on_event=seen.append) as stream:
        for index, _ in enumerate(stream):
            if index == 2:
                stream.reload(other, hashlib.sha256(other.read_bytes()).hexdigest())
            if index >= 2 and not seen:
                time.sleep(0.05)
    changed = [e for e in seen if e.event == "model_changed"]
    assert changed and changed[0].model == str(other) and changed[0].message.startswith("reload()")


def test_a_stream_without_reload_says_so(frames: Path) -> None:
    with edgekit.stream(None, str(frames)) as stream, \
            pytest.raises(edgekit.ConfigError, match="does not reload its model; create it with reload=True"):
        stream.reload()


def _run_cli(model_file: Path, frames: Path, *extra: str) -> Cli:
    return Cli(["--model", str(model_file), "--source", str(frames), "--loop", "--max-fps", "20",
                "--json", *extra], command="run")


def _event(cli: Cli, kind: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in cli.events() if e.get("event") == kind]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no {kind} event within {timeout} s; stderr: {cli.stderr_lines}")


@pytest.mark.slow
def test_run_reloads_on_sighup(model_file: Path, frames: Path) -> None:
    cli = _run_cli(model_file, frames)
    try:
        cli.wait_for(r'"frame":\s*3\b', where="stdout")
        new = tinymodels.classifier(3)
        model_file.write_bytes(new)  # in place; SIGHUP says "now"
        cli.proc.send_signal(signal.SIGHUP)
        event = _event(cli, "model_changed")
    finally:
        code = cli.stop(signal.SIGTERM)
    assert event["message"].startswith("SIGHUP") and event["new_sha256"] == hashlib.sha256(new).hexdigest()
    assert code == 0
    rows = [json.loads(line) for line in cli.stdout_lines if line.startswith('{"frame"')]
    assert rows[-1]["classes"][0]["label"] is None  # the new model answers


@pytest.mark.slow
def test_run_takes_an_update_command_from_mqtt(model_file: Path, frames: Path, broker) -> None:  # type: ignore[no-untyped-def]
    import paho.mqtt.publish as publish

    new = model_file.with_name("v2.tflite")
    new.write_bytes(tinymodels.classifier(3))
    cli = _run_cli(model_file, frames, "--mqtt", broker.url, "--model-topic", "edgekit/door/model")
    try:
        cli.wait_for(r'"frame":\s*2\b', where="stdout")
        publish.single("edgekit/door/model", json.dumps({"model": "v2.tflite", "sha256": "0" * 64}), qos=1,
                       hostname="127.0.0.1", port=broker.port)
        rejected = _event(cli, "model_rejected")
        sha = hashlib.sha256(new.read_bytes()).hexdigest()
        publish.single("edgekit/door/model", json.dumps({"model": "v2.tflite", "sha256": sha}), qos=1,
                       hostname="127.0.0.1", port=broker.port)
        changed = _event(cli, "model_changed")
    finally:
        assert cli.stop(signal.SIGTERM) == 0
    assert "MQTT command: ModelInvalid" in rejected["message"] and "expected " + "0" * 64 in rejected["message"]
    assert changed["model"] == str(new) and changed["new_sha256"] == sha
    assert changed["message"].startswith("MQTT command")


def test_a_new_model_without_the_label_a_rule_watches_is_rejected(tmp_path: Path, frames: Path) -> None:
    model_file = tmp_path / "animals.tflite"
    model_file.write_bytes(tinymodels.with_zip(tinymodels.classifier(3), {"labels.txt": b"cat\ndog\nbird\n"}))
    rejected: list[StreamEvent] = []
    with edgekit.stream(model_file, str(frames), reload=True, rules=["dog>=0.5 for 1/1"],
                        on_event=rejected.append) as stream:
        for index, result in enumerate(stream):
            if index == 2:
                _replace(model_file, Path(edgekit.default_model_path()).read_bytes())  # digits: no dog
            if index >= 2 and not any(e.event == "model_rejected" for e in rejected):
                time.sleep(0.05)
            assert {c.label for c in result.classes} <= {"cat", "dog", "bird"}
    event = next(e for e in rejected if e.event == "model_rejected")
    assert "ConfigError" in event.message and "'dog'" in event.message
