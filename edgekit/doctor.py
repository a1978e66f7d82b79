"""``edgekit doctor``: what this machine has, whether it works, and what to do about it."""

from __future__ import annotations

import glob
import importlib.metadata
import importlib.util
import platform
import re
import sys
from typing import Any

__all__ = ["collect", "opencv_info", "render"]


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def opencv_info() -> dict[str, Any]:
    """OpenCV's version, GUI support and video I/O backends, from its build information."""
    try:
        import cv2
    except ImportError as exc:
        return {"version": None, "error": str(exc), "gui": None, "video_io": []}
    build = cv2.getBuildInformation()
    gui = re.search(r"^\s*GUI:\s*(.+)$", build, re.M)
    gui_name = gui.group(1).strip() if gui else "UNKNOWN"
    video_io = []
    section = build.split("Video I/O:", 1)[-1].split("\n\n", 1)[0]
    for line in section.splitlines():
        match = re.match(r"^\s*([\w /.-]+?):\s*(YES|NO)\b", line)
        if match and match.group(2) == "YES":
            video_io.append(match.group(1).strip())
    headless = gui_name.upper() in ("NONE", "UNKNOWN") or "headless" in (cv2.__file__ or "")
    return {"version": cv2.__version__, "gui": gui_name, "headless": headless, "video_io": video_io}


def _backends() -> list[dict[str, Any]]:
    from .backend import available
    from .inspection import backend_support

    found = available()
    if not found:
        return []
    from . import default_model_path

    model = default_model_path()
    if not importlib.util.find_spec("edgekit") or not _exists(model):
        return [{"backend": b.name, "version": b.version(), "ok": None,
                 "error": "bundled model missing; cannot test"} for b in found]
    return backend_support(model, timeout=90.0)


def _exists(path: str) -> bool:
    import os

    return os.path.isfile(path)


def _device() -> dict[str, Any] | None:
    try:
        from .devices import detect_device
    except ImportError:
        return None
    profile = detect_device()
    return None if profile is None else {"name": profile.name, "title": profile.title,
                                         "threads": profile.threads,
                                         "precision": profile.precision}


def collect() -> dict[str, Any]:
    """Everything ``doctor`` reports, as one JSON-able dict (with ``advice``)."""
    import numpy

    report: dict[str, Any] = {
        "edgekit": _version("edgekit"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": numpy.__version__,
        "backends": _backends(),
        "opencv": opencv_info(),
        "cameras": sorted(glob.glob("/dev/video*")),
        "picamera2": importlib.util.find_spec("picamera2") is not None,
        "tensorflow": _version("tensorflow"),
        "device": _device(),
    }
    report["advice"] = advice(report)
    return report


def advice(report: dict[str, Any]) -> list[str]:
    """Concrete things to do, derived from a :func:`collect` report."""
    tips: list[str] = []
    backends = report["backends"]
    if not backends:
        tips.append("No TFLite interpreter is installed: pip install ai-edge-litert")
    for b in backends:
        if b.get("ok") is False:
            tips.append(f"Backend {b['backend']} {b.get('version')} does not work here: {b['error']}")
    if report["numpy"].startswith("2") and any(b["backend"] == "tflite-runtime" for b in backends):
        tips.append("tflite-runtime needs numpy<2; prefer ai-edge-litert (the default backend).")
    cv = report["opencv"]
    if cv.get("headless"):
        tips.append("OpenCV is headless (no --show window): use --serve 8080 for a browser preview.")
    if not report["cameras"] and not report["picamera2"]:
        tips.append("No camera found (/dev/video*); try --source demo, a video file or an RTSP URL.")
    if report["machine"] in ("aarch64", "armv7l") and not report["picamera2"]:
        tips.append("CSI camera: sudo apt install python3-picamera2 and create the venv with "
                    "--system-site-packages, then use --camera picam.")
    device = report.get("device")
    if device:
        tips.append(f"Detected {device['title']}: use --threads {device['threads']} and the "
                    f"{device['precision']} model variant (or --device auto).")
    return tips


def render(report: dict[str, Any]) -> str:
    """A readable report."""
    lines = [
        f"edgekit    {report['edgekit']}",
        f"python     {report['python']} on {report['platform']}",
        f"numpy      {report['numpy']}",
    ]
    for b in report["backends"] or [{"backend": "none", "version": "", "ok": False,
                                      "error": "no backend installed"}]:
        state = {True: "works", False: f"FAILS: {b['error']}", None: b.get("error")}[b["ok"]]
        lines.append(f"backend    {b['backend']} {b.get('version') or ''}: {state}")
    cv = report["opencv"]
    gui = "headless" if cv.get("headless") else f"GUI {cv.get('gui')}"
    lines.append(f"opencv     {cv.get('version')} ({gui}; video I/O: {', '.join(cv.get('video_io') or []) or 'none'})")
    lines.append(f"cameras    {', '.join(report['cameras']) or 'none'}"
                 f"; picamera2 {'available' if report['picamera2'] else 'not installed'}")
    lines.append(f"tensorflow {report['tensorflow'] or 'not installed (only needed to train)'}")
    device = report.get("device")
    lines.append(f"device     {device['title'] + ' (' + device['name'] + ')' if device else 'unknown'}")
    for tip in report["advice"]:
        lines.append(f"advice     {tip}")
    return "\n".join(lines)
