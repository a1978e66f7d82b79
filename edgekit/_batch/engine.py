"""``edgekit.batch``: every input once, in order, as fast as the cores allow.

The local engine is a pipeline of threads::

    INPUTS ──next item──▶ N worker threads ──results──▶ caller's thread
    (expanded lazily)      (read, decode, pre-process,   (re-order, yield
                            invoke, post-process)         in input order)

Each worker takes one item through every step. Reading, decoding and resizing
(OpenCV) and ``invoke`` release the GIL, so the workers run on several cores at
once. For ``invoke`` a worker borrows one of K interpreters: replicas of the
model (:meth:`edgekit.Model.replica`), by default one single-threaded
interpreter per core. On a CPU, several independent interpreters keep the
cores busier than one interpreter splitting each item over its threads (no
per-layer synchronisation, and decoding never stalls a half-finished layer);
the price is a copy of the model's working memory per interpreter
(``interpreters=1`` when memory is tight).

Workers take the items one at a time, in input order (video frames are
decoded then, in order). A window of ``window`` items bounds everything in
flight (items being worked on, results waiting to be re-ordered), so memory
stays flat however many inputs there are.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..results import ItemError
from .inputs import expand
from .work import FrameError, Key, Ready, Result, Task, complete, frames_by_input, prepare, tasks

__all__ = ["ENGINES", "FrameError", "batch", "default_interpreters", "default_workers"]

ENGINES = ("local", "ray")
_POLL = 0.1  # seconds between checks of the stop flag while blocked


def default_workers() -> int:
    """Worker threads by default: one per core, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def default_interpreters(threads: int | None) -> int:
    """Interpreters by default: enough ``threads``-thread interpreters to fill the cores (≤ 8)."""
    return max(1, min(8, (os.cpu_count() or 1) // max(1, threads or 1)))


def batch(
    model: Any,
    inputs: Iterable[str | os.PathLike[str]] | str,
    *,
    every: int = 1,
    list_file: str | None = None,
    workers: int | None = None,
    interpreters: int | None = None,
    window: int | None = None,
    skip: Iterable[Key] = (),
    engine: str = "local",
    address: str | None = None,
    fast_decode: bool = False,
) -> Iterator[Result]:
    """Run ``model`` over many images and videos; yield one result per item, in input order.

    Args:
        model: A loaded :class:`edgekit.Model`, or a model path (loaded here
            and closed when the iteration ends).
        inputs: Image files, folders (recursive, sorted), globs and video files
            (see :mod:`edgekit._batch.inputs`); a single string is one input.
        every: For videos, keep frames 0, N, 2N, … (frame indices are the video's).
        list_file: A file listing more inputs, one per line (``"-"``: stdin).
        workers: Worker threads (local engine; default one per core, and at
            least ``interpreters``; 0 runs everything in the calling thread) or
            Ray actors (Ray engine; default 2).
        interpreters: Interpreters the workers share (local engine): ``model``
            and ``interpreters - 1`` replicas of it. Default: as many as fill the
            cores with the model's ``threads`` (one per core for a model loaded
            without ``threads``). Each costs a copy of the model's working memory.
        window: Items in flight at most (default ``max(8, 4 × workers)``).
        skip: ``(input, frame)`` keys already done (``frame`` is ``None`` for
            images); they are not processed again (``--resume``).
        engine: ``"local"`` (threads in this process) or ``"ray"`` (a Ray Data
            ``map_batches`` step; needs ``edgekit-tflite[ray]``).
        address: The Ray cluster to join (default: start a local Ray).
        fast_decode: Decode JPEGs at 1/2, 1/4 or 1/8 scale and in grey when the
            model input is that small or grey (several times faster when
            decoding dominates; scores may differ slightly from a full decode).

    Yields:
        :class:`~edgekit.Prediction` (``.input`` set) for images,
        :class:`~edgekit.FrameResult` for video frames (``.frame`` is the
        frame index, ``.source`` and ``.prediction.input`` the video path,
        ``.ts`` the frame's position in the video in seconds), and
        :class:`~edgekit.ItemError` for items that could not be read
        (:class:`FrameError`, a subclass with ``.frame``, for a video frame).
        ``latency.pre`` includes reading and decoding; ``latency.age`` is the
        time the prepared item waited for the interpreter.

    Raises:
        ConfigError: an argument is out of range, or the model does not take images.
        ExtraMissing: ``engine="ray"`` without Ray installed.
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    if every < 1:
        raise ConfigError(f"every must be at least 1, got {every}")
    if workers is not None and workers < 0:
        raise ConfigError(f"workers must be 0 or more, got {workers}")
    if interpreters is not None and interpreters < 1:
        raise ConfigError(f"interpreters must be at least 1, got {interpreters}")
    if window is not None and window < 1:
        raise ConfigError(f"window must be at least 1, got {window}")
    if engine not in ENGINES:
        raise ConfigError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    skip = skip if isinstance(skip, set | frozenset) else set(skip)
    if hasattr(model, "invoke"):
        _check_image_model(model)
    if engine == "ray":
        from .ray import run_ray

        return run_ray(model, inputs, every=every, list_file=list_file, workers=workers,
                       skip=skip, address=address, fast_decode=fast_decode)
    owned = not hasattr(model, "invoke")
    if owned:
        from ..model import load

        model = load(model)
        try:
            _check_image_model(model)
        except ConfigError:
            model.close()
            raise
    k = interpreters or default_interpreters(model.threads)
    n = max(default_workers(), k) if workers is None else workers
    return _run_local(model, owned, expand(inputs, list_file), every, skip, n,
                      min(k, max(1, n)), window or max(8, 4 * n), fast_decode)


def _check_image_model(model: Any) -> None:
    if model.input_format is None:
        raise ConfigError(
            f"{model.info.source}: the model input {list(model.inputs[0].shape)} is not an "
            "image; batch runs image models"
        )


def _run_local(model: Any, owned: bool, entries: Iterable[Any], every: int,
               skip: set[Key] | frozenset[Key], workers: int, interpreters: int, window: int,
               fast_decode: bool) -> Iterator[Result]:
    items = tasks(entries, every, skip, frames_by_input(skip))
    pipeline = _Pipeline(model, items, workers, interpreters, window, fast_decode)
    try:
        yield from pipeline.results()
    finally:
        pipeline.close()
        if owned:
            model.close()


@dataclass(frozen=True, slots=True)
class _Failure:
    """An exception raised in a worker thread, handed to the caller's thread in order."""

    error: BaseException


_END = object()


class _Pipeline:
    """The worker threads, their interpreter pool, and the re-ordering consumer."""

    def __init__(self, model: Any, items: Iterator[Task | ItemError], workers: int,
                 interpreters: int, window: int, fast_decode: bool) -> None:
        self._model = model
        self._fast = fast_decode
        self._items = items
        self._workers = workers
        self._replicas: list[Any] = []
        self._pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._slots = threading.Semaphore(window)
        self._take = threading.Lock()  # guards _items, _seq and _exhausted
        self._seq = 0
        self._exhausted = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        if workers:
            self._replicas = [model.replica() for _ in range(interpreters - 1)]
        for interpreter in (model, *self._replicas):
            self._pool.put(interpreter)

    def results(self) -> Iterator[Result]:
        """Yield in input order. The caller's thread is one of the workers: when the next
        result is not ready it takes an item itself instead of sleeping, so no thread
        is woken per item just to hand a result over (on 2 cores that cost ~20 %)."""
        if self._workers == 0:
            yield from self._inline()
            return
        self._threads = [threading.Thread(target=self._work, name=f"edgekit-batch-worker-{i}",
                                          daemon=True) for i in range(1, self._workers)]
        for thread in self._threads:
            thread.start()
        pending: dict[int, Any] = {}
        next_seq = 0
        while True:
            self._drain(pending)
            if next_seq not in pending:
                got = self._next(block=False)
                if got is not None:
                    pending[got[0]] = self._process(got[1])
                else:
                    seq, item = self._get()  # no item to take: wait for a worker's
                    pending[seq] = item
                continue
            out = pending.pop(next_seq)
            if out is _END:
                return
            if isinstance(out, _Failure):
                raise out.error
            next_seq += 1
            self._slots.release()
            yield out

    def _drain(self, pending: dict[int, Any]) -> None:
        while True:
            try:
                seq, item = self._done.get_nowait()
            except queue.Empty:
                return
            pending[seq] = item

    def _inline(self) -> Iterator[Result]:
        for item in self._items:
            out = self._process(item)
            if isinstance(out, _Failure):
                raise out.error
            yield out

    def _get(self) -> tuple[int, Any]:
        while True:
            try:
                return self._done.get(timeout=_POLL)
            except queue.Empty:
                continue

    def _wait(self, get: Any) -> Any:
        """``get(timeout)`` until it succeeds (its value) or the pipeline stops (``None``)."""
        while not self._stop.is_set():
            try:
                got = get(timeout=_POLL)
            except queue.Empty:
                continue
            if got:
                return got
        return None

    def _next(self, block: bool = True) -> tuple[int, Any] | None:
        """The next item and its sequence number, in input order; ``None`` when there are
        no more (or, with ``block=False``, when the window is full).

        Taking items one at a time under a lock keeps the input order (video
        frames decode here, in order) without a feeder thread to hand them over.
        """
        if block:
            if not self._wait(self._slots.acquire):
                return None
        elif self._exhausted or not self._slots.acquire(blocking=False):
            return None
        with self._take:
            if self._exhausted:
                self._slots.release()
                return None
            seq = self._seq
            self._seq += 1
            try:
                return seq, next(self._items)
            except StopIteration:
                self._exhausted = True
                self._done.put((seq, _END))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self._exhausted = True
                self._done.put((seq, _Failure(exc)))
            return None

    def _work(self) -> None:
        while not self._stop.is_set():
            got = self._next()
            if got is None:
                return
            try:
                out = self._process(got[1])
            except BaseException as exc:  # noqa: BLE001 - a worker answers for every item it took
                out = _Failure(exc)
            if out is None:
                return  # stopped while waiting for an interpreter
            self._done.put((got[0], out))

    def _process(self, item: Task | ItemError) -> Any:
        """An item's result (a :class:`_Failure` for an unexpected error); ``None`` if stopped.

        Ctrl-C and SIGTERM (not ``Exception``) raised while the caller's thread
        works on an item propagate at once.
        """
        if not isinstance(item, Task):
            return item
        try:
            ready = prepare(self._model, item, self._fast)
            return self._complete(ready) if isinstance(ready, Ready) else ready
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread, in order
            return _Failure(exc)

    def _complete(self, ready: Ready) -> Any:
        """Invoke on a free interpreter; ``None`` when the pipeline stops while waiting for one."""
        interpreter = self._wait(self._pool.get)
        if interpreter is None:
            return None
        try:
            return complete(interpreter, ready)
        finally:
            self._pool.put(interpreter)

    def close(self) -> None:
        """Stop the workers (they exit within one item), wait for them briefly, close replicas."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5.0)
        for replica in self._replicas:
            replica.close()
        close = getattr(self._items, "close", None)
        if close is not None and not any(t.is_alive() for t in self._threads):
            close()  # release an open video in the task generator
