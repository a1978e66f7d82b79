"""The one JSON serializer of every output: strict JSON, non-finite numbers as ``null``.

Python's :mod:`json` writes ``NaN`` and ``Infinity``, which no strict parser
accepts; a model can output them (a broken or hostile model, a quantization
gone wrong). Results on stdout, in ``--out`` files, in batch files, over MQTT
and on the web preview all go through :func:`dumps`, so every line stays
valid JSON whatever the model says.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["dumps", "finite", "json_line"]


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite number (also NumPy's) replaced by ``None``."""
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(value) for value in obj]
    if isinstance(obj, np.ndarray):
        return finite(obj.tolist())
    return obj


def _plain(obj: Any) -> Any:
    """NumPy scalars and arrays as Python numbers and lists (``json``'s ``default`` hook)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(obj: Any, indent: int | None = None, sort_keys: bool = False) -> str:
    """``obj`` as strict JSON text: compact (or indented), UTF-8 as is, non-finite → ``null``."""
    separators = (",", ":") if indent is None else (",", ": ")
    options = {"separators": separators, "ensure_ascii": False, "allow_nan": False,
               "indent": indent, "sort_keys": sort_keys, "default": _plain}
    try:
        return json.dumps(obj, **options)  # type: ignore[arg-type]
    except ValueError:  # a NaN or infinity somewhere: the rare case pays for the walk
        return json.dumps(finite(obj), **options)  # type: ignore[arg-type]


def json_line(obj: Any) -> str:
    """``obj`` as one compact JSON line, with its newline."""
    return dumps(obj) + "\n"
