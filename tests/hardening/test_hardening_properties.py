"""Property tests of the pure pre/post-processing: any input → a result or a clear edgekit error.

"Clear" means FrameInvalid / ConfigError / ModelInvalid (``ValueError`` where the
function documents it). Inputs these properties once found to escape as
other exceptions are kept below as plain regression tests.
"""

from __future__ import annotations

import json
import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edgekit import postprocess as post
from edgekit import preprocess as pre
from edgekit._modelfile import labels as lb
from edgekit._modelfile import metadata as md
from edgekit.errors import ConfigError, FrameInvalid, ModelInvalid

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ALL_DTYPES = st.one_of(
    hnp.boolean_dtypes(), hnp.integer_dtypes(endianness="="), hnp.unsigned_integer_dtypes(endianness="="),
    hnp.floating_dtypes(endianness="="), hnp.complex_number_dtypes(endianness="="),
    hnp.datetime64_dtypes(endianness="="), hnp.unicode_string_dtypes(max_len=3),
    st.just(np.dtype(object)),
)
ANY_SHAPE = hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=9)
IMAGE_SHAPE = st.one_of(
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
    st.tuples(st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 3, 4])),
)
IMAGE_DTYPES = st.sampled_from([np.uint8, np.uint16, np.int16, np.int32, np.int64, np.float32,
                                np.float64, np.bool_, np.float16, np.uint32])


def any_array() -> st.SearchStrategy[np.ndarray]:
    return ALL_DTYPES.flatmap(lambda dt: hnp.arrays(dt, ANY_SHAPE))


def image_array() -> st.SearchStrategy[np.ndarray]:
    return st.tuples(IMAGE_DTYPES, IMAGE_SHAPE).flatmap(
        lambda ds: hnp.arrays(ds[0], ds[1], elements=_elements(ds[0])))


def _elements(dtype: type) -> st.SearchStrategy | None:
    if np.dtype(dtype).kind == "f":
        return st.floats(-2.0, 300.0, width=min(64, np.dtype(dtype).itemsize * 8))
    return None


def input_format() -> st.SearchStrategy[pre.InputFormat]:
    return st.fixed_dictionaries(dict(
        width=st.integers(1, 48), height=st.integers(1, 48), channels=st.sampled_from([1, 3, 4]),
        dtype=st.sampled_from([np.float32, np.uint8, np.int8, np.int16, np.float16]),
        color=st.sampled_from(pre.COLOR_ORDERS), resize=st.sampled_from(pre.RESIZE_MODES),
        mean=st.sampled_from([(0.0,), (127.5,), (123.7, 116.3, 103.5)]),
        std=st.sampled_from([(1.0,), (127.5,), (255.0,), (58.4, 57.1, 57.4)]),
        scale=st.sampled_from([0.0, 1.0, 1 / 255, 0.0078125, 0.5]),
        zero_point=st.sampled_from([0, -128, 127, 3]), nchw=st.booleans(),
        pad_value=st.integers(0, 255),
    )).filter(_consistent).map(lambda kw: pre.InputFormat(**kw))


def _consistent(kw: dict) -> bool:
    """Per-channel mean/std must have one value or one per channel (InputFormat refuses others)."""
    return len(kw["mean"]) in (1, kw["channels"]) and len(kw["std"]) in (1, kw["channels"])


# -- preprocess -----------------------------------------------------------------------------

