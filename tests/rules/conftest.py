"""Fixtures of the rule and action tests: real models, a real mosquitto, helpers of other areas."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent, HERE.parent / "sinks", HERE.parent / "stream", HERE.parent / "detect"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from sinks_helpers import Broker


@pytest.fixture(scope="session")
def digits_model() -> Path:
    """A real int8 digits classifier (32×32 grey, labels 'zero'…'nine'), from the test zoo."""
    import zoo

    return zoo.digits_classifier("int8")


@pytest.fixture(scope="session")
def default_model() -> Path:
    """The bundled default model (digits, labels '0'…'9'): accurate on the demo source."""
    import edgekit

    path = Path(edgekit.default_model_path())
    if not path.is_file():
        pytest.skip(f"the bundled default model {path} is not built")
    return path


@pytest.fixture(scope="session")
def red_detector() -> Path:
    """A real detector of red squares on a 10×10 grid (one class, no labels), from the test zoo."""
    import detect_models

    return detect_models.red_square_detector("float32")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real anonymous mosquitto on a free loopback port."""
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed (Debian package: mosquitto)")
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()
