"""``edgekit service``: run an edgekit command unattended as a systemd service.

The unit is rendered from ``devices/edgekit.service.in`` (shipped in the wheel as
``edgekit/_devices``): ``Type=notify`` with ``WatchdogSec=`` for ``edgekit run`` and
``edgekit serve`` (which send ``READY=1`` and ``WATCHDOG=1``), ``ExecReload=`` sending
SIGHUP for them (``systemctl reload`` swaps in the model file),
``Restart=on-failure``, the absolute path of this environment's ``edgekit`` and a
dedicated user. Arguments are quoted
for systemd's own command-line parser — no shell is involved.

Secrets never go on the command line: ``ExecStart=`` is shown to every local
user (``systemctl show``, ``ps``) and the unit file is world-readable. The
values of secret options (:data:`SECRET_OPTIONS`) move to an
``EnvironmentFile=`` (``/etc/edgekit/NAME.env``, mode 0600, read by systemd as
root before it drops to the service's user), from which the option reads its
environment variable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError

__all__ = ["SECRET_OPTIONS", "ServiceUnit", "env_file_quote", "find_executable", "install",
           "render_unit", "split_secrets", "systemd_quote", "uninstall", "unit_path"]

UNIT_DIR = "etc/systemd/system"
ENV_DIR = "etc/edgekit"  # EnvironmentFile= of each service: NAME.env, root only
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_SAFE = re.compile(r"[A-Za-z0-9_@+=:,./-]+")
# Commands that speak sd_notify; anything else runs as Type=exec without a watchdog.
_NOTIFYING = {"run", "serve"}
# Commands that reload their model on SIGHUP (``systemctl reload``) unless told not to.
_RELOADING = {"run", "serve"}


@dataclass(frozen=True, slots=True)
class ServiceUnit:
    """A rendered unit and where it goes.

    Attributes:
        environment: The secrets taken off the command line (variable → value),
            written to ``env_path``; never shown by ``repr``.
        env_path: ``ROOT/etc/edgekit/NAME.env``.
    """

    name: str
    path: Path
    text: str
    user: str
    warnings: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict, repr=False)
    env_path: Path | None = None


# The commands that make sense as a long-running (or timer-started) service.
SERVICE_COMMANDS = ("batch", "run", "serve")
# Per command: options whose value is a secret, and the environment variable the option
# reads instead (click's envvar=). A new secret option needs an entry here.
SECRET_OPTIONS: dict[str, dict[str, str]] = {
    "run": {"--token": "EDGEKIT_SERVE_TOKEN", "--mqtt-password": "EDGEKIT_MQTT_PASSWORD"},
    "serve": {"--token": "EDGEKIT_SERVE_TOKEN", "--mqtt-password": "EDGEKIT_MQTT_PASSWORD"},
    "batch": {},
}
# Options that are secret only when their URL carries a password (rtsp://user:pass@cam/).
URL_OPTIONS: dict[str, dict[str, str]] = {"run": {"--source": "EDGEKIT_SOURCE"}}


def _has_password(arg: str) -> bool:
    if "://" not in arg or "@" not in arg:
        return False
    try:
        return urlsplit(arg).password is not None
    except ValueError:
        return True  # unparsable: rather keep it off the command line


def split_secrets(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Take the secret options out of ``args``: ``(args without them, {variable: value})``.

    ``--opt VALUE`` and ``--opt=VALUE`` are both recognised (see :data:`SECRET_OPTIONS`).

    Raises:
        ConfigError: an argument that cannot move to the environment carries a
            password in a URL.
    """
    secret = SECRET_OPTIONS.get(args[0], {}) if args else {}
    urls = URL_OPTIONS.get(args[0], {}) if args else {}
    public: list[str] = []
    env: dict[str, str] = {}
    i = 0
    while i < len(args):
        name, eq, value = args[i].partition("=")
        takes_next = not eq and i + 1 < len(args)
        if not eq:
            value = args[i + 1] if takes_next else ""
        if name in secret and (eq or takes_next):
            env[secret[name]] = value
        elif name in urls and (eq or takes_next) and _has_password(value):
            env[urls[name]] = value
        else:
            if _has_password(args[i]):
                raise ConfigError(
                    f"argument {i + 1} has a password in a URL, which every user of this machine "
                    "could read in the unit; give a stream URL with run --source (it moves to the "
                    "root-only environment file) or list inputs in a file (batch --list)")
            public.append(args[i])
            i += 1
            continue
        i += 1 if eq else 2
    return public, env


