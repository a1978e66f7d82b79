"""Who may talk to edgekit's HTTP servers (the ``--serve`` preview and ``edgekit serve``).

One security model for both: loopback by default; a server reachable from other
machines needs a token (or an explicit ``insecure``). With a token, every request
must carry it (``?token=`` or ``Authorization: Bearer``), compared in constant
time. Without one, the ``Host`` header must name this machine (an IP address,
``localhost``, the bound host or the machine's host name): a web page elsewhere
that re-points its own domain name at this address (DNS rebinding) cannot read
the answers through the visitor's browser.

Standard library only: the servers differ, the rules do not.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["ServeAddress", "bearer_token", "host_allowed", "host_name", "parse_serve", "token_matches",
           "trusted_hosts"]


@dataclass(frozen=True, slots=True)
class ServeAddress:
    """Where a server listens."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name: could resolve to anything

    @property
    def wildcard(self) -> bool:
        """Bound to every interface (``0.0.0.0``, ``::``)."""
        return self.host in ("0.0.0.0", "::", "")


def parse_serve(value: str | int) -> ServeAddress:
    """Parse ``[HOST:]PORT`` (``[v6addr]:PORT`` for IPv6); default host 127.0.0.1.

    Raises:
        ConfigError: The port is not a number in 0..65535 or the host is empty.
    """
    text = str(value).strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if sep and not host:
        raise ConfigError(f"serve address {text!r}: the host before ':' is empty (use PORT or HOST:PORT)")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"serve address {text!r}: PORT must be a number, e.g. 8080 or 0.0.0.0:8080") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"serve address {text!r}: port {port} is outside 0..65535")
    return ServeAddress(host, port)


def host_name(header: str) -> str:
    """The host of a ``Host`` header (``name:port``, ``[v6]:port``), lower case, no final dot."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    host, sep, port = text.rpartition(":")
    return (host if sep and port.isdigit() else text).rstrip(".")


def trusted_hosts(bound: str) -> frozenset[str]:
    """Host names that may reach a server bound to ``bound`` without a token (IPs always may)."""
    own = socket.gethostname().lower()
    return frozenset({"localhost", bound.strip("[]").lower(), own, f"{own}.local"} - {""})


def host_allowed(header: str | None, trusted: frozenset[str]) -> bool:
    """Whether a request's ``Host`` is this machine (no header: an old client, allowed).

    An IP address cannot be re-pointed, and ``*.localhost`` always means this
    machine to browsers; any other name must be one of ``trusted``.
    """
    if header is None:
        return True
    host = host_name(header)
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host in trusted or host.endswith(".localhost")


def bearer_token(query_token: str | None, authorization: str | None) -> str | None:
    """The token a request carries: ``?token=`` first, else ``Authorization: Bearer``."""
    if query_token is not None:
        return query_token
    header = authorization or ""
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def token_matches(given: str, token: str) -> bool:
    """``given == token``, in time that does not depend on where they differ."""
    return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))
