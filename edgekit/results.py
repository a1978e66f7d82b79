"""Typed results. Each ``to_dict()`` is the JSON-lines schema of DESIGN.md.

Results are frozen, slotted dataclasses; nothing in the public API is a dict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BBox",
    "Classification",
    "Detection",
    "FrameResult",
    "ItemError",
    "Latency",
    "Prediction",
    "StreamEvent",
    "StreamStats",
]

# Raw tensors up to this many elements are written out in full in JSON; bigger
# ones are summarised (shape, dtype, min/max/mean) so one frame stays one line.
RAW_VALUES_LIMIT = 4096


def _r(value: float, digits: int = 4) -> float:
    return round(float(value), digits)


@dataclass(frozen=True, slots=True)
class BBox:
    """An axis-aligned box in source-image pixels (x1, y1) top-left, (x2, y2) bottom-right."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def to_list(self) -> list[float]:
        return [_r(self.x1, 1), _r(self.y1, 1), _r(self.x2, 1), _r(self.y2, 1)]


@dataclass(frozen=True, slots=True)
class Classification:
    """One class of a classification result; ``score`` is a probability in [0, 1]."""

    id: int
    label: str | None
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "score": _r(self.score)}


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object; ``box`` is in source-image pixels."""

    id: int
    label: str | None
    score: float
    box: BBox

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "score": _r(self.score),
            "box": self.box.to_list(),
        }


@dataclass(frozen=True, slots=True)
class Latency:
    """Where the time of one result went, in milliseconds.

    ``age`` is how old the frame was when inference started (0 for a direct
    ``predict`` call); ``total`` runs from capture to the end of post-processing.
    """

    pre: float = 0.0
    invoke: float = 0.0
    post: float = 0.0
    age: float = 0.0

    @property
    def total(self) -> float:
        return self.age + self.pre + self.invoke + self.post

    def to_dict(self) -> dict[str, float]:
        return {
            "age": _r(self.age, 2),
            "pre": _r(self.pre, 2),
            "invoke": _r(self.invoke, 2),
            "post": _r(self.post, 2),
            "total": _r(self.total, 2),
        }


def _tensor_dict(array: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"shape": list(array.shape), "dtype": str(array.dtype)}
    if array.size <= RAW_VALUES_LIMIT:
        out["values"] = array.tolist()
    elif array.size:
        flat = array.astype(np.float64, copy=False)
        out["summary"] = {
            "min": _r(flat.min()),
            "max": _r(flat.max()),
            "mean": _r(flat.mean()),
        }
    return out


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a model said about one image.

    Attributes:
        task: ``"classify"``, ``"detect"`` or ``"raw"``.
        classes: Top classes, best first (classification).
        detections: Objects, best first (detection).
        tensors: The dequantized output tensors (always present).
        latency: Time spent in pre-processing, invoke and post-processing.
        input: The path or URL the image came from, when it came from one.
    """

    task: str
    classes: tuple[Classification, ...] = ()
    detections: tuple[Detection, ...] = ()
    tensors: tuple[np.ndarray, ...] = field(default=(), compare=False, repr=False)
    latency: Latency = field(default_factory=Latency)
    input: str | None = None

    @property
    def top(self) -> Classification | Detection | None:
        """The best class or detection, or ``None``."""
        if self.classes:
            return self.classes[0]
        if self.detections:
            return self.detections[0]
        return None

    def body(self) -> dict[str, Any]:
        """The task-specific part of the schema (``classes`` / ``detections`` / ``tensors``)."""
        out: dict[str, Any] = {"task": self.task}
        if self.task == "classify":
            out["classes"] = [c.to_dict() for c in self.classes]
        elif self.task == "detect":
            out["detections"] = [d.to_dict() for d in self.detections]
        else:
            out["tensors"] = [_tensor_dict(t) for t in self.tensors]
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.input is not None:
            out["input"] = self.input
        out.update(self.body())
        out["latency_ms"] = self.latency.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class FrameResult:
    """A prediction on one frame of a stream.

    Attributes:
        frame: Index of the frame in its source (counting dropped frames too).
        ts: Capture time, seconds since the epoch.
        source: Name of the source, e.g. ``"camera:0"`` or ``"demo"``.
        prediction: What the model said; its ``latency.age`` is the frame's age
            when inference started.
    """

    frame: int
    ts: float
    source: str
    prediction: Prediction

    @property
    def task(self) -> str:
        return self.prediction.task

    @property
    def classes(self) -> tuple[Classification, ...]:
        return self.prediction.classes

    @property
    def detections(self) -> tuple[Detection, ...]:
        return self.prediction.detections

    @property
    def latency(self) -> Latency:
        return self.prediction.latency

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frame": self.frame, "ts": _r(self.ts, 3), "source": self.source}
        if self.prediction.input is not None:
            out["input"] = self.prediction.input
        out.update(self.prediction.body())
        out["latency_ms"] = self.prediction.latency.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """Something that happened to a stream.

    ``event`` is ``source_offline``, ``source_online``, ``stopped``, ``rule`` (a rule
    turned on or off), ``storage_full`` / ``storage_ok`` (snapshots stopped or resumed),
    ``capture_full`` (frames for retraining stopped), or a live model update (``edgekit
    run``/``serve``): ``model_changed`` (a new model runs from now on) or
    ``model_rejected`` (it did not load; the old one keeps running, ``message`` says
    why). The fields after ``message`` are set by rule and model events only and
    written to JSON only when set.

    Attributes:
        rule: The rule's name (its text, e.g. ``"person>=0.6 for 3/5"``, unless named).
        state: ``"on"`` (the rule started to hold) or ``"off"`` (it stopped).
        frame: Index of the frame that changed the state.
        label: The label the rule watches.
        score: Best score of that label in the frame (in the zone).
        count: Objects of that label in the frame (in the zone); 1 or 0 for classifiers.
        snapshot: The JPEG written for this event (announced before it is on disk).
        clip: The clip this event starts or extends.
        model: The model file now running (``model_changed``) or offered (``model_rejected``).
        old_sha256: SHA-256 of the model that ran before (``model_changed``).
        new_sha256: SHA-256 of the new model (or of the file that was rejected, when read).
    """

    event: str
    ts: float
    source: str
    message: str | None = None
    rule: str | None = None
    state: str | None = None
    frame: int | None = None
    label: str | None = None
    score: float | None = None
    count: int | None = None
    snapshot: str | None = None
    clip: str | None = None
    model: str | None = None
    old_sha256: str | None = None
    new_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.event, "ts": _r(self.ts, 3), "source": self.source}
        if self.message:
            out["message"] = self.message
        for key in ("rule", "state", "frame", "label", "score", "count", "snapshot", "clip"):
            value = getattr(self, key)
            if value is not None:
                out[key] = _r(value) if key == "score" else value
        for key in ("model", "old_sha256", "new_sha256"):  # model updates
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Rolling statistics of a running stream, handed to sinks with each result.

    Attributes:
        fps: Results per second over the rolling window.
        latency_p50, latency_p95: Total latency percentiles (ms) over the window.
        age_p50: Frame age at invoke start, median (ms).
        frames: Frames the source produced so far.
        inferred: Frames that went through the model.
        dropped: Frames never inferred (newer ones replaced them).
        bad_frames: Frames that could not be used (unreadable, invalid).
        sink_drops: Results dropped per sink because it was too slow.
        thermal: Temperature (°C) and throttling flags when the board exposes them.
    """

    fps: float = 0.0
    latency_p50: float = 0.0
    latency_p95: float = 0.0
    age_p50: float = 0.0
    frames: int = 0
    inferred: int = 0
    dropped: int = 0
    bad_frames: int = 0
    sink_drops: dict[str, int] = field(default_factory=dict)
    thermal: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "fps": round(self.fps, 2),
            "latency_p50": round(self.latency_p50, 2),
            "latency_p95": round(self.latency_p95, 2),
            "age_p50": round(self.age_p50, 2),
            "frames": self.frames,
            "inferred": self.inferred,
            "dropped": self.dropped,
            "bad_frames": self.bad_frames,
            "sink_drops": dict(self.sink_drops),
            "thermal": dict(self.thermal),
        }


@dataclass(frozen=True, slots=True)
class ItemError:
    """An input that could not be processed (batch and predict keep going)."""

    input: str
    type: str
    message: str

    @classmethod
    def from_exception(cls, input: str, error: BaseException) -> ItemError:
        return cls(input=input, type=type(error).__name__, message=str(error))

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "error": {"type": self.type, "message": self.message}}


def finite_or_none(value: float) -> float | None:
    """``value`` if finite, else ``None`` (JSON has no NaN)."""
    return value if math.isfinite(value) else None
