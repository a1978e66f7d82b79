"""Fixtures for the batch tests (the data itself is built in :mod:`batch_data`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import zoo
from batch_data import ImageFolder, build_folder


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> ImageFolder:
    return build_folder(tmp_path_factory.mktemp("batch") / "inputs")


@pytest.fixture(scope="session")
def model_path() -> Path:
    return zoo.digits_classifier("uint8")


@pytest.fixture()
def model(model_path: Path):  # type: ignore[no-untyped-def]
    import edgekit

    with edgekit.load(model_path, threads=1) as loaded:
        yield loaded
