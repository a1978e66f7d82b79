"""``edgekit.batch``: every input once, in order, as fast as the cores allow.

The local engine is a three-stage pipeline::

    feeder thread ──tasks──▶ N worker threads ──prepared──▶ caller's thread
    (expands INPUTS,          (read, decode,               (invoke in completion order,
     decodes videos)           pre-process)                 re-order, yield in input order)

Decoding and resizing (OpenCV) and ``invoke`` (the interpreter) release the
GIL, so they overlap on several cores. A window of ``window`` items bounds
everything in flight (queued tasks, prepared tensors, results waiting to be
re-ordered), so memory stays flat however many inputs there are; video frames
waiting for pre-processing are bounded separately (``2 × workers``).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .batch_inputs import expand
from .batch_work import (FrameError, Key, Ready, Result, Task, complete, frames_by_input, prepare,
                         tasks)
from .errors import ConfigError
from .results import ItemError

__all__ = ["ENGINES", "FrameError", "batch", "default_workers"]

ENGINES = ("local", "ray")
_POLL = 0.1  # seconds between checks of the stop flag while blocked


def default_workers() -> int:
    """Decoding threads by default: one per core, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def batch(
    model: Any,
    inputs: Iterable[str | os.PathLike[str]] | str,
    *,
    every: int = 1,
    list_file: str | None = None,
    workers: int | None = None,
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
            (see :mod:`edgekit.batch_inputs`); a single string is one input.
        every: For videos, keep frames 0, N, 2N, … (frame indices are the video's).
        list_file: A file listing more inputs, one per line (``"-"``: stdin).
        workers: Decoding threads (local engine; default one per core; 0 runs
            everything in the calling thread) or Ray actors (Ray engine; default 2).
        window: Items in flight at most (default ``max(8, 4 × workers)``).
        skip: ``(input, frame)`` keys already done (``frame`` is ``None`` for
            images); they are not processed again (``--resume``).
        engine: ``"local"`` (threads in this process) or ``"ray"`` (a Ray Data
            ``map_batches`` step; needs ``edgekit[ray]``).
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
    if window is not None and window < 1:
        raise ConfigError(f"window must be at least 1, got {window}")
    if engine not in ENGINES:
        raise ConfigError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    skip = skip if isinstance(skip, set | frozenset) else set(skip)
    if hasattr(model, "invoke"):
        _check_image_model(model)
    if engine == "ray":
        from .batch_ray import run_ray

        return run_ray(model, inputs, every=every, list_file=list_file, workers=workers,
                       skip=skip, address=address, fast_decode=fast_decode)
    owned = not hasattr(model, "invoke")
    if owned:
        from .model import load

        model = load(model)
        try:
            _check_image_model(model)
        except ConfigError:
            model.close()
            raise
    n = default_workers() if workers is None else workers
    return _run_local(model, owned, expand(inputs, list_file), every, skip, n,
                      window or max(8, 4 * n), fast_decode)


def _check_image_model(model: Any) -> None:
    if model.input_format is None:
        raise ConfigError(
            f"{model.info.source}: the model input {list(model.inputs[0].shape)} is not an "
            "image; batch runs image models"
        )


def _run_local(model: Any, owned: bool, entries: Iterable[Any], every: int,
               skip: set[Key] | frozenset[Key], workers: int, window: int,
               fast_decode: bool) -> Iterator[Result]:
    items = tasks(entries, every, skip, frames_by_input(skip))
    pipeline = _Pipeline(model, items, workers, window, fast_decode)
    try:
        yield from pipeline.results()
    finally:
        pipeline.close()
        if owned:
            model.close()


@dataclass(frozen=True, slots=True)
class _Failure:
    """An exception raised in a pipeline thread, handed to the caller's thread in order."""

    error: BaseException


_END = object()


class _Pipeline:
    """The feeder, the worker threads, and the re-ordering consumer."""

    def __init__(self, model: Any, items: Iterator[Task | ItemError], workers: int,
                 window: int, fast_decode: bool) -> None:
        self._model = model
        self._fast = fast_decode
        self._items = items
        self._workers = workers
        self._tasks: queue.SimpleQueue[tuple[int, Task] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._slots = threading.Semaphore(window)
        self._frames = threading.Semaphore(2 * max(1, workers))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def results(self) -> Iterator[Result]:
        if self._workers == 0:
            yield from self._inline()
            return
        self._start()
        pending: dict[int, Any] = {}
        next_seq = 0
        while True:
            seq, item = self._get()
            if isinstance(item, Ready):
                item = complete(self._model, item)  # invoke now; re-order afterwards
            pending[seq] = item
            while next_seq in pending:
                out = pending.pop(next_seq)
                if out is _END:
                    return
                if isinstance(out, _Failure):
                    raise out.error
                next_seq += 1
                self._slots.release()
                yield out

    def _inline(self) -> Iterator[Result]:
        for item in self._items:
            if isinstance(item, Task):
                ready = prepare(self._model, item, self._fast)
                item = complete(self._model, ready) if isinstance(ready, Ready) else ready
            yield item

    def _get(self) -> tuple[int, Any]:
        while True:
            try:
                return self._done.get(timeout=_POLL)
            except queue.Empty:
                continue

    def _start(self) -> None:
        self._threads = [threading.Thread(target=self._feed, name="edgekit-batch-feeder",
                                          daemon=True)]
        self._threads += [threading.Thread(target=self._work, name=f"edgekit-batch-worker-{i}",
                                           daemon=True) for i in range(self._workers)]
        for thread in self._threads:
            thread.start()

    def _acquire(self, semaphore: threading.Semaphore) -> bool:
        while not self._stop.is_set():
            if semaphore.acquire(timeout=_POLL):
                return True
        return False

    def _feed(self) -> None:
        seq = 0
        try:
            for item in self._items:
                if not self._acquire(self._slots):
                    return
                if isinstance(item, ItemError):
                    self._done.put((seq, item))
                else:
                    if item.frame is not None and not self._acquire(self._frames):
                        return
                    self._tasks.put((seq, item))
                seq += 1
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self._done.put((seq, _Failure(exc)))
            seq += 1
        finally:
            self._done.put((seq, _END))
            for _ in range(self._workers):
                self._tasks.put(None)

    def _work(self) -> None:
        while not self._stop.is_set():
            got = self._tasks.get()
            if got is None:
                return
            seq, task = got
            try:
                out: Any = prepare(self._model, task, self._fast)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                out = _Failure(exc)
            finally:
                if task.frame is not None:
                    self._frames.release()
            self._done.put((seq, out))

    def close(self) -> None:
        """Stop the threads (they exit within one item) and wait for them briefly."""
        self._stop.set()
        for _ in range(self._workers):
            self._tasks.put(None)
        for thread in self._threads:
            thread.join(timeout=5.0)
        close = getattr(self._items, "close", None)
        if close is not None and not any(t.is_alive() for t in self._threads[:1]):
            close()  # release an open video in the task generator
