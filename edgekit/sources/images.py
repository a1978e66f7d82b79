"""Still images as a source: one file, a folder, or a glob pattern, in sorted order."""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import numpy as np

from ..errors import SourceOpenError
from ..imagefile import IMAGE_SUFFIXES, read_image

__all__ = ["ImageSource", "list_images"]


def list_images(spec: str) -> list[str]:
    """The image files ``spec`` names: a file, a folder (not recursive) or a glob, sorted.

    Raises:
        SourceOpenError: Nothing matches, or the folder holds no image.
    """
    if glob.has_magic(spec):
        paths = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
        if not paths:
            raise SourceOpenError(f"{spec}: no file matches this pattern")
        return paths
    path = Path(spec)
    if path.is_dir():
        paths = sorted(str(p) for p in path.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise SourceOpenError(f"{spec}: the folder holds no image ({', '.join(IMAGE_SUFFIXES)})")
        return paths
    if path.is_file():
        return [str(path)]
    raise SourceOpenError(f"{spec}: no such file or folder")


class ImageSource:
    """Reads images one by one (never live: each one is inferred once).

    An unreadable image raises :class:`~edgekit.errors.ImageUnreadable` from
    :meth:`read`; the stream counts it as a bad frame and goes on.

    Attributes:
        input: The path of the image :meth:`read` returned last.
        position: Its index in the list.
    """

    live = False

    def __init__(self, spec: str | os.PathLike[str]) -> None:
        self.spec = str(spec)
        self.name = self.spec
        self.paths: list[str] = []
        self.position = -1
        self.input: str | None = None

    def open(self) -> None:
        self.paths = list_images(self.spec)
        self.position = -1

    def read(self) -> tuple[np.ndarray, float] | None:
        if self.position + 1 >= len(self.paths):
            return None
        self.position += 1
        self.input = self.paths[self.position]
        return read_image(self.input), time.time()

    def close(self) -> None:
        self.paths = []
