"""systemd's ``sd_notify`` protocol, without a dependency: READY, STATUS, WATCHDOG.

When edgekit runs under systemd with ``Type=notify`` and ``WatchdogSec=``,
``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` are set; elsewhere every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import time

__all__ = ["Watchdog", "notify", "watchdog_interval"]


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``, ``"WATCHDOG=1"``) to systemd; False when not under it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)  # a full receiver queue must never freeze the pipeline
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings (half of ``WATCHDOG_USEC``), or None when not asked."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.05, int(usec) / 2e6)
    except ValueError:
        return None


class Watchdog:
    """Sends ``WATCHDOG=1`` at most every :func:`watchdog_interval` seconds.

    Call :meth:`tick` from the loop that proves progress (e.g. after each
    result); it is a no-op when systemd did not ask for a watchdog.
    """

    def __init__(self, clock: object = time.monotonic) -> None:
        self._clock = clock
        self.interval = watchdog_interval()
        self._last = float("-inf")

    def tick(self) -> bool:
        """Ping if one is due; True when a ping was sent."""
        if self.interval is None:
            return False
        now = self._clock()  # type: ignore[operator]
        if now - self._last < self.interval:
            return False
        self._last = now
        return notify("WATCHDOG=1")
