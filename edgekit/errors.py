"""The one exception tree of edgekit.

::

    EdgekitError                      exit 1
    ├── ModelError                    exit 3
    │   ├── ModelNotFound             exit 3
    │   ├── ModelInvalid              exit 4
    │   └── ModelIncompatible         exit 5
    ├── SourceError                   exit 6
    │   ├── SourceOpenError           exit 6
    │   └── SourceStalled             exit 6
    ├── InputError                    exit 7
    │   ├── ImageUnreadable           exit 7
    │   └── FrameInvalid              exit 7
    ├── ConfigError                   exit 2
    │   └── DatasetError              exit 2
    ├── BackendMissing                exit 2
    └── ExtraMissing                  exit 2

Every error raised by an interpreter backend is mapped to one of these in
:mod:`edgekit.backend`; nothing else in edgekit raises a bare ``Exception``.
The CLI prints ``ErrorName: message`` on one line and exits with the code above.
A command stopped by Ctrl-C exits 130 (SIGTERM: 143); ``run`` treats SIGINT/SIGTERM as
the normal way to stop and exits 0 after flushing its sinks. A command whose stdout
reader went away (``| head``) exits 141 (see :mod:`edgekit.cli.interrupt`).
"""

from __future__ import annotations

__all__ = [
    "BackendMissing",
    "ConfigError",
    "DatasetError",
    "EdgekitError",
    "ExtraMissing",
    "FrameInvalid",
    "ImageUnreadable",
    "InputError",
    "ModelError",
    "ModelIncompatible",
    "ModelInvalid",
    "ModelNotFound",
    "SourceError",
    "SourceOpenError",
    "SourceStalled",
    "exit_code",
]


class EdgekitError(Exception):
    """Base class of every error edgekit raises on purpose."""

    exit_code = 1


class ModelError(EdgekitError):
    """The model file cannot be used."""

    exit_code = 3


class ModelNotFound(ModelError):
    """The model path does not exist or is not a file."""

    exit_code = 3


class ModelInvalid(ModelError):
    """The file is not a well-formed TFLite flatbuffer (or crashed the interpreter)."""

    exit_code = 4


class ModelIncompatible(ModelError):
    """A well-formed model that the chosen backend cannot run (operator, version, shape)."""

    exit_code = 5


class SourceError(EdgekitError):
    """A frame source (camera, stream, file) failed."""

    exit_code = 6


class SourceOpenError(SourceError):
    """A source could not be opened."""


class SourceStalled(SourceError):
    """A live source delivered no frame for longer than the stall timeout."""


class InputError(EdgekitError):
    """One input (an image or a frame) cannot be used; a batch records it and goes on."""

    exit_code = 7


class ImageUnreadable(InputError):
    """An image file is missing, empty, corrupt or not an image."""


class FrameInvalid(InputError):
    """A frame array has a shape or dtype that cannot be turned into a model input."""


class ConfigError(EdgekitError):
    """An option or profile has a value that is not allowed."""

    exit_code = 2


class DatasetError(ConfigError):
    """A labelled image folder cannot be trained or evaluated on (missing, empty, one class …)."""


class BackendMissing(EdgekitError):
    """No usable interpreter backend is installed (or the forced one is missing)."""

    exit_code = 2


class ExtraMissing(EdgekitError):
    """An optional feature needs a package from an extra that is not installed."""

    exit_code = 2

    def __init__(self, feature: str, extra: str, package: str) -> None:
        super().__init__(
            f"{feature} needs {package}: install the '{extra}' extra "
            f"(pip install 'edgekit-tflite[{extra}]', or '.[{extra}]' in a checkout)"
        )
        self.extra = extra
        self.package = package


def exit_code(error: BaseException) -> int:
    """The process exit code the CLI uses for ``error``."""
    if isinstance(error, EdgekitError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return 130
    return 1
