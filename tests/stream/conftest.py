"""Fixtures of the stream tests: a small digits model, the bundled model when it exists."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # streamkit, mjpeg_server


@pytest.fixture(scope="session")
def digits_model() -> Path:
    """A real int8 digits classifier (32×32 grey), from the test zoo."""
    import zoo

    return zoo.digits_classifier("int8")


@pytest.fixture(scope="session")
def default_model() -> Path:
    """The bundled default model; skips while the trainer has not produced it yet."""
    import edgekit

    path = Path(edgekit.default_model_path())
    if not path.is_file():
        pytest.skip(f"the bundled default model {path} is not built yet (trainer issue)")
    return path