def env_file_quote(value: str) -> str:
    """``value`` double-quoted for an ``EnvironmentFile=`` (systemd reads it back exactly).

    Inside double quotes systemd (like a shell) drops the backslash in front of a
    backslash, a double quote, a backquote or a dollar sign, and expands nothing.

    Raises:
        ConfigError: the value holds a control character or is not valid Unicode text.
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigError("a secret option's value contains a control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError("a secret option's value is not valid UTF-8") from None
    escaped = "".join("\\" + c if c in '\\"`$' else c for c in value)
    return f'"{escaped}"'


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


def env_path(name: str, root: str | os.PathLike[str] = "/") -> Path:
    """``ROOT/etc/edgekit/NAME.env``: the service's secrets (``name`` validated)."""
    unit_path(name, root)
    return Path(root) / ENV_DIR / f"{name}.env"


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
    public, environment = split_secrets(args)
    for value in environment.values():
        env_file_quote(value)  # refuse what cannot be written before anything is
    notify = args[0] in _NOTIFYING
    reloads = args[0] in _RELOADING and "--no-reload" not in public
    values = {
        "NAME": name, "COMMAND": args[0], "USER": user, "GROUPS": groups or "",
        "TYPE": "notify" if notify else "exec",
        "EXEC_START": " ".join(systemd_quote(a) for a in [exe, *public]),
        "WATCHDOG": f"WatchdogSec={watchdog_sec}" if notify and watchdog_sec else "",
        "ENVIRONMENT_FILE": f"EnvironmentFile=/{ENV_DIR}/{name}.env" if environment else "",
        "RELOAD": "ExecReload=/bin/kill -HUP $MAINPID" if reloads else "",
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
    return ServiceUnit(name, unit_path(name, root), text, user, warnings, environment,
                       env_path(name, root))


def _is_real_root(root: str | os.PathLike[str]) -> bool:
    return Path(root).resolve() == Path("/")


def _systemctl(*args: str) -> None:
    tool = shutil.which("systemctl")
    if tool and os.geteuid() == 0:
        subprocess.run([tool, *args], check=False, timeout=60)


def _write(path: Path, text: str, mode: int) -> None:
    """Write ``path`` atomically with ``mode`` (a secret is never readable by others, not even
    for a moment: the file is created with its final mode)."""
    try:
        path.parent.mkdir(mode=0o700 if mode == 0o600 else 0o755, parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        tmp.chmod(mode)
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc} (run with sudo)") from exc


def _secrets_text(unit: ServiceUnit) -> str:
    lines = [f"# Secrets of edgekit-{unit.name}.service, written by `edgekit service install`."]
    lines += [f"{key}={env_file_quote(value)}" for key, value in sorted(unit.environment.items())]
    return "\n".join(lines) + "\n"


def install(unit: ServiceUnit, root: str | os.PathLike[str] = "/", create_user: bool = True) -> list[str]:
    """Write the unit (atomically, mode 0644) and its secrets (mode 0600, when it has any);
    on the real root also create the user and reload.

    Returns:
        What was done, one line each, for the CLI to print.

    Raises:
        ConfigError: the unit directory is not writable (run with sudo).
    """
    done = []
    secrets = unit.env_path
    if unit.environment and secrets is not None:  # first: the unit names this file
        _write(secrets, _secrets_text(unit), 0o600)
        done.append(f"wrote {secrets} (mode 0600: {', '.join(sorted(unit.environment))})")
    elif secrets is not None and secrets.exists():
        secrets.unlink()
        done.append(f"removed {secrets} (no secrets any more)")
    _write(unit.path, unit.text, 0o644)
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
    removed = [p for p in (path, env_path(name, root)) if p.exists()]
    try:
        for p in removed:
            p.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot remove {exc.filename}: {exc.strerror or exc} (run with sudo)") from exc
    if _is_real_root(root):
        _systemctl("daemon-reload")
    return [f"removed {p}" for p in removed]
