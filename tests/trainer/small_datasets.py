"""Small, real image datasets of the size a user's first dataset has (100–300 training images).

Every image comes from data that scikit-image and scikit-learn ship (real photos, real
handwriting, real faces); nothing is drawn. Each builder writes two class-per-folder trees,
``root/train`` (what ``edgekit train`` gets) and ``root/test`` (held out, for ``evaluate``),
and returns their paths.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["BUILDERS", "write_digits_subset", "write_faces", "write_photo_pair", "write_textures"]


def _save(folder: Path, name: str, image: np.ndarray) -> None:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(folder / name), image)


def _crops(photo: np.ndarray, count: int, rng: np.random.Generator, out: int,
           rows: tuple[float, float] = (0.0, 1.0)) -> list[np.ndarray]:
    """``count`` random square crops (side 30–60 % of the short edge) resized to ``out`` pixels,
    taken with their top edge inside the ``rows`` band of the photo."""
    import cv2

    h, w = photo.shape[:2]
    short = min(h, w)
    top_lo, top_hi = int(rows[0] * h), int(rows[1] * h)
    crops = []
    for _ in range(count):
        side = int(short * rng.uniform(0.3, 0.6))
        y = int(rng.integers(top_lo, max(top_lo + 1, min(top_hi, h) - side)))
        y = min(y, h - side)
        x = int(rng.integers(0, w - side + 1))
        crops.append(cv2.resize(photo[y:y + side, x:x + side], (out, out), interpolation=cv2.INTER_AREA))
    return crops


def write_photo_pair(root: Path, train: int = 94, test: int = 50, seed: int = 0) -> tuple[Path, Path]:
    """Two classes of real photo crops: ``cat`` (scikit-image's *chelsea*) and ``coffee``.

    ``train`` crops per class go to ``root/train`` (at the default, 150 training + 38
    validation images after ``edgekit train``'s 20 % split), ``test`` per class to ``root/test``.
    """
    from skimage import data

    rng = np.random.default_rng(seed)
    for label, photo in (("cat", data.chelsea()), ("coffee", data.coffee())):
        for i, crop in enumerate(_crops(photo, train + test, rng, 64)):
            _save(root / ("train" if i < train else "test") / label, f"{label}_{i:03d}.jpg", crop)
    return root / "train", root / "test"


def write_textures(root: Path, train: int = 60, test: int = 40, seed: int = 0) -> tuple[Path, Path]:
    """Three classes of real grey texture photos: ``brick``, ``grass``, ``gravel``.

    Training crops come from the top 60 % of each photo, test crops from the bottom 40 %, so
    no test pixel was seen in training.
    """
    from skimage import data

    rng = np.random.default_rng(seed)
    for label in ("brick", "grass", "gravel"):
        photo = getattr(data, label)()
        h = photo.shape[0]
        top, bottom = photo[: int(0.6 * h)], photo[int(0.6 * h):]
        for split, part, n in (("train", top, train), ("test", bottom, test)):
            for i, crop in enumerate(_crops(part, n, rng, 64)):
                _save(root / split / label, f"{label}_{i:03d}.png", crop)
    return root / "train", root / "test"


def write_faces(root: Path, test_fraction: float = 0.3, seed: int = 0) -> tuple[Path, Path]:
    """scikit-image's LFW subset: 100 real faces and 100 real non-face patches (25×25, grey)."""
    from skimage import data

    images = (data.lfw_subset() * 255).round().astype(np.uint8)
    labels = np.array([0] * 100 + [1] * 100)
    rng = np.random.default_rng(seed)
    for cls, name in ((0, "face"), (1, "not_face")):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_test = round(len(idx) * test_fraction)
        for rank, i in enumerate(idx):
            _save(root / ("test" if rank < n_test else "train") / name, f"{i:03d}.png", images[i])
    return root / "train", root / "test"


def write_digits_subset(root: Path, train: int = 25, test: int = 30, seed: int = 0) -> tuple[Path, Path]:
    """scikit-learn's real handwritten digits, ``train`` per class (10 classes) at 32×32."""
    import cv2
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).astype(np.uint8)
    rng = np.random.default_rng(seed)
    for cls in range(10):
        idx = rng.permutation(np.flatnonzero(digits.target == cls))[: train + test]
        for rank, i in enumerate(idx):
            big = cv2.resize(images[i], (32, 32), interpolation=cv2.INTER_LINEAR)
            _save(root / ("train" if rank < train else "test") / str(cls), f"{i:04d}.png", big)
    return root / "train", root / "test"


BUILDERS: dict[str, Callable[[Path], tuple[Path, Path]]] = {
    "photos (cat/coffee)": write_photo_pair,
    "textures (brick/grass/gravel)": write_textures,
    "faces (lfw subset)": write_faces,
    "digits (25 per class)": write_digits_subset,
}