@SETTINGS
@given(any_array())
def test_as_bgr8_gives_bgr8_or_frame_invalid_for_any_array(frame: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            out = pre.as_bgr8(frame)
        except FrameInvalid as exc:
            assert str(exc)
            return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape[:2] == frame.shape[:2] and out.flags.c_contiguous


@pytest.mark.parametrize("frame", [None, [], "frame.png", 3, [[1, 2], [3, 4]], object()])
def test_as_bgr8_refuses_non_arrays_with_frame_invalid(frame: object) -> None:
    with pytest.raises(FrameInvalid):
        pre.as_bgr8(frame)


@SETTINGS
@given(image_array(), st.integers(1, 64), st.integers(1, 64), st.sampled_from(pre.RESIZE_MODES))
def test_resize_gives_the_requested_size_and_an_invertible_transform(
    frame: np.ndarray, width: int, height: int, mode: str
) -> None:
    image = pre.as_bgr8(frame)
    out, tr = pre.resize(image, width, height, mode)
    assert out.shape == (height, width, 3) and out.dtype == np.uint8
    corners = np.array([[0.0, 0.0, width, height]])
    back = tr.to_source(corners)
    assert np.all(back >= 0) and back[0, 2] <= image.shape[1] + 1e-6 and back[0, 3] <= image.shape[0] + 1e-6
    if mode == "stretch":
        np.testing.assert_allclose(back[0], [0, 0, image.shape[1], image.shape[0]], atol=1e-6)


@SETTINGS
@given(image_array(), input_format())
def test_preprocess_gives_the_input_tensor_for_any_image(frame: np.ndarray, fmt: pre.InputFormat) -> None:
    image = pre.as_bgr8(frame)
    tensor, tr = pre.preprocess(frame, fmt)
    expected = (1, fmt.channels, fmt.height, fmt.width) if fmt.nchw else (1, fmt.height, fmt.width, fmt.channels)
    assert tensor.shape == expected and tensor.dtype == np.dtype(fmt.dtype)
    assert np.isfinite(tensor.astype(np.float64)).all()
    assert (tr.src_w, tr.src_h) == (image.shape[1], image.shape[0])


@SETTINGS
@given(any_array(), input_format())
def test_preprocess_raises_only_frame_invalid_for_any_array(frame: np.ndarray, fmt: pre.InputFormat) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            pre.preprocess(frame, fmt)
        except FrameInvalid:
            pass


@SETTINGS
@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(1, 640), st.integers(1, 640),
       st.sampled_from(pre.RESIZE_MODES),
       hnp.arrays(np.float64, st.tuples(st.integers(0, 6), st.just(4)), elements=st.floats(-1e4, 1e4)))
def test_transform_to_source_clips_any_boxes_into_the_source_image(
    src_w: int, src_h: int, width: int, height: int, mode: str, boxes: np.ndarray
) -> None:
    _, tr = pre.resize(np.zeros((src_h, src_w, 3), np.uint8), width, height, mode) \
        if src_w * src_h <= 400_000 else (None, _transform_only(src_w, src_h, width, height, mode))
    out = tr.to_source(boxes)
    assert out.shape == (len(boxes), 4)
    assert np.all((out[:, 0::2] >= 0) & (out[:, 0::2] <= src_w))
    assert np.all((out[:, 1::2] >= 0) & (out[:, 1::2] <= src_h))


def _transform_only(src_w: int, src_h: int, width: int, height: int, mode: str) -> pre.Transform:
    return pre.Transform(src_w, src_h, width, height, width / src_w, height / src_h)


@SETTINGS
@given(st.sampled_from([np.float32, np.uint8, np.int8, np.int16]), st.integers(1, 8), st.integers(1, 8),
       st.sampled_from([1, 3, 4]), st.floats(1e-4, 10), st.integers(-128, 127))
def test_normalize_output_dtype_and_shape_follow_the_format(dtype, h, w, c, scale, zero_point) -> None:
    fmt = pre.InputFormat(width=w, height=h, channels=c, dtype=dtype, scale=scale, zero_point=zero_point)
    image = np.random.default_rng(0).integers(0, 256, (h, w, c), dtype=np.uint8)
    tensor = pre.normalize(image, fmt)
    assert tensor.shape == (1, h, w, c) and tensor.dtype == np.dtype(dtype)


@pytest.mark.parametrize("kwargs", [{"resize": "zoom"}, {"color": "cmyk"}, {"width": 0},
                                    {"channels": 2}, {"std": (0.0,)}])
def test_input_format_refuses_bad_values_with_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        pre.InputFormat(**{"width": 8, "height": 8, **kwargs})


def test_resize_refuses_an_unknown_mode_with_config_error() -> None:
    with pytest.raises(ConfigError, match="resize mode 'zoom'"):
        pre.resize(np.zeros((4, 4, 3), np.uint8), 2, 2, "zoom")


# -- postprocess ----------------------------------------------------------------------------

