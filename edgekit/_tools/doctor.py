"""``edgekit doctor``: what this machine has, whether it works, and what to do about it."""

from __future__ import annotations

import glob
import importlib.metadata
import importlib.util
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

from .._version import __version__

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
    gui = re.search(r"^\s*GUI:\s*(.+)$", build, re.MULTILINE)
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
    from ..backend import available
    from .inspection import backend_support

    found = available()
    if not found:
        return []
    from ..model import default_model_path

    model = default_model_path()
    if not importlib.util.find_spec("edgekit") or not _exists(model):
        return [{"backend": b.name, "version": b.version(), "ok": None,
                 "error": "bundled model missing; cannot test"} for b in found]
    return backend_support(model, timeout=90.0)


def _delegates() -> list[dict[str, Any]]:
    """Each standard delegate tried on the bundled model (child processes), default backend."""
    from ..backend import resolve
    from ..errors import EdgekitError
    from ..model import default_model_path
    from .inspection import DELEGATES, delegate_support

    try:
        resolve()
    except EdgekitError:
        return []
    return delegate_support(default_model_path(), DELEGATES, timeout=90.0)


def edgetpu_devices(root: str = "/") -> list[str]:
    """Coral Edge TPUs attached here: USB (1a6e:089a before its firmware loads, 18d1:9302 after)
    and PCIe/M.2 (``/dev/apex_N``)."""
    found = []
    for vendor_file in sorted(glob.glob(os.path.join(root, "sys/bus/usb/devices/*/idVendor"))):
        folder = os.path.dirname(vendor_file)
        try:
            ids = (Path(vendor_file).read_text().strip(), Path(folder, "idProduct").read_text().strip())
        except OSError:
            continue
        if ids in (("1a6e", "089a"), ("18d1", "9302")):
            found.append(f"usb {ids[0]}:{ids[1]}")
    found += sorted(glob.glob(os.path.join(root, "dev/apex_*")))
    return found


def _edgetpu() -> dict[str, Any]:
    from ..delegates import find_edgetpu_library

    return {"library": find_edgetpu_library(), "devices": edgetpu_devices()}


def _exists(path: str) -> bool:
    import os

    return os.path.isfile(path)


def _device() -> dict[str, Any] | None:
    from .._device.profiles import detect_device
    from ..errors import ConfigError

    try:
        profile = detect_device()
    except ConfigError as exc:  # a broken profile file must not take doctor down
        return {"name": "?", "title": f"unknown (device profiles unusable: {exc})", "threads": 1,
                "precision": "float32", "isa": [], "camera_stack": ""}
    if profile is None:
        return None
    return {"name": profile.name, "title": profile.title, "threads": profile.threads,
            "threads_why": profile.threads_why, "precision": profile.precision,
            "precision_why": profile.precision_why, "isa": list(profile.isa),
            "camera_stack": profile.camera_stack, "ram_mb": list(profile.ram_mb)}


def _auto() -> dict[str, Any]:
    from .._device.profiles import get_profile
    from ..errors import ConfigError

    try:
        p = get_profile("auto")
    except ConfigError:
        return {}
    return {"name": p.name, "threads": p.threads, "precision": p.precision}


def _host() -> dict[str, Any]:
    from .._device.profiles import probe_host

    return probe_host().to_dict()


def _system_picamera2() -> bool:
    """The apt package python3-picamera2 is installed for the system Python."""
    return any(Path(d, "picamera2").is_dir() for d in glob.glob("/usr/lib/python3*/dist-packages"))


_OPENCV_WHEELS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                  "opencv-contrib-python-headless")


def collect() -> dict[str, Any]:
    """Everything ``doctor`` reports, as one JSON-able dict (with ``advice``)."""
    import numpy

    from .._device.thermal import read_thermal

    report: dict[str, Any] = {
        "edgekit": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": numpy.__version__,
        "backends": _backends(),
        "delegates": _delegates(),
        "edgetpu": _edgetpu(),
        "opencv": opencv_info(),
        "cameras": sorted(glob.glob("/dev/video*")),
        "picamera2": importlib.util.find_spec("picamera2") is not None,
        "tensorflow": _version("tensorflow"),
        "device": _device(),
        "host": _host(),
        "device_auto": _auto(),
        "thermal": read_thermal(),
        "opencv_wheels": [p for p in _OPENCV_WHEELS if _version(p)],
        "system_picamera2": _system_picamera2(),
        "display": bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")),
    }
    report["advice"] = advice(report)
    return report


