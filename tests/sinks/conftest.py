"""Fixtures for the sink tests: real frames and a real mosquitto broker."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from sinks_helpers import Broker  # noqa: E402


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    """scikit-image's real photos, all resized to 320×240 BGR."""
    import cv2
    import zoo

    images = [cv2.resize(p, (320, 240), interpolation=cv2.INTER_AREA) for p in zoo.skimage_photos()]
    assert len(images) >= 3
    return images


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian package: mosquitto)")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real anonymous mosquitto on a free loopback port."""
    _need("mosquitto")
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Broker]:
    """A real mosquitto that only lets user ``camera`` with password ``s3cret pass`` in."""
    _need("mosquitto")
    _need("mosquitto_passwd")
    b = Broker(tmp_path, passwords={"camera": "s3cret pass"})
    b.start()
    yield b
    b.stop()
