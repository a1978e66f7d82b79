"""Interpreter backends: the only module that constructs a native interpreter.

Order of preference: ``litert`` (ai-edge-litert, maintained, NumPy 2) →
``tflite-runtime`` (legacy, NumPy < 2 only) → ``tensorflow`` (``tf.lite``).
``EDGEKIT_BACKEND`` or ``backend=`` forces one. Every error a backend raises is
mapped to an edgekit error in :func:`map_error`.

Native libraries print informational lines straight to file descriptor 2 (LiteRT:
``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.``), ignoring
``TF_CPP_MIN_LOG_LEVEL``. :func:`native_log_filter` catches what they write while
an interpreter is imported, built and allocated, drops the INFO lines and passes
every other line on; ``EDGEKIT_NATIVE_LOG=1`` (or ``edgekit --debug``,
:func:`show_native_logs`) leaves stderr alone.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .delegates import DelegateSpec, interpreter_kwargs
from .errors import BackendMissing, ConfigError, EdgekitError, ModelIncompatible, ModelInvalid

__all__ = ["BACKENDS", "Backend", "available", "create_interpreter", "delegate_kwargs", "map_error",
           "native_log_filter", "resolve", "show_native_logs"]


@dataclass(frozen=True, slots=True)
class Backend:
    """One interpreter implementation edgekit can use."""

    name: str
    module: str
    package: str

    def installed(self) -> bool:
        top = self.module.split(".")[0].split(":")[0]
        return importlib.util.find_spec(top) is not None

    def version(self) -> str | None:
        import importlib.metadata

        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return None

    def problem(self) -> str | None:
        """Why this installed backend cannot work here, known before importing it."""
        if self.name == "tflite-runtime" and _numpy_major() >= 2:
            version = self.version() or "?"
            if _version_tuple(version) < (2, 15):
                return (
                    f"tflite-runtime {version} does not work with NumPy {_numpy_version()}: it "
                    "needs numpy<2; use ai-edge-litert (pip install ai-edge-litert) or "
                    "pip install 'numpy<2'"
                )
        return None

    def interpreter_class(self) -> Any:
        return self.interpreter_module().Interpreter

    def interpreter_module(self) -> Any:
        """The module holding ``Interpreter`` (and ``load_delegate``, ``OpResolverType``)."""
        problem = self.problem()
        if problem:
            raise BackendMissing(problem)
        top, _, attr_path = self.module.partition(":")
        try:
            with native_log_filter():
                module: Any = importlib.import_module(top)
            for attr in attr_path.split(".") if attr_path else ():
                module = getattr(module, attr)
        except ImportError as exc:
            _reraise_interrupt(exc)
            raise BackendMissing(
                f"backend {self.name!r} is not importable ({exc}); install it with: "
                f"pip install {self.package}"
            ) from exc
        except (SystemError, RuntimeError, AttributeError) as exc:
            raise map_error(exc, self) from exc
        if self.name == "tensorflow":  # its advice to move to ai-edge-litert is edgekit's to follow
            warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated",
                                    category=UserWarning)
        return module


def _reraise_interrupt(exc: BaseException) -> None:
    """Ctrl-C while a native module initialises surfaces as ImportError("initialization failed")
    with the KeyboardInterrupt as its cause: that is an interrupt, not a missing backend."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            raise KeyboardInterrupt from exc
        seen = seen.__cause__ or seen.__context__


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("litert", "ai_edge_litert.interpreter", "ai-edge-litert"),
        Backend("tflite-runtime", "tflite_runtime.interpreter", "tflite-runtime"),
        Backend("tensorflow", "tensorflow:lite", "tensorflow"),
    )
}
_ALIASES = {"ai_edge_litert": "litert", "ai-edge-litert": "litert", "tflite_runtime": "tflite-runtime",
            "tflite": "tflite-runtime", "tf": "tensorflow"}


def available() -> list[Backend]:
    """Installed backends, in order of preference (nothing is imported)."""
    return [b for b in BACKENDS.values() if b.installed()]


