"""The precision-recall figure of a detection evaluation (matplotlib, headless; the ``eval`` extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ExtraMissing
from .cocoscore import RECALLS, DetectionScores

__all__ = ["plot_pr"]

LEGEND_MAX = 12  # classes named in the legend; more are drawn thin and grey


def plot_pr(scores: DetectionScores, path: Path, title: str = "") -> None:
    """Precision vs recall at IoU 0.5: one curve per class with objects, and their mean in bold.

    Written atomically (a temporary file, then renamed).

    Raises:
        ExtraMissing: matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError:
        raise ExtraMissing("the precision-recall figure", "eval", "matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5))
    curves = [(c, scores.precision50[c.id]) for c in scores.per_class if c.ap50 is not None]
    named = len(curves) <= LEGEND_MAX
    for c, precision in curves:
        ax.plot(RECALLS, np.clip(precision, 0, 1), linewidth=1, color=None if named else "0.7",
                label=f"{c.label} {c.ap50:.3f}" if named else None)
    if curves:
        mean = np.mean([np.clip(p, 0, 1) for _, p in curves], axis=0)
        ax.plot(RECALLS, mean, linewidth=3, color="C0" if not named else "black",
                label=f"all classes mAP@0.5 {scores.map50:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title or "precision-recall at IoU 0.5")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
