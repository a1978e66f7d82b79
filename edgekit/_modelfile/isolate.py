"""Load an untrusted model in a child process first, so a native crash cannot take us down.

:func:`check_in_child` runs ``python -m edgekit._modelfile.isolate`` with the model bytes
on stdin. The child builds the interpreter, allocates its tensors and invokes
it once on zero inputs, printing a line per stage and a JSON verdict. A signal
(segfault, abort), a hang past the timeout, or an error in the child becomes
:class:`~edgekit.errors.ModelInvalid` in the parent, naming what happened and
at which stage. ``edgekit.load(isolate=True)`` and ``--isolate`` call it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .. import errors
from ..backend import Backend
from ..errors import ModelInvalid

__all__ = ["DEFAULT_TIMEOUT", "check_in_child"]

DEFAULT_TIMEOUT = float(os.environ.get("EDGEKIT_ISOLATE_TIMEOUT", "60"))
_MARK = "edgekit-isolate:"
_STAGES = ("start", "load", "allocate", "invoke", "done")
# Errors the child may report that keep their own class in the parent (same as a plain load).
_KEEP = ("ModelInvalid", "ModelIncompatible", "BackendMissing", "ConfigError")


def check_in_child(
    data: bytes, where: str, backend: Backend, threads: int | None, *, timeout: float | None = None,
    delegate: str = "xnnpack",
) -> None:
    """Load, allocate and invoke ``data`` once in a child process.

    Args:
        data: The model bytes (already structurally checked).
        where: Path or ``"<bytes>"``, named in errors.
        backend: The interpreter backend the child uses.
        threads: Interpreter threads (``None``: the backend's default).
        timeout: Seconds before the child is killed (default ``$EDGEKIT_ISOLATE_TIMEOUT`` or 60).
        delegate: The delegate the child uses (as ``delegate=`` takes it).

    Raises:
        ModelInvalid: the child crashed (signal), hung, or failed to load the model.
        ModelIncompatible, BackendMissing: the child reported one (as a plain load would).
    """
    limit = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    cmd = [sys.executable, "-m", "edgekit._modelfile.isolate", backend.name, str(threads or 0), where,
           f"{limit:g}", str(os.getpid()), delegate]
    try:
        proc = subprocess.run(
            cmd, input=data, capture_output=True, timeout=limit, env=_child_env(), check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stage = _last_stage(exc.stdout or b"")
        raise ModelInvalid(
            f"{where}: the model hung {_STAGE_TEXT[stage]} in a child process: no verdict "
            f"within {limit:g} s (the child was killed)"
        ) from None
    except OSError as exc:
        raise ModelInvalid(f"{where}: cannot start the isolation child process: {exc}") from exc
    _verdict(proc, where)


_STAGE_TEXT = {
    "start": "while starting", "load": "while loading the model",
    "allocate": "while allocating the model's tensors",
    "invoke": "during the model's test invocation", "done": "while exiting",
}


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the folder holding the edgekit package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def _last_stage(stdout: bytes) -> str:
    stage = "start"
    for line in stdout.decode("utf-8", "replace").splitlines():
        if line.startswith(_MARK + "stage "):
            stage = line.split()[-1]
    return stage if stage in _STAGE_TEXT else "start"


def _verdict(proc: subprocess.CompletedProcess[bytes], where: str) -> None:
    stage = _last_stage(proc.stdout)
    result = None
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith(_MARK + "result "):
            try:
                result = json.loads(line[len(_MARK + "result ") :])
            except json.JSONDecodeError:
                result = None
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        raise ModelInvalid(
            f"{where}: the native interpreter crashed ({name}) {_STAGE_TEXT[stage]} "
            "in a child process"
        )
    if result is None or proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ModelInvalid(
            f"{where}: the isolation child exited with code {proc.returncode} "
            f"{_STAGE_TEXT[stage]}: {tail[-1] if tail else 'no message'}"
        )
    if not result.get("ok"):
        kind, message = str(result.get("type")), str(result.get("message"))
        if kind in _KEEP:
            raise getattr(errors, kind)(message)
        raise ModelInvalid(f"{where}: {kind} {_STAGE_TEXT[stage]} in a child process: {message}")


def _child(argv: list[str]) -> int:
    """The child side: model bytes on stdin, one line per stage and a verdict on stdout."""
    backend_name, threads_text, where, limit, parent, delegate = argv[:6]
    _die_with_parent(float(limit), int(parent))

    def say(kind: str, text: str) -> None:
        sys.stdout.write(f"{_MARK}{kind} {text}\n")
        sys.stdout.flush()

    say("stage", "start")
    data = sys.stdin.buffer.read()
    try:
        _load_and_invoke(data, where, backend_name, int(threads_text) or None, delegate, say)
    except Exception as exc:  # noqa: BLE001 - the parent reports whatever happened, by name
        say("result", json.dumps({"ok": False, "type": type(exc).__name__, "message": str(exc)}))
        return 0
    say("stage", "done")
    say("result", json.dumps({"ok": True}))
    return 0


def _die_with_parent(limit: float, parent: int) -> None:
    """Never outlive the parent (killed by SIGTERM mid-check) nor the time limit.

    A hung native call cannot be interrupted from Python, so both use signals
    whose default action ends the process: SIGKILL when the parent dies (Linux
    ``PR_SET_PDEATHSIG``) and SIGALRM a little after the parent's deadline.
    """
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(max(1, int(limit) + 5))
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _load_and_invoke(data: bytes, where: str, backend_name: str, threads: int | None, delegate: str,
                     say: Callable[[str, str], None]) -> None:
    import numpy as np

    from ..backend import BACKENDS, delegate_kwargs, map_error
    from ..delegates import parse_delegate

    backend = BACKENDS[backend_name]
    module = backend.interpreter_module()
    extra = delegate_kwargs(parse_delegate(delegate), module, backend)
    say("stage", "load")
    try:
        interpreter = module.Interpreter(model_content=data, num_threads=threads, **extra)
        say("stage", "allocate")
        interpreter.allocate_tensors()
    except Exception as exc:
        raise map_error(exc, backend, where) from exc
    say("stage", "invoke")
    for detail in interpreter.get_input_details():
        dtype = np.dtype(detail["dtype"])
        if dtype.kind in "OSU":
            return  # string inputs: nothing sensible to feed; loading and allocation passed
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], dtype))
    try:
        interpreter.invoke()
    except Exception as exc:
        raise ModelInvalid(f"{where}: the test invocation on zero inputs failed: {exc}") from exc


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
