"""``Capture``: keep the frames the model was unsure about, ready to be sorted and retrained on.

A frame is *unsure* when its top score is in a band (e.g. 0.3–0.7), when the
best two classes are close (top-2 margin), or when the top label flickers
(changes often over the last frames). Unsure frames are saved as they came from
the camera (never annotated), at most one every ``interval`` seconds, until the
folder holds ``max_files`` images or ``max_mb`` megabytes::

    DIR/<the model's guess>/<time>_f<frame>.jpg     the image, filed under its guess
    DIR/.meta/<time>_f<frame>.json                  what the model said, and why it was kept

A person moves the wrongly guessed images into the right class folders; the
folder is then an image-folder dataset ``edgekit train`` reads as it is (hidden
folders such as ``.meta`` are not classes). The sidecars stay where they are
when images move.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .._jsonout import dumps
from ..errors import ConfigError
from ..results import FrameResult, Prediction, StreamEvent, StreamStats
from .storage import TMP_PREFIX, Storage, atomic_write, file_stamp

__all__ = ["Capture", "class_folder", "unsure_reasons"]

log = logging.getLogger("edgekit.actions")

META = ".meta"
SPLIT_NAMES = ("train", "val", "test")  # folder names the trainer reads as splits, not classes


def class_folder(label: str | None) -> str:
    """A safe folder name for a label (no path separators, not hidden, not a split name)."""
    name = re.sub(r"[^\w .+-]+", "_", label or "").strip(" .") or "unknown"
    return f"{name}_" if name.lower() in SPLIT_NAMES else name


def _top_label(prediction: Prediction) -> str | None:
    top = prediction.top
    if top is None:
        return None
    return top.label if top.label is not None else str(top.id)


def unsure_reasons(prediction: Prediction, recent: collections.deque[str | None],
                   band: tuple[float, float], margin: float, flicker: int) -> list[str]:
    """Why ``prediction`` is unsure: ``"band"``, ``"margin"``, ``"flicker"`` (empty: it is not).

    ``recent`` holds the top labels of the last frames, this one last.
    """
    top = prediction.top
    if top is None:
        return []
    reasons = []
    if band[0] <= top.score <= band[1]:
        reasons.append("band")
    classes = prediction.classes
    if margin > 0 and len(classes) >= 2 and classes[0].score - classes[1].score < margin:
        reasons.append("margin")
    changes = sum(a != b for a, b in zip(recent, list(recent)[1:]))
    if flicker and changes >= flicker:
        reasons.append("flicker")
    return reasons


class Capture:
    """Saves unsure frames for retraining (see the module docstring).

    Args:
        folder: Where to save (created if missing; what is already there counts
            towards the limits).
        band: ``(low, high)``: a top score in this range is unsure.
        margin: A top-2 score difference below this is unsure (classifiers; 0: off).
        flicker: This many changes of the top label over the last ``window`` frames
            are unsure (0: off).
        window: Frames the flicker count looks at.
        interval: Seconds between two saved frames at least.
        max_files, max_mb: Capture stops (with a ``capture_full`` event) at this many
            images or megabytes in the folder.
        min_free_mb: Capture stops (``storage_full``) below this much free disk.
        quality: JPEG quality, 1..100.
        model: What to record as the model in the sidecars (e.g. its file name).

    Attributes:
        saved: Images saved by this run.

    Raises:
        ConfigError: An option out of range, or a folder that cannot be written.
    """

    queue_size = 4

    def __init__(self, folder: str | os.PathLike[str], *, band: tuple[float, float] = (0.3, 0.7),
                 margin: float = 0.1, flicker: int = 3, window: int = 10, interval: float = 2.0,
                 max_files: int = 1000, max_mb: float = 500.0, min_free_mb: float = 50.0,
                 quality: int = 95, model: str | None = None) -> None:
        low, high = band
        if not (0.0 <= low <= high <= 1.0):
            raise ConfigError(f"the capture band must be 0 <= low <= high <= 1, got {low}, {high}")
        if not (math.isfinite(margin) and 0.0 <= margin <= 1.0):
            raise ConfigError(f"the capture margin must be in [0, 1], got {margin}")
        if flicker < 0 or window < 2 or flicker >= window:
            raise ConfigError(f"flicker must be in 0..window-1 and window >= 2, got {flicker}, {window}")
        if interval < 0 or max_files < 1 or max_mb <= 0 or not 1 <= quality <= 100:
            raise ConfigError("capture: interval must be >= 0, max_files >= 1, max_mb > 0 and "
                              f"quality in 1..100 (got {interval}, {max_files}, {max_mb}, {quality})")
        self.storage = Storage(folder, None, min_free_mb, "capture")
        self.folder = self.storage.folder
        self.name = f"capture:{os.fspath(folder)}"
        self.band, self.margin, self.flicker, self.interval = (low, high), margin, flicker, interval
        self.max_files, self.max_bytes, self.quality, self.model = max_files, max_mb * 1e6, quality, model
        self.saved = 0
        self.files, self.bytes = _existing(self.folder)
        self._recent: collections.deque[str | None] = collections.deque(maxlen=window)
        self._last = -math.inf
        self._full = False
        self._events: collections.deque[StreamEvent] = collections.deque(maxlen=16)

    def write(self, item: Any, frame: np.ndarray | None = None,
              stats: StreamStats | None = None) -> None:
        """Look at one result; save its frame if it is unsure (and allowed now)."""
        if not isinstance(item, FrameResult) or frame is None or item.task not in ("classify", "detect"):
            return
        self._recent.append(_top_label(item.prediction))
        if self._full or item.ts - self._last < self.interval:
            return
        reasons = unsure_reasons(item.prediction, self._recent, self.band, self.margin, self.flicker)
        if not reasons or not self.storage.writable(item.ts):
            return
        if self.files >= self.max_files or self.bytes >= self.max_bytes:
            self._stop(item.ts)
            return
        self._last = item.ts
        self._save(item, frame, reasons)

    def _save(self, result: FrameResult, frame: np.ndarray, reasons: list[str]) -> None:
        import cv2

        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return
        guess = _top_label(result.prediction)
        stem = f"{file_stamp(result.ts)}_f{result.frame:06d}"
        image = Path(class_folder(guess)) / f"{stem}.jpg"
        sidecar = {"schema": "edgekit.capture/1", "image": image.as_posix(), "guess": guess,
                   "reasons": reasons, "model": self.model, "result": result.to_dict()}
        try:
            (self.folder / image.parent).mkdir(exist_ok=True)
            (self.folder / META).mkdir(exist_ok=True)
            atomic_write(self.folder / image, data.tobytes())
            atomic_write(self.folder / META / f"{stem}.json", (dumps(sidecar, indent=1) + "\n").encode())
        except OSError as exc:
            self.storage.failed(exc, result.ts)
            return
        self.saved += 1
        self.files += 1
        self.bytes += len(data)

    def _stop(self, ts: float) -> None:
        self._full = True
        message = (f"capture stopped: {self.folder} holds {self.files} images, {self.bytes / 1e6:.1f} MB "
                   f"(limits {self.max_files} images, {self.max_bytes / 1e6:g} MB); sort them out to go on")
        self._events.append(StreamEvent("capture_full", ts, "", message))
        log.warning("%s", message)

    def drain_events(self) -> list[StreamEvent]:
        """Events of this sink for the stream to send on (``capture_full``, ``storage_*``)."""
        events = []
        while self._events:  # appended on this sink's thread, taken on the stream's
            events.append(self._events.popleft())
        return events + self.storage.drain_events()

    def close(self) -> None:
        if self.saved:
            log.info("%s: %d unsure frames saved", self.name, self.saved)

    def __enter__(self) -> Capture:  # noqa: PYI034 - Python 3.10 has no typing.Self
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _existing(folder: Path) -> tuple[int, int]:
    """Images (count, bytes) already in a capture folder, outside hidden folders."""
    files = size = 0
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.lower().endswith(".jpg") and not name.startswith(TMP_PREFIX):
                files += 1
                size += os.path.getsize(os.path.join(root, name))
    return files, size

