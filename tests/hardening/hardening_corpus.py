"""The malformed-model corpus: hostile ``.tflite`` files derived from valid models.

Every mutant is a ``(class, name, bytes)`` triple. Classes:

- ``empty``, ``header``: nothing or only the 8-byte header (incl. ``\\x18\\0\\0\\0TFL3``);
- ``truncated``: a valid model cut at many points;
- ``identifier``: not ``TFL3`` at bytes 4..8, or not a flatbuffer at all;
- ``offsets``: root / vtable / vector offsets and lengths patched to huge values;
- ``indices``: edited with the schema's object API and re-packed — tensor, buffer,
  opcode, metadata and signature indices out of range, unknown operators and types,
  insane shapes, constant data of the wrong size, external data outside the file;
- ``bitflip``: seeded random bit flips (anywhere, or only in the flatbuffer's
  structure, i.e. outside the weight buffers).

The first six classes are structurally invalid and must be refused by
``edgekit._modelfile.validate.check_model``; bit-flip mutants may be harmless.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

Mutant = tuple[str, str, bytes]
STRUCTURAL = ("empty", "header", "truncated", "identifier", "offsets", "indices")


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _repack(obj: Any) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(obj.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _edit(data: bytes, change: Callable[[Any], None]) -> bytes:
    obj = _schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    change(obj)
    return _repack(obj)


def _field_pos(data: bytes, table_pos: int, slot: int) -> int | None:
    """Absolute position of a field of a table in a *valid* buffer."""
    vt = table_pos - struct.unpack_from("<i", data, table_pos)[0]
    vt_size = struct.unpack_from("<H", data, vt)[0]
    if 4 + 2 * slot >= vt_size:
        return None
    rel = struct.unpack_from("<H", data, vt + 4 + 2 * slot)[0]
    return table_pos + rel if rel else None


def _deref(data: bytes, at: int) -> int:
    return at + struct.unpack_from("<I", data, at)[0]


def _patched(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


def structure_ranges(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of the flatbuffer that are not weight data (for targeted bit flips)."""
    model = _schema().Model.GetRootAs(data, 0)
    spans = []
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        o = buf._tab.Offset(4)
        if o:
            start = buf._tab.Vector(o)
            n = buf._tab.VectorLen(o)
            if n > 64:
                spans.append((start, start + n))
    spans.sort()
    ranges, cursor = [], 0
    for start, end in spans:
        if start > cursor:
            ranges.append((cursor, start))
        cursor = max(cursor, end)
    ranges.append((cursor, len(data)))
    return ranges


def header_mutants(data: bytes) -> Iterator[Mutant]:
    yield "empty", "empty", b""
    yield "header", "8-byte-18-TFL3", b"\x18\x00\x00\x00TFL3"
    yield "header", "header-only", data[:8]
    yield "header", "header-plus-4", data[:12]
    yield "header", "zero-root", b"\x00\x00\x00\x00TFL3" + b"\x00" * 24
    yield "header", "root-points-at-header", b"\x04\x00\x00\x00TFL3" + b"\x00" * 24