def advice(report: dict[str, Any]) -> list[str]:
    """Concrete things to do, derived from a :func:`collect` report (pure: no I/O)."""
    tips = _backend_advice(report) + _delegate_advice(report) + _camera_advice(report)
    tips += _opencv_advice(report)
    tips += _device_advice(report)
    return tips


def _backend_advice(report: dict[str, Any]) -> list[str]:
    tips: list[str] = []
    backends = report["backends"]
    if not backends:
        tips.append("No TFLite interpreter is installed: pip install ai-edge-litert")
    numpy2 = int(report["numpy"].split(".")[0]) >= 2
    mismatch = set()
    for b in backends:
        if b.get("ok") is not False:
            continue
        if "numpy" in str(b.get("error")).lower():
            mismatch.add(b["backend"])
            tips.append(f"NumPy/backend mismatch: {b['backend']} {b.get('version')} does not work with NumPy "
                        f"{report['numpy']} ({b['error']}). Use ai-edge-litert (the default backend, built "
                        f"for NumPy 2), or pip install 'numpy<2' to keep {b['backend']}.")
        else:
            tips.append(f"Backend {b['backend']} {b.get('version')} does not work here: {b['error']}")
    if numpy2 and "tflite-runtime" not in mismatch and any(b["backend"] == "tflite-runtime" for b in backends):
        tips.append(f"tflite-runtime needs numpy<2 and NumPy {report['numpy']} is installed; prefer "
                    "ai-edge-litert (the default backend), or pip install 'numpy<2' to keep tflite-runtime.")
    if report["machine"] in ("armv7l", "armv6l"):
        tips.append("32-bit ARM OS: ai-edge-litert ships no armv7l wheel and XNNPACK's AArch64 kernels are "
                    "faster; install the 64-bit Raspberry Pi OS (or another aarch64 distribution).")
    return tips


# Versions of ai-edge-litert tested where the newest crashed (aarch64 under emulation; see README).
_LITERT_TESTED = {"aarch64": "1.4.0"}


def _delegate_advice(report: dict[str, Any]) -> list[str]:
    """A working alternative when the default path crashes, and the Edge TPU's state."""
    tips: list[str] = []
    delegates = {d["delegate"]: d for d in report.get("delegates") or []}
    default = delegates.get("xnnpack") or next((b for b in report["backends"] if b.get("ok") is False), None)
    if default is not None and default.get("ok") is False and "crashed" in str(default.get("error")):
        if delegates.get("none", {}).get("ok"):
            tips.append("The interpreter crashes with XNNPACK here but runs without it: add --delegate none "
                        "(slower built-in kernels) to every command, or set EDGEKIT_DELEGATE=none.")
        tested = _LITERT_TESTED.get(report["machine"])
        if tested:
            tips.append(f"ai-edge-litert crashed on this {report['machine']} CPU; version {tested} ran where "
                        f"newer builds crashed: pip install 'ai-edge-litert=={tested}'.")
    tpu = report.get("edgetpu") or {}
    if tpu.get("devices") and not tpu.get("library"):
        tips.append(f"A Coral Edge TPU is attached ({', '.join(tpu['devices'])}) but libedgetpu.so.1 is not "
                    "installed: add Coral's apt repository and sudo apt install libedgetpu1-std, then run an "
                    "Edge TPU-compiled model with --delegate edgetpu.")
    elif tpu.get("library") and not tpu.get("devices"):
        tips.append("libedgetpu is installed but no Edge TPU is attached (USB 1a6e:089a / 18d1:9302, or "
                    "/dev/apex_0): plug it in (a USB 3 port) before --delegate edgetpu.")
    return tips


def _camera_advice(report: dict[str, Any]) -> list[str]:
    tips: list[str] = []
    device = report.get("device") or {}
    wants_picam = "picamera2" in device.get("camera_stack", "") or (
        not device and report["machine"] in ("aarch64", "armv7l"))
    if wants_picam and not report["picamera2"]:
        if report.get("system_picamera2"):
            tips.append("python3-picamera2 is installed for the system Python but this environment cannot "
                        "import it: recreate the venv with python3 -m venv --system-site-packages, then "
                        "use --camera picam.")
        else:
            tips.append("CSI camera: picamera2 is missing: sudo apt install python3-picamera2 and create "
                        "the venv with --system-site-packages, then use --camera picam (OpenCV cannot open "
                        "libcamera cameras).")
    if not report["cameras"] and not report["picamera2"]:
        tips.append("No camera found (/dev/video*); try `edgekit run --source demo`, a video file or an "
                    "RTSP URL (--source clip.mp4, --source rtsp://…).")
    return tips


