"""COCO JSON boxes: ``images``, ``annotations`` (``bbox = [x, y, w, h]`` in pixels), ``categories``.

Category ids become class indices in the order of their ids; class names are
the categories' names. Crowd annotations (``iscrowd: 1``) are left out, as
COCO's own evaluation ignores them. An image without annotations has no objects.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .yololabels import TOLERANCE

__all__ = ["CocoImage", "read_coco"]


class CocoImage:
    """One image entry: its file name, declared size, normalized corner boxes and class indices."""

    __slots__ = ("boxes", "classes", "file_name", "height", "problem", "width")

    def __init__(self, file_name: str, width: float, height: float) -> None:
        self.file_name, self.width, self.height = file_name, width, height
        self.boxes: list[list[float]] = []
        self.classes: list[int] = []
        self.problem: str | None = None


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable COCO JSON file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("categories"), list):
        raise ConfigError(f"{path}: a COCO file needs 'images' and 'categories' lists")
    return data


def _categories(data: dict[str, Any], path: Path) -> tuple[dict[int, int], tuple[str, ...]]:
    try:
        cats = sorted((int(c["id"]), str(c["name"])) for c in data["categories"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{path}: every category needs an integer 'id' and a 'name'") from None
    if not cats:
        raise ConfigError(f"{path}: 'categories' is empty")
    return {cid: i for i, (cid, _) in enumerate(cats)}, tuple(name for _, name in cats)


def _images(data: dict[str, Any], path: Path) -> dict[int, CocoImage]:
    images: dict[int, CocoImage] = {}
    for entry in data["images"]:
        try:
            images[int(entry["id"])] = CocoImage(str(entry["file_name"]), float(entry["width"]),
                                                 float(entry["height"]))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{path}: image entry {str(entry)[:80]} needs 'id', 'file_name', "
                              "'width' and 'height'") from None
    return images


def _add(image: CocoImage, ann: dict[str, Any], index: dict[int, int]) -> None:
    """Add one annotation to ``image`` or mark the image as unusable (the first problem wins)."""
    if image.problem:
        return
    aid = ann.get("id", "?")
    cid = ann.get("category_id")
    if not isinstance(cid, int) or cid not in index:
        image.problem = f"annotation {aid}: category_id {cid} is not one of the categories"
        return
    try:
        x, y, w, h = (float(v) for v in ann["bbox"])
    except (KeyError, TypeError, ValueError):
        image.problem = f"annotation {aid}: 'bbox' must be [x, y, width, height]"
        return
    box = np.array([x / image.width, y / image.height, (x + w) / image.width, (y + h) / image.height])
    if not np.isfinite(box).all() or (box < -TOLERANCE).any() or (box > 1 + TOLERANCE).any():
        image.problem = (f"annotation {aid}: bbox {[x, y, w, h]} lies outside the "
                         f"{image.width:g}x{image.height:g} image")
        return
    box = np.clip(box, 0.0, 1.0)
    if box[2] <= box[0] or box[3] <= box[1]:
        image.problem = f"annotation {aid}: bbox {[x, y, w, h]} has no area"
        return
    image.boxes.append(box.tolist())
    image.classes.append(index[cid])


def read_coco(path: Path) -> tuple[tuple[str, ...], list[CocoImage], int]:
    """Read a COCO detection file.

    Returns:
        ``(class names, images, crowd annotations left out)``; an image whose
        annotations are unusable carries the reason in ``problem``.

    Raises:
        ConfigError: the file is not COCO JSON, or an annotation names an unknown image.
    """
    data = _load(path)
    index, names = _categories(data, path)
    images = _images(data, path)
    crowd = 0
    by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ann in data.get("annotations") or []:
        if not isinstance(ann, dict):
            raise ConfigError(f"{path}: an annotation is not a JSON object")
        if ann.get("iscrowd"):
            crowd += 1
            continue
        by_image[ann.get("image_id")].append(ann)  # type: ignore[index]
    unknown = [i for i in by_image if i not in images]
    if unknown:
        raise ConfigError(f"{path}: annotations refer to image id(s) {unknown[:5]} that 'images' does not list")
    for image_id, anns in by_image.items():
        for ann in anns:
            _add(images[image_id], ann, index)
    return names, list(images.values()), crowd
