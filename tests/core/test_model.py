"""edgekit.load / Model on real converted models (built once by TensorFlow, cached)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import zoo

import edgekit
from edgekit.errors import ConfigError, FrameInvalid, ImageUnreadable, ModelInvalid, ModelNotFound

QUANTS = ["float32", "float16", "dynamic", "int8", "uint8"]


@pytest.fixture(scope="module")
def photo():
    return zoo.skimage_photos()[0]  # the astronaut, 512×512 BGR


@pytest.fixture(scope="module")
def digits_test():
    _, _, x_test, y_test = zoo.digits_split()
    return x_test, y_test


@pytest.mark.parametrize("quant", QUANTS)
def test_mobilenet_v2_variants_load_and_predict_a_photo(quant, photo):
    with edgekit.load(zoo.mobilenet_v2(quant), threads=2) as model:
        pred = model.predict(photo)
        spec = model.inputs[0]
    assert spec.shape == (1, 96, 96, 3)
    assert spec.dtype == {"int8": "int8", "uint8": "uint8"}.get(quant, "float32")
    assert pred.task == "classify" and len(pred.classes) == 5
    assert all(0.0 <= c.score <= 1.0 for c in pred.classes)
    assert pred.classes[0].score >= pred.classes[-1].score
    assert pred.latency.invoke > 0


def test_int8_and_float_mobilenet_agree_on_most_photos():
    photos = zoo.skimage_photos()
    with edgekit.load(zoo.mobilenet_v2("float32")) as f, edgekit.load(zoo.mobilenet_v2("int8")) as q:
        pf = np.stack([f.predict(p).tensors[0][0] for p in photos])
        pq = np.stack([q.predict(p).tensors[0][0] for p in photos])
    # quantization error is small relative to the probabilities themselves
    assert np.abs(pf - pq).mean() < 0.05


@pytest.mark.parametrize("quant", ["int8", "uint8"])
def test_int8_digits_classifier_reaches_95_percent_on_held_out_digits(quant, digits_test):
    x_test, y_test = digits_test
    with edgekit.load(zoo.digits_classifier(quant), threads=2) as model:
        assert model.labels[3] == "three" and model.task == "classify"
        hits = sum(model.predict(img).classes[0].id == label for img, label in zip(x_test, y_test))
    assert hits / len(y_test) >= 0.95


def test_digits_classifier_reads_its_metadata_without_tensorflow(digits_test):
    model = edgekit.load(zoo.digits_classifier("uint8"))
    meta = model.metadata
    assert meta is not None and meta.color == "gray" and meta.labels[0] == "zero"
    assert model.info.label_source == "metadata"
    assert model.input_format.channels == 1


def test_load_from_bytes_equals_load_from_path(photo):
    path = zoo.mobilenet_v2("uint8")
    a = edgekit.load(path).predict(photo)
    b = edgekit.load(path.read_bytes()).predict(photo)
    assert a.classes == b.classes


def test_predict_accepts_an_image_path(tmp_path, photo):
    import cv2

    image = tmp_path / "astronaut.png"
    cv2.imwrite(str(image), photo)
    pred = edgekit.load(zoo.mobilenet_v2("float32")).predict(image)
    assert pred.input == str(image)
    assert pred.to_dict()["input"] == str(image)


def test_predict_rejects_an_unreadable_image(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(ImageUnreadable, match="not a decodable image"):
        edgekit.load(zoo.mobilenet_v2("float32")).predict(bad)


def test_predict_converts_grayscale_and_rgba_frames(photo):
    model = edgekit.load(zoo.mobilenet_v2("float32"))
    gray = photo[:, :, 1]
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    assert model.predict(gray).task == "classify"
    assert model.predict(rgba).classes == model.predict(photo).classes


def test_predict_rejects_a_frame_that_is_not_an_image():
    with pytest.raises(FrameInvalid, match="shape"):
        edgekit.load(zoo.mobilenet_v2("float32")).predict(np.zeros((2, 3, 4, 5), np.uint8))


def test_run_passes_raw_tensors_through(photo):
    model = edgekit.load(zoo.mobilenet_v2("float32"))
    tensor, _ = model.preprocess(photo)
    raw = model.run([tensor])
    np.testing.assert_allclose(raw[0], model.predict(photo).tensors[0], atol=1e-6)


def test_run_rejects_a_wrongly_shaped_tensor():
    model = edgekit.load(zoo.mobilenet_v2("float32"))
    with pytest.raises(FrameInvalid, match=r"takes float32\[1, 96, 96, 3\]"):
        model.run([np.zeros((1, 10, 10, 3), np.float32)])


def test_closed_model_says_it_is_closed(photo):
    model = edgekit.load(zoo.mobilenet_v2("float32"))
    with model:
        pass
    assert model.closed
    with pytest.raises(ConfigError, match="closed"):
        model.predict(photo)


def test_labels_argument_overrides_and_top_k_and_threshold_apply(tmp_path, photo):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"class-{i}" for i in range(10)) + "\n")
    model = edgekit.load(zoo.mobilenet_v2("float32"), labels=labels, top_k=2)
    pred = model.predict(photo)
    assert len(pred.classes) == 2 and pred.classes[0].label.startswith("class-")
    model = edgekit.load(zoo.mobilenet_v2("float32"), score_threshold=1.0)
    assert model.predict(photo).classes == ()


def test_labels_from_a_tflite_support_zip_appended_to_the_model(tmp_path, photo):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("labels.txt", "\n".join(f"zip-{i}" for i in range(10)))
    path = tmp_path / "with_zip.tflite"
    path.write_bytes(zoo.mobilenet_v2("float32").read_bytes() + buf.getvalue())
    model = edgekit.load(path)
    assert model.info.label_source == "tflite-support"
    assert model.predict(photo).classes[0].label.startswith("zip-")


def test_metadata_round_trips_through_embed(photo):
    from edgekit._modelfile import metadata as md

    meta = md.ModelMetadata(task="classify", labels=tuple("abcdefghij"), color="bgr",
                            resize="letterbox", mean=(127.5,), std=(127.5,), activation="none",
                            provenance={"who": "test"})
    data = md.embed(zoo.mobilenet_v2("float32").read_bytes(), meta)
    model = edgekit.load(data)
    assert model.metadata == meta
    assert model.input_format.resize == "letterbox" and model.input_format.color == "bgr"
    assert model.predict(photo).classes[0].label in "abcdefghij"


def test_malformed_metadata_is_model_invalid():
    from edgekit._modelfile import metadata as md

    data = md.embed(zoo.mobilenet_v2("float32").read_bytes(), {"task": "classify"})
    broken = data.replace(b'"schema":"edgekit/1"', b'"schema"!"edgekit/1"', 1)
    assert len(broken) == len(data) and broken != data
    with pytest.raises(ModelInvalid, match="metadata is malformed"):
        edgekit.load(broken)


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (None, ModelNotFound, "no such file"),
        (b"", ModelInvalid, "empty"),
        (b"\x18\x00\x00\x00TFL3", ModelInvalid, "root table offset 24 is outside the 8-byte file"),
        (b"GIF89a" + bytes(100), ModelInvalid, "not a TFLite model"),
    ],
)
def test_load_gives_a_clear_error_for_bad_files(tmp_path, content, error, message):
    path = tmp_path / "model.tflite"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=message):
        edgekit.load(path)


def test_truncated_model_is_invalid_not_a_crash(tmp_path):
    data = zoo.mobilenet_v2("float32").read_bytes()
    path = tmp_path / "truncated.tflite"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelInvalid):
        edgekit.load(path)


def test_sha256_mismatch_is_refused():
    with pytest.raises(ModelInvalid, match="SHA-256"):
        edgekit.load(zoo.mobilenet_v2("float32"), sha256="0" * 64)


def test_prediction_json_matches_the_design_schema(photo):
    d = edgekit.load(zoo.mobilenet_v2("uint8")).predict(photo).to_dict()
    assert set(d) == {"task", "classes", "latency_ms"}
    assert set(d["classes"][0]) == {"id", "label", "score"}
    assert set(d["latency_ms"]) == {"age", "pre", "invoke", "post", "total"}


def test_labels_from_an_ultralytics_metadata_json_zip(tmp_path, photo):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("metadata.json", '{"names": {"0": "cat", "1": "dog", "9": "fox"}}')
    path = tmp_path / "ultra.tflite"
    path.write_bytes(zoo.mobilenet_v2("float32").read_bytes() + buf.getvalue())
    model = edgekit.load(path)
    assert model.labels[:2] == ("cat", "dog") and model.labels[9] == "fox" and model.labels[5] == "5"


def test_a_replica_is_a_second_interpreter_with_the_same_labels_options_and_scores(tmp_path, photo):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"class-{i}" for i in range(10)) + "\n")
    model = edgekit.load(zoo.mobilenet_v2("float32"), labels=labels, top_k=3, threads=1)
    labels.unlink()  # the replica must not need the file again

    with model.replica() as replica:
        assert replica is not model and replica._interpreter is not model._interpreter
        assert replica.info.threads == 1 and replica.labels == model.labels
        ours, theirs = model.predict(photo), replica.predict(photo)
        assert len(theirs.classes) == 3 and theirs.classes == ours.classes
        np.testing.assert_array_equal(theirs.tensors[0], ours.tensors[0])
    assert replica.closed and not model.closed  # each closes on its own
    model.close()
    with pytest.raises(ConfigError, match="closed"):
        model.replica()


def test_a_grey_model_reads_a_jpeg_straight_to_luma_and_other_files_in_colour(tmp_path):
    from edgekit.imagefile import read_image

    photo = zoo.skimage_photos()[0]
    jpeg, png = tmp_path / "a.jpg", tmp_path / "a.png"
    cv2 = pytest.importorskip("cv2")
    cv2.imwrite(str(jpeg), photo)
    cv2.imwrite(str(png), photo)

    assert read_image(jpeg, grey=True).shape == photo.shape[:2]
    assert read_image(jpeg).shape == photo.shape and read_image(png, grey=True).shape == photo.shape
    model = edgekit.load(zoo.digits_classifier("uint8"))
    assert model.input_format.grey
    # the luma decode is the colour decode converted, but for the chroma round trip
    luma = read_image(jpeg, grey=True).astype(int)
    converted = cv2.cvtColor(read_image(jpeg), cv2.COLOR_BGR2GRAY).astype(int)
    assert np.abs(luma - converted).mean() < 1.0
    by_path, by_luma = model.predict(jpeg), model.predict(read_image(jpeg, grey=True))
    assert by_path.classes == by_luma.classes and by_path.input == str(jpeg)
