"""Detection datasets on disk → images with their boxes, every label file checked.

Understood layouts (what labelling tools and dataset sites export):

- **YOLO**: ``images/`` + ``labels/`` (the label of ``…/images/x/a.jpg`` is
  ``…/labels/x/a.txt``), with ``train/`` ``val/`` (``valid/``) ``test/`` splits below
  them or above them (``train/images`` …), or none; class names from
  ``data.yaml`` (``names:`` list or mapping, ``path``/``train``/``val``/``test``
  entries as Ultralytics writes them) or ``classes.txt``. DATA may be the
  dataset folder, its YAML file, or one split's folder.
- **COCO JSON**: a ``.json`` file (images beside it or in ``images/``), a folder
  with ``annotations/instances_<split>.json``, or Roboflow's
  ``<split>/_annotations.coco.json``.

A label file that cannot be used (bad line, unknown class, coordinates outside
[0, 1], no image) leaves its image out; every such file is listed in
``skipped`` with the reason. An empty label file, or an image without one,
is an image without objects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ExtraMissing
from ..imagefile import IMAGE_SUFFIXES
from .cocojson import read_coco
from .yololabels import LabelProblem, parse_label_file

__all__ = ["BoxDataset", "BoxSample", "SPLITS", "load_box_dataset"]

SPLITS = ("train", "val", "test")
_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_YAML_NAMES = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")


@dataclass(frozen=True, slots=True)
class BoxSample:
    """One image and its objects.

    Attributes:
        image: Absolute path of the image file.
        boxes: ``M×4`` corners ``x1, y1, x2, y2`` normalized to the image size (float64).
        classes: ``M`` class indices (int64).
    """

    image: str
    boxes: np.ndarray
    classes: np.ndarray


@dataclass(frozen=True, slots=True)
class BoxDataset:
    """A detection dataset as read from disk.

    Attributes:
        root: The dataset folder (absolute).
        format: ``"yolo"`` or ``"coco"``.
        names: Class names; class ``i`` is ``names[i]``.
        splits: Samples per split: ``train``/``val``/``test``, or ``all`` when there are no splits.
        skipped: ``(file, reason)`` of every label file or image left out.
        notes: Counted facts worth a line in a summary (images without a label file, crowd boxes).
    """

    root: str
    format: str
    names: tuple[str, ...]
    splits: dict[str, tuple[BoxSample, ...]]
    skipped: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _label_of(image: Path) -> Path:
    """Ultralytics' rule: the last ``images`` folder in the path becomes ``labels``."""
    parts = image.parts
    if "images" in parts[:-1]:
        i = len(parts) - 1 - parts[:-1][::-1].index("images") - 1
        return Path(*parts[:i], "labels", *parts[i + 1:]).with_suffix(".txt")
    return image.with_suffix(".txt")


def _read_yolo_split(images: Sequence[Path], num_classes: int, skipped: list[tuple[str, str]],
                     where: str) -> tuple[tuple[BoxSample, ...], int]:
    """Samples of one split; returns them and the number of images without a label file."""
    samples, unlabelled, labelled = [], 0, 0
    for image in images:
        label = _label_of(image)
        if not label.is_file():
            unlabelled += 1
            samples.append(BoxSample(str(image), np.zeros((0, 4)), np.zeros(0, np.int64)))
            continue
        labelled += 1
        try:
            boxes, classes = parse_label_file(label, num_classes)
        except LabelProblem as exc:
            skipped.append((str(label), str(exc)))
            continue
        samples.append(BoxSample(str(image), boxes, classes))
    if images and not labelled:
        raise ConfigError(f"{where}: none of its {len(images)} images has a label file "
                          f"(looked for {_label_of(images[0])})")
    label_dirs = {_label_of(i).parent for i in images}
    stems = {_label_of(i) for i in images}
    for folder in sorted(label_dirs):
        for txt in sorted(folder.glob("*.txt")):
            if txt not in stems and txt.name != "classes.txt":
                skipped.append((str(txt), "label file without an image"))
    return tuple(samples), unlabelled


def _yaml(path: Path) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        raise ExtraMissing(f"reading {path.name}", "eval", "PyYAML") from None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML file ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'names' and 'train'/'val' entries")
    return data


