"""Reading image files into BGR frames (OpenCV imported lazily)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import ImageUnreadable

__all__ = ["IMAGE_SUFFIXES", "decode_image", "read_image"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".gif")


def read_image(path: str | os.PathLike[str], grey: bool = False) -> np.ndarray:
    """Decode an image file into a BGR ``uint8`` array.

    ``grey`` is for grey models: a JPEG then decodes straight to the luma it
    stores, as an ``H×W`` array (about 40 % less work than colour; within a
    few levels of converting the colour decode, whose chroma round trip it
    skips). Other formats decode in colour either way.

    Raises:
        ImageUnreadable: the file is missing, empty, a folder, or not a decodable image.
    """
    p = Path(path)
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except FileNotFoundError as exc:
        raise ImageUnreadable(f"{p}: no such file") from exc
    except IsADirectoryError as exc:
        raise ImageUnreadable(f"{p}: is a directory, not an image") from exc
    except OSError as exc:
        raise ImageUnreadable(f"{p}: {exc.strerror or exc}") from exc
    if data.size == 0:
        raise ImageUnreadable(f"{p}: file is empty")
    return decode_image(data, grey, str(p))


def decode_image(data: np.ndarray, grey: bool = False, where: str = "image") -> np.ndarray:
    """Decode an encoded image held in memory (``uint8`` bytes), as :func:`read_image` does.

    Raises:
        ImageUnreadable: ``data`` is not a decodable image (``where`` names it in the message).
    """
    import cv2

    luma = grey and data.size > 2 and data[0] == 0xFF and data[1] == 0xD8  # a JPEG
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE if luma else cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ImageUnreadable(f"{where}: not a decodable image ({data.size} bytes)")
    return image
