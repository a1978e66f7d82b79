"""Folders that actions write to: atomic files, retention, and a guard against a full disk.

Every file is written to a hidden temporary name in the same folder, flushed to
disk, then renamed: a reader (or a process killed half-way) never sees half a
file under the real name. Temporary files a killed run left behind are removed
when the folder is opened again.

Retention only ever deletes files whose names edgekit itself gives
(``20250101-120000-123_<rule>_f000042.jpg``), oldest first, never anything else
in the folder. When the disk is full (``ENOSPC``/``EDQUOT``, or less free space
than the guard's floor) writing stops with a ``storage_full`` event and the
stream goes on; it resumes, with ``storage_ok``, once space is back.
"""

from __future__ import annotations

import collections
import errno
import logging
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..results import StreamEvent

__all__ = ["Retention", "Storage", "atomic_write", "file_stamp", "is_disk_full", "temp_path"]

log = logging.getLogger("edgekit.actions")

TMP_PREFIX = ".tmp-"
RECHECK_S = 10.0  # how often a stopped folder looks for free space again
OWN_NAME = re.compile(r"^\d{8}-\d{6}-\d{3}_[a-z0-9_]+_f\d+\.(?:jpg|mkv)$")


def file_stamp(ts: float) -> str:
    """``ts`` as the local-time prefix of a file name: ``20250101-120000-123``."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(ts)) + f"-{int(ts * 1000) % 1000:03d}"


def temp_path(path: Path) -> Path:
    """The hidden name ``path`` is written under before it is renamed into place."""
    return path.with_name(TMP_PREFIX + path.name)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Raises:
        OSError: The write failed (the temporary file is removed).
    """
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says the disk (or the user's quota) is full."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True, slots=True)
class Retention:
    """How much a folder may keep; the oldest files go first. ``None``: no limit.

    Attributes:
        max_files: Files at most.
        max_mb: Megabytes (10⁶ bytes) at most, all files together.
        max_days: Files older than this many days are deleted.

    Raises:
        ConfigError: A limit that is not positive.
    """

    max_files: int | None = None
    max_mb: float | None = None
    max_days: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_files", "max_mb", "max_days"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"retention {name} must be > 0, got {value}")

    def enforce(self, folder: Path, now: float | None = None) -> list[Path]:
        """Delete what is over the limits in ``folder``; return the deleted paths."""
        if self.max_files is None and self.max_mb is None and self.max_days is None:
            return []
        now = time.time() if now is None else now
        files = []
        for entry in os.scandir(folder):
            if OWN_NAME.match(entry.name) and entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                files.append((entry.name, stat.st_size, stat.st_mtime))
        files.sort()  # names start with the time stamp: oldest first
        total = sum(size for _, size, _ in files)
        doomed = []
        for index, (name, size, mtime) in enumerate(files):
            left = len(files) - index
            if (self.max_files is not None and left > self.max_files) \
                    or (self.max_mb is not None and total > self.max_mb * 1e6) \
                    or (self.max_days is not None and now - mtime > self.max_days * 86400):
                doomed.append(folder / name)
                total -= size
        for path in doomed:
            path.unlink(missing_ok=True)
        return doomed


class Storage:
    """A folder an action writes to, with its retention and its full-disk guard.

    Thread-safe: :meth:`writable` is asked on the stream's thread, files are
    written on the action's own thread.

    Args:
        folder: Created if missing.
        retention: Limits applied after every file.
        min_free_mb: Writing stops when the disk has less free space than this.
        what: What is written, for events and logs (``"snapshots"``).

    Raises:
        ConfigError: The folder cannot be created or is not writable.
    """

    def __init__(self, folder: str | os.PathLike[str], retention: Retention | None = None,
                 min_free_mb: float = 50.0, what: str = "snapshots") -> None:
        self.folder = Path(folder)
        self.retention = retention or Retention()
        self.min_free_mb = min_free_mb
        self.what = what
        self.written = 0
        self.deleted = 0
        self._full = False
        self._checked = 0.0
        self._lock = threading.Lock()
        self._events: collections.deque[StreamEvent] = collections.deque(maxlen=16)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{what} folder {str(folder)!r} cannot be created: {exc.strerror}") from None
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise ConfigError(f"{what} folder {str(folder)!r} is not writable")
        for stale in self.folder.rglob(TMP_PREFIX + "*"):  # left by a run that was killed
            if stale.is_file():
                stale.unlink(missing_ok=True)

    @property
    def full(self) -> bool:
        """Whether writing is stopped because the disk is full."""
        return self._full

    def free_mb(self) -> float:
        """Free space on the folder's disk, in megabytes."""
        return shutil.disk_usage(self.folder).free / 1e6

    def writable(self, ts: float) -> bool:
        """Whether a file may be announced now; stops (or resumes) on the free space."""
        with self._lock:
            if self._full and time.monotonic() - self._checked < RECHECK_S:
                return False
            self._checked = time.monotonic()
            try:
                free = self.free_mb()
            except OSError:
                free = 0.0
            if free < self.min_free_mb:
                self._stop(ts, f"{free:.0f} MB free on the disk of {self.folder}, "
                               f"less than {self.min_free_mb:g} MB")
            elif self._full:
                self._full = False
                self._events.append(StreamEvent("storage_ok", ts, "", f"{self.what} resumed: "
                                                f"{free:.0f} MB free in {self.folder}"))
                log.warning("%s resumed: %.0f MB free in %s", self.what, free, self.folder)
            return not self._full

    def failed(self, error: OSError, ts: float) -> None:
        """A write failed: a full disk stops writing (with an event); other errors are logged."""
        if is_disk_full(error):
            with self._lock:
                self._checked = time.monotonic()
                self._stop(ts, f"{self.folder}: {error.strerror}")
        else:
            log.warning("%s: cannot write in %s: %s", self.what, self.folder, error)

    def _stop(self, ts: float, why: str) -> None:
        if self._full:
            return
        self._full = True
        message = f"{self.what} stopped: {why}; inference goes on"
        self._events.append(StreamEvent("storage_full", ts, "", message))
        log.warning("%s", message)

    def done(self) -> None:
        """A file is in place: count it, then apply the retention."""
        self.written += 1
        try:
            self.deleted += len(self.retention.enforce(self.folder))
        except OSError as exc:
            log.warning("%s: retention in %s failed: %s", self.what, self.folder, exc)

    def drain_events(self) -> list[StreamEvent]:
        """The ``storage_full`` / ``storage_ok`` events since the last call."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events
