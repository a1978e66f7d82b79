"""Pre-processing is pure: frames → tensors, with a Transform that inverts exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgekit.errors import ConfigError, FrameInvalid
from edgekit.preprocess import InputFormat, as_bgr8, normalize, preprocess, resize


def test_as_bgr8_expands_grayscale_to_three_equal_channels():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = as_bgr8(gray)
    assert out.shape == (3, 4, 3)
    assert (out[:, :, 0] == gray).all() and (out[:, :, 2] == gray).all()


def test_as_bgr8_drops_alpha_and_scales_16_bit():
    bgra = np.zeros((2, 2, 4), np.uint16)
    bgra[..., 0] = 65535
    out = as_bgr8(bgra)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert (out[..., 0] == 255).all() and (out[..., 1] == 0).all()


def test_as_bgr8_scales_unit_floats_to_bytes():
    out = as_bgr8(np.full((2, 2, 3), 0.5, np.float32))
    assert (out == 128).all()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (None, "None"),
        (np.zeros((0, 4, 3), np.uint8), "shape"),
        (np.zeros((4, 4, 2), np.uint8), "channels"),
        (np.zeros((2, 2, 2, 3), np.uint8), "shape"),
        (np.array([["a"]]), "dtype"),
        ("not an array", "numpy array"),
        (np.full((2, 2), np.nan, np.float32), "NaN"),
    ],
)
def test_as_bgr8_rejects_what_is_not_an_image(frame, message):
    with pytest.raises(FrameInvalid, match=message):
        as_bgr8(frame)


def test_letterbox_keeps_aspect_and_pads_symmetrically():
    image = np.full((100, 200, 3), 255, np.uint8)
    out, t = resize(image, 64, 64, "letterbox", pad_value=0)
    assert out.shape == (64, 64, 3)
    assert (out[:16] == 0).all() and (out[48:] == 0).all() and (out[16:48] == 255).all()
    assert t.scale_x == pytest.approx(t.scale_y) and t.offset_y == 16


def test_center_crop_maps_the_crop_back_to_the_source_centre():
    image = np.zeros((100, 200, 3), np.uint8)
    _, t = resize(image, 50, 50, "crop")
    # the whole input corresponds to the central 100×100 square of the source
    np.testing.assert_allclose(t.to_source([[0, 0, 50, 50]]), [[50, 0, 150, 100]])


def test_unknown_resize_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="resize mode 'zoom'"):
        resize(np.zeros((4, 4, 3), np.uint8), 2, 2, "zoom")


def test_normalize_quantizes_with_the_inputs_own_parameters():
    fmt = InputFormat(2, 1, dtype=np.int8, mean=(127.5,), std=(127.5,), scale=1 / 128, zero_point=0)
    image = np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)
    tensor = normalize(image, fmt)
    assert tensor.dtype == np.int8 and tensor.shape == (1, 1, 2, 3)
    assert tensor[0, 0, 0, 0] == -128 and tensor[0, 0, 1, 0] == 127


def test_normalize_float_unit_range_and_nchw_layout():
    fmt = InputFormat(2, 1, dtype=np.float32, mean=(0.0,), std=(255.0,), nchw=True)
    image = np.array([[[0, 51, 255], [255, 255, 255]]], np.uint8)
    tensor = normalize(image, fmt)
    assert tensor.shape == (1, 3, 1, 2)
    np.testing.assert_allclose(tensor[0, :, 0, 0], [0.0, 0.2, 1.0], atol=1e-6)


def test_preprocess_converts_bgr_to_rgb_for_rgb_models():
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[..., 0] = 200  # blue in BGR
    fmt = InputFormat(4, 4, dtype=np.uint8, color="rgb")
    tensor, _ = preprocess(frame, fmt)
    assert (tensor[0, ..., 2] == 200).all() and (tensor[0, ..., 0] == 0).all()


def test_preprocess_makes_grey_for_single_channel_models():
    frame = np.full((8, 8, 3), 90, np.uint8)
    tensor, _ = preprocess(frame, InputFormat(4, 4, channels=1, dtype=np.uint8, color="gray"))
    assert tensor.shape == (1, 4, 4, 1) and (tensor == 90).all()


@settings(max_examples=60, deadline=None)
@given(
    src_w=st.integers(1, 400), src_h=st.integers(1, 400),
    dst_w=st.integers(1, 128), dst_h=st.integers(1, 128),
    mode=st.sampled_from(["stretch", "letterbox", "crop"]),
)
def test_transform_inverts_the_resize_for_any_sizes(src_w, src_h, dst_w, dst_h, mode):
    _, t = resize(np.zeros((src_h, src_w, 3), np.uint8), dst_w, dst_h, mode)
    # a box in source pixels, forward-mapped then mapped back, is unchanged (inside the view)
    box = np.array([[src_w * 0.4, src_h * 0.4, src_w * 0.6, src_h * 0.6]])
    fwd = box.copy()
    fwd[:, 0::2] = box[:, 0::2] * t.scale_x + t.offset_x
    fwd[:, 1::2] = box[:, 1::2] * t.scale_y + t.offset_y
    np.testing.assert_allclose(t.to_source(fwd), box, rtol=1e-6, atol=1e-6)
    out = t.to_source([[-1e6, -1e6, 1e6, 1e6]])[0]
    assert out[0] == 0 and out[1] == 0 and out[2] == src_w and out[3] == src_h


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(
    dtype=st.sampled_from([np.uint8, np.uint16, np.int16, np.float32, np.float64, np.bool_]),
    shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=12),
))
def test_preprocess_gives_a_tensor_or_frame_invalid_for_any_array(array):
    fmt = InputFormat(8, 6, dtype=np.float32)
    try:
        tensor, _ = preprocess(array, fmt)
    except FrameInvalid:
        return
    assert tensor.shape == (1, 6, 8, 3) and tensor.dtype == np.float32
    assert np.isfinite(tensor).all()


@settings(max_examples=80, deadline=None)
@given(
    plane=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=90)),
    keep_axis=st.booleans(),
    dst_w=st.integers(1, 40), dst_h=st.integers(1, 40),
    mode=st.sampled_from(["stretch", "letterbox", "crop"]),
    dtype=st.sampled_from([np.uint8, np.int8, np.float32]),
)
def test_a_grey_frame_gives_a_grey_model_the_same_tensor_as_its_bgr_copy(plane, keep_axis, dst_w,
                                                                          dst_h, mode, dtype):
    # the one-plane shortcut (a JPEG decoded to luma) must not change a single value
    fmt = InputFormat(dst_w, dst_h, channels=1, dtype=dtype, color="gray", resize=mode,
                      scale=0.02 if dtype == np.int8 else 0.0, zero_point=-3)
    frame = plane[:, :, None] if keep_axis else plane

    tensor, transform = preprocess(frame, fmt)
    expected, expected_transform = preprocess(np.repeat(plane[:, :, None], 3, axis=2), fmt)

    assert tensor.shape == (1, dst_h, dst_w, 1) and tensor.dtype == expected.dtype
    np.testing.assert_array_equal(tensor, expected)
    assert transform == expected_transform


def test_a_grey_frame_for_a_colour_model_still_becomes_three_channels():
    tensor, _ = preprocess(np.full((6, 6), 40, np.uint8), InputFormat(3, 3, dtype=np.uint8,
                                                                       std=(1.0,)))
    assert tensor.shape == (1, 3, 3, 3) and (tensor == 40).all()
