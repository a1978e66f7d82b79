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


def zip_files(data: bytes) -> dict[str, bytes]:
    """Files of a TFLite-Support zip appended to the model (``{}`` when there is none)."""
    if b"PK\x05\x06" not in data[-66000:]:
        return {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {
                info.filename: archive.read(info)
                for info in archive.infolist()
                if not info.is_dir() and info.file_size < 16 * 1024 * 1024
            }
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return {}
