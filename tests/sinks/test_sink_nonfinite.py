"""A model that outputs NaN and ±inf: every output still writes strict JSON, with ``null``.

Python's ``json`` writes ``NaN``/``Infinity`` (which strict parsers refuse) unless told
otherwise; each output path below is checked with a parser that refuses them.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import tinymodels
from click.testing import CliRunner
from sinks_helpers import Broker, Subscriber, stats_for

import edgekit
from edgekit._batch.writers import csv_row
from edgekit._jsonout import dumps, json_line
from edgekit.cli import cli
from edgekit.results import FrameResult
from edgekit.sinks import MqttSink, WebSink

NON_FINITE_AS_NULL = [[[[None, None, None]]]]  # the model's [nan, inf, -inf], shape [1,1,1,3]


def _refuse(name: str) -> Any:
    raise ValueError(f"not strict JSON: {name}")


def strict(text: str | bytes) -> Any:
    """Parse ``text`` as strict JSON (``NaN``, ``Infinity``, ``-Infinity`` refused)."""
    return json.loads(text, parse_constant=_refuse)


def _values(row: dict[str, Any]) -> Any:
    return row["tensors"][0]["values"]


@pytest.fixture(scope="module")
def nan_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nan") / "nan.tflite"
    path.write_bytes(tinymodels.nan_model())
    return path


@pytest.fixture
def images(tmp_path: Path, photos: list[np.ndarray]) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i, photo in enumerate(photos[:2]):
        cv2.imwrite(str(folder / f"photo{i}.png"), photo)
    return folder


def test_the_model_really_outputs_non_finite_values(nan_model: Path, photos: list[np.ndarray]) -> None:
    with edgekit.load(nan_model) as model:
        values = model.predict(photos[0]).tensors[0].ravel()
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf
    with pytest.raises(ValueError, match="not strict JSON: NaN"):
        strict(json.dumps(values.tolist()))  # what the standard library would have written


def test_the_serializer_writes_null_for_every_non_finite_number() -> None:
    row = {"a": math.nan, "b": [1.5, -math.inf, {"c": np.float32("inf")}], "d": np.float64(2.0),
           "e": np.array([math.nan, 1.0]), "label": "ünïcode"}
    assert strict(dumps(row)) == {"a": None, "b": [1.5, None, {"c": None}], "d": 2.0,
                                  "e": [None, 1.0], "label": "ünïcode"}
    assert json_line({"x": 1}) == '{"x":1}\n'


def test_predict_json(nan_model: Path, images: Path) -> None:
    result = CliRunner().invoke(cli, ["predict", str(nan_model), str(images / "photo0.png"), "--json"])
    assert result.exit_code == 0, result.output
    rows = [strict(line) for line in result.stdout.splitlines()]
    assert len(rows) == 1 and _values(rows[0]) == NON_FINITE_AS_NULL


def test_run_out_file_and_stdout(nan_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    cmd = [sys.executable, "-c", "import sys; from edgekit.cli import main; main(sys.argv[1:])",
           "run", "--model", str(nan_model), "--source", "demo", "--max-frames", "3", "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for extra in (["--out", str(out)], []):
        done = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=120, env=env,
                              stdin=subprocess.DEVNULL, check=False)
        assert done.returncode == 0, done.stderr
        text = out.read_text() if extra else done.stdout
        rows = [strict(line) for line in text.splitlines()]
        assert [_values(r) for r in rows if "frame" in r] == [NON_FINITE_AS_NULL] * 3, text
        assert rows[-1]["event"] == "stopped"


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_batch_out(nan_model: Path, images: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"results{suffix}"
    result = CliRunner().invoke(cli, ["batch", str(nan_model), str(images), "--out", str(out)])
    assert result.exit_code == 0, result.output
    if suffix == ".jsonl":
        rows = [strict(line) for line in out.read_text().splitlines()]
        assert [_values(r) for r in rows] == [NON_FINITE_AS_NULL] * 2
    else:
        rows = list(csv.DictReader(out.open()))
        assert len(rows) == 2 and {r["task"] for r in rows} == {"raw"}
        assert "nan" not in out.read_text().lower()


def test_csv_cells_of_non_finite_scores_are_empty_and_detections_strict() -> None:
    data = {"input": "a.png", "task": "detect", "classes": [{"id": 1, "label": "x", "score": math.nan}],
            "detections": [{"id": 0, "label": "cat", "score": math.inf, "box": [math.nan, 0, 1, 2]}],
            "latency_ms": {"total": math.inf}}
    cells = csv_row(data)
    assert cells[5] == "" and cells[9] == ""  # score, latency_ms
    assert strict(cells[6]) == [{"id": 0, "label": "cat", "score": None, "box": [None, 0, 1, 2]}]


def test_mqtt_payloads(nan_model: Path, broker: Broker) -> None:
    sub = Subscriber(broker.port, "nan/results")
    raw: list[bytes] = []
    sub.client.on_message = lambda client, userdata, message: raw.append(message.payload)
    sink = MqttSink(broker.url, topic="nan/results", qos=1)
    try:
        edgekit.stream(str(nan_model), source="demo", sinks=[sink], max_frames=3).run()
        deadline = time.monotonic() + 15
        while len(raw) < 4 and time.monotonic() < deadline:  # 3 results + "stopped"
            time.sleep(0.05)
    finally:
        sub.close()
    rows = [strict(payload) for payload in raw]
    assert [_values(r) for r in rows if "frame" in r] == [NON_FINITE_AS_NULL] * 3
    assert rows[-1]["event"] == "stopped"


def test_web_results_json(nan_model: Path, photos: list[np.ndarray]) -> None:
    with edgekit.load(nan_model) as model, WebSink(port=0) as sink:
        pred = model.predict(photos[0])
        sink.write(FrameResult(frame=0, ts=time.time(), source="test", prediction=pred), photos[0],
                   stats_for(0))
        with urllib.request.urlopen(f"{sink.url}results.json", timeout=10) as resp:
            body = resp.read()
    assert _values(strict(body)["result"]) == NON_FINITE_AS_NULL
