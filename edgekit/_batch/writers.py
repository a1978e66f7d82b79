"""Batch output files: JSON lines and CSV, written line by line, resumable.

Each result is one line, written whole and flushed to the OS at once, and the
file is ``fsync``-ed when a line comes :data:`SYNC_SECONDS` or more after the
last sync, and on close; a killed process therefore leaves complete lines plus
at most one partial last line. :func:`recover`
finds that partial line, cuts it off, and returns the keys already done, so
that ``--resume`` appends exactly the rest.

The JSON-lines row is the DESIGN.md schema with ``"input"`` (and ``"frame"``
for a video frame). The CSV row is flat: ``input, frame, task, id, label,
score`` (the top class), ``detections`` (JSON), ``error_type, error_message,
latency_ms`` (total).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from .._jsonout import dumps, finite, json_line
from ..errors import ConfigError
from ..results import FrameResult, Prediction
from .work import Key, Result

__all__ = ["CSV_COLUMNS", "SYNC_SECONDS", "BatchWriter", "csv_row", "format_of", "open_writer",
           "recover", "row"]

SYNC_SECONDS = 1.0
CSV_COLUMNS = ("input", "frame", "task", "id", "label", "score", "detections", "error_type",
               "error_message", "latency_ms")
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}


def row(result: Result) -> dict[str, Any]:
    """The JSON-lines row of a result (``"input"``, and ``"frame"`` for a video frame)."""
    if isinstance(result, FrameResult):
        pred = result.prediction
        return {"input": result.source, "frame": result.frame, **pred.body(),
                "latency_ms": pred.latency.to_dict()}
    return result.to_dict()


def csv_row(data: dict[str, Any]) -> list[str]:
    """Flatten a JSON-lines row into the :data:`CSV_COLUMNS` (one physical line).

    Non-finite numbers become empty cells (``null`` inside the detections JSON).
    """
    data = finite(data)
    top = (data.get("classes") or [{}])[0]
    error = data.get("error") or {}
    detections = data.get("detections")
    latency = data.get("latency_ms") or {}
    values = [
        data.get("input", ""),
        data.get("frame"),
        data.get("task"),
        top.get("id"),
        top.get("label"),
        top.get("score"),
        dumps(detections) if detections is not None else None,
        error.get("type"),
        error.get("message"),
        latency.get("total"),
    ]
    return ["" if v is None else " ".join(str(v).splitlines()) for v in values]


def key_of_row(data: dict[str, Any]) -> Key:
    """The resume key of a JSON-lines row."""
    frame = data.get("frame")
    return (str(data["input"]), None if frame is None else int(frame))


def format_of(path: str) -> str:
    """``"jsonl"`` or ``"csv"`` from the suffix of ``path``.

    Raises:
        ConfigError: the suffix is neither.
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FORMATS:
        raise ConfigError(f"--out {path}: the suffix must be .jsonl (JSON lines) or .csv")
    return FORMATS[suffix]


class BatchWriter:
    """Writes one line per result to a file (or stdout), flushing each line."""

    def __init__(self, stream: IO[str], fmt: str, owned: bool, write_header: bool) -> None:
        self._stream = stream
        self._fmt = fmt
        self._owned = owned
        self._synced = time.monotonic()
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")
        if write_header and fmt == "csv":
            self._emit_csv(list(CSV_COLUMNS))

    @property
    def resumable(self) -> bool:
        """True when writing to a file (which ``--resume`` can continue)."""
        return self._owned

    def write(self, result: Result) -> None:
        """Append ``result`` as one line."""
        data = row(result)
        if self._fmt == "csv":
            self._emit_csv(csv_row(data))
        else:
            self._emit(json_line(data))

    def _emit_csv(self, values: list[str]) -> None:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerow(values)
        self._emit(self._buffer.getvalue())

    def _emit(self, line: str) -> None:
        self._stream.write(line)
        self._stream.flush()
        if self._owned and time.monotonic() - self._synced >= SYNC_SECONDS:
            self.sync()

    def sync(self) -> None:
        """Flush and ``fsync`` (files only)."""
        self._stream.flush()
        if self._owned:
            os.fsync(self._stream.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        """Flush, ``fsync`` and close the file. Safe to call twice."""
        if self._stream.closed:
            return
        self.sync()
        if self._owned:
            self._stream.close()

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_writer(out: str | None, *, resume: bool = False,
                force: bool = False) -> tuple[BatchWriter, set[Key]]:
    """Open the output for a batch run; return the writer and the keys already done.

    Args:
        out: The ``.jsonl`` / ``.csv`` path, or ``None`` for JSON lines on stdout.
        resume: Keep an existing file, cut a partial last line, skip what it holds.
        force: Overwrite an existing file.

    Raises:
        ConfigError: ``out`` exists and neither ``resume`` nor ``force`` is set,
            both are set, ``resume`` without ``out``, or a bad suffix.
    """
    if resume and force:
        raise ConfigError("--resume and --force exclude each other")
    if out is None:
        if resume:
            raise ConfigError("--resume needs --out (the file to continue)")
        return BatchWriter(sys.stdout, "jsonl", owned=False, write_header=False), set()
    fmt = format_of(out)
    exists = os.path.exists(out) and os.path.getsize(out) > 0
    if exists and not (resume or force):
        raise ConfigError(f"--out {out} exists; pass --resume to continue it or --force to "
                          "overwrite it")
    done: set[Key] = recover(out, fmt) if exists and resume else set()
    stream = open(out, "a" if resume else "w", encoding="utf-8", newline="")  # noqa: SIM115
    empty = stream.tell() == 0
    return BatchWriter(stream, fmt, owned=True, write_header=empty), done


def recover(path: str, fmt: str) -> set[Key]:
    """Cut a partial last line off ``path`` and return the keys of its complete rows.

    Raises:
        ConfigError: a line other than the last is not a row of this format.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    end = data.rfind(b"\n") + 1  # everything after the last newline is a partial line
    # split on "\n" only: a JSON string may hold U+2028, which splitlines() would cut at
    lines = data[:end].decode("utf-8", errors="replace").split("\n")[:-1]
    keys = _csv_keys(path, lines) if fmt == "csv" else _jsonl_keys(path, lines)
    if end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
    return keys


def _jsonl_keys(path: str, lines: Iterable[str]) -> set[Key]:
    keys: set[Key] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            keys.add(key_of_row(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{number}: not an edgekit batch row ({exc}); "
                              "use --force to start over") from exc
    return keys


def _csv_keys(path: str, lines: list[str]) -> set[Key]:
    if not lines:
        return set()
    rows = csv.reader(lines)
    header = next(rows)
    if tuple(header) != CSV_COLUMNS:
        raise ConfigError(f"{path}: the header is not edgekit's batch CSV header; "
                          "use --force to start over")
    keys: set[Key] = set()
    for number, values in enumerate(rows, 2):
        if len(values) != len(CSV_COLUMNS):
            raise ConfigError(f"{path}:{number}: expected {len(CSV_COLUMNS)} columns, "
                              f"got {len(values)}; use --force to start over")
        frame = values[1]
        keys.add((values[0], int(frame) if frame else None))
    return keys


def label_of(result: Result) -> list[str]:
    """The labels a result counts toward in the summary (top class, or each detection)."""
    if not isinstance(result, (Prediction, FrameResult)):
        return []
    pred = result.prediction if isinstance(result, FrameResult) else result
    if pred.task == "classify" and pred.classes:
        top = pred.classes[0]
        return [top.label if top.label is not None else str(top.id)]
    return [d.label if d.label is not None else str(d.id) for d in pred.detections]
