"""``edgekit serve``: the model behind HTTP, on Uvicorn (an ASGI server that runs well on a Pi).

The server binds its socket itself (so that a port in use is a one-line
``ConfigError``, and ``port=0`` is known before serving), builds the replica pool
and the routes, and runs Uvicorn on the calling thread. Signals stay edgekit's
(:mod:`edgekit.cli.interrupt`): :meth:`InferenceServer.stop` is safe to call from a
signal handler, and the server then stops gracefully: it stops accepting, answers
the requests in hand (bounded by their time), and returns its summary.

Every 0.1 s a housekeeping task swaps in a new model the reloader has ready
(between requests: see :mod:`.pool`), reports ``model_changed``/``model_rejected``
events, and pings the systemd watchdog (``READY=1`` once listening).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .._stream.sdnotify import Watchdog, notify
from ..errors import ConfigError, ExtraMissing
from ..model import Model
from ..results import StreamEvent
from .app import ServeApp
from .limits import ServeLimits
from .metrics import ServeMetrics
from .pool import InferencePool, Replicas

__all__ = ["InferenceServer", "ServeSummary", "require_serve"]

log = logging.getLogger("edgekit.serve")

TICK_S = 0.1
STOP_BUDGET_S = 8  # the requests in hand get this long to finish (the unit's TimeoutStopSec is 10)
PACKAGES = (("starlette", "starlette"), ("uvicorn", "uvicorn"), ("python_multipart", "python-multipart"),
            ("prometheus_client", "prometheus-client"))
QUIET_LOGGERS = {"uvicorn": logging.ERROR, "uvicorn.error": logging.ERROR, "uvicorn.access": logging.CRITICAL,
                 "python_multipart": logging.CRITICAL, "multipart": logging.CRITICAL}


def require_serve() -> None:
    """Check that the ``serve`` extra is installed.

    Raises:
        ExtraMissing: One of its packages is missing (named in the message).
    """
    missing = [package for module, package in PACKAGES if importlib.util.find_spec(module) is None]
    if missing:
        raise ExtraMissing("edgekit serve", "serve", " and ".join(missing))


@dataclass(frozen=True, slots=True)
class ServeSummary:
    """What a server did, for the line printed when it stops."""

    requests: int
    images: int
    errors: int
    updates: int
    rejected: int
    seconds: float
    reason: str

    def line(self) -> str:
        updates = f", {self.updates} model update{'s' * (self.updates != 1)}" if self.updates else ""
        rejected = f" ({self.rejected} rejected)" if self.rejected else ""
        return (f"served {self.requests} requests ({self.images} images, {self.errors} errors) in "
                f"{self.seconds:.0f} s{updates}{rejected}; stopped: {self.reason}")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP.
    # Without it, Nagle holds the response body until the client's delayed ACK: +40 ms each.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _uvicorn(app: Any, limits: ServeLimits) -> Any:
    import uvicorn

    class _Server(uvicorn.Server):  # type: ignore[misc]
        """Uvicorn without its own signal handlers: edgekit's CLI owns the signals."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        def install_signal_handlers(self) -> None:  # Uvicorn < 0.29
            pass

    for name, level in QUIET_LOGGERS.items():  # a malformed request is answered, not logged
        logging.getLogger(name).setLevel(level)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", server_header=False,
                            ws="none", limit_concurrency=limits.max_connections, timeout_keep_alive=5,
                            timeout_graceful_shutdown=min(int(limits.timeout) + 1, STOP_BUDGET_S))
    return _Server(config)


