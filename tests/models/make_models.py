"""Build the small ``.tflite`` models the runtime tests load, into ``tests/models/``.

The runtime tests (everything outside ``tests/trainer``) must run without
TensorFlow, so the models they need are committed beside this script; this is
the one place that makes them (TensorFlow: the ``train`` extra). Re-run it after
changing a model here, then commit the changed files::

    export PYTHONPATH=$PWD:$PWD/trainer        # from the repository root
    python tests/models/make_models.py          # rebuild every committed model
    python tests/models/make_models.py NAME...  # rebuild some (file names as listed by --list)
    python tests/models/make_models.py --check  # rebuild into a temporary folder and compare

Every model is real: Keras architectures (``weights=None``, seeded) or
``tf.function`` graphs converted by ``tf.lite.TFLiteConverter``, calibrated on
real photos (scikit-image) and handwritten digits (scikit-learn). Seeds are
fixed and op determinism is on, so one TensorFlow version rebuilds the same
bytes. A test that needs a model not listed in :data:`COMMITTED` gets it built
into ``tests/.cache`` by ``tests/zoo.py`` when TensorFlow is installed (the
benchmarks' full-size models) and fails without it: add it here instead.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
for folder in (TESTS, TESTS / "detect"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import detect_models as dm
import zoo

QUANTS = zoo.QUANTS
YOLO_LAYOUTS = ("yolov8", "yolov8-transposed", "yolov5", "yolov5-transposed", "yolo-end2end")
Sample = Callable[[], Iterator[list[np.ndarray]]]


def _tf():  # type: ignore[no-untyped-def]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    tf.config.experimental.enable_op_determinism()
    return tf


def _seed() -> None:
    _tf()
    import keras

    keras.utils.set_random_seed(0)


# -- conversion ---------------------------------------------------------------------------------

def _quantize(converter, quant: str, representative: Sample | None) -> None:  # type: ignore[no-untyped-def]
    """float32 | float16 | dynamic | int8 (int8 I/O) | uint8 (uint8 I/O) on ``converter``."""
    tf = _tf()
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


def convert(model, quant: str, representative: Sample | None = None) -> bytes:  # type: ignore[no-untyped-def]
    """Convert a Keras model (see :func:`_quantize` for ``quant``)."""
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    _quantize(converter, quant, representative)
    return converter.convert()


def convert_function(fn, quant: str, representative: Sample | None = None) -> bytes:  # type: ignore[no-untyped-def]
    """Convert a ``tf.function`` with an input signature (see :func:`_quantize`)."""
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    _quantize(converter, quant, representative)
    return converter.convert()


def _photo_batches(size: int, count: int = 8) -> Sample:
    """Representative data from scikit-image's real photos, as float [0, 255]."""
    import cv2

    photos = [cv2.resize(p, (size, size)).astype(np.float32) for p in zoo.skimage_photos()]

    def gen() -> Iterator[list[np.ndarray]]:
        for i in range(count):
            yield [photos[i % len(photos)][None, ...]]

    return gen


# -- classifiers --------------------------------------------------------------------------------

def mobilenet_v2(quant: str, size: int, alpha: float, classes: int) -> bytes:
    """MobileNetV2 (``weights=None``) taking float pixels in [0, 255] (rescaling inside)."""
    _seed()
    import keras

    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    base = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), alpha=alpha, weights=None, include_top=True, classes=classes
    )
    return convert(keras.Model(inputs, base(x)), quant, _photo_batches(size))


def mobilenet_v3_small(quant: str, size: int, classes: int) -> bytes:
    """MobileNetV3-Small (``weights=None``); Keras' version rescales inside the model."""
    _seed()
    import keras

    model = keras.applications.MobileNetV3Small(input_shape=(size, size, 3), weights=None,
                                                classes=classes)
    return convert(model, quant, _photo_batches(size))


