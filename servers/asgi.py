"""Sans-IO ASGI 3 (http scope): a parsed request in, the application's messages out as bytes.

The asyncio model owns the event loop and the transport; this module only builds the scope and
turns `http.response.start` / `http.response.body` messages into bytes, framed by the same
`ResponseFramer` as WSGI responses.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from servers.options import ServerInfo
from servers.parser import Request
from servers.response import HOP_BY_HOP, ResponseFramer

ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}
STATUS_LINES = {
    status.value: b"%d %s" % (status.value, status.phrase.encode()) for status in HTTPStatus
}
_HOP_BY_HOP = frozenset(name.encode() for name in HOP_BY_HOP)


def build_scope(
    request: Request, server: ServerInfo, peer: tuple[str, int], state: dict[str, Any] | None
) -> dict[str, Any]:
    """The http connection scope of one request."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": ASGI_VERSION,
        "http_version": request.http_version,
        "server": (server.name, server.port),
        "client": peer,
        "scheme": "http",
        "method": request.method,
        "root_path": "",
        "path": unquote(path) if "%" in (path := request.path.decode("latin-1")) else path,
        "raw_path": request.path,
        "query_string": request.query,
        "headers": [(name.lower(), value) for name, value in request.headers],
    }
    if state is not None:
        scope["state"] = state.copy()  # lifespan state, shallow-copied per request (the spec)
    return scope


class ASGIResponse:
    """Turns one request's `send()` messages into bytes; raises on messages out of order."""

    __slots__ = ("_headers", "_status", "complete", "framer", "status_code")

    def __init__(self, request: Request, server: ServerInfo) -> None:
        self.framer = ResponseFramer.for_request(request, server)
        self.status_code = 0
        self._status = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self.complete = False

    @property
    def started(self) -> bool:
        return self.status_code != 0

    def message(self, message: dict[str, Any]) -> bytes:
        """The bytes to write for one message sent by the application."""
        kind = message["type"]
        if kind == "http.response.body":
            if not self.status_code:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.complete:
                raise RuntimeError("http.response.body sent after the response was complete")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            framer = self.framer
            out = framer.body(body) if framer.started else self._head(body, more)
            if not more:
                self.complete = True
                out += framer.end()
            return out
        if kind == "http.response.start":
            if self.status_code:
                raise RuntimeError("http.response.start sent twice")
            status = int(message["status"])
            self._status = STATUS_LINES.get(status) or b"%d " % status
            self._headers = list(message.get("headers", ()))
            self.status_code = status
            return b""
        raise RuntimeError(f"unexpected ASGI message type {kind!r}")

    def _head(self, body: bytes, more: bool) -> bytes:
        length: int | None = None
        has_length = has_server = False
        headers = []
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length, has_length = int(value), True
            elif lowered in _HOP_BY_HOP:
                if lowered == b"connection" and b"close" in value.lower():
                    self.framer.keep_alive = False
                continue
            elif lowered == b"server":
                has_server = True
            headers.append((name, value))
        if length is None and not more:
            length = len(body)  # the whole body came in one message: its length is known
        head = self.framer.head(
            self._status,
            self.status_code,
            headers,
            length,
            has_length_header=has_length,
            has_server_header=has_server,
        )
        return head + self.framer.body(body)
