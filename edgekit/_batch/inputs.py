"""What a batch runs over: expanding INPUTS into a stream of entries, and reading videos.

INPUTS are expanded lazily and deterministically, so that a list of millions of
files never has to sit in memory and a resumed run sees the same order:

- an existing file is one entry (a *video* when its suffix is a video suffix,
  an *image* otherwise — a file that is not an image becomes an error row later);
- an existing folder is walked recursively, each folder's entries sorted by
  name; hidden entries (names starting with ``.``) are skipped and symlinked
  folders are not followed (no loops);
- anything else containing ``*``, ``?`` or ``[`` is a glob (``**`` recursive),
  its matches sorted; a glob matching nothing, or a path that does not exist,
  is a *missing* entry (an error row, the run goes on);
- ``--list FILE`` holds one such input per line (``#`` comments and blank lines
  skipped, ``-`` reads standard input); relative paths are relative to the
  current folder.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError, SourceOpenError

__all__ = [
    "VIDEO_SUFFIXES",
    "Entry",
    "VideoFrame",
    "count_items",
    "expand",
    "read_list",
    "video_frames",
]

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".3gp", ".ts", ".mts")
_GLOB_CHARS = ("*", "?", "[")


@dataclass(frozen=True, slots=True)
class Entry:
    """One expanded input.

    Attributes:
        path: The path as written in the output (``"input"``).
        kind: ``"image"``, ``"video"`` or ``"missing"``.
        message: Why a ``"missing"`` entry has no file.
    """

    path: str
    kind: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """A video frame: its index in the video, its position in seconds, the image.

    ``image`` is ``None`` when the container had the frame but it could not be decoded.
    """

    index: int
    position: float
    image: np.ndarray | None


def is_video(path: str) -> bool:
    """True when ``path`` has a video suffix."""
    return os.path.splitext(path)[1].lower() in VIDEO_SUFFIXES


def _file_entry(path: str) -> Entry:
    return Entry(path, "video" if is_video(path) else "image")


def _walk(folder: str) -> Iterator[Entry]:
    try:
        with os.scandir(folder) as it:
            entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as exc:
        yield Entry(folder, "missing", f"{folder}: cannot list folder: {exc.strerror or exc}")
        return
    for entry in entries:
        path = os.path.join(folder, entry.name)
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(path)
        elif entry.is_file():
            yield _file_entry(path)


def _expand_one(spec: str) -> Iterator[Entry]:
    if os.path.isdir(spec):
        yield from _walk(spec)
    elif os.path.exists(spec):
        yield _file_entry(spec)
    elif any(c in spec for c in _GLOB_CHARS):
        matches = sorted(glob.iglob(spec, recursive=True))
        if not matches:
            yield Entry(spec, "missing", f"{spec}: pattern matches no file")
        for match in matches:
            yield from (_walk(match) if os.path.isdir(match) else [_file_entry(match)])
    else:
        yield Entry(spec, "missing", f"{spec}: no such file")


def read_list(path: str) -> Iterator[str]:
    """The inputs listed in ``path`` (one per line; ``-`` is standard input).

    Raises:
        ConfigError: the list file cannot be opened.
    """
    if path == "-":
        yield from _list_lines(sys.stdin)
        return
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below, lines stream
    except OSError as exc:
        raise ConfigError(f"list_file {path}: {exc.strerror or exc}") from exc
    with handle:
        yield from _list_lines(handle)


def _list_lines(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


def expand(inputs: Iterable[str | os.PathLike[str]],
           list_file: str | None = None) -> Iterator[Entry]:
    """Expand INPUTS (then the ``--list`` file's lines) into entries, lazily, in order."""
    for spec in inputs:
        yield from _expand_one(os.fspath(spec))
    if list_file is not None:
        for spec in read_list(list_file):
            yield from _expand_one(spec)


def open_video(path: str) -> Any:
    """An opened ``cv2.VideoCapture``.

    Raises:
        SourceOpenError: OpenCV cannot open the file as a video.
    """
    import cv2

    if not os.path.isfile(path):
        raise SourceOpenError(f"{path}: no such file")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise SourceOpenError(f"{path}: OpenCV cannot open it as a video")
    return cap


def video_frames(path: str, every: int = 1,
                 skip: frozenset[int] = frozenset()) -> Iterator[VideoFrame]:
    """Decode every ``every``-th frame of a video file (frames 0, N, 2N, …), in order.

    Frames in ``skip`` (already done) are grabbed but not decoded into images.

    Raises:
        SourceOpenError: the file cannot be opened as a video.
        InputError: the video opened but not one frame could be read.
    """
    import cv2

    cap = open_video(path)
    index, read_any = 0, False
    try:
        while cap.grab():
            read_any = True
            if index % every == 0 and index not in skip:
                ok, image = cap.retrieve()
                image = image if ok and image is not None and image.size else None
                yield VideoFrame(index, cap.get(cv2.CAP_PROP_POS_MSEC) / 1e3, image)
            index += 1
    finally:
        cap.release()
    if not read_any:
        raise InputError(f"{path}: no frame could be decoded")


def count_items(entries: Iterable[Entry], every: int = 1) -> int:
    """How many rows ``entries`` will give (video frame counts from the container, approximate)."""
    total = 0
    for entry in entries:
        if entry.kind == "video":
            total += _video_rows(entry.path, every)
        else:
            total += 1
    return total


def _video_rows(path: str, every: int) -> int:
    import cv2

    cap = cv2.VideoCapture(path)
    try:
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
    return max(1, -(-frames // every)) if frames > 0 else 1
