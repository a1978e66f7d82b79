"""Test models and real test data, built once and cached on disk.

Models are built by TensorFlow (the ``train`` extra) and cached under
``tests/.cache`` (or ``$EDGEKIT_TEST_CACHE``) keyed by their parameters, with a
file lock so that parallel test processes build each one once. Everything here
is real: Keras architectures converted by ``tf.lite.TFLiteConverter``, and
scikit-learn's handwritten digits / scikit-image's photos as images.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("EDGEKIT_TEST_CACHE", Path(__file__).parent / ".cache"))
QUANTS = ("float32", "float16", "dynamic", "int8", "uint8")
DIGIT_SIZE = 32


@contextmanager
def _locked(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cached(name: str, build: Callable[[], bytes]) -> Path:
    """``CACHE/name`` built by ``build()`` the first time (atomically, under a lock)."""
    path = CACHE / name
    if path.exists():
        return path
    with _locked(name):
        if not path.exists():
            data = build()
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
    return path


def _quiet_tf():  # type: ignore[no-untyped-def]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def convert(model, quant: str, representative: Callable[[], Iterator[list[np.ndarray]]] | None = None) -> bytes:  # type: ignore[no-untyped-def]
    """Convert a Keras model: float32 | float16 | dynamic | int8 (int8 I/O) | uint8 (uint8 I/O)."""
    tf = _quiet_tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quant in ("int8", "uint8"):
        if representative is None:
            raise ValueError("int8 conversion needs a representative dataset")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io = tf.int8 if quant == "int8" else tf.uint8
        converter.inference_input_type = io
        converter.inference_output_type = io
    elif quant != "float32":
        raise ValueError(f"unknown quantization {quant!r}; one of {QUANTS}")
    return converter.convert()


def _photo_batches(size: int, count: int = 8) -> Callable[[], Iterator[list[np.ndarray]]]:
    """Representative data from scikit-image's real photos, as float [0, 255]."""
    import cv2

    photos = [cv2.resize(p, (size, size)).astype(np.float32) for p in skimage_photos()]

    def gen() -> Iterator[list[np.ndarray]]:
        for i in range(count):
            yield [photos[i % len(photos)][None, ...]]

    return gen


def mobilenet_v2(quant: str = "float32", size: int = 96, alpha: float = 0.35, classes: int = 10) -> Path:
    """MobileNetV2 (``weights=None``) taking float pixels in [0, 255] (rescaling inside)."""

    def build() -> bytes:
        _quiet_tf()
        import keras

        keras.utils.set_random_seed(0)
        inputs = keras.Input((size, size, 3))
        x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
        base = keras.applications.MobileNetV2(
            input_shape=(size, size, 3), alpha=alpha, weights=None, include_top=True, classes=classes
        )
        model = keras.Model(inputs, base(x))
        return convert(model, quant, _photo_batches(size))

    return cached(f"mobilenet_v2_{size}_{alpha}_{classes}_{quant}.tflite", build)


def mobilenet_v3_small(quant: str = "float32", size: int = 224, classes: int = 1000) -> Path:
    """MobileNetV3-Small (``weights=None``); Keras' version rescales inside the model."""

    def build() -> bytes:
        _quiet_tf()
        import keras

        keras.utils.set_random_seed(0)
        model = keras.applications.MobileNetV3Small(
            input_shape=(size, size, 3), weights=None, classes=classes
        )
        return convert(model, quant, _photo_batches(size))

    return cached(f"mobilenet_v3_small_{size}_{classes}_{quant}.tflite", build)


def skimage_photos() -> list[np.ndarray]:
    """scikit-image's bundled real photos as BGR ``uint8`` arrays."""
    import cv2
    from skimage import data

    names = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
             "motorcycle_left", "retina"]
    out = []
    for name in names:
        loader = getattr(data, name, None)
        if loader is None:
            continue
        try:
            image = loader()
        except Exception:  # noqa: BLE001 - some datasets need pooch downloads
            continue
        if isinstance(image, tuple):
            image = image[0]
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        out.append(cv2.cvtColor(image[:, :, :3].astype(np.uint8), cv2.COLOR_RGB2BGR))
    return out


def digits(size: int = DIGIT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's real handwritten digits as ``size×size`` grayscale ``uint8`` images."""
    import cv2
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images * (255.0 / 16.0)).astype(np.uint8)
    big = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR) for im in images])
    return big, d.target.astype(np.int64)


def digits_split(seed: int = 0, test_fraction: float = 0.25) -> tuple[np.ndarray, ...]:
    """Stratified split of :func:`digits`: ``x_train, y_train, x_test, y_test``."""
    from sklearn.model_selection import train_test_split

    x, y = digits()
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return x_tr, y_tr, x_te, y_te


DIGIT_LABELS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def digits_classifier(quant: str = "uint8") -> Path:
    """A small CNN trained for a few seconds on the digits, with edgekit metadata.

    Input: ``1×32×32×1`` grey pixels in [0, 255] (rescaling inside the model).
    """

    def build() -> bytes:
        _quiet_tf()
        import keras

        import edgekit._modelfile.metadata as md

        keras.utils.set_random_seed(0)
        x_tr, y_tr, _, _ = digits_split()
        model = keras.Sequential([
            keras.Input((DIGIT_SIZE, DIGIT_SIZE, 1)),
            keras.layers.Rescaling(1 / 255.0),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_tr[..., None].astype(np.float32), y_tr, epochs=8, batch_size=32, verbose=0)

        def rep() -> Iterator[list[np.ndarray]]:
            for i in range(0, 200, 2):
                yield [x_tr[i][None, ..., None].astype(np.float32)]

        tflite = convert(model, quant, rep)
        meta = md.ModelMetadata(task="classify", labels=DIGIT_LABELS, color="gray",
                                resize="stretch", mean=(0.0,), std=(1.0,), activation="none",
                                quantization={"mode": quant},
                                provenance={"dataset": "sklearn digits", "test": "zoo"})
        return md.embed(tflite, meta)

    return cached(f"digits_classifier_{quant}.tflite", build)


def write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj))
