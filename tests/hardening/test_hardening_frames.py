"""Bad frames into ``Model.predict``: converted where meaningful, else a clear FrameInvalid."""

from __future__ import annotations

import numpy as np
import pytest
import zoo

import edgekit
from edgekit.errors import FrameInvalid, ImageUnreadable


@pytest.fixture(scope="module", params=["digits", "mobilenet"])
def model(request: pytest.FixtureRequest) -> edgekit.Model:
    path = zoo.digits_classifier("uint8") if request.param == "digits" else zoo.mobilenet_v2("int8")
    with edgekit.load(path, threads=1) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def digit() -> tuple[np.ndarray, str]:
    images, labels = zoo.digits()
    return images[0], zoo.DIGIT_LABELS[labels[0]]


BAD = {
    "none": (None, "frame is None"),
    "empty": (np.zeros((0, 0, 3), np.uint8), "is not an H×W or H×W×C image"),
    "zero-width": (np.zeros((10, 0, 3), np.uint8), "is not an H×W or H×W×C image"),
    "1-d": (np.zeros(30, np.uint8), "is not an H×W or H×W×C image"),
    "4-d": (np.zeros((1, 8, 8, 3), np.uint8), "is not an H×W or H×W×C image"),
    "2-channels": (np.zeros((8, 8, 2), np.uint8), "has 2 channels"),
    "5-channels": (np.zeros((8, 8, 5), np.uint8), "has 5 channels"),
    "complex": (np.zeros((8, 8, 3), np.complex64), "dtype complex64 is not an image dtype"),
    "strings": (np.full((8, 8), "x"), "is not an image dtype"),
    "objects": (np.full((8, 8, 3), None, dtype=object), "dtype object is not an image dtype"),
    "nan": (np.full((8, 8, 3), np.nan, np.float32), "NaN or infinite"),
    "list": ([[1, 2], [3, 4]], "must be a numpy array, got list"),
    "bytes": (b"\x89PNG", "must be a numpy array, got bytes"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_predict_refuses_a_frame_that_is_not_an_image_with_frame_invalid(model, name: str) -> None:
    frame, message = BAD[name]
    with pytest.raises(FrameInvalid, match=message):
        model.predict(frame)


def test_predict_refuses_a_huge_frame_before_copying_it(model) -> None:
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), (20_000, 20_000, 3), (0, 0, 0))
    with pytest.raises(FrameInvalid, match="too large"):
        model.predict(huge)


def test_predict_of_a_missing_image_path_is_image_unreadable(model, tmp_path) -> None:
    with pytest.raises(ImageUnreadable):
        model.predict(tmp_path / "missing.png")


def _variants(grey: np.ndarray) -> dict[str, np.ndarray]:
    bgr = np.repeat(grey[:, :, None], 3, axis=2)
    return {
        "bgr8": bgr,
        "grey-2d": grey,
        "grey-hw1": grey[:, :, None],
        "bgra": np.concatenate([bgr, np.full(grey.shape + (1,), 255, np.uint8)], axis=2),
        "uint16": bgr.astype(np.uint16) * 257,
        "float-unit": bgr.astype(np.float32) / 255.0,
        "float64-unit": bgr.astype(np.float64) / 255.0,
        "non-contiguous": np.repeat(np.repeat(bgr, 2, axis=0), 2, axis=1)[::2, ::2],
        "fortran-order": np.asfortranarray(bgr),
        "big": np.repeat(np.repeat(bgr, 40, axis=0), 40, axis=1),
    }


@pytest.mark.parametrize("variant", ["bgr8", "grey-2d", "grey-hw1", "bgra", "uint16", "float-unit",
                                     "float64-unit", "non-contiguous", "fortran-order", "big"])
def test_convertible_frames_give_the_same_answer_as_bgr8(digit, variant: str) -> None:
    grey, label = digit
    with edgekit.load(zoo.digits_classifier("uint8"), threads=1) as model:
        frames = _variants(grey)
        reference = model.predict(frames["bgr8"])
        pred = model.predict(frames[variant])
    assert reference.classes[0].label == label
    assert pred.classes[0].label == label
    assert abs(pred.classes[0].score - reference.classes[0].score) < 0.05


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (1, 500, 3), (500, 1), (3, 4000, 4)])
def test_odd_but_valid_frame_sizes_give_a_prediction(model, shape) -> None:
    pred = model.predict(np.full(shape, 90, np.uint8))
    assert pred.task == "classify" and pred.classes


def test_run_refuses_raw_arrays_of_the_wrong_shape_or_dtype(model) -> None:
    spec = model.inputs[0]
    with pytest.raises(FrameInvalid, match=f"input {spec.name!r} takes"):
        model.run(np.zeros((1, 2, 3), np.float64))
