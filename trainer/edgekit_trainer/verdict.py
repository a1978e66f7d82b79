"""What a finished training is worth: the network against the majority class and a classical baseline.

A network that learned nothing still reports a number (50 % on two balanced classes, 97 % on
a 97:3 split), so the number alone says little. The verdict puts it next to two others
measured on the same validation images: always answering the most frequent class (the
chance line; the training ends with a loud line when the network does not clearly beat it)
and HOG + logistic regression fitted on the same training images (the obvious method, which
the network should match or beat).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit._evaluate.metrics import ChanceCheck, chance_check

from .baseline import BaselineResult, fit_baseline
from .data import Dataset

__all__ = ["BASELINE_MAX_IMAGES", "Verdict", "judge", "render_verdict"]

BASELINE_MAX_IMAGES = 2000  # HOG of many large images would outlast a small training


@dataclass(frozen=True, slots=True)
class Verdict:
    """The network's validation accuracy, the chance check, and the baseline's accuracy."""

    val_accuracy: float
    chance: ChanceCheck
    baseline: BaselineResult

    def to_dict(self) -> dict[str, Any]:
        return {"val_accuracy": round(self.val_accuracy, 5), "chance": self.chance.to_dict(),
                "baseline": self.baseline.to_dict()}


def _baseline_sample(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    if len(labels) <= limit:
        return np.arange(len(labels))
    return np.sort(np.random.default_rng(seed).choice(len(labels), limit, replace=False))


def judge(predicted: np.ndarray, ds: Dataset, seed: int = 0) -> Verdict:
    """Judge the network's validation predictions (class indices) on ``ds``."""
    chance = chance_check(ds.val.y, predicted)
    keep = _baseline_sample(ds.train.y, BASELINE_MAX_IMAGES, seed)
    baseline = fit_baseline(ds.train.x[keep], ds.train.y[keep], ds.val.x, ds.val.y, seed)
    return Verdict(chance.accuracy, chance, baseline)


def render_verdict(verdict: Verdict, network: str) -> list[str]:
    """The summary lines ``train`` prints: network, baseline and majority class side by side,
    then (when the network does not clearly beat chance) the loud line."""
    n = verdict.chance.samples
    rows = [(f"network ({network})", f"{verdict.val_accuracy:.1%}")]
    base = verdict.baseline
    rows.append((f"baseline: {base.name}",
                 f"{base.val_accuracy:.1%}" if base.val_accuracy is not None else f"skipped ({base.skipped})"))
    rows.append(("majority class (chance)", f"{verdict.chance.majority:.1%}"))
    width = max(len(name) for name, _ in rows)
    lines = [f"validation accuracy on {n} images:"]
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    if base.val_accuracy is not None and verdict.val_accuracy < base.val_accuracy - 0.02:
        lines.append("  note: the network is below the baseline; more images, more epochs or a pretrained "
                     "backbone may help")
    if not verdict.chance.passed:
        lines.append(f"WARNING: NOT ABOVE CHANCE: {verdict.chance.describe()}; export will refuse it. "
                     "Check the images and labels, add images, or train longer.")
    return lines
