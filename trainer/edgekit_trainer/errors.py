"""Errors the trainer raises, as branches of edgekit's one error tree.

::

    edgekit.ConfigError
    ├── edgekit.DatasetError  the image folder cannot be trained or evaluated on (exit 2)
    ├── RunExists           ``--out`` exists and ``--force`` was not given        (exit 2)
    ├── ResumeRefused       a resumed run's data or options differ, or it is done (exit 2)
    └── WeightsUnavailable  pretrained weights cannot be downloaded or found     (exit 2)
    edgekit.EdgekitError
    ├── ParityFailed        the quantized model lost more accuracy than allowed  (exit 1)
    ├── ChanceLevel         the model does no better than the majority class     (exit 1)
    └── ClusterError        a worker did not join in time, was lost, or its port  (exit 8)
                            is taken (a bad ``TF_CONFIG`` is a ConfigError, exit 2)
"""

from __future__ import annotations

from edgekit.errors import ConfigError, DatasetError, EdgekitError

__all__ = ["ChanceLevel", "ClusterError", "DatasetError", "ParityFailed", "ResumeRefused", "RunExists",
           "WeightsUnavailable"]


class RunExists(ConfigError):
    """The output folder or file exists and ``force`` was not given."""


class ResumeRefused(ConfigError):
    """A run cannot be resumed: missing, already complete, or trained on other data or options."""


class WeightsUnavailable(ConfigError):
    """Pretrained weights could not be downloaded (or the local file is missing)."""


class ParityFailed(EdgekitError):
    """The exported model's accuracy dropped more than ``max_drop`` points below float."""


class ChanceLevel(EdgekitError):
    """The model is not clearly more accurate than always answering the most frequent class."""


class ClusterError(EdgekitError):
    """Multi-worker training failed outside the model: a worker did not join within the
    timeout, a worker was lost mid-run, or this worker's address is already in use.

    ``resumable`` is true when training had started: the run's last checkpoint is kept,
    and restarting every worker (resuming the run) continues from it.
    """

    exit_code = 8

    def __init__(self, message: str, resumable: bool = False) -> None:
        super().__init__(message)
        self.resumable = resumable
