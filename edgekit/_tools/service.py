"""``edgekit service``: run an edgekit command unattended as a systemd service.

The unit is rendered from ``devices/edgekit.service.in`` (shipped in the wheel as
``edgekit/_devices``): ``Type=notify`` with ``WatchdogSec=`` for ``edgekit run``
(which sends ``READY=1`` and ``WATCHDOG=1``), ``Restart=on-failure``, the absolute
path of this environment's ``edgekit`` and a dedicated user. Arguments are quoted
for systemd's own command-line parser — no shell is involved.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

__all__ = ["ServiceUnit", "find_executable", "install", "render_unit", "systemd_quote", "uninstall",
           "unit_path"]

UNIT_DIR = "etc/systemd/system"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_SAFE = re.compile(r"[A-Za-z0-9_@+=:,./-]+")
# Commands that speak sd_notify; anything else runs as Type=exec without a watchdog.
_NOTIFYING = {"run"}


@dataclass(frozen=True, slots=True)
class ServiceUnit:
    """A rendered unit and where it goes."""

    name: str
    path: Path
    text: str
    user: str
    warnings: tuple[str, ...] = ()


# The commands that make sense as a long-running (or timer-started) service.
SERVICE_COMMANDS = ("batch", "run", "serve")

def systemd_quote(arg: str) -> str:
    """One ``ExecStart=`` word that systemd parses back to exactly ``arg``.

    systemd splits on whitespace, honours double quotes with C escapes, expands
    ``$VAR`` and ``%`` specifiers: those are escaped (``$$``, ``%%``).

    Raises:
        ConfigError: the argument holds a control character (newline, NUL …).
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in arg):
        raise ConfigError(f"service argument {arg!r} contains a control character")
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if escaped and _SAFE.fullmatch(arg):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def find_executable() -> str:
    """Absolute path of this environment's ``edgekit`` (``sys.argv[0]``, else ``$PATH``).

    Raises:
        ConfigError: no ``edgekit`` executable can be found.
    """
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "edgekit" and argv0.is_file() and os.access(argv0, os.X_OK):
        return str(argv0.absolute())
    beside = Path(sys.executable).parent / "edgekit"  # the venv's bin/, next to its python
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("edgekit")
    if found:
        return str(Path(found).absolute())
    raise ConfigError("cannot find the edgekit executable; pass --exec /path/to/venv/bin/edgekit")


def _template() -> str:
    from .._device.profiles import profile_dirs

    for directory in profile_dirs():
        path = directory / "edgekit.service.in"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise ConfigError("systemd unit template edgekit.service.in not found in "
                      + " or ".join(str(d) for d in profile_dirs()))


def unit_path(name: str, root: str | os.PathLike[str] = "/") -> Path:
    """``ROOT/etc/systemd/system/edgekit-NAME.service`` (``name`` validated)."""
    if not _NAME.fullmatch(name):
        raise ConfigError(f"service name {name!r} must be letters, digits, '_', '.' or '-' (max 64)")
    return Path(root) / UNIT_DIR / f"edgekit-{name}.service"


def _readable_by(path: str) -> str | None:
    """Why a dedicated user may not reach ``path`` (a 0700 home directory), or None."""
    current = Path(path).parent
    while current != current.parent:
        try:
            mode = current.stat().st_mode
        except OSError:
            return None
        if not mode & 0o001:
            return f"{current} is not searchable by other users (mode {oct(mode & 0o777)})"
        current = current.parent
    return None