def resolve(name: str | None = None) -> Backend:
    """The backend to use: ``name``, else ``$EDGEKIT_BACKEND``, else the first installed.

    Raises:
        ConfigError: an unknown backend name.
        BackendMissing: the forced backend, or every backend, is missing.
    """
    name = name or os.environ.get("EDGEKIT_BACKEND") or None
    if name:
        key = _ALIASES.get(name.lower(), name.lower())
        if key not in BACKENDS:
            raise ConfigError(f"backend {name!r} is not one of {', '.join(BACKENDS)}")
        backend = BACKENDS[key]
        if not backend.installed():
            raise BackendMissing(
                f"backend {backend.name!r} is not installed; pip install {backend.package}"
            )
        return backend
    found = available()
    usable = next((b for b in found if b.problem() is None), None)  # later ones are not asked
    if usable is None:
        if found:
            raise BackendMissing(found[0].problem() or "no usable TFLite interpreter")
        raise BackendMissing("no TFLite interpreter is installed; pip install ai-edge-litert")
    return usable


_OP_VERSION = r"Didn't find (?:op for )?(?:builtin|custom) (?:opcode|op) '?([\w.]+)'? version '?(\d+)'?"
_CUSTOM_OP = r"Encountered unresolved custom op: ([\w.]*\w)"


def map_error(exc: BaseException, backend: Backend, where: str = "model") -> EdgekitError:
    """Turn any exception a backend raised into the edgekit error that explains it."""
    if isinstance(exc, EdgekitError):
        return exc
    text = str(exc)
    version = backend.version() or "?"
    label = f"{backend.package} {version}"
    if isinstance(exc, SystemError) and "returned a result with an exception set" in text:
        return BackendMissing(
            f"{label} does not work with NumPy {_numpy_version()}: it needs numpy<2; "
            "use ai-edge-litert (pip install ai-edge-litert) or pip install 'numpy<2'"
        )
    if "numpy" in text.lower() and ("_ARRAY_API" in text or "compiled using NumPy 1" in text):
        return BackendMissing(
            f"{label} was built for NumPy 1 and NumPy {_numpy_version()} is installed; "
            "use ai-edge-litert or pip install 'numpy<2'"
        )
    import re

    match = re.search(_OP_VERSION, text)
    if match:
        op, op_version = match.groups()
        return ModelIncompatible(
            f"{where}: operator {op} version {op_version} is not supported by {label}; "
            "the model needs a newer runtime: pip install ai-edge-litert"
        )
    match = re.search(_CUSTOM_OP, text)
    if match:
        return ModelIncompatible(
            f"{where}: custom operator {match.group(1)} is not available in {label}"
        )
    if "Model provided has model identifier" in text or "Could not open" in text or \
            "The model is not a valid Flatbuffer" in text or "verif" in text.lower():
        return ModelInvalid(f"{where}: the interpreter rejected the file: {_first_line(text)}")
    if isinstance(exc, ValueError | RuntimeError):
        return ModelIncompatible(f"{where}: {label} cannot run it: {_first_line(text)}")
    return ModelInvalid(f"{where}: {type(exc).__name__}: {_first_line(text)}")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _numpy_major() -> int:
    return _version_tuple(_numpy_version())[0]


def _numpy_version() -> str:
    import numpy

    return numpy.__version__


def create_interpreter(
    model: bytes, backend: Backend, threads: int | None = None, where: str = "model",
    delegate: DelegateSpec | None = None,
) -> Any:
    """A native interpreter over ``model`` with tensors allocated.

    XNNPACK is the default delegate of every backend's built-in op resolver; it stays
    on unless ``delegate`` says otherwise (see :mod:`edgekit.delegates`).
    ``threads=None`` lets the backend decide.
    """
    module = backend.interpreter_module()
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")
    spec = delegate or DelegateSpec()
    with native_log_filter():
        extra = delegate_kwargs(spec, module, backend)
    try:
        with native_log_filter():
            interpreter = module.Interpreter(model_content=model, num_threads=threads, **extra)
            interpreter.allocate_tensors()
    except Exception as exc:  # noqa: BLE001 - every backend error is mapped here, once
        raise map_error(exc, backend, where) from exc
    return interpreter