def truncated_mutants(data: bytes, points: int = 48, seed: int = 1) -> Iterator[Mutant]:
    rng = random.Random(seed)
    size = len(data)
    cuts = {1, 4, 7, 9, 16, 31, 64, 100, size - 1, size - 2, size - 4, size // 2}
    cuts |= {int(size ** (k / 20)) for k in range(1, 20)}
    while len(cuts) < points:
        cuts.add(rng.randrange(1, size))
    for cut in sorted(c for c in cuts if 0 < c < size):
        yield "truncated", f"cut-{cut}", data[:cut]


def identifier_mutants(data: bytes) -> Iterator[Mutant]:
    for ident in (b"TFL2", b"tfl3", b"\x00\x00\x00\x00", b"TFL4", b"3LFT"):
        yield "identifier", f"ident-{ident!r}", data[:4] + ident + data[8:]
    yield "identifier", "png", b"\x89PNG\r\n\x1a\n" + data[8:200]
    yield "identifier", "zip", b"PK\x03\x04" + bytes(200)
    yield "identifier", "text", b"this is not a model, just text\n" * 10
    yield "identifier", "random", random.Random(7).randbytes(4096)


def offset_mutants(data: bytes) -> Iterator[Mutant]:
    size = len(data)
    root = struct.unpack_from("<I", data, 0)[0]
    for value in (size, size - 2, 0xFFFFFFF0, 0x7FFFFFFF):
        yield "offsets", f"root-{value}", _patched(data, 0, "<I", value)
    for value in (-0x7FFFFFFF, 0x7FFFFFFF, root + 1, -size):
        yield "offsets", f"root-vtable-{value}", _patched(data, root, "<i", value)
    vt = root - struct.unpack_from("<i", data, root)[0]
    yield "offsets", "vtable-size-huge", _patched(data, vt, "<H", 0xFFFE)
    yield "offsets", "vtable-size-odd", _patched(data, vt, "<H", 3)
    yield "offsets", "object-size-too-small", _patched(data, vt + 2, "<H", 4)
    yield "offsets", "field-past-table", _patched(data, vt + 4 + 2 * 2, "<H", 0xFFF0)
    for slot, name in ((1, "operator_codes"), (2, "subgraphs"), (4, "buffers"), (6, "metadata")):
        at = _field_pos(data, root, slot)
        if at is None:
            continue
        yield "offsets", f"{name}-offset-huge", _patched(data, at, "<I", 0xFFFFFF00)
        yield "offsets", f"{name}-offset-past-end", _patched(data, at, "<I", size - at)
        vec = _deref(data, at)
        yield "offsets", f"{name}-length-huge", _patched(data, vec, "<I", 0x3FFFFFFF)
        count = struct.unpack_from("<I", data, vec)[0]
        if count:
            yield "offsets", f"{name}-element-huge", _patched(data, vec + 4, "<I", 0x7FFFFFF0)
    buffers = _deref(data, _field_pos(data, root, 4))  # type: ignore[arg-type]
    n = struct.unpack_from("<I", data, buffers)[0]
    for i in range(n):  # the first buffer that holds data: its length
        table = _deref(data, buffers + 4 + 4 * i)
        at = _field_pos(data, table, 0)
        if at is not None:
            vec = _deref(data, at)
            yield "offsets", "buffer-data-length-huge", _patched(data, vec, "<I", size)
            break
    yield "offsets", "description-unterminated", _unterminated_description(data, root)


def _unterminated_description(data: bytes, root: int) -> bytes:
    at = _field_pos(data, root, 3)
    vec = _deref(data, at)  # type: ignore[arg-type]
    return _patched(data, vec, "<I", len(data) - vec - 4)


def _first_op(obj: Any) -> Any:
    return obj.subgraphs[0].operators[0]


def _weight_tensor(obj: Any) -> Any:
    sg = obj.subgraphs[0]
    return next(t for t in sg.tensors if obj.buffers[t.buffer].data is not None
                and len(obj.buffers[t.buffer].data) > 0)


def index_edits() -> dict[str, Callable[[Any], None]]:
    """Object-API edits, each producing a structurally invalid model."""

    def setattr_(getter: Callable[[Any], Any], attr: str, value: Any) -> Callable[[Any], None]:
        return lambda obj: setattr(getter(obj), attr, value(obj) if callable(value) else value)

    sg = lambda o: o.subgraphs[0]
    nt = lambda o: len(o.subgraphs[0].tensors)
    return {
        "op-input-out-of-range": lambda o: _first_op(o).inputs.__setitem__(0, nt(o) + 3),
        "op-input-negative": lambda o: _first_op(o).inputs.__setitem__(0, -7),
        "op-output-out-of-range": lambda o: _first_op(o).outputs.__setitem__(0, nt(o)),
        "opcode-index-out-of-range": setattr_(_first_op, "opcodeIndex", lambda o: len(o.operatorCodes)),
        "opcode-index-huge": setattr_(_first_op, "opcodeIndex", 0xFFFFFFF0),
        "subgraph-input-out-of-range": lambda o: sg(o).inputs.__setitem__(0, nt(o) + 100),
        "subgraph-output-negative": lambda o: sg(o).outputs.__setitem__(0, -1),
        "tensor-buffer-out-of-range": setattr_(lambda o: sg(o).tensors[0], "buffer", lambda o: len(o.buffers) + 5),
        "tensor-type-unknown": setattr_(lambda o: sg(o).tensors[0], "type", 99),
        "tensor-dim-negative": setattr_(lambda o: sg(o).tensors[0], "shape", np.array([1, -4, 3], np.int32)),
        "tensor-rank-9": setattr_(lambda o: sg(o).tensors[0], "shape", np.ones(9, np.int32)),
        "tensor-elements-huge": setattr_(lambda o: sg(o).tensors[0], "shape",
                                         np.array([65536, 65536, 4], np.int32)),
        "constant-data-too-small": setattr_(_weight_tensor, "shape", lambda o: np.array(
            [int(np.prod(_weight_tensor(o).shape)) * 4], np.int32)),
        "builtin-code-unknown": lambda o: _set_code(o, 4000),
        "builtin-code-negative": lambda o: _set_code(o, -5),
        "opcode-version-zero": setattr_(lambda o: o.operatorCodes[0], "version", 0),
        "metadata-buffer-out-of-range": lambda o: _set_metadata_buffer(o, len(o.buffers) + 1),
        "metadata-buffer-list-out-of-range": setattr_(lambda o: o, "metadataBuffer",
                                                      lambda o: np.array([len(o.buffers)], np.int32)),
        "buffer-external-outside-file": lambda o: _set_external(o, 1 << 40, 1024),
        "buffer-external-size-huge": lambda o: _set_external(o, 64, 1 << 62),
        "no-subgraphs": setattr_(lambda o: o, "subgraphs", []),
        "schema-version-2": setattr_(lambda o: o, "version", 2),
        "per-channel-scales-mismatch": _break_per_channel,
        "signature-tensor-out-of-range": _break_signature,
    }


def _set_code(obj: Any, code: int) -> None:
    obj.operatorCodes[0].builtinCode = code
    obj.operatorCodes[0].deprecatedBuiltinCode = max(-128, min(127, code))


def _set_metadata_buffer(obj: Any, index: int) -> None:
    fb = _schema()
    if not obj.metadata:
        entry = fb.MetadataT()
        entry.name = "x"
        obj.metadata = [entry]
    obj.metadata[0].buffer = index


def _set_external(obj: Any, offset: int, size: int) -> None:
    buf = _schema().BufferT()
    buf.offset, buf.size = offset, size
    obj.buffers.append(buf)


def _break_per_channel(obj: Any) -> None:
    for t in obj.subgraphs[0].tensors:
        q = t.quantization
        if q is not None and q.scale is not None and len(q.scale) > 1:
            q.quantizedDimension = len(t.shape) + 2
            return
    q = obj.subgraphs[0].tensors[0].quantization or _schema().QuantizationParametersT()
    q.scale = np.ones(3, np.float32)
    q.zeroPoint = np.zeros(5, np.int64)
    obj.subgraphs[0].tensors[0].quantization = q


def _break_signature(obj: Any) -> None:
    fb = _schema()
    if not obj.signatureDefs:
        sig = fb.SignatureDefT()
        sig.signatureKey = "serving_default"
        sig.inputs, sig.outputs = [], []
        obj.signatureDefs = [sig]
    entry = fb.TensorMapT()
    entry.name = "bad"
    entry.tensorIndex = 100000
    obj.signatureDefs[0].inputs = list(obj.signatureDefs[0].inputs or []) + [entry]


def index_mutants(data: bytes) -> Iterator[Mutant]:
    for name, change in index_edits().items():
        yield "indices", name, _edit(data, change)


def bitflip_mutants(data: bytes, count: int, seed: int, structure_only: bool) -> Iterator[Mutant]:
    """``count`` mutants with 1–8 flipped bits each (seeded, reproducible)."""
    rng = random.Random(seed)
    ranges = structure_ranges(data) if structure_only else [(8, len(data))]
    weights = [end - start for start, end in ranges]
    kind = "structure" if structure_only else "anywhere"
    for i in range(count):
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            start, end = rng.choices(ranges, weights)[0]
            at = rng.randrange(max(start, 8), end) if end > max(start, 8) else rng.randrange(8, len(data))
            out[at] ^= 1 << rng.randrange(8)
        yield "bitflip", f"{kind}-{seed}-{i}", bytes(out)


def structural_corpus(data: bytes) -> list[Mutant]:
    """All mutants that must be refused by the structural check (classes of ``STRUCTURAL``)."""
    out: list[Mutant] = []
    for gen in (header_mutants, truncated_mutants, identifier_mutants, offset_mutants, index_mutants):
        out.extend(gen(data))
    return out


def scale_bomb(data: bytes, value: float = 1000.0) -> bytes:
    """A well-formed model whose first per-channel weight scale is ``value``.

    With ai-edge-litert 2.3 such a requantization multiplier corrupts the heap at
    the first invoke (``double free or corruption``, SIGABRT): a real native
    crash that no structural check can see, which is what ``isolate=True`` is for.
    """

    def change(obj: Any) -> None:
        for tensor in obj.subgraphs[0].tensors:
            q = tensor.quantization
            if q is not None and q.scale is not None and len(q.scale) > 1:
                q.scale[0] = value
                return
        raise ValueError("the model has no per-channel quantized tensor")

    return _edit(data, change)


def custom_op_model(data: bytes, name: str = "EdgekitNoSuchOp") -> bytes:
    """The model with its first operator turned into an unknown CUSTOM op."""
    fb = _schema()

    def change(obj: Any) -> None:
        code = fb.OperatorCodeT()
        code.builtinCode = fb.BuiltinOperator.CUSTOM
        code.deprecatedBuiltinCode = fb.BuiltinOperator.CUSTOM
        code.customCode = name
        code.version = 1
        obj.operatorCodes.append(code)
        op = _first_op(obj)
        op.opcodeIndex = len(obj.operatorCodes) - 1
        op.builtinOptionsType, op.builtinOptions = 0, None

    return _edit(data, change)
