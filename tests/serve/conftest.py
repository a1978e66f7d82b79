"""Fixtures for the serve tests: real digit images, the bundled model, a server on loopback."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent, HERE.parent / "sinks"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from serve_helpers import Running, encode  # noqa: E402
from sinks_helpers import Broker  # noqa: E402

import edgekit  # noqa: E402


@pytest.fixture(scope="session")
def digits() -> tuple[list[np.ndarray], list[int]]:
    """Real handwritten digits (scikit-learn's, shipped with edgekit for the demo source) as
    64×64 BGR images, as a camera would send them, and their labels."""
    import cv2

    from edgekit.sources.demo import load_demo_digits

    data = load_demo_digits()
    images = [cv2.cvtColor(cv2.resize(im, (64, 64)), cv2.COLOR_GRAY2BGR) for im in data.images[:24]]
    return images, [int(label) for label in data.labels[:24]]


@pytest.fixture(scope="session")
def digit_images(digits: tuple[list[np.ndarray], list[int]]) -> list[np.ndarray]:
    return digits[0]


@pytest.fixture(scope="session")
def jpegs(digit_images: list[np.ndarray]) -> list[bytes]:
    return [encode(im, ".jpg") for im in digit_images]


@pytest.fixture(scope="module")
def served() -> Iterator[Running]:
    """The bundled digits model behind HTTP, in this process (read-only tests share it)."""
    with edgekit.load(edgekit.default_model_path()) as model, Running(model) as running:
        yield running


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A copy of the bundled model that a test may replace."""
    path = tmp_path / "model.tflite"
    shutil.copy(edgekit.default_model_path(), path)
    return path


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real anonymous mosquitto on a free loopback port (tests/sinks' broker)."""
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed (Debian package: mosquitto)")
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def http() -> Iterator[object]:
    """One HTTP client for the session (building one costs a second here: its TLS context)."""
    httpx = pytest.importorskip("httpx")
    with httpx.Client(verify=False, timeout=60) as client:  # plain http on loopback only
        yield client
