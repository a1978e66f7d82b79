"""Live model updates: load the new model beside the running one, swap it in between frames.

::

    trigger: the file replaced · SIGHUP · an MQTT command · reload()
        → the reloader's thread: load (structural check, optional isolation, SHA-256 pin),
          warm up (one prediction), build what the consumer needs (``prepare``: the
          server's replicas)
        → take(): the consumer (the stream between two frames, the server between two
          requests) swaps it in and reports ``model_changed`` with both SHA-256s

Nothing heavy happens on the consumer's side: a swap is one assignment, so no frame
or request waits for a load, and none is lost or run twice. A model that fails at
any step is closed and reported as a ``model_rejected`` event (and a warning) with
the reason; the running model is never touched.

When the running model was pinned (loaded with ``sha256=``), a replaced file must
carry the same pin to load, which it cannot: a pinned deployment updates through a
command that names the new file's SHA-256 (MQTT, or :meth:`ModelReloader.request`),
which becomes the new pin.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, EdgekitError, ModelIncompatible
from ..model import Model
from ..results import StreamEvent
from .commands import parse_command
from .watch import FileWatcher

__all__ = ["Loader", "ModelReloader", "Swap", "loader_like", "warm_up"]

log = logging.getLogger("edgekit.reload")

Loader = Callable[[str, "str | None"], Model]  # (path, SHA-256 it must have or None) → model
POLL_S = 0.5  # how often the file is looked at (and a SIGHUP noticed)
CLOSE_WAIT_S = 2.0
PIN_HINT = (" (the running model is pinned by its SHA-256: send an update command that names "
            "the new file's SHA-256)")


@dataclass(frozen=True, slots=True)
class Swap:
    """A new model, loaded and warmed up, ready to take over.

    Attributes:
        model: The new model.
        prepared: What the consumer's ``prepare`` hook built for it (or ``None``).
        path: The file it was loaded from.
        reason: What asked for it (``"file changed"``, ``"SIGHUP"``, ``"MQTT command"``, …).
        old_sha256, new_sha256: The running model's and the new model's SHA-256.
        load_ms: From the request to ready, in milliseconds.
    """

    model: Model
    prepared: Any
    path: str
    reason: str
    old_sha256: str
    new_sha256: str
    load_ms: float

    def event(self, source: str) -> StreamEvent:
        """The ``model_changed`` event of this swap."""
        return StreamEvent("model_changed", time.time(), source,
                           f"{self.reason}; loaded in {self.load_ms:.0f} ms", model=self.path,
                           old_sha256=self.old_sha256, new_sha256=self.new_sha256)


@dataclass(frozen=True, slots=True)
class _Request:
    reason: str
    path: str | None = None  # None: the file of the running model
    sha256: str | None = None


def warm_up(model: Model) -> None:
    """Run one blank image through ``model`` (a lazily prepared interpreter fails here, not later).

    Raises:
        ModelIncompatible: The model takes no image.
        EdgekitError: The model cannot run.
    """
    fmt = model.input_format
    if fmt is None:
        raise ModelIncompatible(f"{model.info.source}: takes no image input, "
                                "so it cannot replace an image model")
    model.predict(np.zeros((fmt.height, fmt.width, 3), np.uint8))


def loader_like(model: Model, isolate: bool = False) -> Loader:
    """A :data:`Loader` that loads files with ``model``'s settings (threads, backend, delegate, options)."""
    from ..model import load

    info = model.info
    labels = model.labels if info.label_source == "argument" else None
    options = dataclasses.asdict(model.options)

    def load_path(path: str, sha256: str | None) -> Model:
        return load(path, threads=model.threads, backend=info.backend, labels=labels,
                    isolate=isolate, sha256=sha256, delegate=model.delegate, **options)

    return load_path


def _file_sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def _dispose(swap: Swap) -> None:
    close = getattr(swap.prepared, "close", None)
    if callable(close):
        close()
    swap.model.close()


