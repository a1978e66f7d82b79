"""``--camera picam``: Raspberry Pi CSI cameras through picamera2 (libcamera).

On Raspberry Pi OS bookworm, CSI cameras are libcamera devices that OpenCV's
V4L2 backend cannot open. picamera2 is installed from apt
(``python3-picamera2``), not from PyPI, so a virtual environment only sees it
when it was created with ``python3 -m venv --system-site-packages``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..errors import SourceOpenError
from .opencv import check_frame

__all__ = ["PICAMERA2_HELP", "PicamSource"]

PICAMERA2_HELP = (
    "the picam source needs picamera2, which this Python cannot import: on Raspberry Pi OS run "
    "`sudo apt install python3-picamera2` and create the venv with "
    "`python3 -m venv --system-site-packages`"
)


def _import_picamera2() -> Any:
    try:
        from picamera2 import Picamera2  # type: ignore[import-not-found]
    except ImportError as exc:
        raise SourceOpenError(f"{PICAMERA2_HELP} ({exc})") from exc
    return Picamera2


class PicamSource:
    """A CSI camera via picamera2, delivering BGR frames (libcamera's ``RGB888``).

    Args:
        camera: Camera number for boards with two CSI ports.
        width, height: Requested size (default 640×480).
        fps: Requested frame rate (default: the sensor mode's).
    """

    live = True

    def __init__(self, camera: int = 0, width: int | None = None, height: int | None = None,
                 fps: float | None = None) -> None:
        self.camera = camera
        self.name = "picam" if camera == 0 else f"picam:{camera}"
        self.size = (int(width or 640), int(height or 480))
        self.fps = fps
        self.position = -1
        self._cam: Any = None

    def open(self) -> None:
        Picamera2 = _import_picamera2()
        self.close()
        try:
            cam = Picamera2(self.camera)
        except (RuntimeError, IndexError, OSError) as exc:
            raise SourceOpenError(
                f"{self.name}: no CSI camera found ({exc}); check the ribbon cable and "
                "`rpicam-hello --list-cameras`"
            ) from exc
        try:
            controls = {"FrameRate": float(self.fps)} if self.fps else {}
            # "RGB888" is libcamera's name for B, G, R byte order: OpenCV's BGR.
            config = cam.create_video_configuration(
                main={"size": self.size, "format": "RGB888"}, controls=controls, buffer_count=2
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:  # picamera2 raises plain RuntimeError/OSError variants
            cam.close()
            raise SourceOpenError(f"{self.name}: cannot start the camera: {exc}") from exc
        self._cam = cam

    def read(self) -> tuple[np.ndarray, float] | None:
        cam = self._cam
        if cam is None:
            return None
        frame = cam.capture_array("main")
        ts = time.time()
        self.position += 1
        frame = check_frame(frame)
        if frame.ndim == 3 and frame.shape[2] == 4:  # XBGR8888 on some configurations
            frame = np.ascontiguousarray(frame[:, :, :3])
        return frame, ts

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.stop()
            finally:
                cam.close()
