"""`edgekit serve` under bad input and bad clients: every one answered (or closed) cleanly.

Each case is checked by its status and error type, and the server is checked to
still answer afterwards with nothing left in its pool.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette", reason="edgekit serve needs the serve extra")
pytest.importorskip("httpx")

from serve_helpers import Running, encode  # noqa: E402

import edgekit  # noqa: E402
from edgekit._serve.limits import ServeLimits  # noqa: E402


@pytest.fixture(scope="module")
def strict() -> Iterator[Running]:
    """A server with small bounds: 200 kB bodies, 1 s per request, 1 MP images, 3 per request."""
    limits = ServeLimits(replicas=1, queue=1, max_body=200_000, max_pixels=1_000_000, max_images=3, timeout=1.0)
    with edgekit.load(edgekit.default_model_path()) as model, Running(model, limits=limits) as running:
        yield running


def _error(answer: Any, status: int, kind: str) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and body["error"]["type"] == kind, body
    return body["error"]["message"]


def _healthy(http: Any, running: Running) -> None:
    """The server answers, and holds nothing in its pool."""
    deadline = time.monotonic() + 10
    while running.server.pool.running or running.server.pool.waiting:
        assert time.monotonic() < deadline, "images stayed in the pool"
        time.sleep(0.05)
    assert http.get(running.url + "/healthz").json()["status"] == "ok"


def _with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose frame header declares another size (a decompression bomb's header)."""
    at = next(i for i in range(2, len(jpeg) - 9) if jpeg[i] == 0xFF and jpeg[i + 1] in (0xC0, 0xC2))
    return jpeg[:at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9:]


def _png_with_size(png: bytes, width: int, height: int) -> bytes:
    ihdr = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


def test_a_body_over_the_limit_is_413_before_it_is_read(http: Any, strict: Running) -> None:
    message = _error(http.post(strict.url + "/predict", content=b"\xff\xd8" + bytes(300_000)), 413, "BodyTooLarge")
    assert "300002 bytes, more than the 200000 allowed" in message

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(30):
            yield bytes(10_000)

    _error(http.post(strict.url + "/predict", content=chunks()), 413, "BodyTooLarge")
    _healthy(http, strict)


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_a_50_megapixel_header_is_refused_before_decoding(http: Any, strict: Running, digit_images: list[np.ndarray],
                                                           ext: str) -> None:
    small = encode(digit_images[0], ext)
    bomb = _with_size(small, 8000, 6250) if ext == ".jpg" else _png_with_size(small, 8000, 6250)
    message = _error(http.post(strict.url + "/predict", content=bomb), 413, "ImageTooLarge")
    assert "8000×6250 is 50.0 megapixels, more than the 1.0 allowed" in message
    _healthy(http, strict)


@pytest.mark.slow
def test_a_real_50_megapixel_jpeg_is_refused_and_memory_stays_put(http: Any, digit_images: list[np.ndarray]) -> None:
    import psutil

    big = np.zeros((6250, 8000, 3), np.uint8)
    big[::50] = 255
    jpeg = encode(big, ".jpg")
    del big
    process = psutil.Process()
    with edgekit.load(edgekit.default_model_path()) as model, Running(model) as running:
        http.post(running.url + "/predict", content=encode(digit_images[0]))
        before = process.memory_info().rss
        for _ in range(3):
            message = _error(http.post(running.url + "/predict", content=jpeg), 413, "ImageTooLarge")
        grown = process.memory_info().rss - before
    assert "8000×6250 is 50.0 megapixels, more than the 16.0 allowed" in message
    assert grown < 3 * len(jpeg) + 30_000_000, f"RSS grew {grown / 1e6:.0f} MB (decoded would be 150 MB)"


@pytest.mark.parametrize(("body", "message"), [
    (b"", "image: empty (0 bytes)"),
    (b"GIF89a" + bytes(100), "not a JPEG or PNG image (106 bytes)"),
    (b"\xff\xd8\xff\xe0" + bytes(40), "JPEG without a readable frame header"),
])
def test_what_is_not_an_image_is_400_image_unreadable(http: Any, strict: Running, body: bytes, message: str) -> None:
    assert message in _error(http.post(strict.url + "/predict", content=body), 400, "ImageUnreadable")


