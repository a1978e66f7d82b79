"""The edgekit metadata entry: versioned JSON in the flatbuffer's ``metadata`` list.

Written by the trainer (:func:`embed`), read by the runtime without TensorFlow
(:func:`read`). Schema ``edgekit/1`` (documented in the README)::

    {"schema": "edgekit/1", "task": "classify", "labels": ["zero", ...],
     "input": {"color": "rgb", "resize": "stretch", "mean": [0, 0, 0], "std": [1, 1, 1]},
     "output": {"activation": "none"},
     "quantization": {"mode": "int8", "io": "uint8"},
     "detection": {...}, "provenance": {...}, "parity": {...}}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelInvalid
from ..preprocess import COLOR_ORDERS, RESIZE_MODES

__all__ = ["METADATA_NAME", "SCHEMA", "ModelMetadata", "embed", "read"]

METADATA_NAME = "edgekit"
SCHEMA = "edgekit/1"
TASKS = ("classify", "detect", "raw")


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """The parsed edgekit metadata of a model. Unknown keys are kept in ``extra``."""

    task: str = "classify"
    labels: tuple[str, ...] = ()
    color: str = "rgb"
    resize: str = "stretch"
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    activation: str = "auto"
    quantization: dict[str, Any] = field(default_factory=dict)
    detection: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if self.task not in TASKS:
            problems.append(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.color not in COLOR_ORDERS:
            problems.append(f"input.color {self.color!r} is not one of {', '.join(COLOR_ORDERS)}")
        if self.resize not in RESIZE_MODES:
            problems.append(f"input.resize {self.resize!r} is not one of {', '.join(RESIZE_MODES)}")
        if not self.std or any(float(s) == 0 for s in self.std):
            problems.append(f"input.std {list(self.std)} must be non-empty and non-zero")
        if not all(math.isfinite(float(v)) for v in (*self.mean, *self.std)):
            problems.append("input.mean and input.std must be finite numbers")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "task": self.task,
            "labels": list(self.labels),
            "input": {
                "color": self.color,
                "resize": self.resize,
                "mean": list(self.mean),
                "std": list(self.std),
            },
            "output": {"activation": self.activation},
        }
        for key in ("quantization", "detection", "provenance", "parity"):
            value = getattr(self, key)
            if value:
                out[key] = value
        out.update(self.extra)
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        """Build from the JSON object; raises ``ValueError`` naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("metadata is not a JSON object")
        schema = data.get("schema", "")
        if not str(schema).startswith("edgekit/"):
            raise ValueError(f"schema {schema!r} is not an edgekit schema")
        inp = data.get("input") or {}
        out = data.get("output") or {}
        if not isinstance(inp, dict) or not isinstance(out, dict):
            raise ValueError("'input' and 'output' must be JSON objects")
        known = {"schema", "task", "labels", "input", "output", "quantization", "detection",
                 "provenance", "parity"}
        return cls(
            task=str(data.get("task", "classify")),
            labels=tuple(str(x) for x in data.get("labels") or ()),
            color=str(inp.get("color", "rgb")),
            resize=str(inp.get("resize", "stretch")),
            mean=tuple(float(x) for x in inp.get("mean", (0.0,))),
            std=tuple(float(x) for x in inp.get("std", (1.0,))),
            activation=str(out.get("activation", "auto")),
            quantization=_object(data, "quantization"),
            detection=_object(data, "detection"),
            provenance=_object(data, "provenance"),
            parity=_object(data, "parity"),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` as a dict (absent or empty: ``{}``); a list of pairs is not an object."""
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{key!r} must be a JSON object, not {type(value).__name__}")
    return dict(value)


def read(entries: dict[str, bytes], where: str = "model") -> ModelMetadata | None:
    """The edgekit entry among a model's named metadata buffers, or ``None``.

    Raises:
        ModelInvalid: the entry exists but is not valid edgekit metadata.
    """
    raw = entries.get(METADATA_NAME)
    if raw is None:
        return None
    try:
        return ModelMetadata.from_dict(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise ModelInvalid(f"{where}: edgekit metadata is malformed: {exc}") from exc


def embed(model: bytes, metadata: ModelMetadata | dict[str, Any]) -> bytes:
    """Return ``model`` with the edgekit metadata entry set (replacing an old one).

    Pure flatbuffer work through the schema's object API; no TensorFlow needed.
    """
    from .reader import schema

    fb = schema()
    if isinstance(metadata, dict):
        metadata = ModelMetadata.from_dict({"schema": SCHEMA, **metadata})
    import flatbuffers
    import numpy as np

    obj = fb.ModelT.InitFromPackedBuf(bytearray(model), 0)
    buffer = fb.BufferT()
    buffer.data = np.frombuffer(metadata.to_json(), dtype=np.uint8)
    obj.buffers = list(obj.buffers or []) + [buffer]
    entries = [m for m in (obj.metadata or []) if _name(m.name) != METADATA_NAME]
    entry = fb.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(obj.buffers) - 1
    obj.metadata = entries + [entry]
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(obj.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _name(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""
