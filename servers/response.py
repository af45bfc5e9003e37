"""Sans-IO response serialisation: status, headers and framing in, bytes out."""

from __future__ import annotations

import time
from http import HTTPStatus

from servers.options import ServerInfo
from servers.parser import Request

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


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(seconds: float) -> str:
    """RFC 7231 IMF-fixdate, e.g. 'Tue, 24 Nov 2026 01:34:11 GMT' (email.utils would do, but
    costs the fork models a large import)."""
    t = time.gmtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def date_header() -> bytes:
    """The Date header line, formatted once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, b"Date: " + http_date(now).encode("ascii") + CRLF)
    return _date_cache[1]


def head(
    status: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    server: bytes,
    keep_alive: bool,
    http10: bool = False,
) -> bytes:
    """Serialise a status line and header block; `headers` must already carry the framing."""
    lines = [b"HTTP/1.1 ", status, CRLF, date_header()]
    if server:
        lines += [b"Server: ", server, CRLF]
    for name, value in headers:
        lines += [name, b": ", value, CRLF]
    if not keep_alive:
        lines.append(b"Connection: close\r\n")
    elif http10:
        lines.append(b"Connection: keep-alive\r\n")
    lines.append(CRLF)
    return b"".join(lines)


class ResponseFramer:
    """Frames one response: decides Content-Length, chunked or close, and frames the body.

    Shared by the WSGI and ASGI adapters. `length` is the body length when known (declared by
    the application, or because the whole body is at hand); otherwise HTTP/1.1 gets chunked and
    HTTP/1.0 gets a body ended by closing the connection.
    """

    __slots__ = ("_head_only", "_http10", "_length", "_mode", "_sent", "keep_alive", "server")

    def __init__(self, *, http_version: str, head_only: bool, keep_alive: bool, server: bytes):
        self._http10 = http_version == "1.0"
        self._head_only = head_only
        self.keep_alive = keep_alive
        self.server = server
        self._mode = ""  # "length", "chunked", "close" or "none" once the head is made
        self._length: int | None = None
        self._sent = 0

    @classmethod
    def for_request(cls, request: Request, server: ServerInfo) -> ResponseFramer:
        """The framer for an answer to `request` from `server`."""
        return cls(
            http_version=request.http_version,
            head_only=request.method == "HEAD",
            keep_alive=request.keep_alive and server.keep_alive,
            server=server.software_bytes,
        )

    @property
    def started(self) -> bool:
        return bool(self._mode)

    def head(
        self,
        status: bytes,
        status_code: int,
        headers: list[tuple[bytes, bytes]],
        length: int | None,
        has_length_header: bool = False,
        has_server_header: bool = False,
    ) -> bytes:
        """The head, with the framing headers that `length` and the version call for."""
        if status_code in NO_BODY_STATUSES:
            self._mode = "none"
        elif length is not None:
            self._mode, self._length = "length", length
            if not has_length_header:
                headers = [*headers, (b"Content-Length", b"%d" % length)]
        elif not self._http10:
            self._mode = "chunked"
            headers = [*headers, (b"Transfer-Encoding", b"chunked")]
        else:
            self._mode = "close"
            self.keep_alive = False
        return head(
            status,
            headers,
            server=b"" if has_server_header else self.server,
            keep_alive=self.keep_alive,
            http10=self._http10,
        )

    def body(self, data: bytes) -> bytes:
        """Body bytes as they go on the wire (nothing for HEAD and bodiless statuses)."""
        if self._mode == "length" and self._length is not None:
            room = self._length - self._sent
            if len(data) > room:
                data = data[:room]  # more than declared: send what was promised, then close
                self.keep_alive = False
        elif self._mode == "none":
            return b""
        self._sent += len(data)
        if self._head_only or not data:
            return b""
        if self._mode == "chunked":
            return chunk(data)
        return data

    def end(self) -> bytes:
        """What ends the body: the last chunk, or nothing."""
        if self._mode == "chunked":
            return b"" if self._head_only else LAST_CHUNK
        if self._mode == "length" and self._sent < (self._length or 0) and not self._head_only:
            self.keep_alive = False  # fewer bytes than declared: only a close can say so
        return b""


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def error_response(status: int, reason: str = "", *, server: bytes = b"") -> bytes:
    """A complete plain-text error answer; the connection closes after it."""
    phrase = HTTPStatus(status).phrase
    body = f"{status} {phrase}: {reason}\n" if reason else f"{status} {phrase}\n"
    payload = body.encode("utf-8")
    headers = [
        (b"Content-Type", b"text/plain; charset=utf-8"),
        (b"Content-Length", b"%d" % len(payload)),
    ]
    status_line = f"{status} {phrase}".encode("latin-1")
    return head(status_line, headers, server=server, keep_alive=False) + payload
