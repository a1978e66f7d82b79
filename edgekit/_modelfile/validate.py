"""Structural checks of a ``.tflite`` buffer before any native code reads it.

LiteRT's security policy says to treat a model as untrusted code: crafted files
have read out of bounds and overflowed the heap of the native interpreter.
:func:`check_model` walks the flatbuffer in pure Python — every vtable, table,
vector and string is bounds-checked *before* it is read — and checks what the
interpreter later trusts: tensor, buffer, operator-code, subgraph and signature
indices, operator codes and tensor types known to this runtime's schema, sane
shapes, constant data of the size its tensor needs, out-of-file data of large
models inside the file, quantization scales finite and positive and zero points
that fit their type (bit flips there crash LiteRT 2.3 at the first invoke),
UTF-8 strings. The generated schema accessors are never used on an unchecked
buffer. What no structural check can see (e.g. a finite but absurd weight
scale that corrupts the heap) is what ``isolate=True`` is for.

The walk is linear in the number of tables (a 14 MB MobileNet takes a few
milliseconds): buffer contents are never iterated in Python.
"""

from __future__ import annotations

import math
import struct
from functools import cache

import numpy as np

from ..errors import ModelInvalid
from .flatreader import U32, Buffer, Table

__all__ = ["MAX_ELEMENTS", "MAX_RANK", "check_model"]

MAX_MODEL_BYTES = 2**31 - 1
MAX_RANK = 8
MAX_ELEMENTS = 2**31 - 1  # per tensor; TFLite computes flat sizes in int

_FIXED_TYPE_BYTES = {  # TensorType name -> bytes per element (packed / variable types absent)
    "FLOAT32": 4, "FLOAT16": 2, "INT32": 4, "UINT8": 1, "INT64": 8, "BOOL": 1, "INT16": 2,
    "COMPLEX64": 8, "INT8": 1, "FLOAT64": 8, "COMPLEX128": 16, "UINT64": 8, "UINT32": 4,
    "UINT16": 2, "BFLOAT16": 2, "FLOAT8_E4M3FN": 1, "FLOAT8_E5M2": 1,
}
_ZERO_POINT_RANGE = {"INT8": (-128, 127), "UINT8": (0, 255), "INT16": (-32768, 32767),
                     "INT4": (-8, 7), "UINT4": (0, 15), "INT2": (-2, 1)}
# Option tables (by union member name) holding offsets: vtable slot -> "str" | vector element size.
_OPTION_OFFSETS: dict[str, dict[int, str | int]] = {
    "ConcatEmbeddingsOptions": {1: 4, 2: 4}, "FullyConnectedOptions": {5: 1},
    "ReshapeOptions": {0: 4}, "SqueezeOptions": {0: 4}, "BucketizeOptions": {0: 4},
    "VarHandleOptions": {0: "str", 1: "str"},
    "StablehloConcatenateOptions": {}, "StablehloBroadcastInDimOptions": {0: 8},
    "StablehloSliceOptions": {0: 8, 1: 8, 2: 8},
    "StablehloConvolutionOptions": {0: 8, 1: 8, 2: 8, 3: 8, 4: 1, 7: 8, 10: 8, 13: 8, 16: 4},
    "StablehloCustomCallOptions": {0: "str", 2: "str", 4: 4, 5: 1},
    "StablehloReduceOptions": {0: 8}, "StablehloScatterOptions": {1: 8, 2: 8, 3: 8},
    "StablehloDynamicSliceOptions": {0: 8}, "StablehloPadOptions": {0: 8, 1: 8, 2: 8},
    "StablehloDotGeneralOptions": {0: 8, 1: 8, 2: 8, 3: 8, 4: 4},
    "StablehloReduceWindowOptions": {0: 8, 1: 8, 2: 8, 3: 8, 4: 8},
    "StablehloGatherOptions": {0: 8, 1: 8, 2: 8, 4: 8}, "StablehloTransposeOptions": {0: 8},
    "StableHLOCompositeOptions": {0: "str", 2: 1}, "StablehloCaseOptions": {0: 4},
}
# Options naming subgraphs (by union member name): the vtable slots holding a subgraph index.
_SUBGRAPH_SLOTS = {"IfOptions": (0, 1), "WhileOptions": (0, 1), "CallOnceOptions": (0,),
                   "CallOptions": (0,), "StablehloWhileOptions": (0, 1)}


