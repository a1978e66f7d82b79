"""Opt-in fast decoding for batch (``fast_decode=True`` / ``--fast-decode``).

When a model takes much smaller images than the files hold — a 32×32 digits
model over 640×480 photos — most of a batch's time goes into decoding pixels
the resize throws away. libjpeg can decode a JPEG directly at 1/2, 1/4 or 1/8
scale (DCT scaling), and straight to grey for a grey model, several times
faster. The result is close to, but not bit-identical with, a full decode
followed by a resize, so this is not the default. Boxes stay in the source
file's pixels: the :class:`~edgekit.preprocess.Transform` is scaled back.
Other formats, and JPEGs the model needs at full size, decode as usual.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..errors import ImageUnreadable
from ..imagefile import decode_image, read_image
from ..preprocess import InputFormat, Transform

__all__ = ["decode_for_model", "jpeg_size", "read_for_model", "reduction", "rescale_transform"]

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def jpeg_size(data: bytes | np.ndarray) -> tuple[int, int] | None:
    """``(width, height)`` from a JPEG's frame header, or ``None`` if ``data`` is not one."""
    buf = memoryview(data).cast("B") if isinstance(data, np.ndarray) else memoryview(data)
    if len(buf) < 4 or buf[0] != 0xFF or buf[1] != 0xD8:
        return None
    i = 2
    while i + 4 <= len(buf):
        if buf[i] != 0xFF:
            return None
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        length = buf[i + 2] << 8 | buf[i + 3]
        if marker in _SOF:
            if i + 9 > len(buf):
                return None
            height = buf[i + 5] << 8 | buf[i + 6]
            width = buf[i + 7] << 8 | buf[i + 8]
            return (width, height) if width and height else None
        if marker == 0xDA or length < 2:  # scan data before any frame header: not a JPEG
            return None
        i += 2 + length
    return None


def reduction(src_w: int, src_h: int, dst_w: int, dst_h: int) -> int:
    """The largest JPEG scale-down (8, 4, 2, else 1) that keeps both sides ≥ the model input's."""
    for factor in (8, 4, 2):
        if math.ceil(src_w / factor) >= dst_w and math.ceil(src_h / factor) >= dst_h:
            return factor
    return 1


def rescale_transform(transform: Transform, src_w: int, src_h: int) -> Transform:
    """Re-express a transform computed on a reduced image in original ``src_w×src_h`` pixels."""
    ratio_x = src_w / transform.src_w
    ratio_y = src_h / transform.src_h
    return Transform(src_w, src_h, transform.dst_w, transform.dst_h,
                     transform.scale_x / ratio_x, transform.scale_y / ratio_y,
                     transform.offset_x, transform.offset_y)


def _flags(cv2: Any, factor: int, grey: bool) -> int:
    if grey:
        return {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
                4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}[factor]
    return {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
            4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}[factor]


def _original_size(size: tuple[int, int], image: np.ndarray, factor: int) -> tuple[int, int]:
    """The full-size dimensions of ``image`` (the header's, swapped if EXIF rotated it)."""
    width, height = size
    got_h, got_w = image.shape[:2]
    if (got_w, got_h) == (math.ceil(width / factor), math.ceil(height / factor)):
        return width, height
    return height, width


def read_for_model(path: str, fmt: InputFormat) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Decode ``path`` as small as ``fmt`` allows.

    Returns:
        The image, and the original ``(width, height)`` when it was decoded
        reduced (``None`` when decoded at full size).

    Raises:
        ImageUnreadable: as :func:`edgekit.imagefile.read_image`.
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return read_image(path), None  # let read_image word the error
    if data.size == 0:
        return read_image(path), None
    return decode_for_model(data, fmt, os.fspath(path))


def decode_for_model(data: np.ndarray, fmt: InputFormat,
                     where: str) -> tuple[np.ndarray, tuple[int, int] | None]:
    """:func:`read_for_model` for an image already in memory (``uint8`` bytes).

    Raises:
        ImageUnreadable: ``data`` is not a decodable image.
    """
    import cv2

    size = jpeg_size(data)
    grey = fmt.grey
    if size is None or not (grey or reduction(*size, fmt.width, fmt.height) > 1):
        return decode_image(data, grey, where), None
    factor = reduction(*size, fmt.width, fmt.height)
    image = cv2.imdecode(data, _flags(cv2, factor, grey))
    if image is None or image.size == 0:
        raise ImageUnreadable(f"{where}: not a decodable image ({data.size} bytes)")
    return image, (_original_size(size, image, factor) if factor > 1 else None)
