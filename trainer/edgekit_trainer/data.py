"""Image folders → labelled samples → decoded arrays, with a seeded stratified split.

A dataset is a class-per-folder tree (``root/<class>/<image>``), or the same
tree under ``root/train``, ``root/val`` (and ``root/test``). Images are decoded
and resized by edgekit's own pre-processing (:func:`edgekit.preprocess.preprocess`),
so the trainer sees exactly the pixels the runtime will feed the exported model.
Files that are not images, or do not decode, are skipped and reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit._evaluate.folder import IMAGE_SUFFIXES, Sample, scan
from edgekit.errors import DatasetError, InputError
from edgekit.imagefile import read_image
from edgekit.preprocess import InputFormat, preprocess

__all__ = [
    "IMAGE_SUFFIXES",
    "Dataset",
    "ImageSpec",
    "Sample",
    "Split",
    "load_dataset",
    "read_split",
    "scan",
    "stratified_split",
]


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """How images become model inputs: size, channels (1 grey, 3 RGB), resize mode."""

    size: int
    channels: int = 3
    resize: str = "stretch"

    @property
    def color(self) -> str:
        return "gray" if self.channels == 1 else "rgb"

    def input_format(self) -> InputFormat:
        """The runtime's :class:`InputFormat` that yields raw ``uint8`` pixels."""
        return InputFormat(width=self.size, height=self.size, channels=self.channels,
                           dtype=np.uint8, color=self.color, resize=self.resize,
                           mean=(0.0,), std=(1.0,))


@dataclass(frozen=True, slots=True)
class Split:
    """Decoded images of one split: ``x`` is ``N×H×W×C`` ``uint8``, ``y`` class indices."""

    samples: tuple[Sample, ...]
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.samples)


@dataclass(frozen=True, slots=True)
class Dataset:
    """A decoded, split dataset.

    Attributes:
        root: The dataset folder (absolute).
        classes: Class names (folder names), sorted; the label of class ``i`` is ``classes[i]``.
        train, val, test: The splits (``test`` may be empty).
        skipped: ``(relative path, reason)`` of every file that was not used.
        predefined: ``True`` when the folder had its own ``train/``/``val/`` splits.
        fingerprint: SHA-256 over the used files' relative paths and contents.
        counts: Images per class of each split.
        warnings: Problems that do not stop training (e.g. a ``val/`` without some class).
    """

    root: str
    classes: tuple[str, ...]
    train: Split
    val: Split
    test: Split
    skipped: tuple[tuple[str, str], ...] = ()
    predefined: bool = False
    fingerprint: str = ""
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _fingerprint(root: Path, samples: Sequence[Sample]) -> str:
    digest = hashlib.sha256()
    for sample in sorted(samples, key=lambda s: s.path):
        digest.update(sample.path.encode() + b"\0")
        digest.update(hashlib.sha256((root / sample.path).read_bytes()).digest())
    return digest.hexdigest()