def _opencv_advice(report: dict[str, Any]) -> list[str]:
    tips: list[str] = []
    cv = report["opencv"]
    wheels = report.get("opencv_wheels") or []
    if len(wheels) > 1:
        tips.append(f"Several OpenCV wheels are installed ({', '.join(wheels)}); they overwrite each other: "
                    "pip uninstall them all, then pip install opencv-python-headless.")
    if cv.get("version") is None:
        tips.append("OpenCV does not import: pip install opencv-python-headless.")
    elif cv.get("headless"):
        tips.append("OpenCV is headless (no --show window): preview in a browser with "
                    "`edgekit run --serve 8080` (it prints the URL to open), from another machine with "
                    "`edgekit run --serve 0.0.0.0:8080 --token SECRET` (open "
                    "http://THIS-MACHINE:8080/?token=SECRET), or record with `edgekit run --save out.mp4`.")
    elif not report.get("display", True):
        tips.append("No display (DISPLAY/WAYLAND_DISPLAY unset): --show cannot open a window here; "
                    "preview in a browser with `edgekit run --serve 8080`.")
    return tips


def _device_advice(report: dict[str, Any]) -> list[str]:
    tips: list[str] = []
    device = report.get("device")
    host = report.get("host") or {}
    if device:
        tips.append(f"Detected {device['title']}: use --threads {device['threads']} (or --device auto) — "
                    f"{device.get('threads_why', '')}".rstrip(" —"))
        tips.append(f"Precision: export and ship the {device['precision']} variant — "
                    f"{device.get('precision_why', '')}".rstrip(" —"))
        missing = sorted(set(device.get("isa") or []) - set(host.get("features") or []))
        if host.get("features") and missing:
            tips.append(f"The CPU does not report {', '.join(missing)} expected on this board "
                        "(32-bit OS or an old kernel?): XNNPACK falls back to slower kernels.")
    else:
        auto = report.get("device_auto") or {}
        fallback = (f" ({auto['name']}: --threads {auto['threads']}, {auto['precision']})" if auto else "")
        tips.append("No device profile matches this machine: `edgekit devices` lists them; --device auto "
                    f"uses the generic one{fallback}. Measure threads and precision with "
                    "`edgekit bench default --threads 1,2,4` (or your own model in place of default).")
    mem = host.get("mem_mb") or 0
    if 0 < mem < 1024:
        tips.append(f"Only {mem} MB of RAM: use int8 models and leave --backend tensorflow off this device.")
    thermal = report.get("thermal") or {}
    if thermal.get("throttled"):
        tips.append(f"The board reports {', '.join(thermal['throttled'])}: use the official power supply and a "
                    "heatsink or fan; benchmark numbers taken now are not representative.")
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
    for d in report.get("delegates") or []:
        state = "works" if d["ok"] else f"unavailable: {d['error']}"
        lines.append(f"delegate   {d['delegate']} on {d['backend']}: {state}")
    tpu = report.get("edgetpu") or {}
    if tpu:
        lines.append(f"edge tpu   library {tpu.get('library') or 'not installed'}; "
                     f"devices {', '.join(tpu.get('devices') or []) or 'none'}")
    cv = report["opencv"]
    gui = "headless" if cv.get("headless") else f"GUI {cv.get('gui')}"
    lines.append(f"opencv     {cv.get('version')} ({gui}; video I/O: {', '.join(cv.get('video_io') or []) or 'none'})")
    lines.append(f"cameras    {', '.join(report['cameras']) or 'none'}"
                 f"; picamera2 {'available' if report['picamera2'] else 'not installed'}")
    lines.append(f"tensorflow {report['tensorflow'] or 'not installed (only needed to train)'}")
    device = report.get("device")
    lines.append(f"device     {device['title'] + ' (' + device['name'] + ')' if device else 'unknown'}")
    host = report.get("host") or {}
    if host:
        lines.append(f"cpu        {host.get('cpu') or report['machine']} ({host.get('cores')} cores; "
                     f"{' '.join(host.get('features') or []) or 'no XNNPACK-relevant features reported'}), "
                     f"{host.get('mem_mb')} MB RAM")
    thermal = report.get("thermal") or {}
    if thermal:
        lines.append(f"thermal    {thermal.get('temp_c', '?')} °C"
                     + (f"; {', '.join(thermal['throttled'])}" if thermal.get("throttled") else ""))
    for tip in report["advice"]:
        lines.append(f"advice     {tip}")
    return "\n".join(lines)