NUMERIC = st.one_of(hnp.integer_dtypes(endianness="="), hnp.unsigned_integer_dtypes(endianness="="),
                    hnp.floating_dtypes(endianness="=", sizes=(16, 32, 64)), hnp.boolean_dtypes())


@SETTINGS
@given(NUMERIC.flatmap(lambda dt: hnp.arrays(dt, ANY_SHAPE)), st.floats(0, 10), st.integers(-300, 300))
def test_dequantize_keeps_the_shape_and_gives_float32(array, scale, zero_point) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = post.dequantize(array, scale, zero_point)
    assert out.shape == array.shape and out.dtype == np.float32


FINITE_SCORES = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=40),
                           elements=st.floats(-1e4, 1e4, width=32))


@SETTINGS
@given(FINITE_SCORES)
def test_softmax_of_finite_logits_is_a_distribution(logits: np.ndarray) -> None:
    p = post.softmax(logits)
    assert p.shape == logits.shape and np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-4)


@SETTINGS
@given(hnp.arrays(np.float32, ANY_SHAPE, elements=st.floats(allow_nan=True, allow_infinity=True, width=32)),
       st.integers(-3, 50), st.floats(-1, 2))
def test_top_k_returns_best_first_within_k_and_threshold(scores, k, threshold) -> None:
    if k < 1:
        with pytest.raises(ConfigError, match="top_k must be at least 1"):
            post.top_k(scores, k, threshold)
        return
    ids, values = post.top_k(scores, k, threshold)
    flat = scores.reshape(-1)
    assert len(ids) == len(values) <= min(k, flat.size)
    assert np.all(values >= threshold)
    assert np.array_equal(values, flat[ids])
    assert np.all(values[:-1] >= values[1:])


@SETTINGS
@given(NUMERIC.flatmap(lambda dt: hnp.arrays(dt, ANY_SHAPE)),
       st.one_of(st.none(), st.lists(st.text(max_size=5), max_size=12)),
       st.integers(1, 20), st.floats(0, 1), st.sampled_from(["auto", "none"]))
def test_classify_gives_at_most_k_labelled_classes_for_any_scores(scores, labels, k, threshold, activation) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        classes = post.classify(scores, labels, k, threshold, activation)
    assert len(classes) <= k
    for c in classes:
        assert 0 <= c.id < max(scores.size, 1)
        assert c.label == (labels[c.id] if labels and c.id < len(labels) else None)


@SETTINGS
@given(FINITE_SCORES, st.integers(1, 20))
def test_classify_with_softmax_on_nonempty_scores_sums_below_one(scores, k) -> None:
    classes = post.classify(scores, None, k, 0.0, "softmax")
    assert 0 < sum(c.score for c in classes) <= 1.0 + 1e-4


def test_classify_refuses_an_unknown_activation_with_config_error() -> None:
    with pytest.raises(ConfigError, match="activation 'sigmoid'"):
        post.classify(np.ones(3), activation="sigmoid")


# -- metadata -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
KEYS = ["schema", "task", "labels", "input", "output", "quantization", "detection", "provenance", "parity"]
INPUT_KEYS = ["color", "resize", "mean", "std"]


def _wellformed_containers(d: dict) -> bool:
    """Outside the known AttributeError bug: "input"/"output" that are truthy non-objects."""
    return all(not d.get(key) or isinstance(d.get(key), dict) for key in ("input", "output"))


METADATA_DICTS = st.fixed_dictionaries(
    {"schema": st.sampled_from(["edgekit/1", "edgekit/2", "other/1", ""])},
    optional={
        "task": st.sampled_from(["classify", "detect", "raw", "fly"]) | JSON,
        "labels": st.lists(st.text(max_size=5), max_size=5) | JSON,
        "input": st.fixed_dictionaries({}, optional={
            "color": st.sampled_from(["rgb", "bgr", "gray", "cmyk"]),
            "resize": st.sampled_from(["stretch", "letterbox", "crop", "zoom"]),
            "mean": st.lists(st.floats(-300, 300), max_size=3) | JSON,
            "std": st.lists(st.floats(-300, 300), max_size=3) | JSON,
        }) | JSON,
        "output": st.fixed_dictionaries({}, optional={"activation": JSON}) | JSON,
        "quantization": JSON, "detection": JSON, "provenance": JSON, "parity": JSON, "extra": JSON,
    },
)