@cache
def _schema_tables() -> tuple[frozenset[int], dict[int, str], dict[int, str], dict[int, str]]:
    """Known operator codes and names of tensor types / option unions, from the wheel's schema."""
    from .reader import schema

    fb = schema()

    def members(enum: type) -> dict[int, str]:
        return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}

    ops = frozenset(members(fb.BuiltinOperator))
    options2 = members(fb.BuiltinOptions2) if hasattr(fb, "BuiltinOptions2") else {}
    return ops, members(fb.TensorType), members(fb.BuiltinOptions), options2


def check_model(data: bytes, where: str = "model") -> None:
    """Raise :class:`ModelInvalid` (naming ``where`` and the reason) unless ``data`` is sound.

    Args:
        data: The whole ``.tflite`` file (an appended TFLite-Support zip is fine).
        where: The path (or ``"<bytes>"``) to name in the message.

    Raises:
        ModelInvalid: the first structural problem found, e.g.
            ``"m.tflite: subgraph 0 operator 3 input 1: tensor 912 is out of range (0..86)"``.
    """
    size = len(data)
    if size == 0:
        raise ModelInvalid(f"{where}: file is empty")
    if size < 8:
        raise ModelInvalid(f"{where}: file is {size} bytes, too short for a TFLite flatbuffer")
    if size > MAX_MODEL_BYTES:
        raise ModelInvalid(f"{where}: file is {size} bytes, over the 2 GiB flatbuffer limit")
    if bytes(data[4:8]) != b"TFL3":
        raise ModelInvalid(
            f"{where}: not a TFLite model (file identifier {bytes(data[4:8])!r}, expected b'TFL3')"
        )
    (root,) = U32.unpack_from(data, 0)
    if root < 8 or root + 4 > size:
        raise ModelInvalid(f"{where}: root table offset {root} is outside the {size}-byte file")
    buf = Buffer(data if isinstance(data, bytes | memoryview) else bytes(data), where)
    _check_root(buf, Table(buf, root, "model"))


def _check_root(buf: Buffer, model: Table) -> None:
    version = model.scalar(0, "<I")
    if version != 3:
        buf.fail(f"schema version {version}; this runtime reads version 3")
    opcodes = _check_opcodes(buf, model.tables(1, "operator_codes"))
    subgraphs = model.tables(2, "subgraphs")
    if not subgraphs:
        buf.fail("the model has no subgraph")
    model.string(3, "description")
    buffers = model.tables(4, "buffers")
    sizes = [_check_buffer(buf, b) for b in buffers]
    for i, index in enumerate(model.ints(5, "metadata_buffer")):
        if not 0 <= index < len(buffers):
            buf.fail(f"metadata_buffer[{i}]: buffer {index} is out of range (model has {len(buffers)})")
    for i, entry in enumerate(model.tables(6, "metadata")):
        entry.string(0, "name")
        index = entry.scalar(1, "<I")
        if index >= len(buffers):
            buf.fail(f"metadata[{i}]: buffer {index} is out of range (model has {len(buffers)})")
    tensor_counts = [
        _check_subgraph(buf, i, sg, opcodes, sizes, len(subgraphs)) for i, sg in enumerate(subgraphs)
    ]
    for i, sig in enumerate(model.tables(7, "signature_defs")):
        _check_signature(buf, i, sig, tensor_counts)
    for group in model.tables(8, "external_buffer_groups"):
        group.string(0, "name")
    for ext in model.tables(9, "external_buffers"):
        ext.string(4, "packing")


def _check_opcodes(buf: Buffer, codes: list[Table]) -> list[str]:
    known, _, _, _ = _schema_tables()
    names = []
    for i, code in enumerate(codes):
        builtin = max(code.scalar(0, "<b"), code.scalar(3, "<i"))
        custom = code.string(1, "custom_code")
        if builtin not in known:
            buf.fail(f"operator code {i}: builtin operator {builtin} is unknown to this runtime's schema")
        if code.scalar(2, "<i", 1) < 1:
            buf.fail(f"operator code {i}: version {code.scalar(2, '<i', 1)} is below 1")
        names.append(custom.decode("utf-8", "replace") if custom else str(builtin))
    return names