@pytest.mark.parametrize("ext", [".jpg", ".png"])
@pytest.mark.parametrize("keep", [0.3, 0.7, 0.95])
def test_truncated_images_are_400_image_unreadable(http: Any, strict: Running, digit_images: list[np.ndarray],
                                                   ext: str, keep: float) -> None:
    data = encode(digit_images[3], ext)
    _error(http.post(strict.url + "/predict", content=data[:int(len(data) * keep)]), 400, "ImageUnreadable")


def test_corrupt_png_chunks_are_refused_without_a_word_on_stderr(http: Any, strict: Running,
                                                                 digit_images: list[np.ndarray],
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    data = bytearray(encode(digit_images[3], ".png"))
    data[60] ^= 0xFF  # inside the image data: its chunk's CRC no longer matches
    assert "bad CRC" in _error(http.post(strict.url + "/predict", content=bytes(data)), 400, "ImageUnreadable")
    assert "libpng" not in capfd.readouterr().err


@pytest.mark.parametrize(("body", "content_type", "status", "kind"), [
    (b"--xyz\r\nContent-Disposition: form-data; name=a\r\n\r\nab", "multipart/form-data; boundary=xyz", 400,
     "BadRequest"),
    (b"garbage", "multipart/form-data; boundary=xyz", 400, "BadRequest"),
    (b"--xyz--\r\n", "multipart/form-data; boundary=xyz", 400, "BadRequest"),
    (b"whatever", "multipart/form-data", 400, "BadRequest"),
])
def test_malformed_multipart_bodies_are_400(http: Any, strict: Running, body: bytes, content_type: str,
                                            status: int, kind: str) -> None:
    _error(http.post(strict.url + "/predict", content=body, headers={"Content-Type": content_type}), status, kind)


def test_more_images_than_allowed_in_one_request_is_413(http: Any, strict: Running, jpegs: list[bytes]) -> None:
    files = [("image", (f"{i}.jpg", jpegs[i], "image/jpeg")) for i in range(4)]
    assert "more than 3 images" in _error(http.post(strict.url + "/predict", files=files), 413, "TooManyImages")


def _raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_client_that_sends_its_body_too_slowly_gets_408_and_the_connection_closes(
        http: Any, strict: Running) -> None:
    with _raw(strict.server.port) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                     b"Content-Length: 5000\r\n\r\n\xff\xd8")
        for _ in range(3):  # a trickle, slower than the 1 s the request may take
            time.sleep(0.6)
            try:
                sock.sendall(b"\x00" * 10)
            except OSError:
                break
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"type":"RequestTimeout"' in answer
    _healthy(http, strict)


def test_a_client_that_never_finishes_its_headers_is_disconnected(http: Any, strict: Running) -> None:
    with _raw(strict.server.port) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        for _ in range(40):  # one header byte now and then (slowloris)
            try:
                sock.sendall(b"X")
            except OSError:
                break
            time.sleep(0.25)
        assert _read_all(sock) == b""  # closed by the server, not by this loop ending
        assert time.monotonic() - started < 9.5
    _healthy(http, strict)


def test_a_client_that_goes_away_mid_body_leaves_the_server_as_it_was(http: Any, strict: Running,
                                                                      jpegs: list[bytes]) -> None:
    for _ in range(5):
        with _raw(strict.server.port) as sock:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n"
                         + jpegs[0][:300])
            time.sleep(0.05)
        # ... and one that goes away while its image is being worked on
        with _raw(strict.server.port) as sock:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                         + str(len(jpegs[1])).encode() + b"\r\n\r\n" + jpegs[1])
    _healthy(http, strict)
    assert http.post(strict.url + "/predict", content=jpegs[2]).status_code == 200


