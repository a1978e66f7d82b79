"""The confusion-matrix figure (matplotlib, headless; only imported when a figure is asked for)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExtraMissing

__all__ = ["plot_confusion", "pyplot"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend.

    Raises:
        ExtraMissing: matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError:
        raise ExtraMissing("the confusion-matrix figure", "plot", "matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, plt: Any, path: Path) -> None:
    """Write the figure atomically (a temporary file next to ``path``, then rename)."""
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: Path, title: str = "") -> None:
    """Confusion matrix (rows: true class, columns: predicted) with counts in the cells."""
    plt = pyplot()
    n = len(labels)
    side = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), labels=list(labels), rotation=90 if n > 6 else 0)
    ax.set_yticks(range(n), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    top = matrix.max() if matrix.size else 0
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8,
                            color="white" if matrix[i, j] > top / 2 else "black")
    fig.tight_layout()
    _save(fig, plt, path)
