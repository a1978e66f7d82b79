"""Ultralytics' ``metadata.json``, zipped onto its ``.tflite`` exports.

Ultralytics appends a zip holding one ``metadata.json`` — ``{"author":
"Ultralytics", "version": "8.4.…", "task": "detect", "imgsz": [320, 320],
"names": {"0": "person", …}, "end2end": false, "args": {…}, …}`` — to every
TFLite file it exports. Its class names are read by :mod:`.labels`; this module
tells whether a model *is* such an export, which decides how its detection
outputs are read (:mod:`edgekit._detect.units`).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["read_ultralytics"]


def read_ultralytics(files: dict[str, bytes]) -> dict[str, Any] | None:
    """The Ultralytics ``metadata.json`` among a model's zipped files, or ``None``.

    A ``metadata.json`` counts when it is a JSON object written by Ultralytics
    (``"author": "Ultralytics"``) or one shaped like it (``names`` with ``imgsz``
    or ``stride``).
    """
    for name, raw in sorted(files.items()):
        if name.rsplit("/", 1)[-1] != "metadata.json":
            continue
        try:
            meta = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            continue
        if not isinstance(meta, dict):
            continue
        if meta.get("author") == "Ultralytics" or ("names" in meta and ("imgsz" in meta or "stride" in meta)):
            return meta
    return None
