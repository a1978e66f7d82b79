"""Device profiles (TOML data in ``devices/``) and detection of the current device.

A profile says what a board is (SoC, cores, RAM, ISA features XNNPACK uses) and
what to do on it (threads, precision, camera stack, thermal sensors), with the
reasons. Profiles are data: nothing in edgekit branches on a board's name.

Profiles ship in the wheel as ``edgekit/_devices``; in a source checkout they
are ``<repo>/devices``. Detection reads ``/proc/device-tree/model``,
``/proc/cpuinfo`` (ARM implementer/part numbers, ``Features``/``flags``) and
``/proc/meminfo`` under a ``root`` that tests point at a fake tree.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .energy import Power
from .variants import VARIANTS

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10: the small ``tomli`` package
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "PRECISIONS",
    "DeviceProfile",
    "HostInfo",
    "Reference",
    "detect_device",
    "get_profile",
    "load_profile",
    "probe_host",
    "profile_dirs",
    "profiles",
]

PRECISIONS = ("float32", "float16", "int8")
# Normalised ISA feature names, from ARM ``Features`` and x86 ``flags``.
_FEATURES = {
    "asimd": "neon", "neon": "neon", "asimddp": "dotprod", "i8mm": "i8mm", "asimdhp": "fp16",
    "sve": "sve", "sve2": "sve2", "bf16": "bf16", "avx2": "avx2", "fma": "fma",
    "avx512f": "avx512", "avx512_vnni": "vnni", "avx_vnni": "vnni", "avxvnni": "vnni",
    "amx_int8": "amx",
}


@dataclass(frozen=True, slots=True)
class Reference:
    """A reference latency; ``latency_ms`` is ``None`` when no published figure is known."""

    model: str
    precision: str
    threads: int
    runtime: str
    latency_ms: float | None = None
    source: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """One device profile (see ``devices/*.toml``; every field is documented there).

    Attributes:
        name: File stem, used by ``--device NAME``.
        title: Human name.
        threads: Recommended interpreter threads.
        precision: Recommended model precision: ``"int8"``, ``"float16"`` or ``"float32"``.
        cores: CPU cores (0 for generic profiles: varies).
        isa: Instruction-set features that matter to XNNPACK (``neon``, ``dotprod``, ``avx2`` …).
    """

    name: str
    title: str
    soc: str
    cpu: str
    cores: int
    max_mhz: int
    arch: str
    ram_mb: tuple[int, ...]
    isa: tuple[str, ...]
    threads: int
    threads_why: str
    precision: str
    precision_why: str
    camera_stack: str
    camera_notes: str
    thermal_zones: tuple[str, ...]
    vcgencmd: bool
    throttle_c: float | None
    references: tuple[Reference, ...]
    power: Power
    model_patterns: tuple[str, ...]
    cpu_parts: tuple[str, ...]
    machines: tuple[str, ...]
    notes: str
    path: str

    @property
    def generic(self) -> bool:
        return self.cores == 0

    def to_dict(self) -> dict[str, Any]:
        out = {f: getattr(self, f) for f in self.__dataclass_fields__}  # type: ignore[attr-defined]
        out["references"] = [{f: getattr(r, f) for f in r.__dataclass_fields__}  # type: ignore[attr-defined]
                             for r in self.references]
        out["power"] = self.power.to_dict()
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out


# -- loading and validation --------------------------------------------------------
class _Fields:
    """Typed access to one TOML table that names the file and field in every error."""

    def __init__(self, data: dict[str, Any], where: str, prefix: str = "") -> None:
        self.data, self.where, self.prefix = data, where, prefix

    def fail(self, key: str, expected: str) -> ConfigError:
        got = self.data.get(key, "<missing>")
        return ConfigError(f"{self.where}: field '{self.prefix}{key}' must be {expected}, got {got!r}")

    def table(self, key: str) -> _Fields:
        value = self.data.get(key)
        if not isinstance(value, dict):
            raise self.fail(key, "a table")
        return _Fields(value, self.where, f"{self.prefix}{key}.")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise self.fail(key, "a non-empty string" if default is None else "a string")
        return value

    def integer(self, key: str, low: int = 0, high: int | None = None) -> int:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low \
                or (high is not None and value > high):
            bound = f" <= {high}" if high is not None else ""
            raise self.fail(key, f"an integer >= {low}{bound}")
        return value

    def number(self, key: str, optional: bool = True) -> float | None:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(key, "a positive number" + (" (or absent)" if optional else ""))
        return float(value)

    def texts(self, key: str, pattern: str | None = None) -> tuple[str, ...]:
        value = self.data.get(key, [])
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not ok or (pattern and not all(re.fullmatch(pattern, v) for v in value)):
            raise self.fail(key, "a list of strings" + (f" matching {pattern}" if pattern else ""))
        return tuple(value)

    def integers(self, key: str) -> tuple[int, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, int) and v > 0 for v in value):
            raise self.fail(key, "a list of positive integers")
        return tuple(value)

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.data.get(key)
        if value not in allowed:
            raise self.fail(key, "one of " + ", ".join(allowed))
        return str(value)


_TOP_LEVEL = {"schema", "name", "title", "notes", "soc", "isa", "recommend", "camera", "thermal",
              "detect", "reference", "power"}


def _power(data: dict[str, Any], where: str) -> Power:
    """The optional ``[power]`` table: figures need the published source they come from."""
    if "power" not in data:
        return Power()
    f = _Fields(data, where).table("power")
    idle, load = f.number("idle_w"), f.number("load_w")
    source = f.text("source", "")
    if (idle is not None or load is not None) and not source.strip():
        raise f.fail("source", "a citation whenever idle_w or load_w is given")
    if idle is not None and load is not None and load <= idle:
        raise f.fail("load_w", f"greater than idle_w ({idle})")
    return Power(idle, load, source, f.text("note", ""))


def _references(data: dict[str, Any], where: str) -> tuple[Reference, ...]:
    entries = data.get("reference", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: field 'reference' must be an array of tables ([[reference]])")
    refs = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: field 'reference[{i}]' must be a table")
        f = _Fields(entry, where, f"reference[{i}].")
        latency = f.number("latency_ms")
        source = f.text("source", "")
        if latency is not None and not source.strip():
            raise f.fail("source", "a citation whenever latency_ms is given")
        refs.append(Reference(f.text("model"), f.choice("precision", VARIANTS), f.integer("threads", 1),
                              f.text("runtime"), latency, source, f.text("note", "")))
    return tuple(refs)


def parse_profile(data: dict[str, Any], where: str, stem: str | None = None) -> DeviceProfile:
    """Validate one parsed TOML document and build its :class:`DeviceProfile`.

    Raises:
        ConfigError: naming ``where`` and the offending field.
    """
    top = _Fields(data, where)
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise ConfigError(f"{where}: unknown field '{unknown[0]}' (known: {', '.join(sorted(_TOP_LEVEL))})")
    if data.get("schema") != 1:
        raise top.fail("schema", "1")
    name = top.text("name")
    if stem is not None and name != stem:
        raise top.fail("name", f"the file name {stem!r}")
    soc, isa, rec = top.table("soc"), top.table("isa"), top.table("recommend")
    cam, thermal, detect = top.table("camera"), top.table("thermal"), top.table("detect")
    cores = soc.integer("cores", 0, 256)
    threads = rec.integer("threads", 1, cores or None)
    vcgencmd = thermal.data.get("vcgencmd", False)
    if not isinstance(vcgencmd, bool):
        raise thermal.fail("vcgencmd", "true or false")
    return DeviceProfile(
        name=name, title=top.text("title"), soc=soc.text("name"), cpu=soc.text("cpu"), cores=cores,
        max_mhz=soc.integer("max_mhz", 0), arch=soc.text("arch"), ram_mb=soc.integers("ram_mb"),
        isa=isa.texts("features", r"[a-z0-9_]+"), threads=threads, threads_why=rec.text("threads_why"),
        precision=rec.choice("precision", PRECISIONS), precision_why=rec.text("precision_why"),
        camera_stack=cam.text("stack"), camera_notes=cam.text("notes", ""),
        thermal_zones=thermal.texts("zones", r"/sys/\S+"), vcgencmd=vcgencmd,
        throttle_c=thermal.number("throttle_c"), references=_references(data, where),
        power=_power(data, where),
        model_patterns=detect.texts("model"), cpu_parts=detect.texts("cpu_parts", r"0x[0-9a-f]{2}:0x[0-9a-f]{3}"),
        machines=detect.texts("machine"), notes=top.text("notes", ""), path=where,
    )


def load_profile(path: str | os.PathLike[str]) -> DeviceProfile:
    """Read and validate one profile file.

    Raises:
        ConfigError: unreadable or malformed TOML, or a field that fails validation
            (the message names the file and the field).
    """
    where = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read device profile: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from exc
    return parse_profile(data, where, Path(path).stem)


def profile_dirs() -> list[Path]:
    """Where profiles are looked up: the wheel's ``edgekit/_devices``, then ``<repo>/devices``."""
    package = Path(__file__).resolve().parents[1]  # edgekit/
    return [package / "_devices", package.parent / "devices"]


@cache
def _all_profiles(directory: str | None) -> dict[str, DeviceProfile]:
    dirs = [Path(directory)] if directory else profile_dirs()
    for d in dirs:
        files = sorted(d.glob("*.toml")) if d.is_dir() else []
        if files:
            return {p.name: p for p in (load_profile(f) for f in files)}
    raise ConfigError("no device profiles found in " + " or ".join(str(d) for d in dirs))


def profiles(directory: str | None = None) -> dict[str, DeviceProfile]:
    """Every profile by name (validated; the first malformed file raises ``ConfigError``)."""
    return dict(_all_profiles(directory))


def _fit_to_host(profile: DeviceProfile) -> DeviceProfile:
    if profile.generic:  # "varies": never recommend more threads than this machine has
        return replace(profile, threads=max(1, min(profile.threads, os.cpu_count() or 1)))
    return profile


def get_profile(name_or_auto: str, directory: str | None = None) -> DeviceProfile:
    """A profile by name, or ``"auto"``: the detected one, else the generic one for this CPU.

    Raises:
        ConfigError: an unknown name (the message lists the known ones).
    """
    known = profiles(directory)
    key = name_or_auto.strip().lower()
    if key == "auto":
        found = detect_device(directory=directory)
        if found is None:
            machine = platform.machine().lower()
            found = next((p for p in known.values() if machine in p.machines),
                         known.get("generic-aarch64" if "arm" in machine or "aarch" in machine
                                   else "generic-x86-64"))
        if found is None:
            raise ConfigError(f"no device profile matches this machine ({machine})")
        return _fit_to_host(found)
    if key not in known:
        raise ConfigError(f"unknown device {name_or_auto!r}; known devices: auto, {', '.join(sorted(known))}")
    return _fit_to_host(known[key])


# -- detection ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HostInfo:
    """What ``/proc`` says about this machine."""

    model: str
    cpu_name: str
    cpu_parts: tuple[str, ...]
    cores: int
    features: tuple[str, ...]
    mem_mb: int

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "cpu": self.cpu_name, "cpu_parts": list(self.cpu_parts),
                "cores": self.cores, "features": list(self.features), "mem_mb": self.mem_mb}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def parse_cpuinfo(text: str) -> tuple[str, tuple[str, ...], int, tuple[str, ...], str]:
    """``(cpu name, sorted 'implementer:part' set, processors, normalised features, Model line)``."""
    parts: set[str] = set()
    implementer, cores, names, model = None, 0, [], ""
    raw_features: set[str] = set()
    for line in text.splitlines():
        key, _, value = (s.strip() for s in line.partition(":"))
        lkey = key.lower()
        if lkey == "processor" and value.isdigit():
            cores += 1
        elif lkey == "cpu implementer":
            implementer = value.lower()
        elif lkey == "cpu part" and implementer:
            parts.add(f"{implementer}:{value.lower()}")
        elif lkey in ("features", "flags"):
            raw_features.update(value.lower().split())
        elif lkey == "model name" and value not in names:
            names.append(value)
        elif lkey == "model":  # Raspberry Pi kernels repeat the board model here
            model = value if not value.isdigit() else model
    features = tuple(sorted({_FEATURES[f] for f in raw_features if f in _FEATURES}))
    return ", ".join(names), tuple(sorted(parts)), cores, features, model


def probe_host(root: str | os.PathLike[str] = "/") -> HostInfo:
    """Read the board model, CPU and memory under ``root`` (missing files read as empty)."""
    base = Path(root)
    model = _read(base / "proc/device-tree/model").replace("\x00", "").strip()
    name, parts, cores, features, cpu_model = parse_cpuinfo(_read(base / "proc/cpuinfo"))
    mem = re.search(r"^MemTotal:\s+(\d+)\s*kB", _read(base / "proc/meminfo"), re.MULTILINE)
    return HostInfo(model=model or cpu_model, cpu_name=name, cpu_parts=parts, cores=cores,
                    features=features, mem_mb=int(mem.group(1)) // 1024 if mem else 0)


def match_profile(host: HostInfo, known: dict[str, DeviceProfile]) -> DeviceProfile | None:
    """The profile whose board model pattern (longest wins) or exact CPU core set matches."""
    best: tuple[int, DeviceProfile] | None = None
    lowered = host.model.lower()
    for profile in known.values():
        for pattern in profile.model_patterns:
            if pattern.lower() in lowered and (best is None or len(pattern) > best[0]):
                best = (len(pattern), profile)
    if best is not None:
        return best[1]
    by_cpu = [p for p in known.values() if p.cpu_parts and set(p.cpu_parts) == set(host.cpu_parts)]
    if len(by_cpu) > 1 and host.mem_mb:  # memory breaks a tie between same-CPU boards
        fits = [p for p in by_cpu if any(abs(r - host.mem_mb) < r * 0.25 for r in p.ram_mb)]
        by_cpu = fits or by_cpu
    return by_cpu[0] if by_cpu else None


def detect_device(root: str | os.PathLike[str] = "/", directory: str | None = None) -> DeviceProfile | None:
    """The profile of the device under ``root``, or ``None`` when no specific one matches."""
    found = match_profile(probe_host(root), profiles(directory))
    return None if found is None else _fit_to_host(found)
