"""Image folders for the trainer tests, written from real data (scikit-learn's digits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zoo


def write_digit_folder(root: Path, per_class: int | None = None, classes: tuple[int, ...] = tuple(range(10)),
                       size: int = zoo.DIGIT_SIZE, rgb: bool = False) -> Path:
    """``root/<digit>/<n>.png`` from scikit-learn's real handwritten digits."""
    import cv2

    x, y = zoo.digits(size)
    for cls in classes:
        folder = root / str(cls)
        folder.mkdir(parents=True, exist_ok=True)
        idx = np.flatnonzero(y == cls)[:per_class]
        for i in idx:
            image = cv2.cvtColor(x[i], cv2.COLOR_GRAY2BGR) if rgb else x[i]
            cv2.imwrite(str(folder / f"{i:04d}.png"), image)
    return root
