"""``--serve``: a small threaded web preview (standard library only).

Routes: ``/`` the page, ``/stream.mjpg`` the annotated stream
(``multipart/x-mixed-replace``), ``/snapshot.jpg`` the latest annotated frame,
``/results.json`` the latest result and stats, ``/healthz``.

Each frame is drawn and JPEG-encoded at most once, by the first client that
asks for it, and shared by all clients; with no client nothing is encoded.
With a token, every request must carry it (``?token=`` or
``Authorization: Bearer``), compared in constant time: missing → 401, wrong → 403.
Without one, the ``Host`` header must name this machine (an IP address,
``localhost``, the bound host or the machine's host name), else 403: a web page
elsewhere that re-points its own domain name at this address (DNS rebinding)
cannot read the camera through the visitor's browser.
"""

from __future__ import annotations

import collections
import hmac
import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from .._jsonout import dumps
from ..errors import ConfigError
from ..results import FrameResult, StreamEvent, StreamStats
from .overlay import annotate
from .webpage import CSP, PAGE

__all__ = ["ServeAddress", "WebSink", "parse_serve"]

log = logging.getLogger("edgekit.sinks")

BOUNDARY = b"edgekitframe"
JPEG_QUALITY = 80
MAX_STREAMS = 8  # concurrent /stream.mjpg viewers; more get 503

@dataclass(frozen=True, slots=True)
class ServeAddress:
    """Where the web preview listens."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name: could resolve to anything


def parse_serve(value: str | int) -> ServeAddress:
    """Parse ``--serve [HOST:]PORT`` (``[v6addr]:PORT`` for IPv6); default host 127.0.0.1.

    Raises:
        ConfigError: The port is not a number in 0..65535 or the host is empty.
    """
    text = str(value).strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if sep and not host:
        raise ConfigError(f"serve address {text!r}: the host before ':' is empty (use PORT or HOST:PORT)")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"serve address {text!r}: PORT must be a number, e.g. 8080 or 0.0.0.0:8080") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"serve address {text!r}: port {port} is outside 0..65535")
    return ServeAddress(host, port)


def _host_name(header: str) -> str:
    """The host of a ``Host`` header (``name:port``, ``[v6]:port``), lower case, no final dot."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    host, sep, port = text.rpartition(":")
    return (host if sep and port.isdigit() else text).rstrip(".")


def _trusted_hosts(bound: str) -> frozenset[str]:
    """Host names that may reach a preview bound to ``bound`` without a token (IPs always may)."""
    own = socket.gethostname().lower()
    return frozenset({"localhost", bound.strip("[]").lower(), own, f"{own}.local"} - {""})


def _host_allowed(header: str | None, trusted: frozenset[str]) -> bool:
    """Whether a request's ``Host`` is this machine (no header: an old client, allowed).

    An IP address cannot be re-pointed, and ``*.localhost`` always means this
    machine to browsers; any other name must be one of ``trusted``.
    """
    if header is None:
        return True
    host = _host_name(header)
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host in trusted or host.endswith(".localhost")


class _Latest:
    """The newest frame/result/stats, and the JPEG of the newest frame once encoded."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.seq = 0
        self.frame: np.ndarray | None = None
        self.result: FrameResult | None = None
        self.stats: StreamStats | None = None
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=20)
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
        given = (query.get("token") or [None])[0]
        header = self.headers.get("Authorization", "")
        if given is None and header[:7].lower() == "bearer ":
            given = header[7:].strip()
        if given is None:
            self._send(401, "text/plain; charset=utf-8", b"token required\n",
                       {"WWW-Authenticate": 'Bearer realm="edgekit"'})
            return False
        if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
            self._send(403, "text/plain; charset=utf-8", b"wrong token\n")
            return False
        return True

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        if self.server.token is None and not _host_allowed(self.headers.get("Host"),
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
        self.trusted = _trusted_hosts(address[0])
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