def _names_from_yaml(data: dict[str, Any], path: Path) -> tuple[str, ...]:
    names = data.get("names")
    if isinstance(names, dict):
        try:
            ordered = sorted((int(k), str(v)) for k, v in names.items())
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: 'names' keys must be class ids 0, 1, …") from None
        if [k for k, _ in ordered] != list(range(len(ordered))):
            raise ConfigError(f"{path}: 'names' ids must be 0..{len(ordered) - 1} without gaps")
        return tuple(v for _, v in ordered)
    if isinstance(names, list) and names:
        return tuple(str(n) for n in names)
    raise ConfigError(f"{path}: 'names' must list the class names (a list, or a mapping id: name)")


def _names_near(folder: Path, given: Sequence[str] | None) -> tuple[str, ...]:
    """Class names from a ``data.yaml`` or ``classes.txt`` in ``folder`` or up to two levels above."""
    for place in (folder, folder.parent, folder.parent.parent):
        for name in _YAML_NAMES:
            if (place / name).is_file():
                return _names_from_yaml(_yaml(place / name), place / name)
        for txt in (place / "classes.txt", place / "labels" / "classes.txt"):
            if txt.is_file():
                names = tuple(x.strip() for x in txt.read_text(encoding="utf-8").splitlines() if x.strip())
                if names:
                    return names
    if given:
        return tuple(given)
    raise ConfigError(f"{folder}: no class names found: add a data.yaml with 'names:' or a classes.txt "
                      "(one name per line, in class-id order)")


def _yaml_sources(data: dict[str, Any], path: Path) -> tuple[Path, dict[str, list[Path]]]:
    root = Path(str(data.get("path") or "."))
    if not root.is_absolute():
        root = (path.parent / root).resolve()
        if not root.is_dir():
            root = path.parent.resolve()
    out: dict[str, list[Path]] = {}
    for key, entry in data.items():
        split = _ALIASES.get(str(key))
        if split is None or not entry:
            continue
        images: list[Path] = []
        for item in entry if isinstance(entry, list) else [entry]:
            place = Path(str(item)) if Path(str(item)).is_absolute() else root / str(item)
            if place.is_dir():
                images += _images_in(place)
            elif place.is_file() and place.suffix == ".txt":
                lines = [x.strip() for x in place.read_text(encoding="utf-8").splitlines() if x.strip()]
                images += [(place.parent / x).resolve() for x in lines]
            else:
                raise ConfigError(f"{path}: {key}: {place} is neither a folder nor a .txt list of images")
        out[split] = images
    if not out:
        raise ConfigError(f"{path}: no 'train', 'val' or 'test' entry names a folder of images")
    return root, out


def _yolo_layout(folder: Path) -> dict[str, list[Path]] | None:
    """Image files per split for the folder layouts without a YAML file, or ``None``."""
    found: dict[str, list[Path]] = {}
    for child in sorted(folder.iterdir()):
        split = _ALIASES.get(child.name.lower())
        if split and (child / "images").is_dir():  # Roboflow: train/images, train/labels
            found[split] = _images_in(child / "images")
    if (folder / "images").is_dir():
        subdirs = {_ALIASES.get(p.name.lower()): p for p in (folder / "images").iterdir() if p.is_dir()}
        subdirs.pop(None, None)
        if subdirs:
            found.update({s: _images_in(p) for s, p in subdirs.items()})
        elif not found:
            found["all"] = _images_in(folder / "images")
    if not found:  # one split's folder, or images with their .txt files beside them
        images = _images_in(folder)
        if images:
            found["all"] = images
    return found or None


def _from_yolo(root: Path, per_split: dict[str, list[Path]], names: tuple[str, ...]) -> BoxDataset:
    skipped: list[tuple[str, str]] = []
    splits, unlabelled = {}, 0
    for split, images in per_split.items():
        samples, missing = _read_yolo_split(images, len(names), skipped, f"{root} ({split})")
        splits[split], unlabelled = samples, unlabelled + missing
    notes = (f"{unlabelled} images have no label file (taken as images without objects)",) if unlabelled else ()
    return BoxDataset(str(root), "yolo", names, _ordered(splits), tuple(skipped), notes)