class ModelReloader:
    """Watches for model updates and loads them beside the running model.

    Args:
        path: The running model's file (watched when ``watch``).
        sha256: The running model's SHA-256.
        load: Loads a file: ``load(path, sha256_or_None)`` (the checks and options
            of the running model: see :func:`loader_like`).
        pinned: The running model was pinned by its SHA-256: a file change or
            SIGHUP must match the pin (see the module docstring).
        watch: Poll the file and reload when it is replaced.
        prepare: Called on the reloader's thread with each new model, after its
            warm-up; its result is :attr:`Swap.prepared` (closed with the swap
            if it has a ``close``). An ``EdgekitError`` from it rejects the model.
        poll: Seconds between two looks at the file.
    """

    def __init__(self, path: str, sha256: str, load: Loader, *, pinned: bool = False,
                 watch: bool = True, prepare: Callable[[Model], Any] | None = None,
                 poll: float = POLL_S) -> None:
        if poll <= 0:
            raise ConfigError(f"poll must be > 0 s, got {poll}")
        self._path = os.path.abspath(path)
        self._latest = self._running = sha256
        self._pin = sha256 if pinned else None
        self._load, self._prepare, self._poll = load, prepare, poll
        self._watcher = FileWatcher(self._path) if watch else None
        self._requests: collections.deque[_Request] = collections.deque()
        self._rejected: collections.deque[tuple[float, str, str, str | None]] = collections.deque(maxlen=64)
        self._ready: Swap | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._hup = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.swaps = 0
        self.rejections = 0

    @property
    def sha256(self) -> str:
        """SHA-256 of the model the consumer runs now (updated by :meth:`take`)."""
        return self._running

    @property
    def path(self) -> str:
        """The file of the newest model (the one watched)."""
        return self._path

    # -- triggers ---------------------------------------------------------------------
    def start(self) -> ModelReloader:
        """Start the reloader's thread (idempotent)."""
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="edgekit-reload", daemon=True)
            self._thread.start()
        return self

    def request(self, reason: str = "reload requested", path: str | None = None,
                sha256: str | None = None) -> None:
        """Ask for a reload (thread-safe): ``path`` (default: the running model's file),
        refused unless its SHA-256 is ``sha256`` when given (which then becomes the pin)."""
        self._requests.append(_Request(reason, os.path.abspath(path) if path else None,
                                       sha256.strip().lower() if sha256 else None))
        self._wake.set()

    def command(self, payload: bytes, reason: str = "MQTT command") -> None:
        """Handle an update command ``{"model": "path", "sha256": "..."}`` (a bad one is rejected)."""
        try:
            command = parse_command(payload, os.path.dirname(self._path))
        except ConfigError as exc:
            self._reject(None, reason, exc)
            return
        self.request(reason, command.path, command.sha256)

    def hangup(self) -> None:
        """Reload the running model's file: safe to call from a signal handler (sets a flag only)."""
        self._hup = True

    # -- the consumer's side ----------------------------------------------------------
    def take(self) -> Swap | None:
        """The new model, if one is ready (then it is the consumer's: running, and closed by it)."""
        if self._ready is None:  # the common case, without the lock
            return None
        with self._lock:
            swap, self._ready = self._ready, None
            if swap is None:
                return None
            swap = dataclasses.replace(swap, old_sha256=self._running)
            self._running = swap.new_sha256
        self.swaps += 1
        return swap

    def drain_events(self, source: str) -> list[StreamEvent]:
        """The ``model_rejected`` events since the last call."""
        events = []
        while self._rejected:
            ts, path, message, sha = self._rejected.popleft()
            events.append(StreamEvent("model_rejected", ts, source, message, model=path, new_sha256=sha))
        return events

    # -- the reloader's thread ----------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._poll)
            self._wake.clear()
            if self._hup:
                self._hup = False
                self._requests.append(_Request("SIGHUP"))
            if self._watcher is not None and self._watcher.poll():
                self._requests.append(_Request("file changed"))
            while self._requests and not self._stop.is_set():
                self._handle(self._requests.popleft())

    def _handle(self, request: _Request) -> None:
        started = time.monotonic()
        path = request.path or self._path
        try:
            model = self._load(path, request.sha256 or self._pin)
        except EdgekitError as exc:
            pinned = request.sha256 is None and self._pin is not None and "SHA-256" in str(exc)
            self._reject(path, request.reason, exc, PIN_HINT if pinned else "")
            return
        try:
            sha = model.info.sha256
            if sha == self._latest:
                model.close()
                log.info("model %s: %s, but the file is the one running (sha256 %s)", path,
                         request.reason, sha[:12])
                self._watch(path)
                return
            warm_up(model)
            prepared = self._prepare(model) if self._prepare is not None else None
        except Exception as exc:  # noqa: BLE001 - whatever failed, the old model keeps running
            model.close()
            self._reject(path, request.reason, exc)
            return
        swap = Swap(model, prepared, path, request.reason, self._latest, sha,
                    (time.monotonic() - started) * 1e3)
        with self._lock:
            stale, self._ready = (swap, None) if self._closed else (self._ready, swap)
            if not self._closed:
                self._latest, self._path = sha, path
                self._pin = request.sha256 or self._pin
        if stale is not None:  # replaced before the consumer took it (or closing): never ran
            _dispose(stale)
        self._watch(path)

    def _watch(self, path: str) -> None:
        if self._watcher is not None and self._watcher.path != path:
            self._watcher.reset(path)

    def _reject(self, path: str | None, reason: str, error: BaseException, hint: str = "") -> None:
        self.rejections += 1
        message = f"{reason}: {type(error).__name__}: {error}{hint}; the running model stays"
        sha = _file_sha256(path) if path else None
        self._rejected.append((time.time(), path or "", message, sha))
        log.warning("model %s rejected (%s)", path or "update", message)

    # -- shutdown -------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the thread; a model loaded but not taken is closed. Idempotent."""
        with self._lock:
            self._closed = True
            stale, self._ready = self._ready, None
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(CLOSE_WAIT_S)  # a load still running disposes its model itself
        if stale is not None:
            _dispose(stale)

    def __enter__(self) -> ModelReloader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
