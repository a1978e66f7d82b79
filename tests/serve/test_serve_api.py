"""`edgekit serve` routes over real HTTP: /predict rows as `predict --json`, /healthz, /model, /metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette", reason="edgekit serve needs the serve extra")
pytest.importorskip("httpx")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from serve_helpers import Running, encode  # noqa: E402

import edgekit  # noqa: E402


def _without_latency(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("latency_ms", "input")}


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_a_posted_image_gets_the_row_predict_prints_for_the_same_file(
        http: Any, served: Running, digit_images: list[np.ndarray], tmp_path: Path, ext: str) -> None:
    with edgekit.load(edgekit.default_model_path()) as model:
        for index, image in enumerate(digit_images[:6]):
            path = tmp_path / f"digit{index}{ext}"
            path.write_bytes(encode(image, ext))
            expected = model.predict(str(path)).to_dict()
            answer = http.post(served.url + "/predict", content=path.read_bytes(),
                                headers={"Content-Type": "image/jpeg" if ext == ".jpg" else "image/png"})
            assert answer.status_code == 200, answer.text
            assert _without_latency(answer.json()) == _without_latency(expected)
            assert set(answer.json()["latency_ms"]) == {"age", "pre", "invoke", "post", "total"}
            assert answer.headers["x-model-sha256"] == model.info.sha256


def test_the_digits_are_recognised(http: Any, served: Running, digits: tuple[list[np.ndarray], list[int]]) -> None:
    right = 0
    for image, label in zip(*digits):
        row = http.post(served.url + "/predict", content=encode(image)).json()
        right += row["classes"][0]["id"] == label
    assert right >= 0.8 * len(digits[1])


def test_multipart_images_get_a_list_of_rows_in_part_order_and_a_bad_part_an_error_row(
        http: Any, served: Running, jpegs: list[bytes]) -> None:
    files = [("image", ("a.jpg", jpegs[0], "image/jpeg")), ("image", ("broken.jpg", jpegs[1][:200], "image/jpeg")),
             ("image", ("c.png", encode(np.zeros((64, 64, 3), np.uint8), ".png"), "image/png"))]
    answer = http.post(served.url + "/predict", files=files)
    assert answer.status_code == 200
    rows = answer.json()
    assert [row["input"] for row in rows] == ["a.jpg", "broken.jpg", "c.png"]
    assert rows[0]["task"] == "classify" and rows[2]["task"] == "classify"
    assert rows[1]["error"]["type"] == "ImageUnreadable"
    assert "broken.jpg" in rows[1]["error"]["message"]


def test_query_parameters_are_the_predict_options(http: Any, served: Running, jpegs: list[bytes]) -> None:
    top3 = http.post(served.url + "/predict?top_k=3&score_threshold=0", content=jpegs[0]).json()
    assert len(top3["classes"]) == 3
    sure = http.post(served.url + "/predict?score_threshold=0.9999", content=jpegs[5]).json()
    assert all(c["score"] >= 0.9999 for c in sure["classes"])


@pytest.mark.parametrize(("query", "message"), [
    ("top_k=0", "top_k must be at least 1, got 0"),
    ("top_k=three", "top_k must be an integer, got 'three'"),
    ("score_threshold=2", r"score_threshold must be in \[0, 1\], got 2.0"),
    ("score_threshold=nan", "score_threshold must be in"),
    ("colour=red", "unknown query parameter 'colour'; the options are top_k"),
    ("top_k=1&top_k=2", "query parameter 'top_k' is given twice"),
])
def test_a_bad_option_is_a_400_config_error(http: Any, served: Running, jpegs: list[bytes], query: str,
                                            message: str) -> None:
    import re

    answer = http.post(f"{served.url}/predict?{query}", content=jpegs[0])
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "ConfigError" and re.search(message, error["message"]), error


def test_healthz_and_the_model_summary(http: Any, served: Running) -> None:
    with edgekit.load(edgekit.default_model_path()) as model:
        info = model.info
    health = http.get(served.url + "/healthz").json()
    assert health["status"] == "ok" and health["model"] == info.sha256 and health["replicas"] >= 1
    summary = http.get(served.url + "/model").json()
    assert summary["sha256"] == info.sha256 and summary["task"] == "classify" and summary["labels"]["count"] == 10
    text = http.get(served.url + "/model?format=text")
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.startswith("model      ") and "task       classify" in text.text


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_requests_latency_errors_by_type_and_name_the_model(http: Any, jpegs: list[bytes]) -> None:
    with edgekit.load(edgekit.default_model_path()) as model, Running(model) as running:
        for _ in range(3):
            assert http.post(running.url + "/predict", content=jpegs[0]).status_code == 200
        assert http.post(running.url + "/predict", content=b"not an image").status_code == 400
        assert http.get(running.url + "/nowhere").status_code == 404
        samples = _samples(http.get(running.url + "/metrics").text)
        sha = model.info.sha256
    assert samples[("edgekit_requests_total", (("route", "/predict"), ("status", "200")))] == 3
    assert samples[("edgekit_requests_total", (("route", "/predict"), ("status", "400")))] == 1
    assert samples[("edgekit_errors_total", (("type", "ImageUnreadable"),))] == 1
    assert samples[("edgekit_errors_total", (("type", "NotFound"),))] == 1
    assert samples[("edgekit_request_duration_seconds_count", (("route", "/predict"),))] == 4
    assert samples[("edgekit_images_total", ())] == 3
    model_info = [key for key in samples if key[0] == "edgekit_model_info"]
    assert len(model_info) == 1 and ("sha256", sha) in model_info[0][1]


def test_unknown_routes_and_methods_answer_in_the_error_shape(http: Any, served: Running) -> None:
    missing = http.get(served.url + "/predictions")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "NotFound"
    wrong = http.get(served.url + "/predict")
    assert wrong.status_code == 405 and wrong.json()["error"]["type"] == "MethodNotAllowed"
    assert "POST" in wrong.headers.get("allow", "")


def test_a_port_in_use_is_a_config_error(served: Running) -> None:
    from edgekit._serve.server import InferenceServer

    with edgekit.load(edgekit.default_model_path()) as model, \
            pytest.raises(edgekit.ConfigError, match=rf"cannot listen on 127\.0\.0\.1:{served.server.port}: "):
        InferenceServer(model, port=served.server.port)


def test_fast_decode_answers_within_a_little_of_the_exact_decode(http: Any, digits: tuple[list[np.ndarray], list[int]]
                                                                 ) -> None:
    import cv2

    from edgekit._serve.limits import ServeLimits

    frames = [encode(cv2.resize(image, (640, 480)), ".jpg") for image in digits[0][:8]]
    with edgekit.load(edgekit.default_model_path()) as model, \
            Running(model, limits=ServeLimits(fast_decode=True)) as fast, Running(model.replica()) as exact:
        for frame in frames:
            quick = http.post(fast.url + "/predict?top_k=1", content=frame).json()["classes"][0]
            full = http.post(exact.url + "/predict?top_k=1", content=frame).json()["classes"][0]
            assert quick["id"] == full["id"] and abs(quick["score"] - full["score"]) < 0.05