def _coco_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for json_file in sorted((folder / "annotations").glob("*.json")) if (folder / "annotations").is_dir() else ():
        stem = json_file.stem.removeprefix("instances_").rstrip("0123456789")
        found[_ALIASES.get(stem, stem)] = json_file
    for child in sorted(folder.iterdir()):
        split = _ALIASES.get(child.name.lower())
        if split and (child / "_annotations.coco.json").is_file():
            found[split] = child / "_annotations.coco.json"
    return found


def _coco_image(json_file: Path, file_name: str, root: Path, split: str) -> Path:
    for base in (json_file.parent, json_file.parent / "images", root / split, root / f"{split}2017",
                 root / "images" / split, root / "images", root):
        if (base / file_name).is_file():
            return base / file_name
    return json_file.parent / file_name


def _from_coco(root: Path, files: dict[str, Path]) -> BoxDataset:
    skipped: list[tuple[str, str]] = []
    splits: dict[str, tuple[BoxSample, ...]] = {}
    names: tuple[str, ...] | None = None
    crowd = 0
    for split, json_file in files.items():
        split_names, images, n_crowd = read_coco(json_file)
        if names is not None and split_names != names:
            raise ConfigError(f"{json_file}: its categories differ from the other splits' ({', '.join(names)})")
        names, crowd = split_names, crowd + n_crowd
        samples = []
        for image in images:
            path = _coco_image(json_file, image.file_name, root, split)
            if image.problem:
                skipped.append((f"{json_file}:{image.file_name}", image.problem))
            elif not path.is_file():
                skipped.append((str(path), f"listed in {json_file.name} but the image file is missing"))
            else:
                samples.append(BoxSample(str(path), np.asarray(image.boxes, np.float64).reshape(-1, 4),
                                         np.asarray(image.classes, np.int64)))
        splits[split] = tuple(samples)
    notes = (f"{crowd} crowd annotations left out",) if crowd else ()
    return BoxDataset(str(root), "coco", names or (), _ordered(splits), tuple(skipped), notes)


def _ordered(splits: dict[str, tuple[BoxSample, ...]]) -> dict[str, tuple[BoxSample, ...]]:
    order = [*SPLITS, "all"]
    return dict(sorted(splits.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def load_box_dataset(data: str | os.PathLike[str], names: Sequence[str] | None = None) -> BoxDataset:
    """Read a detection dataset (see the module docstring for the layouts).

    Args:
        data: The dataset folder, its ``data.yaml``, a COCO ``.json`` file, or one split's folder.
        names: Class names to use when the dataset has none (e.g. a model's labels).

    Returns:
        The :class:`BoxDataset`; an unusable label file is listed in ``skipped``, not raised.

    Raises:
        ConfigError: ``data`` is missing, is no layout above, has no class names or no images.
        ExtraMissing: a YAML file must be read and PyYAML is not installed.
    """
    path = Path(data).expanduser().resolve()
    if not path.exists():
        raise ConfigError(f"{data}: no such dataset file or folder")
    if path.is_file() and path.suffix.lower() == ".json":
        return _from_coco(path.parent, {"all": path})
    yaml_file = path if path.is_file() and path.suffix.lower() in (".yaml", ".yml") else \
        next((path / n for n in _YAML_NAMES if (path / n).is_file()), None)
    if yaml_file is not None:
        spec = _yaml(yaml_file)
        root, per_split = _yaml_sources(spec, yaml_file)
        return _from_yolo(root, per_split, _names_from_yaml(spec, yaml_file))
    if path.is_file():
        raise ConfigError(f"{data}: expected a dataset folder, a data.yaml or a COCO .json file")
    coco = _coco_files(path)
    if coco:
        return _from_coco(path, coco)
    per_split = _yolo_layout(path)
    if per_split is None or not any(per_split.values()):
        raise ConfigError(f"{data}: no detection dataset here (expected images/ + labels/ with YOLO txt "
                          "files, a data.yaml, or COCO JSON annotations)")
    return _from_yolo(path, per_split, _names_near(path, names))
