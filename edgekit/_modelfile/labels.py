"""Class labels: from a file, from a TFLite-Support zip, or COCO's names."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError

__all__ = ["COCO_NAMES", "labels_from_zip", "parse_labels", "read_labels"]

COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)

MAX_LABELS = 100_000
_NUMBERED = r"^\s*(\d+)[\s:,]+(.+?)\s*$"


def parse_labels(text: str) -> tuple[str, ...]:
    """Labels from text: one per line, or ``"<id> <label>"`` lines (Coral style)."""
    import re

    lines = [line.rstrip("\r") for line in text.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    numbered = [re.match(_NUMBERED, line) for line in lines if line.strip()]
    if lines and all(numbered) and len(numbered) > 1:
        table = {int(m.group(1)): m.group(2) for m in numbered if m}
        if max(table) >= MAX_LABELS:  # "<id> <name>" with absurd ids: keep the lines as they are
            return tuple(line.strip() for line in lines)
        size = max(table) + 1
        return tuple(table.get(i, str(i)) for i in range(size))
    return tuple(line.strip() for line in lines)


def read_labels(source: str | Path | Sequence[str]) -> tuple[str, ...]:
    """Labels from a file path or a sequence of names.

    Raises:
        ConfigError: the file is missing, unreadable or empty.
    """
    if not isinstance(source, str | Path):
        return tuple(str(x) for x in source)
    path = Path(source)
    try:
        labels = parse_labels(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise ConfigError(f"labels file {path}: {exc.strerror or exc}") from exc
    if not labels:
        raise ConfigError(f"labels file {path} is empty")
    return labels


def _ultralytics_names(raw: bytes) -> tuple[str, ...]:
    import json

    try:
        names = json.loads(raw.decode("utf-8")).get("names")
    except (UnicodeDecodeError, ValueError, AttributeError):
        return ()
    if isinstance(names, list):
        return tuple(str(n) for n in names)
    if isinstance(names, dict):
        try:
            table = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            return ()
        return tuple(table.get(i, str(i)) for i in range(max(table) + 1)) if table else ()
    return ()


def labels_from_zip(files: dict[str, bytes]) -> tuple[tuple[str, ...], str]:
    """Labels among the files zipped onto a model, and where they came from.

    TFLite-Support models carry a label ``.txt`` (source ``"tflite-support"``);
    Ultralytics exports carry a ``metadata.json`` with ``{"names": {"0": "person", ...}}``
    (source ``"ultralytics"``). ``((), "none")`` when there are none.
    """
    for name, raw in sorted(files.items()):
        if name.rsplit("/", 1)[-1] == "metadata.json":
            found = _ultralytics_names(raw)
            if found:
                return found, "ultralytics"
    texts = sorted(name for name in files if name.lower().endswith(".txt"))
    preferred = [n for n in texts if "label" in n.lower()] or texts
    for name in preferred:
        labels = parse_labels(files[name].decode("utf-8", "replace"))
        if labels:
            return labels, "tflite-support"
    return (), "none"
