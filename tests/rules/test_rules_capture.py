"""``Capture``: frames the model is unsure about, filed for a person to sort, ready for ``train``."""

from __future__ import annotations

import collections
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgekit
from edgekit import Capture, StreamEvent
from edgekit._actions.capture import class_folder, unsure_reasons
from edgekit.errors import ConfigError
from edgekit.results import Classification, Prediction
from edgekit.sinks import QueuedSink
from edgekit.sources import DemoSource


def _digit_frames() -> dict[int, np.ndarray]:
    """One demo frame per digit 0–9 (the bundled model reads them right)."""
    demo, found = DemoSource(), {}
    for index in range(0, 3000, 30):
        found.setdefault(demo.label_at(index), demo.frame_at(index))
        if len(found) == 10:
            return found
    raise AssertionError("the demo did not show every digit")


def _every(capture: Capture) -> QueuedSink:
    """``capture`` behind a queue long enough for every frame of a file (no result dropped)."""
    return QueuedSink(capture, maxsize=1000)


def _feed(capture: Capture, model: Path, frames: Path) -> list[edgekit.FrameResult]:
    """Every frame of ``frames`` through the model, then handed to ``capture`` in this thread.

    (Behind a stream's queue, a capture still writing when the file ends gets a second to
    finish; on a loaded machine that may not be enough, and the test would count the rest.)
    """
    results = list(edgekit.stream(model, str(frames)))
    for result in results:
        capture.write(result, cv2.imread(result.prediction.input))  # type: ignore[arg-type]
    capture.close()
    return results


def _margin(result: edgekit.FrameResult) -> float:
    scores = [c.score for c in result.classes[:2]] + [0.0]
    return scores[0] - scores[1]


def _pred(*scores: tuple[str, float]) -> Prediction:
    return Prediction("classify", tuple(Classification(i, label, s) for i, (label, s) in enumerate(scores)))


def test_unsure_means_a_middling_score_close_runners_up_or_a_flickering_label() -> None:
    calm = collections.deque(["cat"] * 10, maxlen=10)
    assert unsure_reasons(_pred(("cat", 0.95), ("dog", 0.05)), calm, (0.3, 0.7), 0.1, 3) == []
    assert unsure_reasons(_pred(("cat", 0.55), ("dog", 0.30)), calm, (0.3, 0.7), 0.1, 3) == ["band"]
    assert unsure_reasons(_pred(("cat", 0.75), ("dog", 0.70)), calm, (0.3, 0.7), 0.1, 3) == ["margin"]
    flicker = collections.deque(["cat", "dog", "cat", "cat", "dog"], maxlen=10)
    assert unsure_reasons(_pred(("dog", 0.99)), flicker, (0.3, 0.7), 0.1, 3) == ["flicker"]
    assert unsure_reasons(_pred(("dog", 0.99)), flicker, (0.3, 0.7), 0.1, 0) == [], "0: off"
    assert unsure_reasons(Prediction("detect"), calm, (0.0, 1.0), 0.1, 3) == [], "nothing seen"


def test_folder_names_are_safe_class_folders() -> None:
    assert class_folder("traffic light") == "traffic light"
    assert class_folder("../etc/passwd") == "_etc_passwd"
    assert class_folder(".hidden") == "hidden" and class_folder(None) == "unknown"
    assert class_folder("train") == "train_", "the trainer reads train/ as a split"


def test_bad_capture_options_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"band must be 0 <= low <= high <= 1, got 0.8, 0.2"):
        Capture(tmp_path, band=(0.8, 0.2))
    with pytest.raises(ConfigError, match=r"flicker must be in 0..window-1"):
        Capture(tmp_path, flicker=10, window=10)


@pytest.fixture(scope="module")
def blended(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int | None]]:
    """Frames: a confident digit, then a half-and-half blend of two digits, over and over.

    Returns the folder and, per frame, the digit a person would file it under
    (the stronger one of the blend, ``None`` for the confident frames).
    """
    digits = _digit_frames()
    folder = tmp_path_factory.mktemp("frames")
    truth: list[int | None] = []
    pairs = [(3, 8), (1, 7), (3, 5), (1, 4), (3, 9), (1, 2), (3, 6), (1, 0)]
    for i, (a, b) in enumerate(pairs):
        cv2.imwrite(str(folder / f"{2 * i:03d}.png"), digits[a])
        cv2.imwrite(str(folder / f"{2 * i + 1:03d}.png"), cv2.addWeighted(digits[a], 0.6, digits[b], 0.4, 0))
        truth += [None, a]
    return folder, truth


