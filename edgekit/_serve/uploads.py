"""From request bytes to images: multipart parts, the header check, the decode.

Only JPEG and PNG are decoded (OpenCV reads many more formats, each one more
parser exposed to the network). Before a pixel is decoded, the image's size is
read from its header and refused above the pixel limit: a 50-megapixel JPEG of
a few hundred kilobytes would otherwise cost 150 MB and a second of CPU. A PNG's
chunks are walked and their CRCs checked first too, so that a truncated or
corrupt upload is refused here, quietly, instead of making libpng print to stderr.
The decode itself is :func:`edgekit.imagefile.decode_image`'s, so that a served
image gives the very scores ``edgekit predict`` gives for the same file.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._batch.decode import decode_for_model, jpeg_size
from ..errors import ImageUnreadable
from ..imagefile import decode_image
from ..preprocess import InputFormat
from .answers import HttpProblem

__all__ = ["Upload", "decode_upload", "image_size", "split_multipart"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True)
class Upload:
    """One image of a request: its bytes, and its name (multipart file name or field)."""

    data: bytes
    name: str | None = None


def _png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` of a PNG whose every chunk is present and intact."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageUnreadable("PNG without its IHDR header")
    width, height = struct.unpack(">II", data[16:24])
    offset, end = 8, len(data)
    while offset + 12 <= end:
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        chunk_end = offset + 12 + length
        if chunk_end > end:
            raise ImageUnreadable(f"truncated PNG ({end} bytes, a chunk needs {chunk_end})")
        kind = data[offset + 4 : offset + 8]
        (crc,) = struct.unpack(">I", data[chunk_end - 4 : chunk_end])
        if zlib.crc32(data[offset + 4 : chunk_end - 4]) != crc:
            raise ImageUnreadable(f"corrupt PNG (bad CRC in its {kind.decode('latin-1')!r} chunk)")
        if kind == b"IEND":
            return width, height
        offset = chunk_end
    raise ImageUnreadable(f"truncated PNG ({end} bytes, no IEND chunk)")


def image_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from a JPEG's or PNG's header, without decoding.

    Raises:
        ImageUnreadable: Neither a JPEG nor a PNG, or a header that cannot be read.
    """
    if data[:8] == PNG_SIGNATURE:
        return _png_size(data)
    if data[:2] == b"\xff\xd8":
        size = jpeg_size(data)
        if size is None:
            raise ImageUnreadable(f"JPEG without a readable frame header ({len(data)} bytes)")
        return size
    raise ImageUnreadable(f"not a JPEG or PNG image ({len(data)} bytes)")


def decode_upload(upload: Upload, fmt: InputFormat, max_pixels: int,
                  fast: bool = False) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Check the header, then decode ``upload`` for a model taking ``fmt``.

    Args:
        fast: Decode a JPEG at 1/2, 1/4 or 1/8 scale when the model's input is that
            small (see :mod:`edgekit._batch.decode`: several times faster, scores
            within a little of a full decode).

    Returns:
        The image (BGR, or grey for a grey model's JPEG as ``read_image`` does), and
        the original ``(width, height)`` when it was decoded reduced.

    Raises:
        HttpProblem: 413 ``ImageTooLarge``, the header declares more than ``max_pixels``.
        ImageUnreadable: Empty, not a JPEG/PNG, truncated or corrupt.
    """
    where = upload.name or "image"
    if not upload.data:
        raise ImageUnreadable(f"{where}: empty (0 bytes)")
    try:
        width, height = image_size(upload.data)
    except ImageUnreadable as exc:
        raise ImageUnreadable(f"{where}: {exc}") from None
    if width * height > max_pixels:
        raise HttpProblem(413, "ImageTooLarge",
                          f"{where}: {width}×{height} is {width * height / 1e6:.1f} megapixels, "
                          f"more than the {max_pixels / 1e6:.1f} allowed")
    import cv2

    data = np.frombuffer(upload.data, np.uint8)
    try:
        if fast:
            return decode_for_model(data, fmt, where)
        return decode_image(data, fmt.grey, where), None
    except (cv2.error, ValueError, MemoryError) as exc:  # a decoder that gave up on this image
        raise ImageUnreadable(f"{where}: {type(exc).__name__}: {str(exc).strip()[:200]}") from None


class _Parts:
    """python-multipart's callbacks, collecting each part's name and bytes."""

    def __init__(self, max_parts: int) -> None:
        from python_multipart.multipart import parse_options_header

        self._options = parse_options_header
        self.max_parts = max_parts
        self.parts: list[Upload] = []
        self.done = False
        self._data = bytearray()
        self._field = b""
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_data": self._on_data, "on_header_field": self._on_field,
                "on_header_value": self._on_value, "on_header_end": self._on_header_end,
                "on_part_end": self._on_part_end, "on_end": self._on_end}

    def _on_data(self, data: bytes, start: int, end: int) -> None:
        self._data += data[start:end]

    def _on_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_value(self, data: bytes, start: int, end: int) -> None:
        key = self._field.lower()
        self._headers[key] = self._headers.get(key, b"") + data[start:end]

    def _on_header_end(self) -> None:
        self._field = b""

    def _on_part_end(self) -> None:
        if len(self.parts) >= self.max_parts:
            raise HttpProblem(413, "TooManyImages", f"more than {self.max_parts} images in one request")
        _, options = self._options(self._headers.get(b"content-disposition"))
        raw = options.get(b"filename") or options.get(b"name")
        name = raw.decode("utf-8", "replace") if raw else f"part {len(self.parts) + 1}"
        self.parts.append(Upload(bytes(self._data), name))
        self._data, self._headers = bytearray(), {}

    def _on_end(self) -> None:
        self.done = True


def split_multipart(body: bytes, content_type: str, max_parts: int) -> list[Upload]:
    """The parts of a ``multipart/form-data`` body, each one image.

    Raises:
        HttpProblem: 400 ``BadRequest`` (no boundary, malformed, unterminated or
            without a part), 413 ``TooManyImages`` (more than ``max_parts``).
    """
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    boundary = parse_options_header(content_type)[1].get(b"boundary")
    if not boundary:
        raise HttpProblem(400, "BadRequest", "multipart/form-data without a boundary")
    collected = _Parts(max_parts)
    try:
        parser = MultipartParser(boundary, collected.callbacks())
        parser.write(body)
        parser.finalize()
    except (MultipartParseError, ValueError) as exc:
        raise HttpProblem(400, "BadRequest", f"malformed multipart body: {exc}") from None
    if not collected.done:
        raise HttpProblem(400, "BadRequest", "multipart body ends before its closing boundary")
    if not collected.parts:
        raise HttpProblem(400, "BadRequest", "multipart body without a part")
    return collected.parts
