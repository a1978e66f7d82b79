"""Video inputs: one result per kept frame, with the video's own frame indices."""

from __future__ import annotations

import os

import pytest
from batch_data import write_video

import edgekit
from edgekit._batch.engine import FrameError
from edgekit._batch.inputs import video_frames
from edgekit._batch.work import key_of
from edgekit._batch.writers import row
from edgekit.errors import SourceOpenError
from edgekit.results import FrameResult, ItemError, Prediction

FRAMES = 23


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "digits.mp4"
    shown = write_video(path, FRAMES)
    return str(path), shown


def test_every_n_keeps_frames_0_n_2n_with_their_video_indices(model, video):
    path, shown = video

    results = list(edgekit.batch(model, [path], every=5))

    assert all(isinstance(r, FrameResult) for r in results)
    assert [r.frame for r in results] == [0, 5, 10, 15, 20]
    assert {r.source for r in results} == {path}
    assert all(r.prediction.input == path for r in results)
    hits = sum(r.classes[0].id == shown[r.frame] for r in results)
    assert hits >= 4


def test_a_video_gives_every_frame_by_default_and_positions_grow(model, video):
    path, shown = video

    results = list(edgekit.batch(model, [path]))

    assert [r.frame for r in results] == list(range(FRAMES))
    assert sum(r.classes[0].id == shown[r.frame] for r in results) >= 0.8 * FRAMES
    positions = [r.ts for r in results]
    assert positions == sorted(positions) and positions[-1] > positions[0]


def test_video_rows_carry_input_and_frame(model, video):
    path, _ = video

    first = next(edgekit.batch(model, [path], every=7))

    data = row(first)
    assert list(data)[:3] == ["input", "frame", "task"]
    assert data["input"] == path and data["frame"] == 0
    assert data["classes"][0]["label"] in {"zero", "one", "two", "three", "four", "five", "six",
                                          "seven", "eight", "nine"}


def test_videos_and_images_mix_in_input_order(model, video, image_folder):
    path, _ = video
    image = image_folder.paths()[0]

    results = list(edgekit.batch(model, [image, path, image], every=10))

    assert [key_of(r) for r in results] == [(image, None), (path, 0), (path, 10), (path, 20),
                                            (image, None)]
    assert isinstance(results[0], Prediction) and isinstance(results[-1], Prediction)


def test_skip_resumes_a_video_at_the_frames_not_done(model, video):
    path, _ = video
    done = {(path, 0), (path, 2), (path, 4)}

    results = list(edgekit.batch(model, [path], every=2, skip=done))

    assert [r.frame for r in results] == [6, 8, 10, 12, 14, 16, 18, 20, 22]


def test_a_corrupt_video_is_one_error_row(model, tmp_path, image_folder):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(os.urandom(3000))
    image = image_folder.paths()[0]

    results = list(edgekit.batch(model, [str(bad), image]))

    assert isinstance(results[0], ItemError) and not isinstance(results[0], FrameError)
    assert results[0].input == str(bad)
    assert results[0].type in {"SourceOpenError", "InputError"}
    assert results[1].input == image


def test_video_frames_refuses_a_missing_file(tmp_path):
    with pytest.raises(SourceOpenError, match="no such file"):
        list(video_frames(str(tmp_path / "none.mp4")))


def test_frame_error_row_names_its_frame():
    error = FrameError("v.mp4", "InputError", "v.mp4: frame 3 could not be decoded", 3)

    assert isinstance(error, ItemError)
    assert row(error) == {"input": "v.mp4", "frame": 3,
                          "error": {"type": "InputError",
                                    "message": "v.mp4: frame 3 could not be decoded"}}
    assert key_of(error) == ("v.mp4", 3)
