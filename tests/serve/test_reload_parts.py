"""The parts of live model updates: noticing a replaced file, reading a command, loading beside."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
import tinymodels

import edgekit
from edgekit._reload.commands import parse_command
from edgekit._reload.reloader import ModelReloader, loader_like
from edgekit._reload.watch import FileWatcher
from edgekit.errors import ConfigError


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_an_atomic_rename_is_reported_once_the_file_stays_put(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(b"one")
    watcher = FileWatcher(str(path))
    assert not watcher.poll()
    _replace(path, b"two")
    assert not watcher.poll()  # changed: one more look to be sure it is complete
    assert watcher.poll()
    assert not watcher.poll()  # once


def test_a_file_still_being_written_is_not_reported_until_it_stops_changing(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(b"x" * 10)
    watcher = FileWatcher(str(path))
    with open(path, "ab") as out:
        for _ in range(3):
            out.write(b"y" * 100)
            out.flush()
            assert not watcher.poll()
    assert watcher.poll()


def test_a_missing_file_is_not_a_change(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(b"one")
    watcher = FileWatcher(str(path))
    path.unlink()
    assert not watcher.poll() and not watcher.poll()
    path.write_bytes(b"two, written anew")
    assert not watcher.poll() and watcher.poll()


def test_a_command_names_a_file_and_its_sha256(tmp_path: Path) -> None:
    sha = "ab" * 32
    command = parse_command(f'{{"model": "v2/model.tflite", "sha256": "{sha.upper()}"}}'.encode(), str(tmp_path))
    assert command.path == str(tmp_path / "v2" / "model.tflite") and command.sha256 == sha
    assert parse_command(f'{{"model": "/opt/m.tflite", "sha256": "{sha}"}}'.encode(), "/x").path == "/opt/m.tflite"


@pytest.mark.parametrize(("payload", "message"), [
    (b"model.tflite", "model command is not JSON"),
    (b'["model.tflite"]', "must be a JSON object"),
    (b'{"sha256": "' + b"a" * 64 + b'"}', '"model" must be the path'),
    (b'{"model": "m.tflite"}', '"sha256" must be the new file\'s SHA-256'),
    (b'{"model": "m.tflite", "sha256": "abc"}', "64 hex digits"),
    (b"\xff\xfe", "model command is not JSON"),
    (b"{" + b" " * 5000 + b"}", "too long"),
])
def test_a_bad_command_is_a_config_error(payload: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_command(payload, "/models")


def _wait(predicate, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_the_reloader_loads_a_request_beside_and_hands_it_over_once(model_file: Path) -> None:
    new = tinymodels.classifier(4)
    other = model_file.with_name("other.tflite")
    other.write_bytes(new)
    with edgekit.load(model_file) as running:
        reloader = ModelReloader(str(model_file), running.info.sha256, loader_like(running), watch=False)
        with reloader:
            reloader.request("test", str(other), hashlib.sha256(new).hexdigest())
            swap = _wait(reloader.take)
            assert reloader.take() is None
        assert swap.old_sha256 == running.info.sha256 and swap.new_sha256 == hashlib.sha256(new).hexdigest()
        assert swap.path == str(other) and not swap.model.closed and reloader.sha256 == swap.new_sha256
        assert swap.event("test").to_dict()["event"] == "model_changed"
        swap.model.close()


@pytest.mark.parametrize(("data", "sha", "message"), [
    (b"TFL3 but not a model", None, "ModelInvalid"),
    (tinymodels.classifier(4), "0" * 64, r"ModelInvalid: .*SHA-256 is [0-9a-f]{64}, expected 0{64}"),
])
def test_a_model_that_fails_to_load_is_rejected_with_the_reason(model_file: Path, data: bytes, sha: str | None,
                                                               message: str) -> None:
    import re

    bad = model_file.with_name("bad.tflite")
    bad.write_bytes(data)
    with edgekit.load(model_file) as running, \
            ModelReloader(str(model_file), running.info.sha256, loader_like(running), watch=False) as reloader:
        reloader.request("test", str(bad), sha)
        events = _wait(lambda: reloader.drain_events("here"))
        assert reloader.take() is None and reloader.sha256 == running.info.sha256
    event = events[0].to_dict()
    assert event["event"] == "model_rejected" and event["model"] == str(bad)
    assert re.search(message, event["message"]) and event["message"].endswith("the running model stays")
    assert event["new_sha256"] == hashlib.sha256(data).hexdigest()


def test_a_pinned_model_refuses_a_replaced_file_and_says_how_to_update(model_file: Path) -> None:
    with edgekit.load(model_file) as running, \
            ModelReloader(str(model_file), running.info.sha256, loader_like(running), pinned=True,
                          poll=0.05) as reloader:
        _replace(model_file, tinymodels.classifier(4))
        events = _wait(lambda: reloader.drain_events("here"))
        assert "pinned by its SHA-256: send an update command" in events[0].message
        reloader.command(f'{{"model": "model.tflite", "sha256": "{hashlib.sha256(model_file.read_bytes()).hexdigest()}"}}'
                         .encode())
        swap = _wait(reloader.take)
        swap.model.close()


def test_a_prepare_hook_that_fails_rejects_the_model_and_closes_it(model_file: Path) -> None:
    made = []

    def prepare(model: edgekit.Model) -> None:
        made.append(model)
        raise edgekit.ModelIncompatible("no room for it")

    with edgekit.load(model_file) as running, \
            ModelReloader(str(model_file), running.info.sha256, loader_like(running), prepare=prepare,
                          watch=False) as reloader:
        other = model_file.with_name("other.tflite")
        other.write_bytes(tinymodels.classifier(3))
        reloader.request("test", str(other))
        events = _wait(lambda: reloader.drain_events("here"))
    assert "ModelIncompatible: no room for it" in events[0].message and made[0].closed


def test_sighup_reloads_only_inside_hangup_and_an_ignored_sighup_stays_ignored() -> None:
    import signal

    from edgekit.cli import interrupt

    calls: list[int] = []
    before = signal.getsignal(signal.SIGHUP)
    try:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        with interrupt.hangup(lambda: calls.append(1)):
            signal.raise_signal(signal.SIGHUP)
        assert calls == [1] and signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # started under nohup
        with interrupt.hangup(lambda: calls.append(2)):
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            signal.raise_signal(signal.SIGHUP)
        assert calls == [1]
    finally:
        signal.signal(signal.SIGHUP, before if before is not None else signal.SIG_DFL)
