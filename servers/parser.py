"""Sans-IO request parsing: bytes in, request events out, no socket in sight.

Every model feeds the bytes it reads into a `RequestParser` and gets back complete requests (or
an error to answer), so the models differ in concurrency alone. Parsing is done by httptools
(llhttp, the parser uvicorn uses); this module adds what a server needs around it: limits on
the request line, headers and body, buffering of the body, and errors as HTTP statuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import httptools


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one client from taking the server's memory."""

    max_target_bytes: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    max_body_bytes: int = 10 * 1024 * 1024


class ProtocolError(Exception):
    """A request that cannot be served: answered with `status`, then the connection closes."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class ExpectContinue:
    """Event: the client waits for `100 Continue` before it sends the body."""

    data = b"HTTP/1.1 100 Continue\r\n\r\n"


EXPECT_CONTINUE = ExpectContinue()


@dataclass(slots=True)
class Request:
    """One complete request, body included."""

    method: str
    target: bytes
    path: bytes  # still percent-encoded
    query: bytes
    http_version: str  # "1.0" or "1.1"
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    keep_alive: bool = True


Event = Request | ExpectContinue | ProtocolError


class RequestParser:
    """Turns a connection's byte stream into `Request` events.

    `feed()` accepts any split of the stream (one byte at a time, or several pipelined requests
    in one read) and returns the events it completed, in order. A `ProtocolError` is always the
    last event: after it the stream cannot be trusted and the connection must close.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._parser = httptools.HttpRequestParser(self)
        self._events: list[Event] = []
        self._failed = False
        self._in_headers = False  # from a request's first byte to its blank line
        self._in_body = False  # from the blank line to the end of the body
        self._begun = 0  # requests begun, to tell whether a read stayed inside one header block
        self._header_bytes = 0  # size of the current header block, as far as it is known
        self._reset_message()

    def _reset_message(self) -> None:
        self._target = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0

    @property
    def in_request(self) -> bool:
        """True between the first byte of a request and its end."""
        return self._in_headers or self._in_body

    def feed(self, data: bytes) -> list[Event]:
        """Parse `data`; return the events it completed (maybe none: more bytes are needed)."""
        if self._failed:
            return []
        inside_headers, begun = self._in_headers, self._begun
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._on_upgrade()
        except httptools.HttpParserCallbackError as exc:
            self._fail(_callback_error(exc))
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(400, f"malformed request: {_parser_message(exc)}"))
        else:
            # httptools holds an unfinished header line in memory without telling us, so a read
            # that began and ended inside one header block counts whole against the limit.
            if inside_headers and self._in_headers and begun == self._begun:
                try:
                    self._count_header_bytes(len(data))
                except ProtocolError as error:
                    self._fail(error)
        events, self._events = self._events, []
        return events

    def feed_eof(self) -> list[Event]:
        """The client closed its side: a request cut short is an error, nothing else is."""
        if self._failed or not self.in_request:
            return []
        self._failed = True
        return [ProtocolError(400, "connection closed in the middle of a request")]

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_header_bytes:
            raise ProtocolError(431, "request header fields too large")

    def _fail(self, error: ProtocolError) -> None:
        self._failed = True
        self._events.append(error)

    def _on_upgrade(self) -> None:
        # llhttp stops at an Upgrade or CONNECT. Serve the request as plain HTTP (we speak no
        # other protocol) and close afterwards, since the bytes after it are not HTTP/1.1.
        done = [event for event in self._events if isinstance(event, Request)]
        if done and not self._in_body:
            done[-1].keep_alive = False
            self._failed = True
        else:
            self._fail(ProtocolError(400, "protocol upgrade or CONNECT is not supported"))

    # httptools callbacks ------------------------------------------------------------------

    # No on_message_begin: one callback fewer per request; a request begins with its target.

    def on_url(self, url: bytes) -> None:
        if not self._in_headers:  # the first piece of a new request's target
            self._begun += 1
            self._in_headers = True
            self._header_bytes = 0
        target = self._target = self._target + url if self._target else url
        self._header_bytes += len(url)
        if len(target) > self.limits.max_target_bytes:
            raise ProtocolError(414, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        headers.append((name, value))
        self._count_header_bytes(len(name) + len(value) + 4)
        if len(headers) > self.limits.max_headers:
            raise ProtocolError(431, "too many request header fields")

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._in_body = True
        declared = None
        expect_continue = False
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"content-length":
                declared = int(value)  # llhttp has already checked that it is a number
            elif lowered == b"expect" and value.lower() == b"100-continue":
                expect_continue = True
        if declared is not None and declared > self.limits.max_body_bytes:
            raise ProtocolError(413, f"request body over {self.limits.max_body_bytes} bytes")
        if expect_continue and declared != 0 and self._parser.get_http_version() == "1.1":
            self._events.append(EXPECT_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self.limits.max_body_bytes:
            raise ProtocolError(413, f"request body over {self.limits.max_body_bytes} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_body = False
        parser = self._parser
        target = self._target
        if target[:1] == b"/" and b"#" not in target:  # origin-form, the usual case
            path, _, query = target.partition(b"?")
        else:
            try:
                url = httptools.parse_url(target)
            except httptools.HttpParserInvalidURLError:
                raise ProtocolError(400, "malformed request target") from None
            path, query = url.path or b"/", url.query or b""
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method) or raw_method.decode("ascii")
        body = self._body
        self._events.append(
            Request(
                method,
                target,
                path,
                query,
                parser.get_http_version(),
                self._headers,
                (body[0] if len(body) == 1 else b"".join(body)) if body else b"",
                parser.should_keep_alive(),
            )
        )
        self._reset_message()  # ready for the next request on the connection


_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")}


def _callback_error(exc: Exception) -> ProtocolError:
    """A limit raised inside a callback reaches us wrapped by httptools."""
    cause = exc.__context__
    if isinstance(cause, ProtocolError):
        return cause
    return ProtocolError(400, f"malformed request: {cause or exc}")


def _parser_message(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__
