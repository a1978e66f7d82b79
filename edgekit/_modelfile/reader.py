"""Reading a ``.tflite`` file without an interpreter.

The flatbuffer schema comes with the ai-edge-litert wheel
(``ai_edge_litert.schema_py_generated``). This module answers "what is in the
file": operators and their versions, named metadata buffers, the files of a
TFLite-Support zip appended to the model. Structural validation of untrusted
files lives in :mod:`edgekit._modelfile.validate` and runs before anything here.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from functools import cache
from types import ModuleType

import numpy as np

from ..errors import ModelInvalid

__all__ = ["FileInfo", "OperatorInfo", "read_file_info", "schema", "zip_files"]


@cache
def schema() -> ModuleType:
    """The generated TFLite flatbuffer schema module (ships with ai-edge-litert)."""
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


@cache
def _builtin_names() -> dict[int, str]:
    op = schema().BuiltinOperator
    return {v: k for k, v in vars(op).items() if not k.startswith("_") and isinstance(v, int)}


@dataclass(frozen=True, slots=True)
class OperatorInfo:
    """One entry of the model's operator-code table."""

    name: str
    version: int
    custom: bool = False


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What the flatbuffer says about itself.

    Attributes:
        schema_version: The ``version`` field of the model (3 today).
        description: The converter's description string.
        operators: Operator codes used by the model.
        metadata: Named metadata buffers (``name → bytes``).
        subgraphs: Number of subgraphs.
    """

    schema_version: int
    description: str
    operators: tuple[OperatorInfo, ...]
    metadata: dict[str, bytes]
    subgraphs: int


def _op_name(code: object) -> tuple[str, bool]:
    builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))  # type: ignore[attr-defined]
    name = _builtin_names().get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        custom = code.CustomCode()  # type: ignore[attr-defined]
        return (custom.decode("utf-8", "replace") if custom else "CUSTOM"), True
    return name, False


def read_file_info(data: bytes, where: str = "model") -> FileInfo:
    """Parse the operator table and metadata of a (validated) model buffer.

    Raises:
        ModelInvalid: the buffer's tables point outside it.
    """
    try:
        return _read_file_info(data)
    except (struct.error, IndexError, ValueError, TypeError, UnicodeError) as exc:
        raise ModelInvalid(f"{where}: malformed flatbuffer ({exc})") from exc


def _read_file_info(data: bytes) -> FileInfo:
    model = schema().Model.GetRootAs(data, 0)
    operators = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        name, custom = _op_name(code)
        operators.append(OperatorInfo(name, int(code.Version()), custom))
    metadata: dict[str, bytes] = {}
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        name = (entry.Name() or b"").decode("utf-8", "replace")
        index = int(entry.Buffer())
        if 0 <= index < model.BuffersLength():
            buf = model.Buffers(index)
            raw = buf.DataAsNumpy()
            if isinstance(raw, np.ndarray):
                metadata[name] = raw.tobytes()
            elif buf.Offset() > 1 and buf.Size() > 0:  # large models keep data outside
                start = int(buf.Offset())
                metadata[name] = bytes(data[start : start + int(buf.Size())])
            else:
                metadata[name] = b""
    description = (model.Description() or b"").decode("utf-8", "replace")
    return FileInfo(
        schema_version=int(model.Version()),
        description=description,
        operators=tuple(operators),
        metadata=metadata,
        subgraphs=int(model.SubgraphsLength()),
    )


# A model's zip is untrusted: TFLite-Support zips hold a label file or two, so anything
# bigger is refused before it is inflated (a zip bomb turns a few KiB into GiBs).
ZIP_MAX_MEMBERS = 64
ZIP_MAX_DIRECTORY = 64 * 1024  # central directory bytes (Python parses all of it on open)
ZIP_MAX_MEMBER_BYTES = 4 * 1024 * 1024
ZIP_MAX_TOTAL_BYTES = 16 * 1024 * 1024
ZIP_MAX_RATIO = 100  # uncompressed / compressed; text compresses ~3-10x, deflate bombs ~1000x
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_CHUNK = 64 * 1024


def _directory_ok(data: bytes) -> bool:
    """Whether the zip's end record announces a central directory small enough to parse."""
    tail_start = max(0, len(data) - (22 + 0xFFFF))
    at = data.rfind(_EOCD, tail_start)
    if at < 0 or len(data) - at < 22:
        return False
    if data[max(0, at - 20) : at].startswith(_EOCD64_LOCATOR):
        return False  # ZIP64: never needed for a few label files
    entries, size = struct.unpack_from("<HI", data, at + 10)
    return entries <= ZIP_MAX_MEMBERS and size <= ZIP_MAX_DIRECTORY


def _member_ok(info: zipfile.ZipInfo) -> bool:
    if info.is_dir() or info.flag_bits & 0x1:  # folders, encrypted members
        return False
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return False  # bzip2/lzma members inflate without an output bound in zipfile
    if info.file_size > ZIP_MAX_MEMBER_BYTES:
        return False
    return info.file_size <= ZIP_MAX_RATIO * max(info.compress_size, 1024)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes | None:
    """The member's bytes, or ``None`` when it is larger than announced or than ``budget``."""
    limit = min(info.file_size, budget)
    parts, size = [], 0
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):  # bounded reads: at most _CHUNK inflated at once
            size += len(chunk)
            if size > limit:
                return None
            parts.append(chunk)
    return b"".join(parts)


def zip_files(data: bytes) -> dict[str, bytes]:
    """Files of a TFLite-Support zip appended to the model (``{}`` when there is none).

    The zip is untrusted: members that are folders, encrypted, compressed other
    than stored/deflate, larger than :data:`ZIP_MAX_MEMBER_BYTES` or inflating
    more than :data:`ZIP_MAX_RATIO` times are skipped, reading stops at
    :data:`ZIP_MAX_TOTAL_BYTES`, and a zip with more than
    :data:`ZIP_MAX_MEMBERS` members (or a larger central directory) is ignored.
    """
    if _EOCD not in data[-66000:] or not _directory_ok(data):
        return {}
    files: dict[str, bytes] = {}
    budget = ZIP_MAX_TOTAL_BYTES
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > ZIP_MAX_MEMBERS:
                return {}
            for info in members:
                if not _member_ok(info) or info.file_size > budget:
                    continue
                try:
                    raw = _read_member(archive, info, budget)
                except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error):
                    continue  # a damaged member: the others may still be fine
                if raw is not None:
                    files[info.filename] = raw
                    budget -= len(raw)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, struct.error):
        return {}
    return files