class InferenceServer:
    """``POST /predict`` and friends for one model (see :mod:`.app` for the routes).

    Args:
        model: The model (its interpreters belong to the server from now on).
        host, port: Where to listen (``port=0``: a free one, see :attr:`port`).
        token: Required in every request when given.
        limits: The bounds (default: :class:`ServeLimits` for this machine).
        reloader: Live model updates (its ``prepare`` must build :class:`Replicas`).
        on_event: Called with each ``model_changed`` / ``model_rejected`` event.

    Raises:
        ConfigError: The model takes no image, or the address cannot be bound.
        ExtraMissing: The ``serve`` extra is not installed.
    """

    def __init__(self, model: Model, *, host: str = "127.0.0.1", port: int = 8000,
                 token: str | None = None, limits: ServeLimits | None = None, reloader: Any = None,
                 on_event: Callable[[StreamEvent], Any] | None = None) -> None:
        require_serve()
        from .._reload.reloader import warm_up

        if model.input_format is None:
            raise ConfigError(f"{model.info.source}: the model takes no image, so it cannot be served")
        if token is not None and not token.strip():
            raise ConfigError("token must not be empty")
        self.limits = limits or ServeLimits(threads=model.threads)
        self._reloader, self._on_event = reloader, on_event
        self._reason = ""
        self._started = time.monotonic()
        self._sock = _bind(host, port)
        try:
            replicas = Replicas(model, self.limits.replicas or 1, warm_up)
        except BaseException:
            self._sock.close()
            raise
        self.host, self.port = host, self._sock.getsockname()[1]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"
        self.pool = InferencePool(replicas, self.limits.queue or 0)
        self.metrics = ServeMetrics(lambda: self.pool.waiting, lambda: self.pool.running, replicas.count)
        self.metrics.set_model(model.info)
        self.app = ServeApp(self.pool, self.limits, model.options, self.metrics, token=token, host=host,
                            lifespan=self._lifespan)
        self._server = _uvicorn(self.app.asgi, self.limits)

    # -- life cycle -------------------------------------------------------------------------
    def run(self) -> ServeSummary:
        """Serve until :meth:`stop`; then finish the requests in hand and close. Blocks."""
        try:
            self._server.run(sockets=[self._sock])
        finally:
            self.close()
        return self.summary()

    def stop(self, reason: str = "stopped") -> None:
        """Stop gracefully (safe from a signal handler: it sets flags only)."""
        self._reason = self._reason or reason
        self._server.should_exit = True

    @property
    def started(self) -> bool:
        """Whether the server accepts connections (its lifespan started)."""
        return bool(self._server.started)

    def close(self) -> None:
        """Release the pool, the reloader and the socket (``run`` does it when it returns)."""
        if self._reloader is not None:
            self._reloader.close()
        self.pool.close()
        self._sock.close()

    def summary(self) -> ServeSummary:
        """What the server did so far."""
        m = self.metrics
        return ServeSummary(
            requests=int(sum(s.value for s in _samples(m.requests, "_total"))),
            images=int(m.sample("edgekit_images_total") or 0),
            errors=int(sum(s.value for s in _samples(m.errors, "_total"))),
            updates=int(m.sample("edgekit_model_updates_total", {"result": "changed"}) or 0),
            rejected=int(m.sample("edgekit_model_updates_total", {"result": "rejected"}) or 0),
            seconds=time.monotonic() - self._started, reason=self._reason or "stopped")

    # -- housekeeping (on the server's event loop) -----------------------------------------------
    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Any) -> AsyncIterator[None]:
        if self._reloader is not None:
            self._reloader.start()
        notify("READY=1")
        notify(f"STATUS=serving on port {self.port}")
        task = asyncio.create_task(self._housekeeping())
        try:
            yield
        finally:
            task.cancel()
            notify("STOPPING=1")

    async def _housekeeping(self) -> None:
        watchdog = Watchdog()
        idle: dict[int, tuple[Any, float]] = {}
        while True:
            try:
                self._model_updates()
            except Exception as exc:  # noqa: BLE001 - serving goes on whatever a callback does
                log.warning("serve: model update: %s: %s", type(exc).__name__, exc)
            self._close_stalled(idle)
            watchdog.tick()  # the event loop is alive
            await asyncio.sleep(TICK_S)

    def _close_stalled(self, idle: dict[int, tuple[Any, float]]) -> None:
        """Close connections that have not sent a whole request head within the request time.

        Uvicorn times out idle keep-alive connections, but not one that trickles its
        headers in (slowloris): each would hold one of the ``max_connections`` forever.
        """
        now = time.monotonic()
        live = {}
        for connection in list(self._server.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and not getattr(cycle, "response_complete", False):
                continue  # a request is in hand: the app's own time limit applies
            key = id(connection)
            since = idle[key][1] if key in idle and idle[key][0] is cycle else now
            live[key] = (cycle, since)
            if now - since > self.limits.timeout:
                transport = getattr(connection, "transport", None)
                if transport is not None and not transport.is_closing():
                    transport.close()
        idle.clear()
        idle.update(live)

    def _model_updates(self) -> None:
        if self._reloader is None:
            return
        source = f"serve:{self.port}"
        events = self._reloader.drain_events(source)
        swap = self._reloader.take()
        if swap is not None:
            self.pool.swap(swap.prepared)  # requests from now on run on the new model
            self.metrics.set_model(swap.model.info)
            events.append(swap.event(source))
        for event in events:
            result = "changed" if event.event == "model_changed" else "rejected"
            self.metrics.updates.labels(result).inc()
            if self._on_event is not None:
                self._on_event(event)


def _samples(metric: Any, suffix: str) -> list[Any]:
    return [s for family in metric.collect() for s in family.samples if s.name.endswith(suffix)]