def render_unit(name: str, args: list[str], *, user: str = "edgekit", exec_path: str | None = None,
                watchdog_sec: int = 30, groups: str = "video", root: str | os.PathLike[str] = "/") -> ServiceUnit:
    """Render the unit for ``edgekit ARGS...`` without writing anything.

    Args:
        name: Service name; the unit is ``edgekit-NAME.service``.
        args: The edgekit command line after ``--`` (e.g. ``["run", "--camera", "0"]``).
        user: The account it runs as (a dedicated one; never root).
        exec_path: The ``edgekit`` executable (default: :func:`find_executable`).
        watchdog_sec: ``WatchdogSec=`` for ``run`` (0 disables the watchdog).
        groups: ``SupplementaryGroups=`` (cameras need ``video``).
        root: Prefix of the unit directory (tests point it elsewhere).

    Raises:
        ConfigError: empty or unknown command, bad name/user, unquotable argument.
    """
    if not args:
        raise ConfigError("nothing to run: give the edgekit command after --, e.g. -- run --camera 0")
    if args[0] not in SERVICE_COMMANDS:
        raise ConfigError(f"{args[0]!r} is not an edgekit command to run as a service "
                          f"(one of: {', '.join(SERVICE_COMMANDS)})")
    if not _USER.fullmatch(user) or user == "root":
        raise ConfigError(f"user {user!r} must be a dedicated (non-root) system account name")
    if watchdog_sec < 0:
        raise ConfigError(f"watchdog seconds must be >= 0, got {watchdog_sec}")
    exe = exec_path or find_executable()
    if not os.path.isabs(exe):
        raise ConfigError(f"the edgekit executable must be an absolute path, got {exe!r}")
    notify = args[0] in _NOTIFYING
    values = {
        "NAME": name, "COMMAND": args[0], "USER": user, "GROUPS": groups or "",
        "TYPE": "notify" if notify else "exec",
        "EXEC_START": " ".join(systemd_quote(a) for a in [exe, *args]),
        "WATCHDOG": f"WatchdogSec={watchdog_sec}" if notify and watchdog_sec else "",
    }
    text = _template()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = re.search(r"@[A-Z_]+@", text)
    if leftover:
        raise ConfigError(f"unit template has an unknown placeholder {leftover.group(0)}")
    if not groups:
        text = text.replace("SupplementaryGroups=\n", "")
    warning = _readable_by(exe)
    warnings = ((f"user {user} may not be able to run {exe}: {warning}; use --user with the venv's "
                 "owner or put the venv under /opt"),) if warning else ()
    return ServiceUnit(name, unit_path(name, root), text, user, warnings)


def _is_real_root(root: str | os.PathLike[str]) -> bool:
    return Path(root).resolve() == Path("/")


def _systemctl(*args: str) -> None:
    tool = shutil.which("systemctl")
    if tool and os.geteuid() == 0:
        subprocess.run([tool, *args], check=False, timeout=60)


def install(unit: ServiceUnit, root: str | os.PathLike[str] = "/", create_user: bool = True) -> list[str]:
    """Write the unit (atomically, mode 0644); on the real root also create the user and reload.

    Returns:
        What was done, one line each, for the CLI to print.

    Raises:
        ConfigError: the unit directory is not writable (run with sudo).
    """
    done = []
    try:
        unit.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = unit.path.with_suffix(".service.tmp")
        tmp.write_text(unit.text, encoding="utf-8")
        tmp.chmod(0o644)
        tmp.replace(unit.path)
    except OSError as exc:
        raise ConfigError(f"cannot write {unit.path}: {exc.strerror or exc} (run with sudo)") from exc
    done.append(f"wrote {unit.path}")
    if _is_real_root(root):
        if create_user and _missing_user(unit.user):
            useradd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", unit.user]
            subprocess.run(useradd, check=False, timeout=60)
            done.append("created system user " + unit.user)
        _systemctl("daemon-reload")
        done.append(f"start it with: sudo systemctl enable --now edgekit-{unit.name}")
    return done


def _missing_user(user: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(user)
    except KeyError:
        return True
    return False


def uninstall(name: str, root: str | os.PathLike[str] = "/") -> list[str]:
    """Stop, disable and remove ``edgekit-NAME.service``.

    Raises:
        ConfigError: no such unit, or it cannot be removed.
    """
    path = unit_path(name, root)
    if not path.exists():
        raise ConfigError(f"no service edgekit-{name}: {path} does not exist")
    if _is_real_root(root):
        _systemctl("disable", "--now", f"edgekit-{name}.service")
    try:
        path.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot remove {path}: {exc.strerror or exc} (run with sudo)") from exc
    if _is_real_root(root):
        _systemctl("daemon-reload")
    return [f"removed {path}"]
