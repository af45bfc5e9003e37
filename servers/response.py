"""Sans-IO response serialisation: status, headers and framing in, bytes out."""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus

CRLF = b"\r\n"
LAST_CHUNK = b"0\r\n\r\n"

# Statuses whose responses never carry a body (RFC 9110 §6.4.1).
NO_BODY_STATUSES = frozenset({204, 304, *range(100, 200)})

# Headers that describe one hop, not the message: the server decides them, never the app.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)

_date_cache: tuple[int, bytes] = (0, b"")


def date_header() -> bytes:
    """The Date header line (RFC 7231 IMF-fixdate), formatted once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, b"Date: " + formatdate(now, usegmt=True).encode("ascii") + CRLF)
    return _date_cache[1]


def head(
    status: str,
    headers: list[tuple[str, str]],
    *,
    server: bytes,
    keep_alive: bool,
    http10: bool = False,
) -> bytes:
    """Serialise a status line and header block; `headers` must already carry the framing."""
    lines = [b"HTTP/1.1 ", status.encode("latin-1"), CRLF, date_header()]
    if server:
        lines += [b"Server: ", server, CRLF]
    for name, value in headers:
        lines += [name.encode("latin-1"), b": ", value.encode("latin-1"), CRLF]
    if not keep_alive:
        lines.append(b"Connection: close\r\n")
    elif http10:
        lines.append(b"Connection: keep-alive\r\n")
    lines.append(CRLF)
    return b"".join(lines)


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def error_response(status: int, reason: str = "", *, server: bytes = b"") -> bytes:
    """A complete plain-text error answer; the connection closes after it."""
    phrase = HTTPStatus(status).phrase
    body = f"{status} {phrase}: {reason}\n" if reason else f"{status} {phrase}\n"
    payload = body.encode("utf-8")
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(payload))),
    ]
    return head(f"{status} {phrase}", headers, server=server, keep_alive=False) + payload
