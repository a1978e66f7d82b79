"""Real test inputs for batch: a folder of a few hundred images plus corrupt files, and a video.

The folder mixes scikit-learn's handwritten digits (file names carry the true
digit, so a row can be checked against its own input) and scikit-image's
photos, resized and written as JPEG, PNG, BMP and WebP, in nested folders,
with a truncated JPEG, random bytes named ``.jpg``, a ``.txt`` and an empty
file mixed in.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import zoo  # noqa: E402

FORMATS = (".png", ".jpg", ".bmp", ".webp")
CORRUPT = {
    "digits/d0100_truncated.jpg": "ImageUnreadable",
    "digits/d0101_random.jpg": "ImageUnreadable",
    "notes.txt": "ImageUnreadable",
    "photos/empty.png": "ImageUnreadable",
}
DIGIT_COUNT = 240


@dataclass(frozen=True)
class ImageFolder:
    """The test folder: its root and every file's path relative to it, in expected order."""

    root: Path
    files: tuple[str, ...]
    digit_labels: dict[str, int]

    def paths(self) -> list[str]:
        return [os.path.join(str(self.root), f) for f in self.files]


def write_digit(path: Path, image: np.ndarray, size: int = 48) -> None:
    import cv2

    big = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    assert cv2.imwrite(str(path), big), path


def build_folder(root: Path, digit_count: int = DIGIT_COUNT) -> ImageFolder:
    import cv2

    x, y = zoo.digits()
    (root / "digits" / "more").mkdir(parents=True)
    (root / "photos").mkdir()
    labels: dict[str, int] = {}
    for i in range(digit_count):
        sub = "digits/more" if i >= digit_count // 2 else "digits"
        rel = f"{sub}/d{i:04d}_{int(y[i])}{FORMATS[i % len(FORMATS)]}"
        write_digit(root / rel, x[i])
        labels[rel] = int(y[i])
    for i, photo in enumerate(zoo.skimage_photos()):
        for j, (w, h) in enumerate(((160, 120), (97, 211))):
            rel = f"photos/p{i}_{j}{FORMATS[(i + j) % len(FORMATS)]}"
            assert cv2.imwrite(str(root / rel), cv2.resize(photo, (w, h)))
    good = (root / "photos" / "p0_0.png").read_bytes()
    ok, jpg = cv2.imencode(".jpg", cv2.resize(zoo.skimage_photos()[1], (320, 240)))
    assert ok
    (root / "digits" / "d0100_truncated.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 3])
    (root / "digits" / "d0101_random.jpg").write_bytes(np.random.default_rng(0).bytes(4000))
    (root / "notes.txt").write_text("not an image\n")
    (root / "photos" / "empty.png").write_bytes(b"")
    (root / ".hidden.png").write_bytes(good)  # hidden files are skipped by folder walks
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                   if p.is_file() and not p.name.startswith("."))
    return ImageFolder(root, tuple(files), labels)


def write_video(path: Path, frames: int, size: tuple[int, int] = (64, 64)) -> list[int]:
    """An mp4 whose frame i shows the i-th scikit-learn digit, scaled up; returns the digits."""
    import cv2

    x, y = zoo.digits()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    assert writer.isOpened()
    for i in range(frames):
        grey = cv2.resize(x[i], size, interpolation=cv2.INTER_LINEAR)
        writer.write(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    writer.release()
    return [int(v) for v in y[:frames]]


