"""``--serve``: a small threaded web preview (standard library only).

Routes: ``/`` the page, ``/stream.mjpg`` the annotated stream
(``multipart/x-mixed-replace``), ``/snapshot.jpg`` the latest annotated frame,
``/results.json`` the latest result and stats (and recent events, and which
rules are on), ``/healthz``.

Each frame is drawn and JPEG-encoded at most once, by the first client that
asks for it, and shared by all clients; with no client nothing is encoded.
With a token, every request must carry it (``?token=`` or
``Authorization: Bearer``), compared in constant time: missing → 401, wrong → 403.
Without one, the ``Host`` header must name this machine, else 403 (DNS rebinding);
the rules are :mod:`edgekit.sinks.access`'s, shared with ``edgekit serve``.
"""

from __future__ import annotations

import collections
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from .._jsonout import dumps
from ..errors import ConfigError
from ..results import FrameResult, StreamEvent, StreamStats
from .access import ServeAddress, bearer_token, host_allowed, parse_serve, token_matches, trusted_hosts
from .overlay import annotate
from .webpage import CSP, PAGE

__all__ = ["ServeAddress", "WebSink", "parse_serve"]

log = logging.getLogger("edgekit.sinks")

BOUNDARY = b"edgekitframe"
JPEG_QUALITY = 80
MAX_STREAMS = 8  # concurrent /stream.mjpg viewers; more get 503

