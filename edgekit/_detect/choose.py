"""A loaded detector's layout and units, chosen once from what the file and the caller say."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelIncompatible, ModelInvalid


def choose_layout(outputs: Sequence[Any], hints: dict[str, Any], forced: str | None, where: str) -> Any:
    """The layout a forced option, else the metadata, names — checked against ``outputs`` — or guessed."""
    from .layouts import mismatch, recognize

    if forced or not hints.get("layout"):
        layout = recognize(outputs, forced)
    else:
        try:
            layout = recognize(outputs, hints["layout"])
        except ConfigError as exc:  # the file itself declares a layout that does not fit
            raise ModelInvalid(f"{where}: metadata detection.layout: {exc}") from exc
    if layout is None:
        reason = mismatch(outputs, forced or hints.get("layout"))
        raise ModelIncompatible(f"{where}: task is detect but {reason}")
    return layout


def choose_units(layout: Any, forced: str | None, hints: dict[str, Any], files: dict[str, bytes],
                 fmt: Any, probe: Callable[[], list[np.ndarray] | None], where: str) -> Any:
    """Box units and score kind, once (see :mod:`edgekit._detect.units`)."""
    from .._modelfile.ultralytics import read_ultralytics
    from .layouts import parse_layout
    from .units import settle

    text = forced or hints.get("layout")
    size = (fmt.width, fmt.height) if fmt is not None else (1, 1)
    try:
        return settle(layout, parse_layout(str(text)) if text else None, hints,
                      read_ultralytics(files), bool(fmt and fmt.nchw), probe, size)
    except ValueError as exc:
        raise ModelInvalid(f"{where}: metadata {exc}") from exc
