"""Source of a fake ``picamera2`` package, written into a temp dir by the tests.

It mimics the part of picamera2's API edgekit uses: ``Picamera2(n)``,
``create_video_configuration(main={"size", "format"}, controls, buffer_count)``,
``configure``, ``start``, ``capture_array("main")``, ``stop``, ``close``; frames
are pure blue in libcamera's ``RGB888`` byte order (B, G, R), 30 per second,
and every call is appended to ``CALLS`` (and to ``$FAKE_PICAMERA2_LOG`` if set).
"""

from __future__ import annotations

from pathlib import Path

SOURCE = '''
import os, time
import numpy as np

CALLS = []

def _log(*call):
    CALLS.append(call)
    path = os.environ.get("FAKE_PICAMERA2_LOG")
    if path:
        with open(path, "a") as f:
            f.write(repr(call) + "\\n")

class Picamera2:
    def __init__(self, camera_num=0):
        if camera_num > 0:
            raise IndexError("list index out of range")
        _log("init", camera_num)
        self.size = None

    def create_video_configuration(self, main=None, controls=None, buffer_count=6, **kw):
        _log("create_video_configuration", main, controls, buffer_count)
        return {"main": dict(main or {}), "controls": dict(controls or {})}

    def configure(self, config):
        _log("configure", config["main"].get("format"))
        self.size = config["main"]["size"]

    def start(self):
        _log("start")

    def capture_array(self, name="main"):
        w, h = self.size
        time.sleep(1 / 30)
        frame = np.zeros((h, w, 3), np.uint8)
        frame[:, :, 0] = 255  # RGB888 in libcamera is B, G, R in memory
        return frame

    def stop(self):
        _log("stop")

    def close(self):
        _log("close")
'''


def install(directory: Path) -> Path:
    """Write the fake package into ``directory``; return the directory to put on sys.path."""
    package = directory / "picamera2"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(SOURCE)
    return directory