def decode(root: Path, samples: Sequence[Sample], spec: ImageSpec,
           workers: int = 4) -> tuple[Split, list[tuple[str, str]]]:
    """Decode and resize ``samples``; unreadable files are skipped and returned."""
    fmt = spec.input_format()

    def one(sample: Sample) -> np.ndarray | str:
        try:
            tensor, _ = preprocess(read_image(root / sample.path), fmt)
        except InputError as exc:
            return str(exc).replace(str(root / sample.path) + ": ", "")
        return tensor[0]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = list(pool.map(one, samples))
    kept = [(s, d) for s, d in zip(samples, decoded) if isinstance(d, np.ndarray)]
    skipped = [(s.path, f"unreadable: {d}") for s, d in zip(samples, decoded) if isinstance(d, str)]
    shape = (0, spec.size, spec.size, spec.channels)
    x = np.stack([d for _, d in kept]) if kept else np.zeros(shape, np.uint8)
    y = np.array([s.label for s, _ in kept], dtype=np.int64)
    return Split(tuple(s for s, _ in kept), x, y), skipped


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)``: about ``fraction`` of every class held out, seeded.

    A class with a single example stays entirely in ``keep``.
    """
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    held: list[int] = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n_held = round(len(idx) * fraction) if len(idx) > 1 else 0
        n_held = min(max(n_held, 1 if len(idx) > 1 else 0), len(idx) - 1)
        held += idx[:n_held].tolist()
        keep += idx[n_held:].tolist()
    return np.array(sorted(keep), dtype=np.int64), np.array(sorted(held), dtype=np.int64)


def _subset(split: Split, index: np.ndarray) -> Split:
    return Split(tuple(split.samples[i] for i in index), split.x[index], split.y[index])


def _missing(classes: Sequence[str], split: Split) -> list[str]:
    present = set(split.y.tolist())
    return [name for i, name in enumerate(classes) if i not in present]


def _check_splits(root: Path, classes: Sequence[str], train: Split, val: Split, predefined: bool,
                  skipped: Sequence[tuple[str, str]]) -> list[str]:
    """Every class must be trained on and (unless the user chose the split) validated on.

    Returns warnings for a user-made ``val/`` that lacks classes.
    """
    note = f" ({len(skipped)} files skipped as unreadable or not images)" if skipped else ""
    if len(classes) < 2:
        raise DatasetError(f"{root}: only one class ({classes[0]!r}); a classifier needs at least two")
    untrained = _missing(classes, train)
    if untrained:
        raise DatasetError(f"{root}: class folder(s) with no usable training images: "
                           f"{', '.join(untrained)}{note}")
    unchecked = _missing(classes, val)
    if unchecked and not predefined:
        raise DatasetError(f"{root}: class folder(s) with a single usable image, so none left to validate on: "
                           f"{', '.join(unchecked)}{note}; each class needs at least 2")
    if unchecked:
        return [f"{root}/val: no images of {', '.join(unchecked)}; their accuracy cannot be measured"]
    return []


def _counts(classes: Sequence[str], splits: dict[str, Split]) -> dict[str, dict[str, int]]:
    return {name: {c: int((s.y == i).sum()) for i, c in enumerate(classes)}
            for name, s in splits.items() if len(s)}


def load_dataset(root: str | Path, spec: ImageSpec, val_fraction: float = 0.2,
                 seed: int = 0) -> Dataset:
    """Scan, decode and split an image folder.

    Args:
        root: Class-per-folder tree, or one with ``train/``, ``val/`` (and ``test/``).
        spec: Input size, channels and resize mode.
        val_fraction: Share of each class held out for validation when the folder
            has no ``val/`` split.
        seed: Seed of the stratified split.

    Raises:
        DatasetError: missing/empty folder, one class, a class with no usable training
            images, or (with an automatic split) a class with a single usable image.
    """
    classes, per_split, skipped = scan(root)
    base = Path(root).resolve()
    decoded: dict[str, Split] = {}
    for name, samples in per_split.items():
        decoded[name], bad = decode(base, samples, spec)
        skipped += bad
    empty = Split((), np.zeros((0, spec.size, spec.size, spec.channels), np.uint8), np.zeros(0, np.int64))
    predefined = "train" in decoded
    pool = decoded.get("train", decoded.get("all", empty))
    user_val = predefined and len(decoded.get("val", empty)) > 0
    if user_val:
        train, val = pool, decoded["val"]
    else:
        keep, held = stratified_split(pool.y, val_fraction, seed)
        train, val = _subset(pool, keep), _subset(pool, held)
    test = decoded.get("test", empty)
    warnings = _check_splits(base, classes, train, val, user_val, skipped)
    used = train.samples + val.samples + test.samples
    splits = {"train": train, "val": val, "test": test}
    return Dataset(str(base), classes, train, val, test, tuple(skipped), predefined,
                   _fingerprint(base, used), _counts(classes, splits), tuple(warnings))


def read_split(root: str | Path, classes: Sequence[str], samples: Sequence[tuple[str, int]],
               spec: ImageSpec) -> Split:
    """Decode a split recorded in a run's ``split.json`` (files that vanished are skipped)."""
    base = Path(root)
    wanted = [Sample(p, int(label)) for p, label in samples if (base / p).is_file()]
    if not wanted:
        raise DatasetError(f"{base}: none of the recorded images exist any more; pass --data")
    split, _ = decode(base, wanted, spec)
    return split
