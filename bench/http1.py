"""The project's one HTTP/1.x client side: requests built byte for byte, and responses read by
a sans-IO reader on httptools (llhttp).

Bytes in (`feed`, and `eof` when the peer closed), whole responses out, in order: status, body,
whether the connection may carry another request, headers and version. Framing by
Content-Length, chunked, or the end of the connection (a response with neither header ends when
the server closes). The load generator's raw user, the scenarios' clients, the hostile probe,
the micro-benchmarks and the tests all read responses here; `read_response`, `read_responses`
and `parse_responses` wrap the reader for a blocking socket and for bytes already received.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import httptools

RECEIVE_BYTES = 65536  # what the blocking helpers ask of one recv()


class MalformedResponse(ValueError):
    """Not an HTTP/1.x response that llhttp accepts."""


class IncompleteResponse(ConnectionError):
    """The server closed the connection before a whole response."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    keep_alive: bool  # the connection may carry another request
    headers: tuple[tuple[bytes, bytes], ...] = ()  # as sent, in order
    version: str = "1.1"

    def header(self, name: str) -> str | None:
        """The value of the header `name` (any case), None when absent; a repeated header's
        values joined by ", " (RFC 9110 §5.3)."""
        wanted = name.lower().encode("latin-1")
        values = [value for key, value in self.headers if key.lower() == wanted]
        return b", ".join(values).decode("latin-1") if values else None


class ResponseReader:
    """One connection's responses, one after another (keep-alive).

    `head=True`: the responses answer HEAD requests, so each ends with its head whatever its
    Content-Length says (RFC 9110 §9.3.2); their keep_alive is llhttp's reading of the head,
    False for one with neither Content-Length nor Transfer-Encoding.
    """

    def __init__(self, *, head: bool = False) -> None:
        self._answers_head = head
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._framed = False  # Content-Length or Transfer-Encoding: not delimited by the close
        self._begun = False  # a response's first byte came, and not yet its end
        self._head_done = False
        self._status = 0
        self._keep_alive = False
        self._version = ""
        self._complete: list[Response] = []

    # httptools' callbacks
    def on_message_begin(self) -> None:
        self._body = []
        self._headers = []
        self._framed = self._head_done = False
        self._begun = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or lowered == b"transfer-encoding":
            self._framed = True

    def on_headers_complete(self) -> None:
        self._head_done = True
        self._status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()
        self._version = self._parser.get_http_version()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self._answers_head:  # an answer to HEAD was complete with its head
            self._complete.append(self._response(self._keep_alive))

    def _response(self, keep_alive: bool) -> Response:
        self._head_done = self._begun = False
        body = b"".join(self._body)
        return Response(self._status, body, keep_alive, tuple(self._headers), self._version)

    # the reader
    def feed(self, data: bytes) -> list[Response]:
        """The responses that `data` completes, in order (often none, or one); MalformedResponse
        on bytes that are not HTTP."""
        if self._answers_head:
            return self._feed_heads(data)
        self._parse(data)
        complete, self._complete = self._complete, []
        return complete

    def _parse(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise MalformedResponse(str(exc) or type(exc).__name__) from None

    def _feed_heads(self, data: bytes) -> list[Response]:
        """Answers to HEAD, fed a byte at a time: llhttp cannot be told to skip a body, and
        httptools does not say where a head ended, so the next response starts on a new parser
        right after the byte that ended this one's head."""
        complete = []
        for index in range(len(data)):
            self._parse(data[index : index + 1])
            if self._head_done:
                complete.append(self._response(self._keep_alive))
                self._parser = httptools.HttpResponseParser(self)
        return complete

    @property
    def partial(self) -> bool:
        """Part of a response has come, not all of it."""
        return self._begun

    @property
    def partial_status(self) -> int | None:
        """The status of the response under way once its three digits came (a server may close
        or reset before the rest), else None."""
        status = self._parser.get_status_code() if self._begun else 0
        return status if status >= 100 else None

    def eof(self) -> Response | None:
        """The peer closed: the response if the close completes it (a body delimited by the end
        of the connection), else None (it closed before a whole response, or between two)."""
        if self._head_done and not self._framed:
            return self._response(False)
        return None

    def receive(self, data: bytes) -> list[Response]:
        """`data` from recv() by a client waiting for a response: the responses it completes,
        where b"" is the server's close, which must complete one (else IncompleteResponse)."""
        if data:
            return self.feed(data)
        response = self.eof()
        if response is None:
            raise IncompleteResponse("closed before a whole response")
        return [response]


def read_responses(
    sock: socket.socket, count: int, reader: ResponseReader | None = None
) -> list[Response]:
    """The next `count` responses on blocking `sock`, without waiting for the server to close
    (pass the connection's reader to keep reading it later); IncompleteResponse when it closes
    before them, MalformedResponse when it sends more (a response no request asked for)."""
    reader = reader or ResponseReader()
    responses: list[Response] = []
    while len(responses) < count:
        responses += reader.receive(sock.recv(RECEIVE_BYTES))
    if len(responses) > count:
        raise MalformedResponse(f"{len(responses)} responses where {count} were due")
    return responses


def read_response(sock: socket.socket, reader: ResponseReader | None = None) -> Response:
    """The next response on blocking `sock` (see read_responses)."""
    [response] = read_responses(sock, 1, reader)
    return response


def parse_responses(data: bytes, *, head: bool = False) -> list[Response]:
    """Every response in `data`, all a server sent before it closed; IncompleteResponse when
    `data` ends inside one, MalformedResponse on bytes that are not HTTP. `head`: they answer
    HEAD requests."""
    reader = ResponseReader(head=head)
    responses = reader.feed(data)
    last = reader.eof()
    if last is not None:
        responses.append(last)
    elif reader.partial:
        raise IncompleteResponse(f"closed inside response {len(responses) + 1}")
    return responses


def parse_response(data: bytes, *, head: bool = False) -> Response:
    """The one response that `data` holds (see parse_responses); MalformedResponse when it holds
    none or more than one."""
    responses = parse_responses(data, head=head)
    if len(responses) != 1:
        raise MalformedResponse(f"{len(responses)} responses where one was due")
    return responses[0]


def request_bytes(
    host: str = "127.0.0.1",
    path: str = "/hello/",
    *,
    close: bool = False,
    padding: int = 0,
) -> bytes:
    """A GET, byte for byte; `close` asks the server to close after its answer, `padding`
    lengthens the header block by that many bytes (a slow client's request that must outlast
    the measurement)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "User-Agent: bench"]
    if close:
        lines.append("Connection: close")
    if padding:
        lines.append("X-Padding: " + "x" * padding)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
