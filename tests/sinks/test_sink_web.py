"""--serve: the web preview's routes, its token and the shared JPEG encoding (plain HTTP)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest
from sinks_helpers import classify_result, detect_result, stats_for

from edgekit.errors import ConfigError
from edgekit.results import StreamEvent
from edgekit.sinks import WebSink


@pytest.fixture
def web() -> Iterator[WebSink]:
    sink = WebSink("127.0.0.1", 0)
    yield sink
    sink.close()


@pytest.fixture
def guarded() -> Iterator[WebSink]:
    sink = WebSink("127.0.0.1", 0, token="correct horse")
    yield sink
    sink.close()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _read_parts(port: int, count: int, query: str = "") -> list[bytes]:
    """Read ``count`` JPEG parts from /stream.mjpg."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    conn.request("GET", "/stream.mjpg" + query)
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=edgekitframe"
    parts = []
    while len(parts) < count:
        line = resp.fp.readline()
        if line.strip() == b"--edgekitframe":
            headers = {}
            while (h := resp.fp.readline().strip()):
                key, _, value = h.decode().partition(":")
                headers[key.lower()] = value.strip()
            assert headers["content-type"] == "image/jpeg"
            parts.append(resp.fp.read(int(headers["content-length"])))
    conn.close()
    return parts