def delegate_kwargs(spec: DelegateSpec, module: Any, backend: Backend) -> dict[str, Any]:
    """``Interpreter(...)`` keywords applying ``spec`` with ``backend``'s interpreter ``module``.

    Raises:
        BackendMissing: the delegate library is missing, or it loaded and failed to start.
        ConfigError: the library is not a TFLite delegate.
    """
    api = module if hasattr(module, "load_delegate") else module.experimental  # tf.lite keeps them there
    try:
        return interpreter_kwargs(spec, api)
    except EdgekitError:
        raise
    except Exception as exc:  # noqa: BLE001 - the library loaded, then its delegate failed to start
        hint = " (is an Edge TPU plugged in? lsusb shows 1a6e:089a or 18d1:9302)" \
            if spec.kind == "edgetpu" else ""
        raise BackendMissing(f"delegate {spec.name} did not start with {backend.package} "
                             f"{backend.version() or '?'}: {_first_line(str(exc))}{hint}") from exc


# -- native log lines -------------------------------------------------------------------
_INFO_LINE = re.compile(
    rb"^(?:INFO|VERBOSE): "                                 # TFLite's minimal logger
    rb"|^I\d{4} \d\d:\d\d:\d\d"                           # absl / glog
    rb"|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: I "          # TensorFlow's own logging
    rb"|^WARNING: All log messages before absl::InitializeLog\(\) is called"  # absl's notice about itself
)
_LOG_LINE = re.compile(  # the start of any log line (a line that is not is a continuation)
    rb"^(?:[A-Z]+: |[IWEF]\d{4} |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] )")
_filter_lock = threading.Lock()
_filter_state: dict[str, Any] = {"depth": 0, "saved": None, "capture": None}


def show_native_logs(show: bool = True) -> None:
    """Let native libraries' log lines reach stderr (``show=True``), here and in child processes."""
    os.environ["EDGEKIT_NATIVE_LOG"] = "1" if show else "0"


def keep_native_lines(lines: Iterable[bytes]) -> Iterator[bytes]:
    """The lines a native library wrote to stderr that are worth showing: all but INFO.

    A line that does not start like a log line continues the one before it and shares
    its fate (TensorFlow's CPU-feature notice spans two lines).
    """
    keep = True
    for line in lines:
        if _LOG_LINE.match(line):
            keep = not _INFO_LINE.match(line)
        if keep:
            yield line


@contextlib.contextmanager
def native_log_filter() -> Iterator[None]:
    """Hold back what is written to fd 2 inside, then pass on all but the INFO lines.

    Nested and concurrent uses share one capture (the last to leave restores fd 2),
    so threads building interpreters at once cannot leave stderr redirected. Lines
    other threads write meanwhile are passed on too, a moment later.
    """
    if os.environ.get("EDGEKIT_NATIVE_LOG") == "1" or not _filter_enter():
        yield
        return
    try:
        yield
    finally:
        _filter_leave()


def _filter_enter() -> bool:
    with _filter_lock:
        if _filter_state["depth"] == 0:
            with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr may be None
                sys.stderr.flush()
            try:
                saved = os.dup(2)
            except OSError:  # no fd 2 (pythonw, a closed stderr): nothing to filter
                return False
            # a file, not a pipe: a chatty library never blocks; closed in _filter_leave
            capture = tempfile.TemporaryFile()  # noqa: SIM115
            try:
                os.dup2(capture.fileno(), 2)
            except OSError:
                capture.close()
                os.close(saved)
                return False
            _filter_state.update(saved=saved, capture=capture)
        _filter_state["depth"] += 1
        return True


def _filter_leave() -> None:
    with _filter_lock:
        _filter_state["depth"] -= 1
        if _filter_state["depth"]:
            return
        saved, capture = _filter_state["saved"], _filter_state["capture"]
        _filter_state.update(saved=None, capture=None)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        with capture:
            capture.seek(0)
            kept = b"".join(keep_native_lines(capture))
    if kept:
        with contextlib.suppress(OSError):
            os.write(2, kept)
