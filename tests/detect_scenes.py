"""Detection datasets made of real pixels: scikit-learn's handwritten digits pasted onto scikit-image's photos.

Shared by the runtime tests, the trainer tests and the benchmarks. Every image
holds 1–4 digits at random sizes (12–40 % of the image height) and places;
the boxes are the tight boxes of the pasted ink. Held-out images (``test``)
use digit instances that no training image uses. Deterministic for a seed.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from edgekit.sources.scenes import Scene, compose, fit_background

NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
          "retina", "camera", "coins", "moon", "grass", "gravel", "brick")
WIDTH, HEIGHT = 320, 240
DIGIT_SIDE = 32  # the digits are upscaled once from 8×8, as the demo source's are
HELD_OUT = 0.25  # share of the digit instances kept for held-out images


@functools.lru_cache(maxsize=1)
def photos() -> tuple[np.ndarray, ...]:
    """The background photos, BGR ``uint8``."""
    import cv2
    from skimage import data

    out = []
    for name in PHOTOS:
        image = getattr(data, name)()
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        out.append(cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2BGR))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def digit_pools() -> dict[bool, tuple[np.ndarray, np.ndarray]]:
    """``{held_out: (images N×32×32 uint8, labels N)}``: a fixed split of the 1797 digits."""
    import cv2
    from sklearn.datasets import load_digits

    d = load_digits()
    small = (d.images * (255.0 / 16.0)).astype(np.uint8)
    big = np.stack([cv2.resize(im, (DIGIT_SIDE, DIGIT_SIDE), interpolation=cv2.INTER_LINEAR) for im in small])
    held = np.random.default_rng(12345).random(len(big)) < HELD_OUT
    return {True: (big[held], d.target[held]), False: (big[~held], d.target[~held])}


def scenes(count: int, seed: int, held_out: bool = False, width: int = WIDTH,
           height: int = HEIGHT) -> list[Scene]:
    """``count`` scenes of 1–4 digits each (see the module docstring)."""
    rng = np.random.default_rng(seed)
    images, labels = digit_pools()[held_out]
    backs = photos()
    out = []
    for _ in range(count):
        back = fit_background(backs[int(rng.integers(len(backs)))], width, height, rng)
        pick = rng.choice(len(images), size=int(rng.integers(1, 5)), replace=False)
        out.append(compose(back, images[pick], labels[pick], rng))
    return out


def yolo_lines(scene: Scene) -> str:
    """The YOLO label file of ``scene``: ``class cx cy w h`` normalized."""
    h, w = scene.image.shape[:2]
    rows = []
    for (x1, y1, x2, y2), cls in zip(scene.boxes, scene.labels):
        rows.append(f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
    return "\n".join(rows) + ("\n" if rows else "")


def write_yolo(root: Path, train: int = 1000, val: int = 100, test: int = 200, seed: int = 0) -> Path:
    """A YOLO dataset: ``images/<split>/*.jpg``, ``labels/<split>/*.txt``, ``data.yaml``.

    ``train`` and ``val`` scenes use the training digits, ``test`` the held-out ones.
    """
    import cv2

    for split, count, offset in (("train", train, 0), ("val", val, 1), ("test", test, 2)):
        if not count:
            continue
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i, scene in enumerate(scenes(count, seed * 10 + offset, held_out=split == "test")):
            cv2.imwrite(str(root / "images" / split / f"{i:05d}.jpg"), scene.image,
                        [cv2.IMWRITE_JPEG_QUALITY, 92])
            (root / "labels" / split / f"{i:05d}.txt").write_text(yolo_lines(scene))
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(NAMES))
    splits = "".join(f"{s}: images/{s}\n" for s, c in (("train", train), ("val", val), ("test", test)) if c)
    (root / "data.yaml").write_text(f"path: .\n{splits}names:\n{names}\n")
    return root


def write_coco(root: Path, split: str) -> Path:
    """``root/coco_<split>.json``: the YOLO labels of one split written by :func:`write_yolo`, as COCO JSON
    (``bbox = [x, y, w, h]`` in pixels, category ids from 1, file names relative to ``root``)."""
    import json

    images, annotations = [], []
    for index, label in enumerate(sorted((root / "labels" / split).glob("*.txt"))):
        images.append({"id": index, "file_name": f"images/{split}/{label.stem}.jpg", "width": WIDTH,
                       "height": HEIGHT})
        for line in label.read_text().splitlines():
            cls, cx, cy, w, h = (float(v) for v in line.split())
            annotations.append({"id": len(annotations) + 1, "image_id": index, "category_id": int(cls) + 1,
                                "bbox": [(cx - w / 2) * WIDTH, (cy - h / 2) * HEIGHT, w * WIDTH, h * HEIGHT],
                                "area": w * WIDTH * h * HEIGHT, "iscrowd": 0})
    path = root / f"coco_{split}.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)]}))
    return path
