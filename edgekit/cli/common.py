"""Options shared by the commands that load a model, and small output helpers."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import click

from .._jsonout import json_line
from ..options import IOU_THRESHOLD, MAX_DETECTIONS

__all__ = ["MODEL_OPTION_NAMES", "debugging", "echo_json", "lazy_trainer", "model_argument", "model_options",
           "open_model", "pop_model_options", "quiet_native_stderr"]

NOISY_LOGGERS = ("absl", "tensorflow", "keras")  # Python loggers TensorFlow warns through

MODEL_OPTION_NAMES = (
    "threads", "backend", "delegate", "labels", "device", "isolate", "model_sha256", "top_k",
    "score_threshold", "iou_threshold", "max_detections", "classes", "task", "layout",
    "normalize", "resize", "color",
)


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options every model-loading command shares."""
    decorators = [
        click.option("--threads", type=click.IntRange(min=1), default=None,
                     help="Interpreter threads (default: device profile, else backend default)."),
        click.option("--backend", default=None, envvar="EDGEKIT_BACKEND",
                     help="litert | tflite-runtime | tensorflow (default: first installed)."),
        click.option("--delegate", default=None, envvar="EDGEKIT_DELEGATE", metavar="NAME",
                     help="xnnpack (default) | none (built-in kernels, no XNNPACK) | edgetpu (Coral, "
                          "libedgetpu.so.1) | PATH.so[:key=value,...] (an external delegate)."),
        click.option("--labels", type=click.Path(dir_okay=False), default=None,
                     help="Labels file, one per line (overrides the model's own)."),
        click.option("--device", default=None,
                     help="Device profile name or 'auto': applies its thread count."),
        click.option("--isolate", is_flag=True,
                     help="Load the model in a child process first (untrusted files)."),
        click.option("--model-sha256", default=None, help="Refuse the model unless its SHA-256 matches."),
        click.option("--top-k", type=click.IntRange(min=1), default=5, show_default=True,
                     help="Classes to report at most (those above --score-threshold)."),
        click.option("--score-threshold", "--threshold", type=click.FloatRange(0, 1), default=None,
                     help="Minimum score to report (default: 0.0001 classify — classes that would "
                          "read 0.0 are left out; detections above 0.25)."),
        click.option("--iou-threshold", type=click.FloatRange(0, 1, min_open=True), default=None,
                     help=f"NMS overlap threshold (detection; default {IOU_THRESHOLD}, as Ultralytics)."),
        click.option("--max-detections", type=click.IntRange(min=1), default=None,
                     help=f"Detections to report at most, best first (default {MAX_DETECTIONS}, as "
                          "Ultralytics)."),
        click.option("--classes", default=None, help="Keep only these labels/ids, comma-separated."),
        click.option("--task", type=click.Choice(["classify", "detect", "raw"]), default=None,
                     help="Force the task instead of reading/inferring it."),
        click.option("--layout", default=None,
                     help="Force a detection layout NAME[:BOXES][:COORDS][:SCORES], e.g. yolov8:pixels "
                          "(see inspect and the README)."),
        click.option("--normalize", default=None,
                     help="Input range: unit | signed | raw | imagenet | MEAN,STD."),
        click.option("--resize", type=click.Choice(["stretch", "letterbox", "crop"]), default=None,
                     help="How frames become the input size (default: metadata, else stretch; "
                          "letterbox for YOLO)."),
        click.option("--color", type=click.Choice(["rgb", "bgr", "gray"]), default=None,
                     help="Colour order the model takes (default: metadata, else rgb)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def pop_model_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the shared model options from ``kwargs`` and return them."""
    return {name: kwargs.pop(name) for name in MODEL_OPTION_NAMES if name in kwargs}


def model_argument(model: str, ctx: click.Context | None = None) -> str:
    """The model path a command's MODEL argument names (``default``: the bundled model).

    Raises:
        click.UsageError: MODEL is an image or a video, so it was most likely forgotten.
    """
    import os

    from ..imagefile import IMAGE_SUFFIXES

    if model == "default":
        from ..model import default_model_path

        return default_model_path()
    suffix = os.path.splitext(model)[1].lower()
    if suffix in IMAGE_SUFFIXES or suffix in (".mp4", ".mov", ".avi", ".mkv", ".webm"):
        name = ctx.command_path if ctx is not None else "edgekit COMMAND"
        raise click.UsageError(f"{model!r} is not a model: the first argument is the model "
                               f"({name} MODEL ...; MODEL may be 'default', the bundled one)", ctx)
    return model


def open_model(path: str, opts: dict[str, Any]) -> Any:
    """Load ``path`` with the shared CLI options (see :func:`model_options`).

    With ``--device``, ``path`` may be a directory of exported variants (or one of
    them): the profile's recommended precision is chosen.
    """
    from ..model import load

    options = dict(opts)
    sha = options.pop("model_sha256", None)
    if options.get("device"):
        from .._device.profiles import get_profile
        from .._device.variants import choose_variant

        # a device profile picks its precision among exported variants (model_int8.tflite, …)
        path = choose_variant(path, get_profile(options["device"]).precision)
    model = load(
        path,
        threads=options.pop("threads", None),
        backend=options.pop("backend", None),
        delegate=options.pop("delegate", None),
        labels=options.pop("labels", None),
        device=options.pop("device", None),
        isolate=options.pop("isolate", False),
        sha256=sha,
        **{k: v for k, v in options.items() if v is not None},
    )
    return model


def echo_json(obj: Any) -> None:
    """Print one JSON object on one line and flush (stdout may be a pipe)."""
    sys.stdout.write(json_line(obj))
    sys.stdout.flush()


def lazy_trainer(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a missing TensorFlow into the one-line ``ExtraMissing`` error (exit 2)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import importlib.util

        from ..errors import ExtraMissing

        if importlib.util.find_spec("tensorflow") is None:
            raise ExtraMissing("this command", "train", "TensorFlow")
        return func(*args, **kwargs)

    return wrapper


def debugging() -> bool:
    """Whether native log lines were asked for (``--debug`` or ``EDGEKIT_NATIVE_LOG=1``)."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return bool(root and root.obj and root.obj.get("debug")) or os.environ.get("EDGEKIT_NATIVE_LOG") == "1"


@contextlib.contextmanager
def quiet_native_stderr(enabled: bool = True) -> Iterator[None]:
    """Keep TensorFlow's chatter (absl, CUDA probing, oneDNN, XNNPACK lines, Python warnings) off
    the terminal for a whole training or export, while edgekit's own messages still reach it.

    Unlike :func:`edgekit.backend.native_log_filter` (around one interpreter, keeps non-INFO
    lines), TensorFlow logs throughout, so everything on fd 2 is dropped here.

    File descriptor 2 points at ``/dev/null`` for the duration; when ``sys.stderr`` is that
    descriptor it is swapped for a copy of the real one first, so click and tracebacks still
    print; Python warnings and the :data:`NOISY_LOGGERS` below ERROR are dropped.
    ``enabled=False`` (``--debug``) changes nothing.
    """
    if not enabled:
        yield
        return
    try:
        stderr_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a test runner's capture: not a real descriptor
        stderr_fd = -1
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    original = sys.stderr
    if stderr_fd == 2:
        sys.stderr = open(os.dup(saved), "w", buffering=1, encoding=original.encoding,  # noqa: SIM115
                          errors="backslashreplace")
    loggers = {name: logging.getLogger(name) for name in NOISY_LOGGERS}
    levels = {name: logger.level for name, logger in loggers.items()}
    for logger in loggers.values():
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, logger in loggers.items():
            logger.setLevel(levels[name])
        if sys.stderr is not original:
            # not closed: a logging handler created meanwhile may hold it, and it still
            # writes to the terminal (it is a copy of the real descriptor)
            sys.stderr.flush()
            sys.stderr = original
        os.dup2(saved, 2)
        os.close(saved)
