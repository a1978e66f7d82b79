"""Errors the trainer raises, as branches of edgekit's one error tree.

::

    edgekit.ConfigError
    ├── edgekit.DatasetError  the image folder cannot be trained or evaluated on (exit 2)
    ├── RunExists           ``--out`` exists and ``--force`` was not given        (exit 2)
    └── WeightsUnavailable  pretrained weights cannot be downloaded or found     (exit 2)
    edgekit.EdgekitError
    ├── ParityFailed        the quantized model lost more accuracy than allowed  (exit 1)
    └── ChanceLevel         the model does no better than the majority class     (exit 1)
"""

from __future__ import annotations

from edgekit.errors import ConfigError, DatasetError, EdgekitError

__all__ = ["ChanceLevel", "DatasetError", "ParityFailed", "RunExists", "WeightsUnavailable"]


class RunExists(ConfigError):
    """The output folder or file exists and ``force`` was not given."""


class WeightsUnavailable(ConfigError):
    """Pretrained weights could not be downloaded (or the local file is missing)."""


class ParityFailed(EdgekitError):
    """The exported model's accuracy dropped more than ``max_drop`` points below float."""


class ChanceLevel(EdgekitError):
    """The model is not clearly more accurate than always answering the most frequent class."""
