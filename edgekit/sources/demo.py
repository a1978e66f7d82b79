"""``demo``: a built-in live source that animates real handwritten digits.

Everything in edgekit runs on a machine with no camera: the demo source
behaves like one (frames arrive at a fixed rate whether or not anybody reads
them; a late reader misses frames) and shows scikit-learn's real handwritten
digits, shipped with the package in ``edgekit/data/demo_digits.npz``, one at a
time, changing every ``period`` seconds. It knows the true label of every frame
(:meth:`DemoSource.label_at`), so the accuracy of a model on it can be checked.

``demo:detect`` (``mode="detect"``) shows objects at known places instead: one
to three of those digits pasted onto a photo (scikit-image's ``coffee``, CC0,
shipped as ``edgekit/data/demo_background.jpg``) at random sizes and places,
a new scene every ``period`` seconds; :meth:`DemoSource.objects_at` gives the
boxes and classes of any frame, for a detector trained on digits in scenes.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, SourceOpenError
from .scenes import Scene

__all__ = ["DEMO_MODES", "DemoDigits", "DemoSource", "demo_digits_path", "load_demo_digits", "render_digit"]

DEMO_MODES = ("classify", "detect")

NOISE_PATTERNS = 8  # pre-computed noise images, cycled (no per-frame RNG cost on a Pi)
NOISE_LEVEL = 24  # background noise amplitude, grey levels
DIGIT_HEIGHT = 0.8  # digit height as a fraction of the frame height
JITTER = 0.05  # centre jitter, fraction of the frame size
SCALE_JITTER = 0.08  # size jitter, fraction of the digit size
MAX_OBJECTS = 3  # digits per detection scene


def demo_digits_path(name: str = "demo_digits.npz") -> Path:
    """Where the package keeps the demo digits (or another of its data files)."""
    from importlib.resources import files

    return Path(str(files("edgekit") / "data" / name))


@dataclass(frozen=True, slots=True)
class DemoDigits:
    """The digit images (``N×H×W`` grey ``uint8``) and their labels (``N``)."""

    images: np.ndarray
    labels: np.ndarray


def load_demo_digits(path: str | Path | None = None) -> DemoDigits:
    """Load ``demo_digits.npz`` (arrays ``images`` and ``labels``).

    Raises:
        SourceOpenError: The file is missing or does not hold the two arrays.
    """
    where = Path(path) if path is not None else demo_digits_path()
    try:
        with np.load(where) as data:
            images, labels = data["images"], data["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise SourceOpenError(
            f"demo: cannot read the demo digits {where} ({type(exc).__name__}: {exc}); "
            "reinstall edgekit"
        ) from exc
    if images.ndim != 3 or images.dtype != np.uint8 or len(images) != len(labels) or not len(images):
        raise SourceOpenError(
            f"demo: {where} must hold images uint8 (N,H,W) and labels (N,), "
            f"got images {images.dtype}{list(images.shape)} and labels {list(labels.shape)}"
        )
    return DemoDigits(images, labels.astype(np.int64))


def render_digit(digit: np.ndarray, width: int, height: int, slot_seed: tuple[int, int]) -> np.ndarray:
    """Draw one grey digit on a black ``height×width`` canvas, jittered by ``slot_seed``.

    The digit is ``DIGIT_HEIGHT`` of the frame height (± ``SCALE_JITTER``), centred
    (± ``JITTER`` of each side). Pure: the same seed gives the same canvas.
    """
    import cv2

    rng = np.random.default_rng(list(slot_seed))
    scale = 1.0 + rng.uniform(-SCALE_JITTER, SCALE_JITTER)
    side = max(2, min(height, width, round(DIGIT_HEIGHT * height * scale)))
    big = cv2.resize(digit, (side, side), interpolation=cv2.INTER_CUBIC)
    cx = width / 2 + rng.uniform(-JITTER, JITTER) * width
    cy = height / 2 + rng.uniform(-JITTER, JITTER) * height
    x0 = int(np.clip(round(cx - side / 2), 0, width - side))
    y0 = int(np.clip(round(cy - side / 2), 0, height - side))
    canvas = np.zeros((height, width), np.uint8)
    canvas[y0:y0 + side, x0:x0 + side] = big
    return canvas


class DemoSource:
    """A live source of animated handwritten digits (see the module docstring).

    Args:
        width: Frame width in pixels.
        height: Frame height in pixels.
        fps: Frames per second it produces.
        period: Seconds each digit stays on screen.
        seed: Picks the order of the digits, their jitter and the noise.
        digits: Path of an ``.npz`` with ``images`` and ``labels`` (default: the bundled one).
        mode: ``"classify"`` (one digit per frame) or ``"detect"`` (digits pasted onto a photo).

    Attributes:
        position: Index of the frame :meth:`read` returned last (``-1`` before the first).
    """

    live = True

    def __init__(
        self,
        width: int = 320,
        height: int = 240,
        fps: float = 30.0,
        period: float = 1.0,
        seed: int = 0,
        digits: str | Path | None = None,
        mode: str = "classify",
    ) -> None:
        if width < 8 or height < 8:
            raise ConfigError(f"demo: frame size {width}x{height} is too small (at least 8x8)")
        if not 0 < fps <= 1000:
            raise ConfigError(f"demo: fps must be in (0, 1000], got {fps}")
        if period <= 0:
            raise ConfigError(f"demo: period must be > 0 s, got {period}")
        if mode not in DEMO_MODES:
            raise ConfigError(f"demo: mode {mode!r} is not one of {', '.join(DEMO_MODES)}")
        self.mode = mode
        self.name = "demo" if mode == "classify" else f"demo:{mode}"
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.seed = int(seed)
        self.frames_per_digit = max(1, round(self.fps * period))
        self.position = -1
        self._digits_path = digits
        self._digits: DemoDigits | None = None
        self._order: np.ndarray | None = None
        self._noise: list[np.ndarray] = []
        self._canvas: tuple[int, np.ndarray] | None = None
        self._scene: tuple[int, Scene] | None = None
        self._background: np.ndarray | None = None
        self._t0: float | None = None  # epoch time of frame 0; kept across reopen
        self._closed = threading.Event()

    def open(self) -> None:
        """Load the digits (once) and start the clock (frame 0 is now)."""
        if self._digits is None:
            self._digits = load_demo_digits(self._digits_path)
            rng = np.random.default_rng(self.seed)
            self._order = rng.permutation(len(self._digits.labels))
            self._noise = [rng.integers(0, NOISE_LEVEL, (self.height, self.width), np.uint8)
                           for _ in range(NOISE_PATTERNS)]
        if self._t0 is None:
            self._t0 = time.time()
        self._closed.clear()

    def _slot(self, index: int) -> int:
        assert self._order is not None
        return int(self._order[(index // self.frames_per_digit) % len(self._order)])

    def label_at(self, index: int) -> int:
        """The true digit (0–9) shown in frame ``index``."""
        if self._digits is None:
            self.open()
        assert self._digits is not None
        return int(self._digits.labels[self._slot(index)])

    def objects_at(self, index: int) -> Scene:
        """``demo:detect``: the scene of frame ``index`` (its image, boxes in pixels and classes).

        Raises:
            ConfigError: the source is not in ``detect`` mode.
        """
        from .scenes import compose, fit_background

        if self.mode != "detect":
            raise ConfigError("demo: objects_at needs mode='detect' (the source demo:detect)")
        if self._digits is None:
            self.open()
        assert self._digits is not None
        slot = index // self.frames_per_digit
        if self._scene is None or self._scene[0] != slot:
            if self._background is None:
                self._background = _read_background()
            rng = np.random.default_rng([self.seed, slot])
            pick = rng.choice(len(self._digits.labels), size=int(rng.integers(1, MAX_OBJECTS + 1)),
                              replace=False)
            back = fit_background(self._background, self.width, self.height, rng)
            self._scene = (slot, compose(back, self._digits.images[pick], self._digits.labels[pick], rng))
        return self._scene[1]

    def frame_at(self, index: int) -> np.ndarray:
        """Frame ``index`` as a BGR ``uint8`` image (deterministic)."""
        import cv2

        if self.mode == "detect":
            return self.objects_at(index).image.copy()
        if self._digits is None:
            self.open()
        assert self._digits is not None
        slot = index // self.frames_per_digit
        if self._canvas is None or self._canvas[0] != slot:
            digit = self._digits.images[self._slot(index)]
            self._canvas = (slot, render_digit(digit, self.width, self.height, (self.seed, slot)))
        grey = cv2.add(self._canvas[1], self._noise[index % len(self._noise)])
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)

    def read(self) -> tuple[np.ndarray, float] | None:
        """Wait for the next frame time and return that frame, like a camera.

        A reader that comes late gets the current frame (the ones in between
        are missed, as with a camera). Returns ``None`` once :meth:`close` ran.
        """
        if self._t0 is None:
            self.open()
        assert self._t0 is not None
        index = self.position + 1
        now = time.time()
        current = math.floor((now - self._t0) * self.fps)
        index = max(index, current)
        due = self._t0 + index / self.fps
        if self._closed.wait(max(0.0, due - now)):
            return None
        self.position = index
        return self.frame_at(index), due

    def close(self) -> None:
        """Stop producing frames (a blocked :meth:`read` returns ``None``)."""
        self._closed.set()

    def interrupt(self) -> None:
        """Wake a blocked :meth:`read` (from any thread)."""
        self._closed.set()

    def __repr__(self) -> str:
        return f"<DemoSource {self.mode} {self.width}x{self.height} @ {self.fps:g} fps>"


def _read_background() -> np.ndarray:
    import cv2

    path = demo_digits_path("demo_background.jpg")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceOpenError(f"demo: cannot read the demo background {path}; reinstall edgekit")
    return image