def _check_buffer(buf: Buffer, buffer: Table) -> int:
    """Bytes of data the buffer holds (inline or, for large models, after the flatbuffer)."""
    _, n = buffer.vector(0, 1, "data")
    offset, length = buffer.scalar(1, "<Q"), buffer.scalar(2, "<Q")
    if offset > 1:
        if offset + length > buf.size:
            buf.fail(f"{buffer.what}: external data [{offset}, {offset + length}) "
                     f"lies outside the {buf.size}-byte file")
        return length
    return n


def _check_subgraph(buf: Buffer, index: int, sg: Table, opcodes: list[str],
                    buffer_sizes: list[int], n_subgraphs: int) -> int:
    what = f"subgraph {index}"
    tensors = sg.tables(0, "tensors")
    for t, tensor in enumerate(tensors):
        _check_tensor(buf, f"{what} tensor {t}", tensor, buffer_sizes)
    n = len(tensors)
    for name, slot in (("input", 1), ("output", 2)):
        for i, ti in enumerate(sg.ints(slot, f"{name}s")):
            if not 0 <= ti < n:
                buf.fail(f"{what} {name} {i}: tensor {ti} is out of range (0..{n - 1})")
    for o, op in enumerate(sg.tables(3, "operators")):
        _check_operator(buf, f"{what} operator {o}", op, opcodes, n, n_subgraphs)
    sg.string(4, "name")
    return n


def _check_tensor(buf: Buffer, what: str, tensor: Table, buffer_sizes: list[int]) -> None:
    _, types, _, _ = _schema_tables()
    shape = tensor.ints(0, "shape")
    type_code = tensor.scalar(1, "<b")
    if type_code not in types:
        buf.fail(f"{what}: tensor type {type_code} is unknown")
    if len(shape) > MAX_RANK:
        buf.fail(f"{what}: rank {len(shape)} is over {MAX_RANK}")
    count = 1
    for d in shape:
        if d < 0:
            buf.fail(f"{what}: shape {list(shape)} has a negative dimension")
        count *= d
    if count > MAX_ELEMENTS:
        buf.fail(f"{what}: shape {list(shape)} has {count} elements, over {MAX_ELEMENTS}")
    signature = tensor.ints(7, "shape_signature")
    if signature and (len(signature) != len(shape) or min(signature) < -1):
        buf.fail(f"{what}: shape_signature {list(signature)} does not match shape {list(shape)}")
    index = tensor.scalar(2, "<I")
    if index >= len(buffer_sizes):
        buf.fail(f"{what}: buffer {index} is out of range (model has {len(buffer_sizes)})")
    tensor.string(3, "name")
    quant = tensor.table(4, "quantization")
    if quant is not None:
        _check_quantization(buf, what, quant, shape, types[type_code])
    sparsity = tensor.table(6, "sparsity")
    if sparsity is not None:
        _check_sparsity(sparsity)
    for variant in tensor.tables(9, "variant_tensors"):
        variant.ints(0, "shape")
    per = _FIXED_TYPE_BYTES.get(types[type_code])
    data_bytes = buffer_sizes[index]
    if per and sparsity is None and data_bytes and data_bytes != count * per:
        buf.fail(f"{what}: constant data is {data_bytes} bytes but {types[type_code]}"
                 f"{list(shape)} needs {count * per}")


def _check_quantization(
    buf: Buffer, what: str, quant: Table, shape: tuple[int, ...], type_name: str
) -> None:
    quant.vector(0, 4, "min")
    quant.vector(1, 4, "max")
    start, scales = quant.vector(2, 4, "scale")
    low, high = _extremes(buf.data, "f", start, scales)
    if scales and not (0 < low and high < math.inf):  # NaN fails both comparisons
        buf.fail(f"{what}: quantization scales must be finite and positive "
                 f"(min {low!r}, max {high!r})")
    zp_start, zero_points = quant.vector(3, 8, "zero_point")
    bounds = _ZERO_POINT_RANGE.get(type_name)
    if bounds and zero_points:
        low, high = _extremes(buf.data, "q", zp_start, zero_points)
        if low < bounds[0] or high > bounds[1]:
            buf.fail(f"{what}: zero points [{low}, {high}] do not fit {type_name}")
    details_type = quant.scalar(4, "<B")
    details = quant.table(5, "details")
    if details is not None:  # 1 CustomQuantization, 2 Blockwise, 3 MultiAxis
        _generic_option(details, {1: {0: 1}, 2: {3: 4}, 3: {3: 4}}.get(details_type))
    if scales > 1 and details is None:
        axis = quant.scalar(6, "<i")
        if zero_points and zero_points != scales:
            buf.fail(f"{what}: {scales} scales but {zero_points} zero points")
        if not 0 <= axis < len(shape) or shape[axis] != scales:
            buf.fail(f"{what}: {scales} per-channel scales do not match axis {axis} of shape {list(shape)}")


