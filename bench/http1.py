"""Reading HTTP/1.x responses from a byte stream, sans-IO, with httptools (llhttp).

Bytes in (`feed`, and `eof` when the peer closed), whole responses out, in order: status, body,
whether the connection may carry another request. Framing by Content-Length, chunked, or the end of
the connection (a response with neither header ends when the server closes).
"""

from __future__ import annotations

from dataclasses import dataclass

import httptools


class MalformedResponse(ValueError):
    """Not an HTTP/1.x response that llhttp accepts."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    keep_alive: bool  # the connection may carry another request


class ResponseReader:
    """One connection's responses, one after another (keep-alive)."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._framed = False  # Content-Length or Transfer-Encoding: not delimited by the close
        self._head_done = False
        self._status = 0
        self._keep_alive = False
        self._complete: list[Response] = []

    # httptools' callbacks
    def on_message_begin(self) -> None:
        self._body = []
        self._framed = self._head_done = False

    def on_header(self, name: bytes, _value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"content-length" or lowered == b"transfer-encoding":
            self._framed = True

    def on_headers_complete(self) -> None:
        self._head_done = True
        self._status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._complete.append(Response(self._status, b"".join(self._body), self._keep_alive))
        self._head_done = False

    # the reader
    def feed(self, data: bytes) -> list[Response]:
        """The responses that `data` completes, in order (often none, or one); MalformedResponse
        on bytes that are not HTTP."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise MalformedResponse(str(exc) or type(exc).__name__) from None
        complete, self._complete = self._complete, []
        return complete

    def eof(self) -> Response | None:
        """The peer closed: the response if the close completes it (a body delimited by the end
        of the connection), else None (it closed before a whole response, or between two)."""
        if self._head_done and not self._framed:
            self._head_done = False
            return Response(self._status, b"".join(self._body), False)
        return None


def request_bytes(host: str, path: str, close: bool = False) -> bytes:
    """A GET, byte for byte; `close` asks the server to close after its answer."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "User-Agent: bench"]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
