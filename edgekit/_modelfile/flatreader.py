"""A bounds-checked reader of flatbuffer tables, vectors and strings.

Every offset is checked against the buffer *before* it is followed, so a hostile
file can only produce :class:`~edgekit.errors.ModelInvalid`, never an out-of-range
read. :mod:`edgekit._modelfile.validate` walks a ``.tflite`` model with it.
"""

from __future__ import annotations

import struct

from ..errors import ModelInvalid

__all__ = ["I32", "MAX_TABLES", "U16", "U32", "Buffer", "Table"]

U16 = struct.Struct("<H")
I32 = struct.Struct("<i")
U32 = struct.Struct("<I")
MAX_TABLES = 2_000_000  # like the native verifier's max_tables: bounds the work on hostile files


class Table:
    """A flatbuffer table whose vtable and inline object were bounds-checked."""

    __slots__ = ("buf", "obj_size", "pos", "vt", "vt_size", "what")

    def __init__(self, buf: Buffer, pos: int, what: str) -> None:
        self.buf, self.pos, self.what = buf, pos, what
        buf.count()
        if pos < 0 or pos + 4 > buf.size:
            buf.fail(f"{what}: table at {pos} is outside the file")
        vt = pos - I32.unpack_from(buf.data, pos)[0]
        if vt < 0 or vt + 4 > buf.size:
            buf.fail(f"{what}: vtable at {vt} is outside the file")
        vt_size, obj_size = U16.unpack_from(buf.data, vt)[0], U16.unpack_from(buf.data, vt + 2)[0]
        if vt_size < 4 or vt_size % 2 or vt + vt_size > buf.size:
            buf.fail(f"{what}: vtable size {vt_size} at {vt} is invalid or runs past the file")
        if obj_size < 4 or pos + obj_size > buf.size:
            buf.fail(f"{what}: table size {obj_size} at {pos} runs past the file")
        self.vt, self.vt_size, self.obj_size = vt, vt_size, obj_size

    def field(self, slot: int, width: int) -> int | None:
        """Absolute position of field ``slot`` (``None`` when absent), checked to fit."""
        entry = 4 + 2 * slot
        if entry + 2 > self.vt_size:
            return None
        rel = U16.unpack_from(self.buf.data, self.vt + entry)[0]
        if rel == 0:
            return None
        if rel + width > self.obj_size:
            self.buf.fail(f"{self.what}: field {slot} at +{rel} lies outside its {self.obj_size}-byte table")
        return self.pos + rel

    def scalar(self, slot: int, fmt: str, default: int = 0) -> int:
        size = struct.calcsize(fmt)
        at = self.field(slot, size)
        return default if at is None else struct.unpack_from(fmt, self.buf.data, at)[0]

    def target(self, slot: int, name: str) -> int | None:
        at = self.field(slot, 4)
        if at is None:
            return None
        rel = U32.unpack_from(self.buf.data, at)[0]
        if rel == 0 or rel > 2**31 - 1 or at + rel >= self.buf.size:
            self.buf.fail(f"{self.what}.{name}: offset {rel} at {at} points outside the file")
        return at + rel

    def table(self, slot: int, name: str) -> Table | None:
        at = self.target(slot, name)
        return None if at is None else Table(self.buf, at, f"{self.what}.{name}")

    def vector(self, slot: int, elem: int, name: str) -> tuple[int, int]:
        """``(start, length)`` of a vector field (``(0, 0)`` when absent), checked to fit."""
        at = self.target(slot, name)
        if at is None:
            return 0, 0
        return self.buf.vector_at(at, elem, f"{self.what}.{name}")

    def ints(self, slot: int, name: str, fmt: str = "i") -> tuple[int, ...]:
        start, n = self.vector(slot, struct.calcsize(fmt), name)
        return struct.unpack_from(f"<{n}{fmt}", self.buf.data, start) if n else ()

    def tables(self, slot: int, name: str) -> list[Table]:
        start, n = self.vector(slot, 4, name)
        data, out = self.buf.data, []
        for i in range(n):
            at = start + 4 * i
            rel = U32.unpack_from(data, at)[0]
            if rel == 0 or at + rel >= self.buf.size:
                self.buf.fail(f"{self.what}.{name}[{i}]: offset {rel} points outside the file")
            out.append(Table(self.buf, at + rel, f"{self.what}.{name}[{i}]"))
        return out

    def string(self, slot: int, name: str) -> bytes:
        """A string field, checked to be inside the file, NUL-terminated and UTF-8."""
        start, n = self.vector(slot, 1, name)
        if start and self.buf.data[start + n : start + n + 1] != b"\x00":
            self.buf.fail(f"{self.what}.{name}: string of {n} bytes is not terminated")
        text = bytes(self.buf.data[start : start + n])
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            self.buf.fail(f"{self.what}.{name}: string is not valid UTF-8")
        return text


class Buffer:
    __slots__ = ("data", "size", "tables", "where")

    def __init__(self, data: bytes | memoryview, where: str) -> None:
        self.data, self.size, self.where, self.tables = data, len(data), where, 0

    def fail(self, reason: str) -> None:
        raise ModelInvalid(f"{self.where}: {reason}")

    def count(self) -> None:
        self.tables += 1
        if self.tables > MAX_TABLES:
            self.fail(f"more than {MAX_TABLES} flatbuffer tables; refusing to walk further")

    def vector_at(self, at: int, elem: int, what: str) -> tuple[int, int]:
        if at + 4 > self.size:
            self.fail(f"{what}: vector length at {at} is outside the file")
        n = U32.unpack_from(self.data, at)[0]
        if at + 4 + n * elem > self.size:
            self.fail(f"{what}: vector of {n} x {elem} bytes at {at} runs past the {self.size}-byte file")
        return at + 4, n