def digits_classifier(quant: str) -> bytes:
    """A small CNN trained for a few seconds on the digits, with edgekit metadata.

    Input: ``1×32×32×1`` grey pixels in [0, 255] (rescaling inside the model).
    """
    _seed()
    import keras

    import edgekit._modelfile.metadata as md

    size = zoo.DIGIT_SIZE
    x_tr, y_tr, _, _ = zoo.digits_split()
    model = keras.Sequential([
        keras.Input((size, size, 1)),
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

    meta = md.ModelMetadata(task="classify", labels=zoo.DIGIT_LABELS, color="gray",
                            resize="stretch", mean=(0.0,), std=(1.0,), activation="none",
                            quantization={"mode": quant},
                            provenance={"dataset": "sklearn digits", "test": "zoo"})
    return md.embed(convert(model, quant, rep), meta)


def dense(inputs: int, outputs: int) -> bytes:
    """One dense layer on a flat vector: a model whose input is not an image."""
    _seed()
    import keras

    x = keras.Input((inputs,))
    return convert(keras.Model(x, keras.layers.Dense(outputs)(x)), "float32")


def forever_loop() -> bytes:
    """A tiny model whose WHILE loop never ends (``x > -1`` stays true while ``x += 1``)."""
    tf = _tf()

    @tf.function(input_signature=[tf.TensorSpec([1], tf.float32)])
    def forever(x):  # type: ignore[no-untyped-def]
        return tf.while_loop(lambda i: tf.reduce_all(i > -1.0), lambda i: i + 1.0, [x])[0]

    return convert_function(forever, "float32")


# -- detectors (the head data lives in tests/detect/detect_models.py) ----------------------------

def _random_pixels(shape: tuple[int, ...]) -> Sample:
    def gen() -> Iterator[list[np.ndarray]]:
        rng = np.random.default_rng(1)
        for _ in range(4):
            yield [rng.uniform(0, 255, shape).astype(np.float32)]

    return gen


def constant_model(output: np.ndarray, quant: str, input_hw: tuple[int, int]) -> bytes:
    """A ``.tflite`` taking ``[1,H,W,3]`` pixels whose one output is ``output``."""
    tf = _tf()
    shape = (1, *input_hw, 3)
    const = tf.constant(output)

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
    def model(x):  # type: ignore[no-untyped-def]
        # pixels are >= 0, so this adds 0, but no converter can fold it away
        return const + tf.minimum(tf.reduce_mean(x), 0.0)

    return convert_function(model, quant, _random_pixels(shape))


def yolo(layout: str, quant: str, pixels: bool) -> bytes:
    """A YOLO-layout head (320×320 input) encoding ``detect_models.OBJECTS``."""
    n = 300 if layout == "yolo-end2end" else 2100
    return constant_model(dm.head(layout, n, pixels), quant, dm.INPUT[::-1])


def brightness_model(quant: str) -> bytes:
    """``detect_models.brightness_model``: candidate 5's width is ``0.3 + 2 × min(mean(x), 1)``."""
    tf, base, shape = _tf(), dm.head("yolov8", 2100), (1, *dm.INPUT[::-1], 3)
    grow = np.zeros_like(base)
    base[0, 2, 5], grow[0, 2, 5] = 0.3, 2.0  # candidate 5 is background (objects sit at multiples of 97)
    model = tf.function(lambda x: tf.constant(base) + tf.constant(grow) * tf.minimum(tf.reduce_mean(x), 1.0),
                        input_signature=[tf.TensorSpec(shape, tf.float32)])
    return convert_function(model, quant, _random_pixels(shape))


def small_head() -> bytes:
    """``[1, 7, 10]``: 10 candidates of 3 classes, too few to be guessed as a YOLO head."""
    head = np.zeros((1, 7, 10), np.float32)
    head[0, :, 0] = (0.5, 0.5, 0.25, 0.5, 0.0, 0.9, 0.0)
    return constant_model(head, "float32", (64, 64))


def _ssd_post_process(num_classes: int = dm.NUM_CLASSES, max_detections: int = 10):  # type: ignore[no-untyped-def]
    """An empty ``tf.function`` that the converter replaces by ``TFLite_Detection_PostProcess``."""
    tf = _tf()
    attrs = {"max_detections": f"i: {max_detections}", "max_classes_per_detection": "i: 1",
             "use_regular_nms": "b: true", "detections_per_class": "i: 10", "nms_score_threshold": "f: 0.000001",
             "nms_iou_threshold": "f: 0.6", "y_scale": "f: 10.0", "x_scale": "f: 10.0",
             "h_scale": "f: 5.0", "w_scale": "f: 5.0", "num_classes": f"i: {num_classes}"}
    signature = " ".join(['name: "TFLite_Detection_PostProcess"'] + [
        f'attr {{ key: "{k}" value {{ {v} }} }}' for k, v in attrs.items()])

    @tf.function(experimental_implements=signature)
    def post(box_encodings, class_predictions, anchors):  # type: ignore[no-untyped-def]
        zero = tf.constant(0.0, dtype=tf.float32)
        return zero, zero, zero, zero  # boxes, classes, scores, count: filled in by the op

    return post


def ssd(quant: str) -> bytes:
    """An SSD model ending in the real ``TFLite_Detection_PostProcess`` op.

    Anchors are the boxes of ``detect_models.OBJECTS`` and its duplicates with
    zero box encodings, so the op decodes exactly those boxes, then suppresses
    the duplicates itself. ``uint8``: uint8 in, float boxes out, like the TF zoo's.
    """
    tf = _tf()
    rows = dm.candidate_rows(64, objectness=False)
    anchors = rows[:, [1, 0, 3, 2]].copy()  # ycenter, xcenter, h, w
    classes = np.concatenate([np.zeros((64, 1), np.float32), rows[:, 4:]], axis=1)[None]
    shape = (1, dm.INPUT[1], dm.INPUT[0], 3)
    post = _ssd_post_process()

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
    def model(x):  # type: ignore[no-untyped-def]
        zero = tf.minimum(tf.reduce_mean(x), 0.0)
        return post(tf.zeros((1, 64, 4)) + zero, tf.constant(classes) + zero, tf.constant(anchors))

    with tempfile.TemporaryDirectory() as tmp:
        module = tf.Module()
        module.model = model
        tf.saved_model.save(module, tmp, signatures={"serving_default": model})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.allow_custom_ops = True
        if quant == "uint8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = _random_pixels(shape)
            converter.inference_input_type = tf.uint8
        elif quant != "float32":
            raise ValueError(quant)
        return converter.convert()


def red_square_detector(quant: str) -> bytes:
    """One class, "red", on a 10×10 grid of the 320×320 RGB input in [0, 1].

    Each cell is one candidate whose box is the cell and whose score is
    ``sigmoid(20 (mean redness - 0.5))``, redness being ``R - (G + B) / 2``.
    Output ``[1, 5, 100]`` (YOLOv8 layout).
    """
    tf = _tf()
    grid, cell = dm.GRID, dm.CELL
    r, c = np.divmod(np.arange(grid * grid), grid)
    boxes = np.stack([(c + 0.5) / grid, (r + 0.5) / grid, np.full(r.shape, 1 / grid),
                      np.full(r.shape, 1 / grid)])[None].astype(np.float32)
    shape = (1, dm.INPUT[1], dm.INPUT[0], 3)

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
    def model(x):  # type: ignore[no-untyped-def]
        red = tf.nn.conv2d(x, tf.constant([[[[1.0], [-0.5], [-0.5]]]]), 1, "VALID")
        cells = tf.nn.avg_pool2d(red, cell, cell, "VALID")
        scores = tf.sigmoid(20.0 * (tf.reshape(cells, (1, 1, grid * grid)) - 0.5))
        return tf.concat([tf.constant(boxes) + 0.0 * scores[:, :1, :1], scores], axis=1)

    return convert_function(model, quant, partial(_photos_with_red_squares, shape))


def _photos_with_red_squares(shape: tuple[int, ...]) -> Iterator[list[np.ndarray]]:
    import cv2

    for i, photo in enumerate(zoo.skimage_photos()[:6]):
        image = cv2.resize(photo, (shape[2], shape[1]))[:, :, ::-1].astype(np.float32) / 255.0
        r, c = divmod(7 * i + 3, dm.GRID)
        image[r * dm.CELL:(r + 1) * dm.CELL, c * dm.CELL:(c + 1) * dm.CELL] = (1.0, 0.0, 0.0)
        yield [image[None]]


# -- the committed set --------------------------------------------------------------------------

def _committed() -> dict[str, Callable[[], bytes]]:
    models: dict[str, Callable[[], bytes]] = {}
    for quant in QUANTS:
        models[zoo.mobilenet_v2_name(quant)] = partial(mobilenet_v2, quant, 96, 0.35, 10)
    models[zoo.mobilenet_v2_name("int8", size=224)] = partial(mobilenet_v2, "int8", 224, 0.35, 10)
    models[zoo.mobilenet_v3_small_name()] = partial(mobilenet_v3_small, "dynamic", 96, 10)
    for quant in ("uint8", "int8"):
        models[zoo.digits_classifier_name(quant)] = partial(digits_classifier, quant)
    for layout in YOLO_LAYOUTS:
        for quant in ("float32", "int8"):
            if (layout, quant) != ("yolo-end2end", "int8"):
                models[dm.yolo_name(layout, quant)] = partial(yolo, layout, quant, False)
    models[dm.yolo_name("yolov8", "float32", pixels=True)] = partial(yolo, "yolov8", "float32", True)
    for quant in ("float32", "uint8"):
        models[dm.ssd_name(quant)] = partial(ssd, quant)
    for quant in ("float32", "int8"):
        models[dm.red_squares_name(quant)] = partial(red_square_detector, quant)
        models[dm.brightness_name(quant)] = partial(brightness_model, quant)
    models["detect_small_head.tflite"] = small_head
    models["hardening_forever_loop.tflite"] = forever_loop
    models["batch_dense_7_3.tflite"] = partial(dense, 7, 3)
    return models


COMMITTED = _committed()


def _build(names: list[str], folder: Path) -> dict[str, bytes]:
    built = {}
    for name in names:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras' export prints every tensor spec
            data = COMMITTED[name]()
        (folder / name).write_bytes(data)
        built[name] = data
        print(f"{len(data):>9,d}  {hashlib.sha256(data).hexdigest()[:12]}  {name}")
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="model file names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the committed models and exit")
    parser.add_argument("--check", action="store_true",
                        help="rebuild into a temporary folder and report files that differ")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(COMMITTED))
        return 0
    unknown = sorted(set(args.names) - set(COMMITTED))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; see --list")
    names = args.names or list(COMMITTED)
    if not args.check:
        _build(names, HERE)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        built = _build(names, Path(tmp))
    differ = [n for n, data in built.items() if not (HERE / n).exists() or (HERE / n).read_bytes() != data]
    print(f"{len(differ)} of {len(built)} differ from tests/models/: {', '.join(differ) or 'none'}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
