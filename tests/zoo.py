"""Test models and real test data.

The models the runtime tests load are committed in ``tests/models/`` (a few MB,
made by ``tests/models/make_models.py``), so these tests run without
TensorFlow. A model that is not committed (the benchmarks' full-size ones) is
built by that script's functions into ``tests/.cache`` (or
``$EDGEKIT_TEST_CACHE``) when TensorFlow is installed, under a file lock so that
parallel test processes build it once; without TensorFlow asking for one fails
and names the script. Everything here is real: Keras architectures converted by
``tf.lite.TFLiteConverter``, and scikit-learn's handwritten digits /
scikit-image's photos as images.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np

MODELS = Path(__file__).resolve().parent / "models"
CACHE = Path(os.environ.get("EDGEKIT_TEST_CACHE", Path(__file__).parent / ".cache"))
QUANTS = ("float32", "float16", "dynamic", "int8", "uint8")
DIGIT_SIZE = 32
DIGIT_LABELS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


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


def make_models() -> ModuleType:
    """``tests/models/make_models.py``, the builders (imports TensorFlow when one is called)."""
    if "make_models" not in sys.modules:
        spec = importlib.util.spec_from_file_location("make_models", MODELS / "make_models.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["make_models"] = module
        spec.loader.exec_module(module)
    return sys.modules["make_models"]


def model(name: str, build: Callable[[], bytes]) -> Path:
    """``tests/models/name`` if committed, else ``build()`` into the cache (needs TensorFlow)."""
    committed = MODELS / name
    if committed.exists():
        return committed
    if importlib.util.find_spec("tensorflow") is None:
        raise FileNotFoundError(
            f"{committed} is not committed and TensorFlow is not installed to build it: add it to "
            "COMMITTED in tests/models/make_models.py, run that script and commit the file")
    return cached(name, build)


def convert(keras_model, quant: str, representative=None) -> bytes:  # type: ignore[no-untyped-def]
    """Convert a Keras model: float32 | float16 | dynamic | int8 (int8 I/O) | uint8 (uint8 I/O)."""
    return make_models().convert(keras_model, quant, representative)


def mobilenet_v2_name(quant: str = "float32", size: int = 96, alpha: float = 0.35, classes: int = 10) -> str:
    return f"mobilenet_v2_{size}_{alpha}_{classes}_{quant}.tflite"


def mobilenet_v2(quant: str = "float32", size: int = 96, alpha: float = 0.35, classes: int = 10) -> Path:
    """MobileNetV2 (``weights=None``) taking float pixels in [0, 255] (rescaling inside)."""
    return model(mobilenet_v2_name(quant, size, alpha, classes),
                 lambda: make_models().mobilenet_v2(quant, size, alpha, classes))


def mobilenet_v3_small_name(quant: str = "dynamic", size: int = 96, classes: int = 10) -> str:
    return f"mobilenet_v3_small_{size}_{classes}_{quant}.tflite"


def mobilenet_v3_small(quant: str = "dynamic", size: int = 96, classes: int = 10) -> Path:
    """MobileNetV3-Small (``weights=None``); Keras' version rescales inside the model."""
    return model(mobilenet_v3_small_name(quant, size, classes),
                 lambda: make_models().mobilenet_v3_small(quant, size, classes))


def digits_classifier_name(quant: str = "uint8") -> str:
    return f"digits_classifier_{quant}.tflite"


def digits_classifier(quant: str = "uint8") -> Path:
    """A small CNN trained on the digits, with edgekit metadata (``DIGIT_LABELS``).

    Input: ``1×32×32×1`` grey pixels in [0, 255] (rescaling inside the model).
    """
    return model(digits_classifier_name(quant), lambda: make_models().digits_classifier(quant))


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


def write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj))