def test_unsure_frames_are_filed_under_the_guess_with_a_sidecar(tmp_path: Path, default_model: Path,
                                                                 blended: tuple) -> None:  # type: ignore[type-arg]
    frames, truth = blended
    capture = Capture(tmp_path / "cap", interval=0, flicker=0, model="digits_int8.tflite")
    results = _feed(capture, default_model, frames)
    unsure = {r.frame for r in results if r.classes[0].score <= 0.7 or _margin(r) < 0.1}
    assert unsure and unsure <= {i for i, t in enumerate(truth) if t is not None}, \
        "the pure digits are sure, only blends are kept"
    sidecars = sorted((tmp_path / "cap" / ".meta").glob("*.json"))
    assert len(sidecars) == capture.saved == len(unsure)
    for path in sidecars:
        meta = json.loads(path.read_text())
        image = tmp_path / "cap" / meta["image"]
        assert image.is_file() and image.parent.name == meta["guess"] == meta["result"]["classes"][0]["label"]
        assert meta["schema"] == "edgekit.capture/1" and meta["model"] == "digits_int8.tflite"
        assert set(meta["reasons"]) <= {"band", "margin"} and meta["reasons"]
        assert meta["result"]["frame"] in unsure
        saved = cv2.imread(str(image))
        original = cv2.imread(str(frames / f"{meta['result']['frame']:03d}.png"))
        assert np.abs(saved.astype(int) - original).mean() < 3, "the frame as it came, not drawn on"


def test_sorted_captures_are_a_dataset_the_trainer_reads_as_it_is(tmp_path: Path, default_model: Path,
                                                                  blended: tuple) -> None:  # type: ignore[type-arg]
    from edgekit_trainer.data import ImageSpec, load_dataset

    frames, truth = blended
    capture = Capture(tmp_path / "cap", interval=0, flicker=0, band=(0.0, 0.99), margin=0)
    _feed(capture, default_model, frames)
    # A person files each image under the digit it really shows (the stronger one of the blend).
    for sidecar in (tmp_path / "cap" / ".meta").glob("*.json"):
        meta = json.loads(sidecar.read_text())
        right = truth[meta["result"]["frame"]]
        if right is not None and str(right) != meta["guess"]:
            (tmp_path / "cap" / str(right)).mkdir(exist_ok=True)
            shutil.move(tmp_path / "cap" / meta["image"], tmp_path / "cap" / str(right))
    for folder in (tmp_path / "cap").iterdir():
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    data = load_dataset(tmp_path / "cap", ImageSpec(32, 1), val_fraction=0.5)
    assert set(data.classes) == {"1", "3"} and data.skipped == ()
    assert len(data.train.samples) + len(data.val.samples) == capture.saved >= 6


def test_the_interval_and_the_folder_limit_bound_what_is_kept(tmp_path: Path, default_model: Path,
                                                              blended: tuple) -> None:  # type: ignore[type-arg]
    frames, _ = blended
    once = Capture(tmp_path / "once", interval=3600, flicker=0)
    _feed(once, default_model, frames)
    assert once.saved == 1
    shutil.copytree(tmp_path / "once", tmp_path / "limited")
    limited = Capture(tmp_path / "limited", interval=0, flicker=0, max_files=3)  # one is there already
    full = []
    with edgekit.stream(default_model, str(frames), sinks=[_every(limited)], events=True, loop=True,
                        duration=60) as items:
        for item in items:  # behind the stream's queue, as in a run: its event comes through the stream
            if isinstance(item, StreamEvent) and item.event == "capture_full":
                full.append(item)
                items.stop()
    assert limited.saved == 2
    assert len(full) == 1 and "holds 3 images" in full[0].message and "sort them out" in full[0].message


def test_a_flickering_label_is_unsure_even_when_each_frame_is_sure(tmp_path: Path, default_model: Path) -> None:
    digits = _digit_frames()
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(12):
        cv2.imwrite(str(frames / f"{i:03d}.png"), digits[3 if i % 2 else 8])
    capture = Capture(tmp_path / "cap", interval=0, flicker=3, window=5, band=(0.3, 0.5), margin=0)
    _feed(capture, default_model, frames)
    reasons = [json.loads(p.read_text())["reasons"] for p in (tmp_path / "cap" / ".meta").glob("*.json")]
    assert reasons and all(r == ["flicker"] for r in reasons)
    assert capture.saved == 12 - 3, "from the 4th frame on, 3 changes are in the window"
