"""Class labels: from a file, from a TFLite-Support zip, or COCO's names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import ConfigError

__all__ = ["COCO_NAMES", "MAX_LABELS", "label_limit", "labels_from_zip", "parse_labels", "read_labels",
           "zip_labels"]

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

# Label ids are indices into a table built up to the largest id: a few bytes naming id
# 20000000 would build 20 million labels. Tables stop at MAX_LABELS, and a model's own
# labels (a zip appended to it) at what its outputs can address (label_limit).
MAX_LABELS = 100_000
# Outputs already post-processed (SSD: [1,N,4] boxes, [1,N] class ids) do not show the
# number of classes; ids up to this many are always allowed (LVIS has 1203 classes).
MIN_LABEL_LIMIT = 4096
_NUMBERED = r"^\s*(\d{1,9})[\s:,]+(.+?)\s*$"


def label_limit(output_shapes: Iterable[Sequence[int]]) -> int:
    """How many labels a model with these output shapes can use.

    A class id indexes one dimension of an output (scores ``[1,N]``, YOLO
    ``[1,4+C,N]``), so no id reaches the largest dimension; post-processed
    outputs hold ids rather than scores, hence the floor ``MIN_LABEL_LIMIT``.
    """
    largest = max((int(d) for shape in output_shapes for d in shape), default=0)
    return min(MAX_LABELS, max(MIN_LABEL_LIMIT, largest))


def parse_labels(text: str, limit: int | None = None) -> tuple[str, ...]:
    """Labels from text: one per line, or ``"<id> <label>"`` lines (Coral style).

    Args:
        text: The labels file's text.
        limit: At most this many labels (``None``: every line). Numbered lines
            with an id at or past ``limit`` (or :data:`MAX_LABELS`) are read as
            plain lines, one label each.
    """
    import re

    lines = [line.rstrip("\r") for line in text.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    numbered = [re.match(_NUMBERED, line) for line in lines if line.strip()]
    if lines and all(numbered) and len(numbered) > 1:
        table = {int(m.group(1)): m.group(2) for m in numbered if m}
        if max(table) < min(limit or MAX_LABELS, MAX_LABELS):  # else absurd ids: plain lines
            return tuple(table.get(i, str(i)) for i in range(max(table) + 1))
    return tuple(line.strip() for line in lines[:limit])


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


def _ultralytics_names(raw: bytes, limit: int) -> tuple[str, ...]:
    import json

    try:
        names = json.loads(raw.decode("utf-8")).get("names")
    except (UnicodeDecodeError, ValueError, AttributeError, RecursionError):
        return ()
    if isinstance(names, list):
        return tuple(str(n) for n in names[:limit])
    if isinstance(names, dict):
        try:
            table = {int(k): v for k, v in names.items()}
        except (TypeError, ValueError, OverflowError):
            return ()
        usable = {i: str(v) for i, v in table.items() if 0 <= i < limit}  # others name no output
        return tuple(usable.get(i, str(i)) for i in range(max(usable) + 1)) if usable else ()
    return ()


def labels_from_zip(files: dict[str, bytes], limit: int = MAX_LABELS) -> tuple[str, ...]:
    """Labels among the files zipped onto a model (``()`` if none); see :func:`zip_labels`."""
    return zip_labels(files, limit)[0]


def zip_labels(files: dict[str, bytes], limit: int = MAX_LABELS) -> tuple[tuple[str, ...], str]:
    """Labels among the files zipped onto a model, and where they came from.

    TFLite-Support models carry a label ``.txt`` (source ``"tflite-support"``);
    Ultralytics exports carry a ``metadata.json`` with ``{"names": {"0": "person", ...}}``
    (source ``"ultralytics"``). ``((), "none")`` when there are none.

    Args:
        files: The zip's files (see :func:`edgekit._modelfile.reader.zip_files`).
        limit: Ids at or past it are ignored and at most this many labels are
            returned (see :func:`label_limit`): the file is untrusted.
    """
    limit = min(limit, MAX_LABELS)
    for name, raw in sorted(files.items()):
        if name.rsplit("/", 1)[-1] == "metadata.json":
            found = _ultralytics_names(raw, limit)
            if found:
                return found, "ultralytics"
    texts = sorted(name for name in files if name.lower().endswith(".txt"))
    preferred = [n for n in texts if "label" in n.lower()] or texts
    for name in preferred:
        labels = parse_labels(files[name].decode("utf-8", "replace"), limit)
        if labels:
            return labels, "tflite-support"
    return (), "none"
