"""Board temperature and throttling, where the board exposes them.

Reads sysfs thermal zones (every Linux board) and, on a Raspberry Pi,
``vcgencmd get_throttled``. Returns ``{}`` where nothing is exposed.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

__all__ = ["THROTTLE_BITS", "decode_throttled", "read_thermal", "summary"]

THROTTLE_BITS = {
    0: "under-voltage",
    1: "arm-frequency-capped",
    2: "throttled",
    3: "soft-temperature-limit",
    16: "under-voltage-occurred",
    17: "arm-frequency-capped-occurred",
    18: "throttling-occurred",
    19: "soft-temperature-limit-occurred",
}


def decode_throttled(value: int) -> list[str]:
    """Names of the bits set in ``vcgencmd get_throttled``'s value."""
    return [name for bit, name in THROTTLE_BITS.items() if value & (1 << bit)]


def _zones(root: str) -> dict[str, float]:
    temps: dict[str, float] = {}
    for zone in sorted(glob.glob(f"{root}/thermal_zone*")):
        try:
            kind = Path(zone, "type").read_text().strip() or Path(zone).name
            milli = int(Path(zone, "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        temps[kind] = milli / 1000.0
    return temps


def read_thermal(root: str = "/sys/class/thermal", vcgencmd: bool = True) -> dict[str, object]:
    """``{"temp_c": max zone temperature, "zones": {...}, "throttled": [...]}`` or ``{}``."""
    out: dict[str, object] = {}
    zones = _zones(root)
    if zones:
        out["temp_c"] = round(max(zones.values()), 1)
        out["zones"] = zones
    tool = shutil.which("vcgencmd") if vcgencmd else None
    if tool:
        try:
            text = subprocess.run([tool, "get_throttled"], capture_output=True, text=True,
                                  timeout=2, check=False).stdout
            value = int(text.strip().split("=", 1)[1], 16)
            out["throttled"] = decode_throttled(value)
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            pass
    return out


def summary(thermal: dict[str, object]) -> str:
    """One short line for status output: ``"61.3 °C"``, ``"84.0 °C throttled"`` or ``""``."""
    parts = []
    temp = thermal.get("temp_c")
    if isinstance(temp, int | float):
        parts.append(f"{temp:.1f} °C")
    flags = thermal.get("throttled")
    if isinstance(flags, list):
        now = [f for f in flags if not f.endswith("-occurred")]
        if now:
            parts.append(", ".join(now))
        elif flags:
            parts.append("throttled earlier")
    return " ".join(parts)
