"""Keras model → ``.tflite`` bytes, in one of four precisions.

* ``float32`` — no quantization.
* ``float16`` — weights stored as float16 (about half the size), float compute.
* ``dynamic`` — weights int8, activations quantized on the fly. Small, but on x86
  without an XNNPACK path it runs much slower than float32.
* ``int8`` — full-integer post-training quantization calibrated on a
  representative dataset; I/O ``uint8`` (default), ``int8`` or ``float32``.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from edgekit.errors import ConfigError

__all__ = [
    "IO_TYPES",
    "QUANTIZATIONS",
    "calibration_indices",
    "convert",
    "representative",
    "saved_model",
]

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
IO_TYPES = ("float32", "uint8", "int8")
NOTES = {"dynamic": "int8 weights with float activations have no XNNPACK path on x86, so dynamic-range "
                    "models often run slower than float32 (MobileNetV2-224: 1.6x here); prefer int8 "
                    "or float16 on devices"}


def calibration_indices(labels: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Up to ``count`` indices drawn evenly from every class (stratified), seeded."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    if len(labels) <= count:
        return np.arange(len(labels))
    per_class = max(1, count // max(1, len(classes)))
    chosen: list[int] = []
    for cls in classes:
        idx = np.flatnonzero(labels == cls)
        chosen += rng.choice(idx, size=min(per_class, len(idx)), replace=False).tolist()
    return np.array(sorted(chosen[:count]) if len(chosen) > count else sorted(chosen), dtype=np.int64)


def representative(images: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    """A representative-dataset generator over ``N×H×W×C`` pixel images (float32, 0..255)."""

    def gen() -> Iterator[list[np.ndarray]]:
        for image in images:
            yield [image[None, ...].astype(np.float32)]

    return gen


@contextlib.contextmanager
def saved_model(model: Any) -> Iterator[str]:
    """Export ``model`` once as a temporary SavedModel, so several conversions skip re-tracing it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgekit-export-") as tmp:
        with _silenced():
            model.export(tmp, verbose=False)
        yield tmp


def convert(model: Any, quantize: str, io: str = "uint8",
            rep: Callable[[], Iterator[list[np.ndarray]]] | None = None) -> bytes:
    """Convert a Keras model with ``tf.lite.TFLiteConverter``.

    Args:
        model: The Keras model (takes pixels 0..255, ends in softmax), or the folder
            of its SavedModel (see :func:`saved_model`).
        quantize: One of :data:`QUANTIZATIONS`.
        io: Input/output type of an ``int8`` model (ignored otherwise).
        rep: Representative dataset (required for ``int8``).

    Raises:
        ConfigError: unknown quantization or I/O type, or ``int8`` without data.
    """
    import tensorflow as tf

    if quantize not in QUANTIZATIONS:
        raise ConfigError(f"quantize {quantize!r} is not one of {', '.join(QUANTIZATIONS)}")
    if io not in IO_TYPES:
        raise ConfigError(f"io {io!r} is not one of {', '.join(IO_TYPES)}")
    if isinstance(model, str | os.PathLike):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(model))
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        if rep is None:
            raise ConfigError("int8 quantization needs a representative dataset (calibration images)")
        converter.representative_dataset = rep
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io != "float32":
            converter.inference_input_type = tf.uint8 if io == "uint8" else tf.int8
            converter.inference_output_type = converter.inference_input_type
    with _silenced(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bytes(converter.convert())


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """Hide the converter's chatter (Python prints and native logging on fds 1 and 2)."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
