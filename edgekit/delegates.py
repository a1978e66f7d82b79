"""Delegates: what runs a model's operators besides the interpreter's own kernels.

``delegate=`` (``--delegate``) takes:

- ``"xnnpack"`` (the default): the built-in op resolver with XNNPACK, the fast CPU path;
- ``"none"``: the built-in kernels without XNNPACK — slower, a fallback where XNNPACK
  misbehaves (an ai-edge-litert 2.3 aarch64 build crashes during invoke under an
  emulated Cortex-A72 while 1.4.0 runs);
- ``"edgetpu"`` (``"edgetpu:device=usb"``): a Coral Edge TPU through ``libedgetpu.so.1``;
- ``"PATH.so[:key=value,...]"``: any external delegate library (the TFLite external
  delegate ABI: ``tflite_plugin_create_delegate`` / ``tflite_plugin_destroy_delegate``),
  with its options.

A library is opened and checked here (ctypes) before the backend sees it, so a missing
file or a library that is not a delegate is a one-line :class:`BackendMissing` /
:class:`ConfigError`, not a backend traceback. A model compiled for the Edge TPU (it holds
the ``edgetpu-custom-op``) cannot run without the Edge TPU delegate: :func:`check_model_ops`
says so before the interpreter is built.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import BackendMissing, ConfigError, ModelIncompatible

__all__ = ["EDGETPU_LIBRARY", "EDGETPU_OP", "DelegateSpec", "check_library", "check_model_ops",
           "find_edgetpu_library", "parse_delegate"]

EDGETPU_LIBRARY = "libedgetpu.so.1"
EDGETPU_OP = "edgetpu-custom-op"
EDGETPU_INSTALL = (
    "install the Edge TPU runtime: on Debian / Raspberry Pi OS add Coral's apt repository "
    "(deb https://packages.cloud.google.com/apt coral-edgetpu-stable main) and "
    "sudo apt install libedgetpu1-std (or libedgetpu1-max for the faster clock)"
)
_KINDS = ("xnnpack", "none", "edgetpu")
_PLUGIN_SYMBOLS = ("tflite_plugin_create_delegate", "tflite_plugin_destroy_delegate")


@dataclass(frozen=True, slots=True)
class DelegateSpec:
    """A parsed ``delegate=`` value.

    Attributes:
        kind: ``"xnnpack"``, ``"none"``, ``"edgetpu"`` or ``"external"``.
        library: The shared library to load (``edgetpu`` and ``external`` only).
        options: ``key=value`` options handed to the library.
    """

    kind: str = "xnnpack"
    library: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        """The value as ``delegate=`` takes it."""
        head = self.library if self.kind == "external" else self.kind
        opts = ",".join(f"{k}={v}" for k, v in self.options)
        return f"{head}:{opts}" if opts else str(head)

    @property
    def loads_library(self) -> bool:
        return self.kind in ("edgetpu", "external")


def parse_delegate(value: str | DelegateSpec | None) -> DelegateSpec:
    """``"xnnpack" | "none" | "edgetpu[:k=v,...]" | "PATH.so[:k=v,...]"`` → :class:`DelegateSpec`.

    Raises:
        ConfigError: an unknown name, or options that are not ``key=value``.
    """
    if isinstance(value, DelegateSpec):
        return value
    text = (value or "xnnpack").strip()
    head, _, tail = text.partition(":")
    options = _parse_options(tail, text)
    key = head.lower()
    if key in ("xnnpack", "none"):
        if options:
            raise ConfigError(f"delegate {text!r}: {key} takes no options")
        return DelegateSpec(key)
    if key == "edgetpu":
        return DelegateSpec("edgetpu", EDGETPU_LIBRARY, options)
    if ".so" in os.path.basename(head) or "/" in head:
        return DelegateSpec("external", head, options)
    raise ConfigError(f"delegate {text!r} is not one of {', '.join(_KINDS)} or a library path "
                      "(PATH.so[:key=value,...])")


def _parse_options(tail: str, text: str) -> tuple[tuple[str, str], ...]:
    if not tail:
        return ()
    pairs = []
    for item in tail.split(","):
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"delegate {text!r}: options are key=value pairs separated by commas")
        pairs.append((key.strip(), val.strip()))
    return tuple(pairs)


def find_edgetpu_library() -> str | None:
    """Where ``libedgetpu.so.1`` is, when the dynamic linker can find it (nothing is loaded)."""
    found = ctypes.util.find_library("edgetpu")
    if found:
        return found
    for folder in ("/usr/lib/aarch64-linux-gnu", "/usr/lib/arm-linux-gnueabihf", "/usr/lib/x86_64-linux-gnu",
                   "/usr/lib", "/usr/local/lib"):
        path = os.path.join(folder, EDGETPU_LIBRARY)
        if os.path.exists(path):
            return path
    return None


def check_library(spec: DelegateSpec) -> None:
    """Open ``spec.library`` with ctypes and check it exports the delegate plugin functions.

    Raises:
        BackendMissing: the library cannot be found or opened (for the Edge TPU: how to install it).
        ConfigError: it opens but is not a TFLite delegate.
    """
    if not spec.loads_library:
        return
    library = str(spec.library)
    try:
        handle = ctypes.CDLL(library)
    except OSError as exc:
        reason = str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)
        if spec.kind == "edgetpu":
            raise BackendMissing(f"the Edge TPU delegate {library} cannot be loaded ({reason}); "
                                 f"{EDGETPU_INSTALL}") from None
        raise BackendMissing(f"delegate library {library} cannot be loaded: {reason}") from None
    missing = [name for name in _PLUGIN_SYMBOLS if not hasattr(handle, name)]
    if missing:
        raise ConfigError(f"delegate library {library} is not a TFLite delegate: it does not export "
                          f"{' and '.join(missing)} (the external delegate interface)")


def check_model_ops(spec: DelegateSpec, custom_ops: Iterable[str], where: str) -> str | None:
    """Refuse an Edge TPU model without the Edge TPU delegate; note the reverse.

    Returns:
        A note when the Edge TPU was asked for but the model was not compiled for it
        (it then runs on the CPU), else ``None``.

    Raises:
        ModelIncompatible: the model holds the Edge TPU's custom operator and ``spec`` is not edgetpu.
    """
    compiled = EDGETPU_OP in set(custom_ops)
    if compiled and spec.kind != "edgetpu":
        raise ModelIncompatible(
            f"{where}: the model is compiled for the Coral Edge TPU ({EDGETPU_OP}); run it with "
            f"--delegate edgetpu (delegate='edgetpu'), which needs {EDGETPU_LIBRARY}: {EDGETPU_INSTALL}")
    if spec.kind == "edgetpu" and not compiled:
        return (f"{where} is not compiled for the Edge TPU (no {EDGETPU_OP}): it runs on the CPU; "
                "compile it with edgetpu_compiler to use the accelerator")
    return None


def interpreter_kwargs(spec: DelegateSpec, module: Any) -> dict[str, Any]:
    """Keyword arguments for a backend's ``Interpreter(...)`` that apply ``spec``.

    Args:
        spec: The delegate.
        module: The backend's interpreter module (``load_delegate``, ``OpResolverType``).
    """
    if spec.kind == "xnnpack":
        return {}
    if spec.kind == "none":
        resolver = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        return {"experimental_op_resolver_type": resolver}
    check_library(spec)
    delegate = module.load_delegate(spec.library, dict(spec.options) or None)
    return {"experimental_delegates": [delegate]}
