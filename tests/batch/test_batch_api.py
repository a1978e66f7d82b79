"""``edgekit.batch`` over a real folder: one result per file, in order, errors as rows."""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from batch_data import CORRUPT, ImageFolder

import edgekit
from edgekit._batch.work import key_of
from edgekit.errors import ConfigError
from edgekit.results import ItemError, Prediction


def rel(folder: ImageFolder, path: str) -> str:
    return os.path.relpath(path, folder.root)


def test_batch_yields_one_result_per_file_in_sorted_recursive_order(model, image_folder):
    results = list(edgekit.batch(model, [image_folder.root]))

    assert [rel(image_folder, key_of(r)[0]) for r in results] == list(image_folder.files)
    assert len(results) > 250


def test_corrupt_and_non_image_files_become_error_rows_and_the_run_goes_on(model, image_folder):
    results = list(edgekit.batch(model, [image_folder.root]))

    errors = {rel(image_folder, r.input): r for r in results if isinstance(r, ItemError)}
    assert {k: e.type for k, e in errors.items()} == CORRUPT
    assert "file is empty" in errors["photos/empty.png"].message
    assert "not a decodable image" in errors["notes.txt"].message
    assert all(e.input.endswith(k) for k, e in errors.items())
    predictions = [r for r in results if isinstance(r, Prediction)]
    assert len(predictions) == len(image_folder.files) - len(CORRUPT)


def test_each_result_belongs_to_its_own_input(model, image_folder):
    # the digit in each file name is the truth: a shuffled or shifted row would miss it
    results = edgekit.batch(model, [image_folder.root / "digits"])
    hits = total = 0
    for result in results:
        name = rel(image_folder, key_of(result)[0])
        if name in image_folder.digit_labels:
            total += 1
            hits += result.classes[0].id == image_folder.digit_labels[name]
    assert total == len(image_folder.digit_labels)
    assert hits / total >= 0.9


def test_batch_scores_equal_model_predict_on_the_same_files(model, image_folder):
    # predict(path) reads a file as batch does (a JPEG straight to grey for this grey model)
    paths = image_folder.paths()[::25]
    paths = [p for p in paths if rel(image_folder, p) not in CORRUPT]

    results = list(edgekit.batch(model, paths))

    assert [r.input for r in results] == paths
    for path, result in zip(paths, results):
        expected = model.predict(path)
        assert result.classes == expected.classes
        np.testing.assert_array_equal(result.tensors[0], expected.tensors[0])
        assert result.latency.pre > 0 and result.latency.invoke > 0


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_order_is_input_order_whatever_the_number_of_workers(model, image_folder, workers):
    reference = [key_of(r) for r in edgekit.batch(model, image_folder.paths(), workers=workers,
                                                  window=5)]
    assert reference == [(p, None) for p in image_folder.paths()]


def test_missing_paths_and_empty_globs_are_error_rows(model, image_folder, tmp_path):
    one = image_folder.paths()[0]
    inputs = [one, str(tmp_path / "nope.jpg"), str(tmp_path / "*.nothing"), one]

    results = list(edgekit.batch(model, inputs))

    assert [type(r).__name__ for r in results] == ["Prediction", "ItemError", "ItemError",
                                                   "Prediction"]
    assert results[1].type == "InputError" and "no such file" in results[1].message
    assert results[2].type == "InputError" and "matches no file" in results[2].message


def test_globs_and_list_files_expand_in_sorted_order(model, image_folder, tmp_path):
    pattern = str(image_folder.root / "**" / "*.webp")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# photos first\n\n{image_folder.root / 'photos'}\n{pattern}\n")

    results = list(edgekit.batch(model, [], list_file=str(listing)))

    photos = [f for f in image_folder.files if f.startswith("photos/")]
    webps = sorted(f for f in image_folder.files if f.endswith(".webp"))
    assert [rel(image_folder, key_of(r)[0]) for r in results] == photos + webps


def test_skip_leaves_out_the_keys_already_done(model, image_folder):
    paths = image_folder.paths()[:40]
    done = {(p, None) for p in paths[::3]}

    results = list(edgekit.batch(model, paths, skip=done))

    assert [r.input for r in results] == [p for p in paths if (p, None) not in done]


def test_input_stream_is_consumed_lazily_with_a_bounded_window(model, image_folder):
    # an endless input list: batch must stream it, never materialize it
    pulled = itertools.count()
    image = image_folder.paths()[0]

    def endless():
        while True:
            next(pulled)
            yield image

    window = 6
    results = edgekit.batch(model, endless(), workers=2, window=window)
    taken = list(itertools.islice(results, 50))
    results.close()

    in_flight = next(pulled) - 1 - len(taken)
    assert len(taken) == 50
    assert in_flight <= window  # a worker takes a window slot before it takes an item


def test_closing_the_iterator_stops_its_threads(model, image_folder):
    before = {t.name for t in threading.enumerate()}
    results = edgekit.batch(model, [image_folder.root], workers=3)
    next(results)
    assert any(t.name.startswith("edgekit-batch") for t in threading.enumerate())

    results.close()

    alive = [t for t in threading.enumerate() if t.name.startswith("edgekit-batch")
             and t.name not in before]
    assert alive == []


def test_batch_loads_and_closes_a_model_given_by_path(model_path, image_folder):
    results = list(edgekit.batch(str(model_path), image_folder.paths()[:5]))
    assert [r.input for r in results] == image_folder.paths()[:5]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"every": 0}, "every must be at least 1, got 0"),
    ({"workers": -1}, "workers must be 0 or more, got -1"),
    ({"window": 0}, "window must be at least 1, got 0"),
    ({"engine": "spark"}, "engine 'spark' is not one of local, ray"),
])
def test_batch_rejects_bad_arguments_when_called(model, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        edgekit.batch(model, ["x.jpg"], **kwargs)


def test_an_unreadable_list_file_raises_config_error_after_the_inputs_before_it(model, image_folder,
                                                                                 tmp_path):
    results = edgekit.batch(model, image_folder.paths()[:3], list_file=str(tmp_path / "no.txt"))

    got = [next(results) for _ in range(3)]
    assert [r.input for r in got] == image_folder.paths()[:3]
    with pytest.raises(ConfigError, match=r"^list_file .*no\.txt: No such file"):
        next(results)


def test_a_model_without_image_input_is_refused(tmp_path):
    import zoo

    path = zoo.model("batch_dense_7_3.tflite", lambda: zoo.make_models().dense(7, 3))
    with edgekit.load(path, task="raw") as dense:
        with pytest.raises(ConfigError, match="is not an image"):
            edgekit.batch(dense, [str(Path(tmp_path))])


def test_edgekit_batch_and_stream_stay_functions_after_their_modules_are_imported():
    # the modules are edgekit._batch.engine / edgekit._stream.factory, so importing them rebinds nothing
    import subprocess
    import sys

    code = ("import edgekit; f, g = edgekit.batch, edgekit.stream; "
            "import edgekit._batch.engine, edgekit._stream.factory; from edgekit._batch.engine import FrameError; "
            "print(edgekit.batch is f, edgekit.stream is g, callable(f), callable(g))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True", "True"]
