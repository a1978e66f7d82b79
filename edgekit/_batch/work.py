"""The work on one batch item, shared by the local and the Ray engines.

An item goes through two steps: :func:`prepare` (read, decode and pre-process;
runs in a worker thread, mostly outside the GIL) and :func:`complete` (invoke
and post-process; one interpreter). :func:`tasks` turns expanded entries into
the items to prepare, in input order, skipping the ones already done.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EdgekitError, ImageUnreadable, InputError
from ..imagefile import read_image
from ..results import FrameResult, ItemError, Latency, Prediction
from .decode import read_for_model, rescale_transform
from .inputs import Entry, VideoFrame, video_frames

__all__ = ["FrameError", "Ready", "Result", "Task", "complete", "key_of", "prepare", "tasks"]

Key = tuple[str, int | None]


@dataclass(frozen=True, slots=True)
class FrameError(ItemError):
    """A video frame that could not be processed (an :class:`ItemError` with its frame index)."""

    frame: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "frame": self.frame,
                "error": {"type": self.type, "message": self.message}}


Result = Prediction | FrameResult | ItemError


@dataclass(frozen=True, slots=True)
class Task:
    """An item to prepare: an image path, or a decoded video frame."""

    input: str
    frame: VideoFrame | None = None


@dataclass(frozen=True, slots=True)
class Ready:
    """A prepared item: the model input tensor and what is needed to finish it."""

    input: str
    frame: int | None
    position: float
    tensor: np.ndarray
    transform: Any
    pre_ms: float
    ready_at: float


def key_of(result: Result) -> Key:
    """The resume key of a result: ``(input, frame index or None)``."""
    if isinstance(result, FrameResult):
        return (result.source, result.frame)
    if isinstance(result, FrameError):
        return (result.input, result.frame)
    if isinstance(result, Prediction):
        return (result.input or "", None)
    return (result.input, None)


def frames_by_input(skip: Iterable[Key]) -> dict[str, frozenset[int]]:
    """Group the frame indices of ``skip`` by input (what to skip inside each video)."""
    grouped: dict[str, set[int]] = {}
    for path, frame in skip:
        if frame is not None:
            grouped.setdefault(path, set()).add(frame)
    return {path: frozenset(frames) for path, frames in grouped.items()}


def tasks(
    entries: Iterable[Entry],
    every: int = 1,
    skip: Container[Key] = frozenset(),
    skip_frames: Mapping[str, frozenset[int]] | None = None,
) -> Iterator[Task | ItemError]:
    """The items of ``entries`` in order, minus those in ``skip``.

    Missing entries and videos that cannot be opened come out as
    :class:`ItemError` (nothing to prepare); videos are decoded here, frame by
    frame, because a video can only be read in order.
    """
    for entry in entries:
        if (entry.path, None) in skip:
            continue
        if entry.kind == "missing":
            yield ItemError(entry.path, InputError.__name__, entry.message)
        elif entry.kind == "image":
            yield Task(entry.path)
        else:
            done = (skip_frames or {}).get(entry.path, frozenset())
            yield from _video_tasks(entry.path, every, done)


def _video_tasks(path: str, every: int, done: frozenset[int]) -> Iterator[Task | ItemError]:
    try:
        for frame in video_frames(path, every, done):
            yield Task(path, frame)
    except EdgekitError as exc:
        if not done:
            yield ItemError.from_exception(path, exc)


def prepare(model: Any, task: Task, fast_decode: bool = False) -> Ready | ItemError:
    """Read/decode and pre-process one item; input problems become an error result.

    ``fast_decode`` decodes JPEGs reduced / in grey when the model input allows
    (see :mod:`edgekit._batch.decode`).
    """
    import cv2

    t0 = time.perf_counter()
    frame = task.frame
    original = None
    try:
        if frame is None and fast_decode:
            image, original = read_for_model(task.input, model.input_format)
        elif frame is None:
            image = read_image(task.input, grey=model.input_format.grey)
        elif frame.image is None:
            raise InputError(f"{task.input}: frame {frame.index} could not be decoded")
        else:
            image = frame.image
        tensor, transform = model.preprocess(image)
        if original is not None:
            transform = rescale_transform(transform, *original)
    except InputError as exc:
        return _error(task, exc)
    except (cv2.error, ValueError, MemoryError) as exc:  # a decoder choking on one file
        return _error(task, ImageUnreadable(f"{task.input}: {exc}".strip()))
    t1 = time.perf_counter()
    return Ready(task.input, None if frame is None else frame.index,
                 0.0 if frame is None else frame.position,
                 tensor, transform, (t1 - t0) * 1e3, t1)


def _error(task: Task, exc: BaseException) -> ItemError:
    if task.frame is None:
        return ItemError.from_exception(task.input, exc)
    return FrameError(task.input, type(exc).__name__, str(exc), task.frame.index)


def complete(model: Any, ready: Ready) -> Prediction | FrameResult:
    """Invoke and post-process a prepared item (the one step that needs the interpreter)."""
    t1 = time.perf_counter()
    outputs = model.invoke(ready.tensor)
    t2 = time.perf_counter()
    pred = model.postprocess(outputs, ready.transform)
    t3 = time.perf_counter()
    latency = Latency(pre=ready.pre_ms, invoke=(t2 - t1) * 1e3, post=(t3 - t2) * 1e3,
                      age=max(0.0, (t1 - ready.ready_at) * 1e3))
    pred = Prediction(pred.task, pred.classes, pred.detections, pred.tensors, latency, ready.input)
    if ready.frame is None:
        return pred
    return FrameResult(frame=ready.frame, ts=ready.position, source=ready.input, prediction=pred)


def run_sequential(
    model: Any,
    entries: Iterable[Entry],
    every: int = 1,
    skip: Container[Key] = frozenset(),
    skip_frames: Mapping[str, frozenset[int]] | None = None,
    fast_decode: bool = False,
) -> Iterator[Result]:
    """Every item, one after the other, in the calling thread (Ray actors)."""
    for task in tasks(entries, every, skip, skip_frames):
        if isinstance(task, ItemError):
            yield task
            continue
        ready = prepare(model, task, fast_decode)
        yield ready if isinstance(ready, ItemError) else complete(model, ready)
