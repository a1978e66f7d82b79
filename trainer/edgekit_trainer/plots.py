"""``training.png``: loss and accuracy per epoch, and the line a classifier must clear."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgekit._evaluate.figure import pyplot

__all__ = ["plot_history"]


def plot_history(history: dict[str, list[float]], path: Path, majority: float | None = None) -> None:
    """Loss and accuracy per epoch, train vs validation; dashed lines mark new stages.

    Args:
        history: Per-epoch metrics (``loss``, ``accuracy``, ``val_*``, ``stage``).
        path: The PNG to write (atomically).
        majority: The validation split's majority-class rate, drawn on the accuracy plot
            as the chance line a useful model must clear.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    stages = history.get("stage", [])
    for ax, key in zip(axes, ("loss", "accuracy")):
        for prefix, name in (("", "train"), ("val_", "validation")):
            values = history.get(prefix + key, [])
            if values:
                ax.plot(epochs[: len(values)], values, marker=".", label=name)
        for i in range(1, len(stages)):
            if stages[i] != stages[i - 1]:
                ax.axvline(i + 0.5, color="grey", linestyle="--", linewidth=1)
        if key == "accuracy" and majority is not None:
            ax.axhline(majority, color="red", linestyle=":", linewidth=1.5,
                       label=f"majority class (chance) {majority:.0%}")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)
