"""Tiny ``.tflite`` models written directly as flatbuffers, without TensorFlow.

The schema comes with the ai-edge-litert wheel (``schema_py_generated``), so
runtime tests can build the exact model they need: here an image model whose
output is ``mean(pixels) + constant``. Choosing the constant picks the
output: ``nan``/``inf`` for a model that emits non-finite values, or a row of
scores for a classifier of any size.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _tensor(fb: Any, name: str, shape: Sequence[int], dtype: int, buffer: int) -> Any:
    tensor = fb.TensorT()
    tensor.name = name
    tensor.shape = list(shape)
    tensor.type = dtype
    tensor.buffer = buffer
    return tensor


def _buffer(fb: Any, data: bytes = b"") -> Any:
    buf = fb.BufferT()
    buf.data = list(data) if data else None
    return buf


def _op(fb: Any, code: int, inputs: list[int], outputs: list[int], options_type: int, options: Any) -> Any:
    op = fb.OperatorT()
    op.opcodeIndex = code
    op.inputs, op.outputs = inputs, outputs
    op.builtinOptionsType, op.builtinOptions = options_type, options
    return op


def mean_plus_constant(constant: Sequence[float], size: int = 8, keep_dims: bool = True) -> bytes:
    """``[1,size,size,3]`` float pixels → ``mean of the pixels + constant``.

    ``keep_dims=True`` gives a ``[1,1,1,C]`` output (edgekit guesses task ``raw``);
    ``keep_dims=False`` gives ``[1,C]`` (task ``classify``), ``C = len(constant)``.
    """
    import flatbuffers

    fb = _schema()
    channels = len(constant)
    mean_shape, const_shape = ([1, 1, 1, 1], [channels]) if keep_dims else ([1], [1, channels])
    out_shape = [1, 1, 1, channels] if keep_dims else [1, channels]
    f32, i32 = fb.TensorType.FLOAT32, fb.TensorType.INT32
    axes = np.array([1, 2, 3], np.int32).tobytes()
    values = np.array(constant, np.float32).tobytes()
    graph = fb.SubGraphT()
    graph.tensors = [
        _tensor(fb, "pixels", [1, size, size, 3], f32, 1),
        _tensor(fb, "axes", [3], i32, 2),
        _tensor(fb, "mean", mean_shape, f32, 3),
        _tensor(fb, "constant", const_shape, f32, 4),
        _tensor(fb, "output", out_shape, f32, 5),
    ]
    graph.inputs, graph.outputs = [0], [4]
    reducer = fb.ReducerOptionsT()
    reducer.keepDims = keep_dims
    graph.operators = [
        _op(fb, 0, [0, 1], [2], fb.BuiltinOptions.ReducerOptions, reducer),
        _op(fb, 1, [2, 3], [4], fb.BuiltinOptions.AddOptions, fb.AddOptionsT()),
    ]
    codes = []
    for builtin in (fb.BuiltinOperator.MEAN, fb.BuiltinOperator.ADD):
        code = fb.OperatorCodeT()
        code.builtinCode = builtin
        code.deprecatedBuiltinCode = builtin
        code.version = 1
        codes.append(code)
    model = fb.ModelT()
    model.version = 3
    model.description = "edgekit test: mean + constant"
    model.operatorCodes = codes
    model.subgraphs = [graph]
    model.buffers = [_buffer(fb), _buffer(fb), _buffer(fb, axes), _buffer(fb), _buffer(fb, values),
                     _buffer(fb)]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def nan_model() -> bytes:
    """A model whose ``[1,1,1,3]`` output is ``[nan, inf, -inf]`` for every image."""
    return mean_plus_constant([float("nan"), float("inf"), float("-inf")])


def classifier(classes: int = 3) -> bytes:
    """A ``classes``-way classifier without metadata or labels (scores ``0.1, 0.2, …`` + mean)."""
    return mean_plus_constant([0.1 * (i + 1) for i in range(classes)], keep_dims=False)


def with_zip(model: bytes, files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """``model`` with a zip of ``files`` appended (as TFLite-Support and Ultralytics do)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return model + buf.getvalue()


def ultralytics_names(names: dict[str, str] | list[str]) -> bytes:
    """An Ultralytics ``metadata.json`` holding ``names``."""
    return json.dumps({"names": names}).encode("utf-8")


def edgetpu_compiled(model: bytes) -> bytes:
    """``model`` rewritten the way ``edgetpu_compiler`` leaves a fully mapped graph: one
    ``edgetpu-custom-op`` from the graph's inputs to its outputs (its payload is opaque here)."""
    import flatbuffers

    fb = _schema()
    tree = fb.ModelT.InitFromPackedBuf(model, 0)
    code = fb.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = fb.BuiltinOperator.CUSTOM
    code.customCode = b"edgetpu-custom-op"
    code.version = 1
    tree.operatorCodes = [code]
    graph = tree.subgraphs[0]
    op = fb.OperatorT()
    op.opcodeIndex = 0
    op.inputs, op.outputs = list(graph.inputs), list(graph.outputs)
    op.customOptions = list(b"\x00" * 16)
    graph.operators = [op]
    builder = flatbuffers.Builder(1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