def _feed(sink: WebSink, photos: list[np.ndarray], stop: threading.Event) -> threading.Thread:
    def run() -> None:
        i = 0
        while not stop.is_set():
            sink.write(detect_result(i), photos[i % len(photos)], stats_for(i))
            i += 1
            time.sleep(0.03)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_page_results_and_health_are_served(web: WebSink, photos: list[np.ndarray]) -> None:
    web.write(classify_result(41, label="cat"), photos[1], stats_for(41))
    web.write(StreamEvent("source_online", time.time(), "test"))
    status, headers, body = _get(web.url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<img id="stream"' in body and "script-src 'sha256-" in headers["Content-Security-Policy"]
    status, _, body = _get(web.url + "results.json")
    data = json.loads(body)
    expected = classify_result(41, label="cat", ts=data["result"]["ts"]).to_dict()
    assert status == 200 and data["result"] == expected
    assert data["stats"]["fps"] == stats_for(41).fps and data["events"][0]["event"] == "source_online"
    assert json.loads(_get(web.url + "healthz")[2]) == {"status": "ok", "frames": 1}
    assert _get(web.url + "nope")[0] == 404


def test_mjpeg_stream_carries_decodable_annotated_jpegs(web: WebSink, photos: list[np.ndarray]) -> None:
    import cv2

    stop = threading.Event()
    feeder = _feed(web, photos, stop)
    try:
        parts = _read_parts(web.port, 3)
    finally:
        stop.set()
        feeder.join(5)
    images = [cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in parts]
    assert all(img is not None and img.shape == (240, 320, 3) for img in images)
    assert len({p for p in parts}) == 3  # three different frames, not one repeated


def test_each_frame_is_encoded_once_however_many_clients_watch(web: WebSink,
                                                               photos: list[np.ndarray]) -> None:
    web.write(classify_result(0), photos[0], stats_for(0))
    got: list[list[bytes]] = []
    readers = [threading.Thread(target=lambda: got.append(_read_parts(web.port, 1))) for _ in range(4)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(20)
    assert len(got) == 4 and len({parts[0] for parts in got}) == 1
    assert web.encodes == 1


def test_nothing_is_encoded_without_a_client(web: WebSink, photos: list[np.ndarray]) -> None:
    for i in range(20):
        web.write(classify_result(i), photos[i % len(photos)], stats_for(i))
    assert web.encodes == 0
    assert json.loads(_get(web.url + "healthz")[2])["frames"] == 20


@pytest.mark.parametrize("route", ["", "results.json", "healthz", "stream.mjpg", "snapshot.jpg"])
def test_every_route_needs_the_token(guarded: WebSink, route: str, photos: list[np.ndarray]) -> None:
    guarded.write(classify_result(1), photos[0], stats_for(1))
    status, headers, _ = _get(guarded.url + route)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert _get(guarded.url + route + "?token=wrong")[0] == 403
    assert _get(guarded.url + route, {"Authorization": "Bearer correct horsf"})[0] == 403
    if route != "stream.mjpg":  # an endless response: checked below by reading parts
        assert _get(guarded.url + route + "?token=correct%20horse")[0] == 200
        assert _get(guarded.url + route, {"Authorization": "Bearer correct horse"})[0] == 200
    else:
        assert len(_read_parts(guarded.port, 1, "?token=correct%20horse")) == 1


def test_the_token_is_compared_in_constant_time(guarded: WebSink, monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert _get(guarded.url + "healthz?token=guess")[0] == 403
    assert calls == [(b"guess", b"correct horse")]


def _get_with_host(port: int, path: str, host: str | None) -> tuple[int, bytes]:
    """GET ``path`` from 127.0.0.1:``port`` with the given ``Host`` header (``None``: none at all)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.evil.example",
                                  "localhost.evil.example", "rebind.attacker.test:80"])
@pytest.mark.parametrize("route", ["/", "/results.json", "/snapshot.jpg", "/stream.mjpg", "/healthz"])
def test_without_a_token_a_foreign_host_header_is_refused(web: WebSink, photos: list[np.ndarray],
                                                          host: str, route: str) -> None:
    """DNS rebinding: a page on evil.example re-points its name at 127.0.0.1 and reads the camera."""
    web.write(classify_result(1), photos[0], stats_for(1))
    status, body = _get_with_host(web.port, route, host)
    assert status == 403 and b"unknown Host" in body
    assert b"cat" not in body and not body.startswith(b"\xff\xd8")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST.", "app.localhost", "[::1]",
                                  "10.0.0.7", None])
def test_without_a_token_this_machine_s_names_and_ip_addresses_are_served(
        web: WebSink, photos: list[np.ndarray], host: str | None) -> None:
    web.write(classify_result(2, label="cat"), photos[0], stats_for(2))
    status, body = _get_with_host(web.port, "/results.json", None if host is None else f"{host}:{web.port}")
    assert status == 200 and json.loads(body)["result"]["classes"][0]["label"] == "cat"
    assert _get_with_host(web.port, "/snapshot.jpg", host)[1].startswith(b"\xff\xd8")


def test_the_machine_s_host_name_is_served(web: WebSink, photos: list[np.ndarray]) -> None:
    web.write(classify_result(3), photos[0], stats_for(3))
    name = socket.gethostname()
    for host in (name, f"{name}.local:{web.port}"):
        assert _get_with_host(web.port, "/healthz", host)[0] == 200


def test_with_a_token_any_host_header_carrying_the_token_is_served(guarded: WebSink) -> None:
    status, _ = _get_with_host(guarded.port, "/healthz?token=correct%20horse", "camera.example.net")
    assert status == 200
    assert _get_with_host(guarded.port, "/healthz", "camera.example.net")[0] == 401


def test_a_port_in_use_is_a_config_error(web: WebSink) -> None:
    with pytest.raises(ConfigError, match=rf"^web preview on 127\.0\.0\.1:{web.port}: cannot listen"):
        WebSink("127.0.0.1", web.port)


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="^token must not be empty"):
        WebSink("127.0.0.1", 0, token=" ")


def test_close_ends_open_streams_and_frees_the_port(photos: list[np.ndarray]) -> None:
    sink = WebSink("127.0.0.1", 0)
    sink.write(classify_result(0), photos[0])
    conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=10)
    conn.request("GET", "/stream.mjpg")
    resp = conn.getresponse()
    resp.fp.readline()
    sink.close()
    rest = resp.read()  # returns once the server ends the response (no hang)
    assert isinstance(rest, bytes)
    conn.close()
    WebSink("127.0.0.1", sink.port).close()  # the port is free again


def test_viewers_beyond_the_limit_get_503(monkeypatch: pytest.MonkeyPatch, photos: list[np.ndarray]) -> None:
    from edgekit.sinks import web as web_module

    monkeypatch.setattr(web_module, "MAX_STREAMS", 1)
    sink = WebSink("127.0.0.1", 0)
    try:
        sink.write(classify_result(0), photos[0])
        first = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=10)
        first.request("GET", "/stream.mjpg")
        assert first.getresponse().status == 200
        status, headers, _ = _get(sink.url + "stream.mjpg")
        assert status == 503 and headers["Retry-After"] == "5"
        first.close()
    finally:
        sink.close()


def test_concurrent_viewers_never_encode_a_frame_twice(web: WebSink, photos: list[np.ndarray],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from edgekit.sinks import web as web_module

    drawn: list[int] = []
    real = web_module.annotate

    def spy(frame, result, stats):  # noqa: ANN001, ANN202
        drawn.append(result.frame)
        return real(frame, result, stats)

    monkeypatch.setattr(web_module, "annotate", spy)
    readers = [threading.Thread(target=_read_parts, args=(web.port, 15), daemon=True) for _ in range(4)]
    web.write(classify_result(0), photos[0], stats_for(0))
    for reader in readers:
        reader.start()
    written = 1
    while any(r.is_alive() for r in readers) and written < 3000:
        web.write(classify_result(written), photos[written % len(photos)], stats_for(written))
        written += 1
        time.sleep(0.002)
    assert not any(r.is_alive() for r in readers)
    assert len(drawn) >= 15 and len(drawn) == len(set(drawn)) == web.encodes
    assert drawn == sorted(drawn)  # never an older frame after a newer one
