"""``Snapshots``: a JPEG (and optionally a clip) for each rule that turns on.

It is a sink: the stream hands it every result with its frame and every event,
behind a bounded queue, so encoding and disk writes never hold up inference.
Only :meth:`Snapshots.announce` runs on the stream's thread, when a rule event
is made: it decides which files the event will produce (none when the disk is
full) and names them in the event, so sinks, MQTT and ``--exec`` see them. With
several ``Snapshots`` in one stream, each writes its own files and the event
names the first one's.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..results import FrameResult, StreamEvent, StreamStats
from .clips import ClipPlan, Clips, ClipWriter, JpegRing
from .rules import slug
from .storage import Retention, Storage, atomic_write, file_stamp

__all__ = ["Snapshots"]

log = logging.getLogger("edgekit.actions")

MAX_DECIDED = 256


class Snapshots:
    """Writes a snapshot, and with ``clips`` a clip, when a rule turns on.

    Files are named ``<time>_<rule>_f<frame>.jpg`` / ``.mkv`` in ``folder``, written
    atomically, and announced in the rule's event (``snapshot``, ``clip``).

    Args:
        folder: Where the files go (created if missing).
        annotate: Draw the result (boxes, labels, scores) on the snapshot; ``False``:
            the frame as the camera saw it. Clips are never annotated.
        clips: Also record clips with pre-roll and post-roll (see :class:`Clips`).
        retention: Limits on the folder (see :class:`Retention`).
        min_free_mb: Stop (with a ``storage_full`` event) below this much free disk.
        quality: JPEG quality of snapshots, 1..100.

    Attributes:
        snapshots, clips_written: Files written so far.
        buffer_bytes, peak_buffer_bytes: Memory of the pre-roll buffer now and at most.

    Raises:
        ConfigError: The folder cannot be created or written, or an option is out of range.
    """

    queue_size = 16  # results (with frames) that may wait for this sink

    def __init__(self, folder: str | os.PathLike[str], *, annotate: bool = True,
                 clips: Clips | None = None, retention: Retention | None = None,
                 min_free_mb: float = 50.0, quality: int = 90) -> None:
        self.storage = Storage(folder, retention, min_free_mb, "snapshots")
        self.folder = self.storage.folder
        self.name = f"snapshots:{os.fspath(folder)}"
        self.annotate, self.clip_options, self.quality = annotate, clips, quality
        self.snapshots = self.clips_written = 0
        self._announced = ClipPlan(clips) if clips else None  # the stream's thread
        self._plan = ClipPlan(clips) if clips else None  # this sink's thread
        self._ring = JpegRing(clips.pre_roll, clips.fps, int(clips.max_buffer_mb * 1e6),
                              clips.quality) if clips else None
        self._writer: ClipWriter | None = None
        self._last: tuple[FrameResult, StreamStats | None] | None = None
        # (rule, frame, state) → (snapshot, clip): decided on the stream's thread, done on this one
        self._decided: dict[tuple[str | None, int | None, str | None], tuple[str | None, str | None]] = {}

    @property
    def buffer_bytes(self) -> int:
        return self._ring.bytes if self._ring else 0

    @property
    def peak_buffer_bytes(self) -> int:
        return self._ring.peak_bytes if self._ring else 0

    # -- the stream's thread ------------------------------------------------------------
    def announce(self, event: StreamEvent) -> StreamEvent:
        """Decide the files ``event`` will produce and name them in it (cheap; no disk writes)."""
        if event.event != "rule" or event.rule is None:
            return event
        snapshot = clip = None
        if event.state == "off":
            clip = self._announced.off(event.rule, event.ts) if self._announced else None
        elif self.storage.writable(event.ts):
            stem = f"{file_stamp(event.ts)}_{slug(event.rule)}_f{event.frame or 0:06d}"
            snapshot = str(self.folder / f"{stem}.jpg")
            clip = self._announced.on(event.rule, event.ts, str(self.folder / f"{stem}.mkv"))[0] \
                if self._announced else None
        if len(self._decided) >= MAX_DECIDED:  # events this sink never received (dropped)
            self._decided.pop(next(iter(self._decided)))
        self._decided[(event.rule, event.frame, event.state)] = (snapshot, clip)
        return dataclasses.replace(event, snapshot=event.snapshot or snapshot, clip=event.clip or clip)

    def drain_events(self) -> list[StreamEvent]:
        """Events of this sink for the stream to send on (``storage_full``, ``storage_ok``)."""
        return self.storage.drain_events()

    # -- this sink's thread -------------------------------------------------------------
    def write(self, item: Any, frame: np.ndarray | None = None,
              stats: StreamStats | None = None) -> None:
        """Buffer a result's frame, or act on a rule event (see the class)."""
        if isinstance(item, FrameResult):
            self._last = (item, stats)
            if frame is not None:
                self._frame(item.ts, frame)
        elif isinstance(item, StreamEvent) and item.event == "rule":
            snapshot, clip = self._decided.pop((item.rule, item.frame, item.state), (None, None))
            if snapshot and frame is not None:
                self._snapshot(item, snapshot, frame)
            if clip and self._plan is not None:
                self._clip_event(item, clip)

    def _snapshot(self, event: StreamEvent, path: str, frame: np.ndarray) -> None:
        import cv2

        image = frame
        if self.annotate and self._last is not None and self._last[0].frame == event.frame:
            from ..sinks.overlay import annotate

            image = annotate(frame, *self._last)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            log.warning("snapshot %s: the frame could not be encoded", path)
            return
        try:
            atomic_write(Path(path), data.tobytes())
        except OSError as exc:
            self.storage.failed(exc, event.ts)
            return
        self.snapshots += 1
        self.storage.done()

    def _frame(self, ts: float, image: np.ndarray) -> None:
        if self._ring is None or self._plan is None:
            return
        if self._writer is not None and not self._plan.open_at(ts):
            self._finish()
        if not self._ring.wants(ts):
            return
        kept = self._ring.add(ts, image)
        if kept is not None and self._writer is not None:
            self._add(kept[1], kept[2], ts)

    def _add(self, jpeg: bytes, size: tuple[int, int], ts: float) -> None:
        assert self._writer is not None
        try:
            self._writer.add(jpeg, size)
        except OSError as exc:
            self._writer.abort()
            self._writer = None
            self.storage.failed(exc, ts)

    def _clip_event(self, event: StreamEvent, clip: str) -> None:
        assert self._plan is not None and self._ring is not None and self.clip_options is not None
        if event.state == "off":
            self._plan.off(event.rule or "", event.ts)
            return
        path, new = self._plan.on(event.rule or "", event.ts, clip)
        if not new:
            return
        self._finish()
        if self.storage.full:
            return
        frames = self._ring.since(event.ts - self.clip_options.pre_roll)
        if not frames:
            return
        from ..sinks.video import estimate_fps

        fps = min(self.clip_options.fps, estimate_fps([f[0] for f in frames]))
        try:
            self._writer = ClipWriter(Path(path), fps, frames[-1][2])
        except OSError as exc:
            self.storage.failed(exc, event.ts)
            return
        for _, jpeg, size in frames:
            if self._writer is not None:
                self._add(jpeg, size, event.ts)

    def _finish(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.finish()
        except OSError as exc:
            self.storage.failed(exc, time.time())
            return
        self.clips_written += 1
        self.storage.done()

    def close(self) -> None:
        """Finish the clip being recorded (it plays, up to the last frame received)."""
        self._finish()
        if self._ring is not None:
            log.info("%s: %d snapshots, %d clips; pre-roll buffer peak %.1f MB", self.name,
                     self.snapshots, self.clips_written, self._ring.peak_bytes / 1e6)

    def __enter__(self) -> Snapshots:  # noqa: PYI034 - Python 3.10 has no typing.Self
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