def _blocked(running: Running, jobs: int) -> threading.Event:
    """Occupy the pool's only interpreter with ``jobs`` images that wait for the returned event."""
    release = threading.Event()
    assert running.server.pool.admit(jobs)
    for _ in range(jobs):
        running.server.pool.submit(lambda model: release.wait(20))
    return release


def test_a_full_queue_answers_503_with_retry_after(http: Any, strict: Running, jpegs: list[bytes]) -> None:
    release = _blocked(strict, 2)  # one running, one waiting: full
    try:
        answer = http.post(strict.url + "/predict", content=jpegs[0])
        assert "waiting already" in _error(answer, 503, "Overloaded")
        assert answer.headers["retry-after"] == "1"
    finally:
        release.set()
    _healthy(http, strict)
    assert http.post(strict.url + "/predict", content=jpegs[0]).status_code == 200


def test_an_image_that_waits_past_the_request_time_is_504_and_never_runs(http: Any, strict: Running,
                                                                         jpegs: list[bytes]) -> None:
    before = strict.server.metrics.sample("edgekit_images_total") or 0
    release = _blocked(strict, 1)  # running; the queue has room for the request's image
    try:
        answer = http.post(strict.url + "/predict", content=jpegs[0])
        assert "no answer within 1 s" in _error(answer, 504, "Timeout")
    finally:
        release.set()
    _healthy(http, strict)
    assert (strict.server.metrics.sample("edgekit_images_total") or 0) == before


@pytest.fixture(scope="module")
def guarded() -> Iterator[Running]:
    with edgekit.load(edgekit.default_model_path()) as model, Running(model, token="correct horse") as running:
        yield running


def test_with_a_token_every_request_must_carry_it(http: Any, guarded: Running, jpegs: list[bytes]) -> None:
    missing = http.post(guarded.url + "/predict", content=jpegs[0])
    _error(missing, 401, "TokenRequired")
    assert missing.headers["www-authenticate"] == 'Bearer realm="edgekit"'
    _error(http.get(guarded.url + "/metrics", headers={"Authorization": "Bearer correct hors"}), 403, "WrongToken")
    assert http.post(guarded.url + "/predict", content=jpegs[0],
                     headers={"Authorization": "Bearer correct horse"}).status_code == 200
    assert http.get(guarded.url + "/healthz", params={"token": "correct horse"}).status_code == 200
    # with the token, any Host may ask (a name for this machine that the check cannot know)
    assert http.get(guarded.url + "/healthz?token=correct%20horse",
                    headers={"Host": "camera.example.net"}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example:8000", "rebind.attacker.test"])
def test_without_a_token_a_foreign_host_header_is_refused(http: Any, served: Running, host: str) -> None:
    _error(http.get(served.url + "/healthz", headers={"Host": host}), 403, "UnknownHost")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8000", "[::1]:8000", "app.localhost"])
def test_without_a_token_this_machine_s_names_are_served(http: Any, served: Running, host: str) -> None:
    assert http.get(served.url + "/healthz", headers={"Host": host}).status_code == 200


def test_a_stop_refuses_new_connections_and_answers_the_request_in_hand(http: Any, jpegs: list[bytes]) -> None:
    limits = ServeLimits(replicas=1, queue=2, timeout=15)
    outcome: dict[str, Any] = {}
    with edgekit.load(edgekit.default_model_path()) as model, Running(model, limits=limits) as running:
        release = _blocked(running, 1)
        asking = threading.Thread(target=lambda: outcome.update(
            answer=http.post(running.url + "/predict", content=jpegs[0])))
        asking.start()
        deadline = time.monotonic() + 10
        while running.server.pool.waiting < 1:  # the request is in hand, waiting for the interpreter
            assert time.monotonic() < deadline
            time.sleep(0.02)
        running.server.stop("test")
        time.sleep(0.5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", running.server.port), timeout=5)
        release.set()
        asking.join(30)
    assert outcome["answer"].status_code == 200 and outcome["answer"].json()["task"] == "classify"
    assert running.summary.reason == "test"