def _extremes(data: bytes | memoryview, kind: str, start: int, n: int) -> tuple[float, float]:
    """Min and max of ``n`` little-endian numbers (NaN-aware for floats); small vectors without NumPy."""
    if n == 0:
        return 0.0, 0.0
    if n <= 16:
        values = struct.unpack_from(f"<{n}{kind}", data, start)
        if kind == "f" and any(math.isnan(v) for v in values):
            return math.nan, math.nan
        return min(values), max(values)
    array = np.frombuffer(data, "<f4" if kind == "f" else "<i8", n, start)
    return array.min().item(), array.max().item()  # NaN propagates through min/max


def _check_sparsity(sparsity: Table) -> None:
    sparsity.vector(0, 4, "traversal_order")
    sparsity.vector(1, 4, "block_map")
    for dim in sparsity.tables(2, "dim_metadata"):
        for type_slot, value_slot in ((2, 3), (4, 5)):
            segment = dim.table(value_slot, "array")
            kind = dim.scalar(type_slot, "<B")
            if segment is not None:
                segment.vector(0, {1: 4, 2: 2, 3: 1}.get(kind, 1), "values")


def _check_operator(buf: Buffer, what: str, op: Table, opcodes: list[str],
                    n_tensors: int, n_subgraphs: int) -> None:
    code = op.scalar(0, "<I")
    if code >= len(opcodes):
        buf.fail(f"{what}: opcode_index {code} is out of range (model has {len(opcodes)} codes)")
    for name, slot in (("input", 1), ("output", 2), ("intermediate", 8)):
        for i, ti in enumerate(op.ints(slot, f"{name}s")):
            if not -1 <= ti < n_tensors:
                buf.fail(f"{what} {name} {i}: tensor {ti} is out of range (-1 or 0..{n_tensors - 1})")
    op.vector(5, 1, "custom_options")
    op.vector(7, 1, "mutating_variable_inputs")
    large_at, large_size = op.scalar(9, "<Q"), op.scalar(10, "<Q")
    if large_at > 1 and large_at + large_size > buf.size:
        buf.fail(f"{what}: custom options [{large_at}, {large_at + large_size}) lie outside the file")
    _, _, options1, options2 = _schema_tables()
    for type_slot, value_slot, names in ((3, 4, options1), (11, 12, options2)):
        options = op.table(value_slot, "builtin_options")
        if options is None:
            continue
        name = names.get(op.scalar(type_slot, "<B"), "")
        _generic_option(options, _OPTION_OFFSETS.get(name, {}))
        for slot in _SUBGRAPH_SLOTS.get(name, ()):
            sub = options.scalar(slot, "<i")
            if not 0 <= sub < n_subgraphs:
                buf.fail(f"{what}: {name} names subgraph {sub} (model has {n_subgraphs})")


def _generic_option(table: Table, offsets: dict[int, str | int] | None = None) -> None:
    """Check an options table's offset fields (the rest are scalars inside the checked table)."""
    for slot, kind in (offsets or {}).items():
        if kind == "str":
            table.string(slot, f"field{slot}")
        else:
            table.vector(slot, int(kind), f"field{slot}")


def _check_signature(buf: Buffer, index: int, sig: Table, tensor_counts: list[int]) -> None:
    sig.string(2, "signature_key")
    sub = sig.scalar(4, "<I")
    if sub >= len(tensor_counts):
        buf.fail(f"signature {index}: subgraph {sub} is out of range (model has {len(tensor_counts)})")
    for slot, name in ((0, "inputs"), (1, "outputs")):
        for i, entry in enumerate(sig.tables(slot, name)):
            entry.string(0, "name")
            ti = entry.scalar(1, "<I")
            if ti >= tensor_counts[sub]:
                buf.fail(f"signature {index} {name} {i}: tensor {ti} is out of range "
                         f"(subgraph {sub} has {tensor_counts[sub]})")
