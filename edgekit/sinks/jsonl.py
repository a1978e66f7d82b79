"""JSON lines: one object per result or event, flushed per line.

Each line is ``item.to_dict()`` (the DESIGN.md schema) written in one call and
flushed, so a process killed at any moment leaves only complete lines behind.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from .._jsonout import json_line
from ..errors import ConfigError
from ..results import StreamStats

__all__ = ["JsonLinesSink", "check_new_file", "open_new_file", "to_json_line"]


def to_json_line(item: Any) -> str:
    """``item.to_dict()`` as one compact, strict JSON line (non-finite numbers as ``null``)."""
    return json_line(item.to_dict())


def check_new_file(path: str | os.PathLike[str], force: bool, option: str) -> Path:
    """Refuse an existing ``path`` unless ``force``; check its folder exists.

    Raises:
        ConfigError: The file exists (and ``force`` is off), is a folder, or its
            folder does not exist.
    """
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{option} {str(path)!r} is a folder; give a file name")
    if target.exists() and not force:
        raise ConfigError(f"{option} {str(path)!r} already exists; pass --force to overwrite it")
    if not target.parent.is_dir():
        raise ConfigError(f"{option} {str(path)!r}: folder {str(target.parent)!r} does not exist")
    return target


def open_new_file(path: str | os.PathLike[str], force: bool, option: str = "--out") -> IO[str]:
    """Open ``path`` for writing text; an existing file needs ``force``.

    Without ``force`` the file is created exclusively (``"x"`` mode), so a file
    that appears between the check and the open is not overwritten either.

    Raises:
        ConfigError: See :func:`check_new_file`, or the file cannot be created.
    """
    target = check_new_file(path, force, option)
    try:
        return open(target, "w" if force else "x", encoding="utf-8")  # noqa: SIM115 - closed by the sink
    except FileExistsError:
        raise ConfigError(f"{option} {str(path)!r} already exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise ConfigError(f"{option} {str(path)!r} cannot be written: {exc.strerror}") from None


class JsonLinesSink:
    """Writes every result and event as one JSON line.

    Args:
        target: A path (opened with :func:`open_new_file`) or an open text stream
            (e.g. ``sys.stdout``; not closed by :meth:`close`).
        force: Overwrite an existing file.
        on_reader_gone: Called once, from the writing thread, when the reader of
            the stream went away (a broken pipe: ``edgekit run | head``); later
            lines are dropped. ``edgekit run`` stops there.

    Attributes:
        dropped: Lines that could not be written (the reader of a pipe went away, disk full).
    """

    def __init__(self, target: str | os.PathLike[str] | IO[str] | None = None,
                 force: bool = False, on_reader_gone: Callable[[], Any] | None = None) -> None:
        if target is None or target == "-":
            self._stream: IO[str] = sys.stdout
            self._owned = False
            self.name = "jsonl:stdout"
        elif isinstance(target, (str, os.PathLike)):
            self._stream = open_new_file(target, force, "--out")
            self._owned = True
            self.name = f"jsonl:{os.fspath(target)}"
        else:
            self._stream = target
            self._owned = False
            self.name = "jsonl:stream"
        self.dropped = 0
        self.lines = 0
        self._broken = False
        self._on_reader_gone = on_reader_gone

    def write(self, item: Any, frame: np.ndarray | None = None,
              stats: StreamStats | None = None) -> None:
        """Write ``item.to_dict()`` as one line and flush."""
        if self._broken:
            self.dropped += 1
            return
        line = to_json_line(item)
        try:
            self._stream.write(line)
            self._stream.flush()
            self.lines += 1
        except (BrokenPipeError, ValueError):  # reader gone / stream closed under us
            self._broken = True
            self.dropped += 1
            if self._stream is sys.stdout:
                # Python would print an error when flushing stdout at exit.
                with contextlib.suppress(OSError, ValueError):
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, sys.stdout.fileno())
                    os.close(devnull)
            if self._on_reader_gone is not None:
                self._on_reader_gone()
        except OSError:  # e.g. disk full: this line is lost, later ones may fit
            self.dropped += 1

    def close(self) -> None:
        """Flush, fsync and close a file this sink opened (streams are only flushed)."""
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()
            if self._owned:
                os.fsync(self._stream.fileno())
        if self._owned:
            self._stream.close()

    def __enter__(self) -> JsonLinesSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
