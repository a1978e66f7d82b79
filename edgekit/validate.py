"""Structural checks of a ``.tflite`` buffer before any native code reads it."""

from __future__ import annotations

import struct

from .errors import ModelInvalid

__all__ = ["check_model"]

MAX_MODEL_BYTES = 2**31 - 1


def check_model(data: bytes, where: str = "model") -> None:
    """Raise :class:`ModelInvalid` (naming ``where`` and the reason) unless ``data`` is sound."""
    size = len(data)
    if size == 0:
        raise ModelInvalid(f"{where}: file is empty")
    if size < 8:
        raise ModelInvalid(f"{where}: file is {size} bytes, too short for a TFLite flatbuffer")
    if size > MAX_MODEL_BYTES:
        raise ModelInvalid(f"{where}: file is {size} bytes, over the 2 GiB flatbuffer limit")
    if data[4:8] != b"TFL3":
        raise ModelInvalid(
            f"{where}: not a TFLite model (file identifier {bytes(data[4:8])!r}, expected b'TFL3')"
        )
    (root,) = struct.unpack_from("<I", data, 0)
    if root + 4 > size:
        raise ModelInvalid(f"{where}: root table offset {root} is outside the {size}-byte file")
