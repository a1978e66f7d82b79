"""A labelled image folder: one sub-folder of images per class (or ``train/ val/ test/`` splits of it).

Only file names are read here (no decoding, no TensorFlow), so a folder that cannot be trained
or evaluated on is refused in milliseconds: missing, empty, one class, a class with a single
image. :func:`folder_warnings` names the folders of a dataset that will train badly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError

__all__ = [
    "IMAGE_SUFFIXES",
    "SPLIT_NAMES",
    "Sample",
    "check_trainable",
    "class_sizes",
    "folder_warnings",
    "scan",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SPLIT_NAMES = ("train", "val", "test")
IMBALANCE = 20  # largest / smallest class above which a warning names both
FEW_IMAGES = 10  # a class with fewer images than this is named in a warning


@dataclass(frozen=True, slots=True)
class Sample:
    """One image file (path relative to the dataset root) and its class index."""

    path: str
    label: int


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan_tree(folder: Path, root: Path, classes: Sequence[str]) -> tuple[list[Sample], list[tuple[str, str]]]:
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    for index, name in enumerate(classes):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file()):
            if path.name.startswith("."):
                continue
            rel = str(path.relative_to(root))
            if path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(Sample(rel, index))
            else:
                skipped.append((rel, f"not an image file ({path.suffix or 'no suffix'})"))
    return samples, skipped


def scan(root: str | Path) -> tuple[tuple[str, ...], dict[str, list[Sample]], list[tuple[str, str]]]:
    """Find classes and image files: ``(classes, samples per split, skipped)``.

    The split is ``"all"`` for a plain class-per-folder tree, else ``train``/``val``/``test``.

    Raises:
        DatasetError: the folder is missing, not a folder, or has no class folders.
    """
    base = Path(root)
    if not base.exists():
        raise DatasetError(f"{base}: no such folder")
    if not base.is_dir():
        raise DatasetError(f"{base}: not a folder (expected one sub-folder of images per class)")
    base = base.resolve()
    predefined = (base / "train").is_dir()
    trees = {s: base / s for s in SPLIT_NAMES if (base / s).is_dir()} if predefined else {"all": base}
    names = sorted({d.name for tree in trees.values() for d in _class_dirs(tree)})
    if not names:
        raise DatasetError(f"{base}: empty, no class folders (expected {base}/<class>/<image>)")
    per_split: dict[str, list[Sample]] = {}
    skipped: list[tuple[str, str]] = []
    for split, tree in trees.items():
        per_split[split], bad = _scan_tree(tree, base, names)
        skipped += bad
    return tuple(names), per_split, skipped


def class_sizes(classes: Sequence[str], per_split: dict[str, list[Sample]]) -> dict[str, int]:
    """Image files per class over every split."""
    sizes = dict.fromkeys(classes, 0)
    for samples in per_split.values():
        for sample in samples:
            sizes[classes[sample.label]] += 1
    return sizes


def check_trainable(root: str | Path) -> tuple[tuple[str, ...], dict[str, int]]:
    """Refuse, from file names alone, a folder no classifier can be trained on.

    Returns:
        The class names and the number of image files of each.

    Raises:
        DatasetError: missing or empty folder, a single class, a class without image files,
            or a class with one image (it cannot be both trained and validated on).
    """
    classes, per_split, _ = scan(root)
    base = Path(root).resolve()
    if len(classes) < 2:
        raise DatasetError(f"{base}: only one class ({classes[0]!r}); a classifier needs at least two "
                           f"class folders")
    sizes = class_sizes(classes, per_split)
    empty = [name for name, n in sizes.items() if n == 0]
    if empty:
        raise DatasetError(f"{base}: class folder(s) with no image files: {', '.join(empty)}")
    single = [name for name, n in sizes.items() if n == 1]
    if single and "val" not in per_split:
        raise DatasetError(f"{base}: class folder(s) with a single image: {', '.join(single)} (each class "
                           "needs at least 2, one to train on and one to validate on)")
    return classes, sizes


def folder_warnings(root: str | Path, sizes: dict[str, int]) -> list[str]:
    """One line per problem that will not stop training but will hurt it, naming the folders."""
    base = Path(root).resolve()
    out = []
    few = sorted(name for name, n in sizes.items() if n < FEW_IMAGES)
    if few:
        listed = ", ".join(f"{name} ({sizes[name]})" for name in few)
        out.append(f"{base}: few images in {listed}; aim for {FEW_IMAGES}+ per class, ideally 50+")
    big = max(sizes, key=lambda k: sizes[k])
    small = min(sizes, key=lambda k: sizes[k])
    if sizes[small] and sizes[big] / sizes[small] > IMBALANCE:
        out.append(f"{base}: unbalanced classes, {big} has {sizes[big]} images and {small} only {sizes[small]} "
                   f"({sizes[big] / sizes[small]:.0f}:1); class weights compensate, but accuracy will mostly "
                   f"reflect {big}; add images of {small}")
    return out
