"""Noticing that a model file was replaced, by polling ``stat`` (no inotify, no dependency).

Deployments replace a model atomically: write ``model.tflite.tmp``, then rename it
over ``model.tflite``; the path then has a new inode. Others copy over the file
in place (same inode, new size or mtime), or delete it and write a new one. A
change of any of these is reported once the file has stayed the same for one
more poll, so that a copy in progress is not loaded half-written. A ``stat``
costs a few microseconds: polling twice a second is free next to inference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["FileState", "FileWatcher", "file_state"]


@dataclass(frozen=True, slots=True)
class FileState:
    """What ``stat`` says about a file: enough to tell that it changed."""

    device: int
    inode: int
    size: int
    mtime_ns: int


def file_state(path: str) -> FileState | None:
    """The file's :class:`FileState`, or ``None`` when it does not exist (or is not a file)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return FileState(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class FileWatcher:
    """Reports a change of one file, once, when the new file is complete.

    Args:
        path: The file to watch (it may be missing for a while: a delete-then-
            write deployment; nothing is reported until it is back).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen = file_state(path)
        self._pending: FileState | None = None

    def reset(self, path: str) -> None:
        """Watch ``path`` from its current state on (after a model was loaded from it)."""
        self.path = path
        self._seen = file_state(path)
        self._pending = None

    def poll(self) -> bool:
        """True when the file changed since the last report and is complete now."""
        now = file_state(self.path)
        if now is None or now == self._seen:
            self._pending = None
            return False
        if now != self._pending:  # changed since the last poll: wait until it stays put
            self._pending = now
            return False
        self._seen, self._pending = now, None
        return True
