"""Choosing among a model's exported variants (``model_{float32,float16,dynamic,int8}.tflite``).

A device profile recommends a precision; :func:`choose_variant` picks the exported
file that matches it, or the next best.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ConfigError

__all__ = ["VARIANTS", "choose_variant"]

VARIANTS = ("float32", "float16", "dynamic", "int8", "uint8")
# Which exported variant to take for a recommended precision, best first. Dynamic-range
# models come last everywhere: XNNPACK has no kernels for them.
_PREFERENCE = {
    "int8": ("int8", "uint8", "float16", "float32", "dynamic"),
    "float16": ("float16", "float32", "int8", "uint8", "dynamic"),
    "float32": ("float32", "float16", "int8", "uint8", "dynamic"),
}
_VARIANT_RE = re.compile(r"^(?P<stem>.*?)[_-](?P<v>" + "|".join(VARIANTS) + r")\.tflite$")


def _variants(directory: Path, stem: str | None = None) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(directory.glob("*.tflite")):
        match = _VARIANT_RE.match(path.name)
        if match and (stem is None or match.group("stem") == stem):
            found.setdefault(match.group("v"), path)
    return found


def choose_variant(model_path: str, precision: str) -> str:
    """The exported variant (``*_{float32,float16,dynamic,int8,uint8}.tflite``) to run here.

    Args:
        model_path: A variant file (its siblings are considered) or a directory of variants.
        precision: The preferred precision (a device profile's ``precision``).

    Returns:
        The path to load: ``precision`` when it was exported, else the
        next best; ``model_path`` itself when it is not part of a variant set.

    Raises:
        ConfigError: a directory holding no ``.tflite`` file, or several unrelated ones.
    """
    path = Path(model_path)
    order = _PREFERENCE[precision]
    if path.is_dir():
        found = _variants(path)
        if not found:
            models = sorted(path.glob("*.tflite"))
            if len(models) == 1:
                return str(models[0])
            raise ConfigError(f"{path}: expected exported variants *_{{{','.join(VARIANTS)}}}.tflite, "
                              f"found {len(models)} .tflite files")
        return str(next(found[v] for v in order if v in found))
    match = _VARIANT_RE.match(path.name)
    if not match or not path.parent.is_dir():
        return model_path
    found = _variants(path.parent, match.group("stem"))
    best = next((found[v] for v in order if v in found), None)
    return str(best) if best is not None else model_path
