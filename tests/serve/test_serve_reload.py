"""Live model updates in `edgekit serve`: swapped between requests under load, none lost or doubled."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="edgekit serve needs the serve extra")
httpx = pytest.importorskip("httpx")

import tinymodels  # noqa: E402
from serve_helpers import Cli, Running  # noqa: E402

import edgekit  # noqa: E402
from edgekit._reload.reloader import ModelReloader, loader_like, warm_up  # noqa: E402
from edgekit._serve.limits import ServeLimits  # noqa: E402
from edgekit._serve.pool import Replicas  # noqa: E402


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _server(model: edgekit.Model, path: Path) -> Running:
    limits = ServeLimits(replicas=2, queue=8)
    reloader = ModelReloader(str(path), model.info.sha256, loader_like(model), poll=0.1,
                             prepare=lambda m: Replicas(m, 2, warm_up))
    return Running(model, limits=limits, reloader=reloader)


def _client(url: str, image: bytes, stop: threading.Event, out: list[tuple[int, str]]) -> None:
    with httpx.Client(verify=False, timeout=60) as client:  # plain http on loopback
        while not stop.is_set():
            answer = client.post(url + "/predict", content=image)
            out.append((answer.status_code, answer.headers.get("x-model-sha256", "")))


def test_a_swap_under_load_answers_every_request_once_and_switches_each_client_once(
        model_file: Path, jpegs: list[bytes]) -> None:
    new = tinymodels.classifier(3)
    new_sha = hashlib.sha256(new).hexdigest()
    with edgekit.load(model_file) as model, _server(model, model_file) as running:
        old_sha = model.info.sha256
        stop = threading.Event()
        answers: list[list[tuple[int, str]]] = [[] for _ in range(4)]
        clients = [threading.Thread(target=_client, args=(running.url, jpegs[i], stop, answers[i]))
                   for i in range(4)]
        for client in clients:
            client.start()
        while sum(map(len, answers)) < 40:
            time.sleep(0.02)
        _replace(model_file, new)
        deadline = time.monotonic() + 30
        while not all(a and a[-1][1] == new_sha for a in answers):
            assert time.monotonic() < deadline, "the new model did not take over within 30 s"
            time.sleep(0.02)
        time.sleep(0.3)
        stop.set()
        for client in clients:
            client.join(60)
        images = running.server.metrics.sample("edgekit_images_total")
    total = sum(map(len, answers))
    assert all(status == 200 for a in answers for status, _ in a), "a request failed during the swap"
    assert images == total, "every request ran exactly once"
    for a in answers:  # each client: the old model, then the new one, never back
        shas = [sha for _, sha in a]
        switch = shas.index(new_sha)
        assert switch > 0 and set(shas[:switch]) == {old_sha} and set(shas[switch:]) == {new_sha}
    assert [e["event"] for e in running.events] == ["model_changed"]
    assert running.events[0]["old_sha256"] == old_sha and running.events[0]["new_sha256"] == new_sha


def test_a_broken_update_leaves_the_old_model_answering_and_says_why(model_file: Path, jpegs: list[bytes],
                                                                   http: Any) -> None:
    with edgekit.load(model_file) as model, _server(model, model_file) as running:
        _replace(model_file, b"not a model at all")
        deadline = time.monotonic() + 30
        while not running.events:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        answer = http.post(running.url + "/predict", content=jpegs[0])
        metrics = running.server.metrics
        rejected = metrics.sample("edgekit_model_updates_total", {"result": "rejected"})
    assert answer.status_code == 200 and answer.headers["x-model-sha256"] == model.info.sha256
    event = running.events[0]
    assert event["event"] == "model_rejected" and "ModelInvalid" in event["message"]
    assert event["message"].endswith("the running model stays") and rejected == 1


def _post(url: str, image: bytes) -> httpx.Response:
    with httpx.Client(verify=False, timeout=60) as client:
        return client.post(url + "/predict", content=image)


def _event(cli: Cli, kind: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in cli.events() if e.get("event") == kind]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no {kind} event within {timeout} s; stderr: {cli.stderr_lines}")


@pytest.mark.slow
def test_sighup_reloads_the_served_model(model_file: Path, jpegs: list[bytes]) -> None:
    cli = Cli([str(model_file), "--port", "0"]).start()
    try:
        assert _post(cli.url, jpegs[0]).status_code == 200
        new = tinymodels.classifier(3)
        model_file.write_bytes(new)
        cli.proc.send_signal(signal.SIGHUP)
        event = _event(cli, "model_changed")
        answer = _post(cli.url, jpegs[0])
    finally:
        code = cli.stop(signal.SIGTERM)
    assert event["message"].startswith("SIGHUP") and event["source"].startswith("serve:")
    assert answer.headers["x-model-sha256"] == hashlib.sha256(new).hexdigest()
    assert code == 0 and "1 model update" in cli.stderr_lines[-1]


@pytest.mark.slow
def test_an_mqtt_command_swaps_the_served_model(model_file: Path, jpegs: list[bytes], broker) -> None:  # type: ignore[no-untyped-def]
    import paho.mqtt.publish as publish

    new = model_file.with_name("v2.tflite")
    new.write_bytes(tinymodels.classifier(4))
    sha = hashlib.sha256(new.read_bytes()).hexdigest()
    cli = Cli([str(model_file), "--port", "0", "--no-reload", "--mqtt", broker.url,
               "--model-topic", "edgekit/+/model"]).start()
    try:
        publish.single("edgekit/door/model", json.dumps({"model": str(new), "sha256": sha}), qos=1,
                       hostname="127.0.0.1", port=broker.port)
        event = _event(cli, "model_changed")
        answer = _post(cli.url, jpegs[0])
    finally:
        assert cli.stop(signal.SIGTERM) == 0
    assert event["message"].startswith("MQTT command") and event["model"] == str(new)
    assert answer.status_code == 200 and answer.headers["x-model-sha256"] == sha
    assert len(answer.json()["classes"]) == 4
