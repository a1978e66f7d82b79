"""``--show``: an OpenCV window with the annotated stream.

Only OpenCV builds with a GUI backend can open windows; ``opencv-python-headless``
(what edgekit installs) cannot. Then ``--show`` is refused up front with a
``ConfigError`` whose one line points to ``--serve`` — refusing (rather than
warning and running on) means a user who asked for a window is never left
wondering why none appeared. :func:`~edgekit.sinks.check_sink_options` runs the
check, so a command can fail before it loads the model.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..results import FrameResult, StreamStats
from .overlay import annotate

__all__ = ["WindowSink", "check_gui", "gui_backend"]

HINT = "preview in a browser with a WebSink instead"
CLI_HINT = "use --serve 127.0.0.1:8080 and open http://127.0.0.1:8080/ in a browser instead"


def gui_backend(build_information: str) -> str | None:
    """The GUI backend named in ``cv2.getBuildInformation()`` (``None`` when there is none)."""
    match = re.search(r"^\s*GUI:\s*(\S+)", build_information, re.MULTILINE)
    if not match or match.group(1).upper() in ("NONE", "NO"):
        return None
    return match.group(1)


def check_gui(feature: str = "WindowSink", hint: str = HINT) -> str:
    """Check that an OpenCV window can be opened here; return the GUI backend.

    Args:
        feature: What needs the window, named in the error (``edgekit run`` says ``--show``).
        hint: What to do instead, appended to the error.

    Raises:
        ConfigError: OpenCV has no GUI support, or there is no display.
    """
    try:
        import cv2
    except ImportError:
        raise ConfigError(f"{feature} needs OpenCV; {hint}") from None
    backend = gui_backend(cv2.getBuildInformation())
    if backend is None:
        raise ConfigError(f"{feature} needs OpenCV with GUI support (this one is headless); {hint}")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        # Without a display some GUI backends abort the whole process.
        raise ConfigError(f"{feature} needs a display (DISPLAY is not set); {hint}")
    return backend


class WindowSink:
    """Shows the annotated frames in an OpenCV window; ``q`` or Esc sets ``quit_requested``.

    Raises:
        ConfigError: See :func:`check_gui`.
    """

    name = "window"

    def __init__(self, title: str = "edgekit") -> None:
        check_gui()
        import cv2

        self.title = title
        self.quit_requested = False
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise ConfigError(f"WindowSink cannot open a window ({exc}); {HINT}") from None

    def write(self, item: Any, frame: np.ndarray | None = None,
              stats: StreamStats | None = None) -> None:
        """Show ``frame`` with ``item`` drawn on it."""
        if frame is None or not isinstance(item, FrameResult):
            return
        import cv2

        cv2.imshow(self.title, annotate(frame, item, stats))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.quit_requested = True

    def close(self) -> None:
        """Close the window."""
        import cv2

        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass
