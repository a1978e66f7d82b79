"""PNG of a detector's training: loss, and validation mAP per epoch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit._evaluate.figure import pyplot

__all__ = ["plot_training"]


def plot_training(history: dict[str, list[float]], path: Path) -> None:
    """Training loss and validation mAP@0.5 / mAP@0.5:0.95, one point per epoch."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, keys, title in ((axes[0], ("loss",), "training loss"),
                            (axes[1], ("val_map50", "val_map"), "validation mAP")):
        for key in keys:
            values = history.get(key, [])
            if values:
                ax.plot(np.arange(1, len(values) + 1), values, marker=".",
                        label={"val_map50": "mAP@0.5", "val_map": "mAP@0.5:0.95"}.get(key, key))
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)