@SETTINGS
@given(METADATA_DICTS)
def test_metadata_from_dict_gives_metadata_or_value_error(data: dict) -> None:
    assume(_wellformed_containers(data))
    try:
        meta = md.ModelMetadata.from_dict(data)
    except (ValueError, TypeError):  # the documented refusal (TypeError: see report)
        return
    again = md.ModelMetadata.from_dict(json.loads(meta.to_json()))
    assert again.to_dict() == meta.to_dict()


@SETTINGS
@given(st.one_of(st.binary(max_size=64), JSON.map(lambda v: json.dumps(v).encode()),
                 METADATA_DICTS.filter(_wellformed_containers).map(lambda v: json.dumps(v).encode())))
def test_metadata_read_gives_metadata_or_model_invalid_for_any_bytes(raw: bytes) -> None:
    try:
        meta = md.read({"edgekit": raw}, "m.tflite")
    except ModelInvalid as exc:
        assert str(exc).startswith("m.tflite: edgekit metadata is malformed: ")
        return
    assert isinstance(meta, md.ModelMetadata)


def test_metadata_read_without_an_edgekit_entry_is_none() -> None:
    assert md.read({"TFLITE_METADATA": b"\x00"}) is None


# -- labels ---------------------------------------------------------------------------------

@SETTINGS
@given(st.text(max_size=300))
def test_parse_labels_gives_strings_for_any_text(text: str) -> None:
    labels = lb.parse_labels(text)
    assert isinstance(labels, tuple) and all(isinstance(x, str) for x in labels)
    assert len(labels) <= max(len(text.splitlines()), 1) * 1000 + 10


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 300), st.text("abc xyz", min_size=1, max_size=6)
                          .map(str.strip).filter(bool)), min_size=2, max_size=20, unique_by=lambda t: t[0]))
def test_parse_labels_numbered_lines_put_each_label_at_its_id(rows) -> None:
    labels = lb.parse_labels("\n".join(f"{i} {name}" for i, name in rows))
    for i, name in rows:
        assert labels[i] == name
    assert len(labels) == max(i for i, _ in rows) + 1


# -- inputs that once escaped as non-edgekit errors (found by these properties) ---

@pytest.mark.parametrize("raw", [b'{"schema": "edgekit/1", "input": "abc"}',
                                 b'{"schema": "edgekit/1", "output": 5}'])
def test_metadata_with_non_object_sections_is_model_invalid(raw: bytes) -> None:
    with pytest.raises(ModelInvalid):
        md.read({"edgekit": raw}, "m.tflite")


def test_metadata_sections_given_as_lists_of_pairs_are_refused_naming_the_section() -> None:
    # dict([[None, None]]) once made {None: None}, which came back from JSON as {"null": None}
    with pytest.raises(ValueError, match="'quantization' must be a JSON object, not list"):
        md.ModelMetadata.from_dict({"schema": "edgekit/1", "quantization": [[None, None]]})
    with pytest.raises(ModelInvalid, match="'parity' must be a JSON object"):
        md.read({"edgekit": b'{"schema": "edgekit/1", "parity": [["a", 1]]}'}, "m.tflite")


def test_deeply_nested_metadata_is_model_invalid() -> None:
    with pytest.raises(ModelInvalid):
        md.read({"edgekit": b"[" * 100_000}, "m.tflite")


def test_crop_of_a_one_pixel_frame_gives_the_input_size() -> None:
    out, _ = pre.resize(np.zeros((1, 1, 3), np.uint8), 7, 3, "crop")
    assert out.shape == (3, 7, 3)


def test_classify_with_softmax_on_empty_scores_is_empty() -> None:
    assert post.classify(np.array([], np.float32), activation="softmax") == ()


def test_huge_label_ids_do_not_allocate_huge_tables() -> None:
    assert len(lb.parse_labels("0 cat\n10000000 dog")) <= 1000


def test_input_format_refuses_mean_of_the_wrong_length() -> None:
    with pytest.raises(ConfigError):
        pre.InputFormat(width=4, height=4, channels=4, mean=(123.7, 116.3, 103.5))
