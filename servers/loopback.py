"""Loopback checks shared by the clients (which refuse any other target) and the servers
(which warn when told to bind elsewhere)."""

from __future__ import annotations

import ipaddress
import socket

__all__ = [
    "LoopbackError",
    "format_address",
    "is_loopback",
    "resolve_loopback",
    "strip_brackets",
]

SockAddr = tuple  # (host, port) for IPv4, (host, port, flowinfo, scope_id) for IPv6


class LoopbackError(ValueError):
    """The host cannot be resolved, or resolves to an address that is not loopback."""


def strip_brackets(host: str) -> str:
    """Turn ``[::1]`` into ``::1``: URLs and Host headers bracket IPv6 literals, sockets do not."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the IPv4-mapped form of 127.0.0.0/8 (``::ffff:127.x.y.z``)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def resolve_loopback(host: str, port: int) -> list[tuple[int, SockAddr]]:
    """Resolve ``host`` for TCP and return its ``(family, sockaddr)`` pairs, all of them loopback.

    Every address the name resolves to must be loopback, not just one of them: a name that also
    points elsewhere is refused, so a client can never be steered off the machine.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise LoopbackError(f"invalid port {port!r}: expected 1-65535")
    name = strip_brackets(host)
    if not name:
        raise LoopbackError("empty host")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise LoopbackError(f"cannot resolve host {host!r}: {reason}") from None
    found: list[tuple[int, SockAddr]] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        if not is_loopback(str(sockaddr[0])):
            raise LoopbackError(
                f"refusing host {host!r}: it resolves to {sockaddr[0]}, which is not loopback "
                "(only 127.0.0.0/8 and ::1 are allowed)"
            )
        if (family, sockaddr) not in found:
            found.append((family, sockaddr))
    if not found:
        raise LoopbackError(f"host {host!r} has no IPv4 or IPv6 address")
    return found


def format_address(sockaddr: SockAddr) -> str:
    """``127.0.0.1:8888`` or ``[::1]:8888``, the way a user would type it in a URL."""
    ip, port = sockaddr[0], sockaddr[1]
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
