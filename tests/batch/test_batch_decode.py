"""Opt-in fast decoding: JPEG header parsing, reduced decodes, and results close to exact ones."""

from __future__ import annotations

import os

import numpy as np
import pytest
import zoo
from batch_data import CORRUPT

import edgekit
from edgekit._batch.decode import jpeg_size, read_for_model, reduction, rescale_transform
from edgekit._batch.work import key_of
from edgekit.preprocess import InputFormat, Transform
from edgekit.results import ItemError


def encode(image: np.ndarray, ext: str = ".jpg", *params: int) -> bytes:
    import cv2

    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("size", [(640, 480), (97, 211), (1, 1), (4000, 3)])
@pytest.mark.parametrize("progressive", [0, 1])
def test_jpeg_size_reads_the_frame_header_of_real_jpegs(size, progressive):
    import cv2

    photo = cv2.resize(zoo.skimage_photos()[2], size)
    data = encode(photo, ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, progressive)

    assert jpeg_size(data) == size
    assert jpeg_size(np.frombuffer(data, np.uint8)) == size


def test_jpeg_size_is_none_for_other_formats_and_garbage():
    photo = zoo.skimage_photos()[0][:50, :60]
    jpg = encode(photo)

    assert jpeg_size(encode(photo, ".png")) is None
    assert jpeg_size(os.urandom(100)) is None
    assert jpeg_size(b"") is None
    assert jpeg_size(jpg[:12]) is None  # cut inside the headers


@pytest.mark.parametrize(("src", "dst", "factor"), [
    ((640, 480), (32, 32), 8), ((640, 480), (96, 96), 4), ((640, 480), (224, 224), 2),
    ((640, 480), (320, 240), 2), ((640, 480), (321, 240), 1), ((100, 100), (224, 224), 1),
    ((257, 257), (32, 33), 8), ((255, 255), (32, 33), 4),
])
def test_reduction_never_shrinks_below_the_model_input(src, dst, factor):
    assert reduction(*src, *dst) == factor


def test_rescaled_transform_maps_the_model_input_onto_the_whole_original_image():
    reduced = Transform(src_w=80, src_h=60, dst_w=32, dst_h=32, scale_x=32 / 80, scale_y=32 / 60)

    full = rescale_transform(reduced, 640, 480)

    np.testing.assert_allclose(full.to_source(np.array([[0, 0, 32, 32]])), [[0, 0, 640, 480]])
    np.testing.assert_allclose(full.to_source(np.array([[8, 16, 16, 24]])),
                               [[160, 240, 320, 360]])


def test_reduced_colour_decode_is_close_to_full_decode_and_resize(tmp_path):
    import cv2

    photo = cv2.resize(zoo.skimage_photos()[1], (640, 480))
    path = tmp_path / "cat.jpg"
    path.write_bytes(encode(photo, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 92))
    fmt = InputFormat(width=96, height=96)

    image, original = read_for_model(str(path), fmt)

    assert original == (640, 480)
    assert image.shape == (120, 160, 3)
    exact = cv2.resize(cv2.imread(str(path)), (160, 120), interpolation=cv2.INTER_AREA)
    assert np.abs(image.astype(int) - exact).mean() < 3.0


def test_non_jpeg_files_decode_exactly_as_usual(tmp_path):
    photo = zoo.skimage_photos()[0][:80, :100]
    path = tmp_path / "p.png"
    path.write_bytes(encode(photo, ".png"))

    image, original = read_for_model(str(path), InputFormat(width=16, height=16))

    assert original is None
    np.testing.assert_array_equal(image, photo)


def test_fast_decode_keeps_rows_errors_and_order_and_nearly_all_answers(model, image_folder):
    exact = list(edgekit.batch(model, [image_folder.root]))
    fast = list(edgekit.batch(model, [image_folder.root], fast_decode=True))

    assert [key_of(r) for r in fast] == [key_of(r) for r in exact]
    errors = {os.path.relpath(r.input, image_folder.root) for r in fast if isinstance(r, ItemError)}
    assert errors == set(CORRUPT)
    pairs = [(a, b) for a, b in zip(exact, fast) if not isinstance(a, ItemError)]
    agree = sum(a.classes[0].id == b.classes[0].id for a, b in pairs)
    assert agree >= 0.95 * len(pairs)


def test_fast_decode_of_large_jpegs_for_a_small_grey_model(model, tmp_path):
    import cv2

    x, y = zoo.digits()
    paths = []
    for i in range(30):
        big = cv2.resize(x[i], (640, 480), interpolation=cv2.INTER_LINEAR)
        path = tmp_path / f"{i:02d}.jpg"
        path.write_bytes(encode(cv2.cvtColor(big, cv2.COLOR_GRAY2BGR), ".jpg",
                                cv2.IMWRITE_JPEG_QUALITY, 90))
        paths.append(str(path))

    fast = list(edgekit.batch(model, paths, fast_decode=True))
    exact = list(edgekit.batch(model, paths))

    assert [r.input for r in fast] == paths
    assert sum(f.classes[0].id == e.classes[0].id for f, e in zip(fast, exact)) >= 28
    assert sum(f.classes[0].id == int(t) for f, t in zip(fast, y[:30])) >= 26