class _Latest:
    """The newest frame/result/stats, and the JPEG of the newest frame once encoded."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.seq = 0
        self.frame: np.ndarray | None = None
        self.result: FrameResult | None = None
        self.stats: StreamStats | None = None
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=20)
        self.rules: dict[str, dict[str, Any]] = {}  # rule name → its latest event
        self.closed = False
        self.encodes = 0
        self._encode_lock = threading.Lock()
        self._jpeg: tuple[int, bytes] = (0, b"")

    def put(self, result: FrameResult, frame: np.ndarray | None, stats: StreamStats | None) -> None:
        with self.cond:
            self.result, self.stats = result, stats
            if frame is not None:
                self.frame = frame
                self.seq += 1
            self.cond.notify_all()

    def jpeg(self, after: int, timeout: float) -> tuple[int, bytes | None]:
        """Wait up to ``timeout`` for a frame newer than ``after``; return ``(seq, jpeg)``."""
        with self.cond:
            if self.seq <= after and not self.closed:
                self.cond.wait(timeout)
            if self.seq <= after or self.frame is None:
                return after, None
            seq, frame, result, stats = self.seq, self.frame, self.result, self.stats
        with self._encode_lock:
            if self._jpeg[0] < seq:  # not encoded yet (a newer one already encoded will do too)
                import cv2

                ok, data = cv2.imencode(".jpg", annotate(frame, result, stats),
                                        [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if not ok:
                    return after, None
                self.encodes += 1
                self._jpeg = (seq, data.tobytes())
            return self._jpeg

    def snapshot(self) -> dict[str, Any]:
        with self.cond:
            return {
                "result": self.result.to_dict() if self.result is not None else None,
                "stats": self.stats.to_dict() if self.stats is not None else None,
                "events": list(self.events),
                "rules": dict(self.rules),
                "frames": self.seq,
                "time": round(time.time(), 3),
            }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "edgekit"
    sys_version = ""
    timeout = 30  # a client that stops reading cannot hold its thread forever

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class name
        log.debug("web %s: " + format, self.address_string(), *args)

    def _headers(self, status: int, ctype: str, length: int | None = None,
                 extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, status: int, ctype: str, body: bytes, extra: dict[str, str] | None = None) -> None:
        self._headers(status, ctype, len(body), extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorized(self, query: dict[str, list[str]]) -> bool:
        token = self.server.token
        if token is None:
            return True
        given = bearer_token((query.get("token") or [None])[0], self.headers.get("Authorization"))
        if given is None:
            self._send(401, "text/plain; charset=utf-8", b"token required\n",
                       {"WWW-Authenticate": 'Bearer realm="edgekit"'})
            return False
        if not token_matches(given, token):
            self._send(403, "text/plain; charset=utf-8", b"wrong token\n")
            return False
        return True

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        if self.server.token is None and not host_allowed(self.headers.get("Host"),
                                                         self.server.trusted):
            self._send(403, "text/plain; charset=utf-8",
                       b"unknown Host: open the preview by this machine's address\n")
            return
        if not self._authorized(parse_qs(parts.query)):
            return
        latest = self.server.latest
        if parts.path in ("/", "/index.html"):
            self._send(200, "text/html; charset=utf-8", PAGE.encode("utf-8"),
                       {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY"})
        elif parts.path == "/results.json":
            body = dumps(latest.snapshot()).encode("utf-8")
            self._send(200, "application/json", body)
        elif parts.path == "/healthz":
            body = dumps({"status": "ok", "frames": latest.seq}).encode("utf-8")
            self._send(200, "application/json", body)
        elif parts.path == "/snapshot.jpg":
            _, data = latest.jpeg(0, timeout=5.0)
            if data is None:
                self._send(503, "text/plain; charset=utf-8", b"no frame yet\n")
            else:
                self._send(200, "image/jpeg", data)
        elif parts.path == "/stream.mjpg":
            self._stream(latest)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _stream(self, latest: _Latest) -> None:
        if not self.server.stream_slots.acquire(blocking=False):
            self._send(503, "text/plain; charset=utf-8", b"too many viewers\n", {"Retry-After": "5"})
            return
        try:
            self._stream_frames(latest)
        finally:
            self.server.stream_slots.release()

    def _stream_frames(self, latest: _Latest) -> None:
        self._headers(200, f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
        if self.command == "HEAD":
            return
        seq = 0
        try:
            while not latest.closed:
                new_seq, data = latest.jpeg(seq, timeout=1.0)
                if data is None:
                    continue
                seq = new_seq
                self.wfile.write(b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\n"
                                 + f"Content-Length: {len(data)}\r\n\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client went away


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], token: str | None, latest: _Latest) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.token = token
        self.trusted = trusted_hosts(address[0])
        self.latest = latest
        self.stream_slots = threading.BoundedSemaphore(MAX_STREAMS)
        super().__init__(address, _Handler)


class WebSink:
    """Serves the annotated stream and live results over HTTP.

    Args:
        host: Address to bind (``127.0.0.1`` by default; ``0.0.0.0`` for every interface).
        port: TCP port; ``0`` picks a free one (see :attr:`port`).
        token: When set, every request must carry it.

    Attributes:
        port: The port actually bound.
        url: ``http://host:port/`` (without the token).

    Raises:
        ConfigError: The address cannot be bound (in use, not local, …) or the token is empty.
    """

    name = "web"

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, token: str | None = None) -> None:
        if token is not None and not token.strip():
            raise ConfigError("token must not be empty")
        self.latest = _Latest()
        try:
            self._server = _Server((host, port), token, self.latest)
        except OSError as exc:
            raise ConfigError(f"web preview on {host}:{port}: cannot listen: {exc.strerror or exc}") from None
        self.host = host
        self.port: int = self._server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="edgekit-web", daemon=True)
        self._thread.start()
        log.info("web preview on %s", self.url)

    @property
    def encodes(self) -> int:
        """JPEG encodings so far (at most one per frame, whatever the number of clients)."""
        return self.latest.encodes

    def write(self, item: FrameResult | StreamEvent, frame: np.ndarray | None = None,
              stats: StreamStats | None = None) -> None:
        """Make ``item`` (and ``frame``) the latest; O(1), nothing is drawn here."""
        if isinstance(item, StreamEvent):
            with self.latest.cond:
                self.latest.events.append(item.to_dict())
                if item.event == "rule" and item.rule is not None:
                    self.latest.rules[item.rule] = item.to_dict()
            return
        self.latest.put(item, frame, stats)

    def close(self) -> None:
        """Stop serving: open streams end, the port is released."""
        with self.latest.cond:
            if self.latest.closed:
                return
            self.latest.closed = True
            self.latest.cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2.0)

    def __enter__(self) -> WebSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
