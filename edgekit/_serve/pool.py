"""The interpreters behind ``edgekit serve``: a pool of replicas, a bounded queue, live swaps.

One worker thread per replica takes the next image, borrows an interpreter of the
*current* model, and runs the whole image through it (decode, pre-process,
invoke, post-process: OpenCV and ``invoke`` release the GIL, so the replicas run
on several cores at once, as in ``batch``). At most ``replicas + queue`` images
are admitted at a time; :meth:`InferencePool.admit` refuses more (the server then
answers ``503``), so a burst never builds an unbounded backlog and the latency
of the images taken stays bounded.

A new model comes as a ready :class:`Replicas` (built on the reloader's thread);
:meth:`InferencePool.swap` makes it current in one assignment. Images that
started on the old model finish on it, the next ones start on the new one: none
is lost or run twice. The old replicas are closed when the last one is returned.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ..model import Model

__all__ = ["InferencePool", "Replicas"]

T = TypeVar("T")


class Replicas:
    """One model's interpreters: the model itself and ``count - 1`` replicas, each warmed up.

    Raises:
        EdgekitError: A replica cannot be created or does not run (the ones made are closed).
    """

    def __init__(self, model: Model, count: int, warm_up: Callable[[Model], Any] | None = None) -> None:
        self.model = model
        self.count = count
        self.sha256 = model.info.sha256
        made = [model]
        try:
            while len(made) < count:
                made.append(model.replica())
            for each in made:
                if warm_up is not None:
                    warm_up(each)
        except BaseException:
            for each in made[1:]:
                each.close()
            raise
        self._free: queue.SimpleQueue[Model] = queue.SimpleQueue()
        for each in made:
            self._free.put(each)
        self._all = made
        self._lent = 0
        self._retired = False
        self._lock = threading.Lock()

    def acquire(self) -> Model | None:
        """An interpreter for one image, or ``None`` once retired (as many as workers: never
        waits long). Give it back with :meth:`release`."""
        with self._lock:
            if self._retired:
                return None
            self._lent += 1
        return self._free.get()

    def release(self, model: Model) -> None:
        self._free.put(model)
        with self._lock:
            self._lent -= 1
            done = self._retired and self._lent == 0
        if done:
            self.close()

    def retire(self) -> None:
        """No new image starts here; close once the last borrowed interpreter is back."""
        with self._lock:
            self._retired = True
            idle = self._lent == 0
        if idle:
            self.close()

    def close(self) -> None:
        """Close every interpreter (idempotent)."""
        for each in self._all:
            each.close()


class InferencePool:
    """Worker threads over the current :class:`Replicas`, behind an admission bound.

    Args:
        replicas: The first model's interpreters (the pool closes them).
        queue: Images that may wait beyond the ones running.
    """

    def __init__(self, replicas: Replicas, queue: int) -> None:
        self.current = replicas
        self.capacity = replicas.count + queue
        self._executor = ThreadPoolExecutor(max_workers=replicas.count, thread_name_prefix="edgekit-serve")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self.peak_admitted = 0  # the most images in the server at once (never above capacity)

    @property
    def running(self) -> int:
        """Images being worked on now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Images admitted but waiting for a worker."""
        return max(0, self._admitted - self._running)

    def admit(self, count: int) -> bool:
        """Reserve room for ``count`` images (all or none); each is released when its job ends."""
        with self._lock:
            if self._admitted + count > self.capacity:
                return False
            self._admitted += count
            self.peak_admitted = max(self.peak_admitted, self._admitted)
            return True

    def submit(self, job: Callable[[Model], T]) -> Future[T]:
        """Run ``job(interpreter)`` on a worker with an interpreter of the current model.

        The image must have been admitted; its room is released when the job ends
        (or is cancelled before it started).
        """
        future = self._executor.submit(self._run, job)
        future.add_done_callback(self._release)
        return future

    def _run(self, job: Callable[[Model], T]) -> T:
        with self._lock:
            self._running += 1
        try:
            model = None
            while model is None:  # the current model when the image starts (a swap may race)
                replicas = self.current
                model = replicas.acquire()
            try:
                return job(model)
            finally:
                replicas.release(model)
        finally:
            with self._lock:
                self._running -= 1
                self._admitted -= 1

    def _release(self, future: Future[Any]) -> None:
        if future.cancelled():  # never started (its request timed out): its room is free now
            with self._lock:
                self._admitted -= 1

    def swap(self, replicas: Replicas) -> Replicas:
        """Make ``replicas`` current; the old ones are retired (closed when idle) and returned."""
        old, self.current = self.current, replicas
        old.retire()
        return old

    def close(self, wait: bool = True) -> None:
        """Finish (``wait``) or cancel the queued images, stop the workers, close the interpreters."""
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
        self.current.retire()
