"""The runtime tests' models are committed in tests/models/, exactly the ones make_models.py makes."""

from __future__ import annotations

import zoo

import edgekit


def test_every_model_make_models_lists_is_committed_and_nothing_else() -> None:
    listed = set(zoo.make_models().COMMITTED)
    committed = {p.name for p in zoo.MODELS.glob("*.tflite")}
    assert listed - committed == set(), "listed but not committed: run tests/models/make_models.py NAME"
    assert committed - listed == set(), "committed but made by nothing: add it to COMMITTED"


def test_the_committed_models_stay_small_and_load() -> None:
    paths = sorted(zoo.MODELS.glob("*.tflite"))
    assert sum(p.stat().st_size for p in paths) < 15_000_000
    for path in paths:
        with edgekit.load(path, task="raw") as model:
            assert model.inputs
