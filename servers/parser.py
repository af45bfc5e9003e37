"""Sans-IO request parsing: bytes in, request events out, no socket in sight.

Every model feeds the bytes it reads into a `RequestParser` and gets back complete requests (or
an error to answer), so the models differ in concurrency alone. Parsing is done by httptools
(llhttp, the parser uvicorn uses); this module adds what a server needs around it: limits on
the request line, headers and body, buffering of the body, and errors as HTTP statuses.

llhttp already refuses most smuggling shapes (Content-Length with Transfer-Encoding, duplicate
Content-Length, bad chunk sizes, line folding, bare CR or LF, whitespace before the colon,
control bytes). What it lets through and RFC 9110/9112 forbid is refused here, once for every
model: a major HTTP version other than 1 (505; a later HTTP/1 minor version is read as 1.1),
Transfer-Encoding in HTTP/1.0 (400) or with a coding before chunked (501: we decode none), a
missing, repeated or malformed Host (400), a singleton field sent twice (400), a target that is
neither origin-form, absolute-form (whose authority then replaces the Host header, as RFC 9112
§3.2.2 requires) nor `*` for OPTIONS, or that has a fragment (400), CONNECT (501: no tunnels),
and trailer fields, which are dropped instead of being merged into the headers (RFC 9110
§6.5.1). Values reach the application without the whitespace around them (RFC 9110 §5.5), and a
request with Upgrade is served as plain HTTP with its body, then the connection closes.

What llhttp cannot be asked, because it shows no raw line, servers/wire.py judges before llhttp
reads the bytes: the request line's exact shape (one space between its parts, the name HTTP;
400 otherwise) and every chunk-size line (extensions with a name, 16 KiB of them a message at
most). A method that is a well-formed token llhttp does not know is 501 (RFC 9110 §9.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httptools

from servers.wire import ProtocolError, Wire

__all__ = ["EXPECT_CONTINUE", "Event", "ExpectContinue", "Limits", "ProtocolError", "Request"]


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one client from taking the server's memory."""

    max_target_bytes: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    max_body_bytes: int = 10 * 1024 * 1024
    max_chunk_ext_bytes: int = 16 * 1024  # RFC 9112 §7.1.1: all of one message's, together


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
        # llhttp refuses (400) a well-formed version it does not know, 1.2 or 3.0: we judge
        # those ourselves, as RFC 9110 §2.5 and §15.6.6 say (its format stays checked)
        self._parser.set_dangerous_leniencies(lenient_version=True)
        self._events: list[Event] = []
        self._failed = False
        self._in_headers = False  # from a request's first byte to its blank line
        self._in_body = False  # from the blank line to the end of the body
        self._begun = 0  # requests begun, to tell whether a read stayed inside one header block
        self._header_bytes = 0  # size of the current header block, as far as it is known
        self._after_chunk_header = False  # no chunk data yet since the last chunk's size line
        # The current request's version, path, query and header fields, set with its head.
        self._version = ""
        self._path = self._query = b""
        self._head: list[tuple[bytes, bytes]] = []
        self._upgraded: Request | None = None  # a request with Upgrade, waiting for its body
        # where each message begins and ends, and its request and chunk lines (servers/wire.py)
        self._wire = Wire(self.limits.max_target_bytes + 64, self.limits.max_chunk_ext_bytes)
        self._reset_message()

    def _reset_message(self) -> None:
        self._upgrade_body: bytes | None = None  # the framing of a body llhttp will not read
        self._target = b""
        self._headers: list[tuple[bytes, bytes]] = []  # the fields being parsed
        self._body: list[bytes] = []
        self._body_size = 0

    @property
    def in_request(self) -> bool:
        """True between the first byte of a request and its end."""
        return self._in_headers or self._in_body or self._wire.holding

    def feed(self, data: bytes) -> list[Event]:
        """Parse `data`; return the events it completed (maybe none: more bytes are needed)."""
        pos, size, wire = 0, len(data), self._wire
        while pos < size and not self._failed:
            try:
                piece, pos = wire.cut(data, pos)
            except ProtocolError as error:
                self._fail(error)
                break
            if piece:
                self._execute(piece)
        events, self._events = self._events, []
        return events

    def _execute(self, data: bytes) -> None:
        """Hand llhttp one piece of the stream (never more than the rest of one section)."""
        inside_headers, begun = self._in_headers, self._begun
        inside_trailers = self._after_chunk_header
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._on_upgrade(data[upgrade.args[0] :])
        except httptools.HttpParserCallbackError as exc:
            self._fail(_callback_error(exc))
        except httptools.HttpParserError as exc:
            self._fail(_parser_error(exc))
        else:
            # httptools holds an unfinished header line in memory without telling us, so a read
            # that began and ended inside one header block counts whole against the limit. So
            # does one inside the trailer section (after the last chunk's size line: a read
            # there with data in it and no chunk data can only be trailer fields).
            if begun == self._begun and (
                (inside_headers and self._in_headers)
                or (inside_trailers and self._after_chunk_header)
            ):
                try:
                    self._count_header_bytes(len(data))
                except ProtocolError as error:
                    self._fail(error)

    def feed_eof(self) -> list[Event]:
        """The client closed its side: a request cut short is an error, nothing else is."""
        if self._failed or not self.in_request:
            return []
        self._failed = True
        return [ProtocolError(400, "connection closed in the middle of a request")]

    def _read_upgrade_body(self, framing: bytes, rest: bytes) -> None:
        """Read the body llhttp skipped with a parser of its own, told the same framing."""
        reader = _UpgradeBody(self)
        self._parser = httptools.HttpRequestParser(reader)
        try:
            self._parser.feed_data(b"POST / HTTP/1.1\r\n" + framing + b"\r\n\r\n")
            reader.primed = True
            self._parser.feed_data(rest)
        except httptools.HttpParserCallbackError as exc:
            self._fail(_callback_error(exc))
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(400, f"malformed request: {_parser_message(exc)}"))

    def _upgrade_body_complete(self) -> None:
        request, self._upgraded = self._upgraded, None
        if request is not None:
            body = self._body
            request.body = b"".join(body)
            request.keep_alive = False
            self._events.append(request)
        self._failed = True
        self._in_body = False
        raise _Done  # stop llhttp: nothing after this request is read

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_header_bytes:
            raise ProtocolError(431, "request header fields too large")

    def _fail(self, error: ProtocolError) -> None:
        if self._failed:  # the stream ended already: what llhttp says of the rest is moot
            return
        self._failed = True
        self._events.append(error)

    def _on_upgrade(self, rest: bytes) -> None:
        # llhttp stops after the head of a request with Upgrade (RFC 9110 §7.8), skipping its
        # body. We speak no other protocol, so we ignore the Upgrade and serve the request as
        # plain HTTP, body included, then close: the safer reading of what may follow it.
        if self._upgrade_body is not None:
            self._read_upgrade_body(self._upgrade_body, rest)
            return
        done = [event for event in self._events if isinstance(event, Request)]
        if done and not self._in_body:
            done[-1].keep_alive = False
            self._failed = True
        else:
            self._fail(ProtocolError(400, "protocol upgrade or CONNECT is not supported"))

    # httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        # The request's first byte (of its method): from here on a slow client gets a 408.
        self._begun += 1
        self._in_headers = True
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        target = self._target = self._target + url if self._target else url
        self._header_bytes += len(url)
        if len(target) > self.limits.max_target_bytes:
            raise ProtocolError(414, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp strips the whitespace before a value, not after it: RFC 9110 §5.5 says neither
        # is part of the value, so the application must not see it (nor Host's check trip on it).
        if value[-1:] in _OWS:
            value = value.rstrip(b" \t")
        headers = self._headers
        headers.append((name, value))
        self._count_header_bytes(len(name) + len(value) + 4)
        if len(headers) > self.limits.max_headers:
            raise ProtocolError(431, "too many request header fields")

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._in_body = True
        version = self._version = self._parser.get_http_version()
        if version != "1.1" and version != "1.0":
            if version[:2] != "1." or version == "1.":
                raise ProtocolError(505, f"HTTP/{version} is not supported")
            # RFC 9110 §2.5: a later minor version of HTTP/1 is processed as the latest we know
            version = self._version = "1.1"
        declared = None
        expect_continue = False
        host = None
        codings = b""
        seen: set[bytes] = set()  # the singleton fields met so far
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"host":
                if host is not None:
                    raise ProtocolError(400, "more than one Host header")
                host = value
            elif lowered == b"content-length":
                declared = int(value)  # llhttp has already checked that it is a number
            elif lowered == b"transfer-encoding":
                codings += b"," + value
            elif lowered == b"expect" and value.lower() == b"100-continue":
                expect_continue = True
            elif lowered in _SINGLETONS:
                if lowered in seen:
                    raise ProtocolError(400, f"more than one {name.decode('latin-1')} field")
                seen.add(lowered)
        if host is None:
            if version == "1.1":
                raise ProtocolError(400, "an HTTP/1.1 request needs a Host header")
        elif host not in _VALID_HOSTS:  # a client sends the same Host again and again
            if host.translate(None, _HOST_BYTES):
                raise ProtocolError(400, "malformed Host header")
            if len(_VALID_HOSTS) < 1024:  # bounded: endless new names cannot grow it
                _VALID_HOSTS.add(host)
        if codings:
            _check_transfer_codings(codings, version)
            # Trailer fields come after the body: RFC 9110 §6.5.1 forbids merging them into the
            # header fields, so they are parsed (and limited) into a list of their own, unused.
            self._head, self._headers = self._headers, []
        else:
            self._head = self._headers
        target = self._target
        if target[:1] == b"/" and b"#" not in target:  # origin-form, the usual case
            self._path, _, self._query = target.partition(b"?")
        else:
            self._split_other_target(target)
        if declared is not None and declared > self.limits.max_body_bytes:
            raise ProtocolError(413, f"request body over {self.limits.max_body_bytes} bytes")
        if (declared or codings) and self._parser.should_upgrade():
            # llhttp will skip the body of a request with Upgrade: say how to read it ourselves
            chunked = b"Transfer-Encoding: chunked"
            self._upgrade_body = chunked if codings else b"Content-Length: %d" % (declared or 0)
        if expect_continue and declared != 0 and version == "1.1":
            self._events.append(EXPECT_CONTINUE)
        self._wire.framing(declared, bool(codings))

    def _split_other_target(self, target: bytes) -> None:
        """Path and query from a target not in plain origin-form (RFC 9112 §3.2), or 400."""
        if self._parser.get_method() == b"CONNECT":
            raise _refuse_connect(target)
        if target == b"*":  # asterisk-form: the server as a whole, for OPTIONS only
            if self._parser.get_method() != b"OPTIONS":
                raise ProtocolError(400, "the * target is for OPTIONS only")
            self._path = target
            return
        if b"#" in target:  # RFC 9112 §3.2: no form of request-target has a fragment
            raise ProtocolError(400, "a request target has no fragment")
        try:
            url = httptools.parse_url(target)
        except httptools.HttpParserInvalidURLError:
            raise ProtocolError(400, "malformed request target") from None
        if url.schema is not None:  # absolute-form: its authority, not Host, names the host
            absolute = _ABSOLUTE.match(target)
            if absolute is None or absolute[1].translate(None, _HOST_BYTES):
                raise ProtocolError(400, "absolute target without a valid http(s) authority")
            headers = self._head
            headers[:] = [(name, value) for name, value in headers if name.lower() != b"host"]
            headers.append((b"Host", absolute[1]))
        elif target[:1] != b"/":  # neither origin-form nor any other form
            raise ProtocolError(400, "malformed request target")
        self._path, self._query = url.path or b"/", url.query or b""

    def on_chunk_header(self) -> None:
        self._after_chunk_header = True

    def on_chunk_complete(self) -> None:
        self._after_chunk_header = False

    def on_body(self, body: bytes) -> None:
        self._after_chunk_header = False
        self._body_size += len(body)
        if self._body_size > self.limits.max_body_bytes:
            raise ProtocolError(413, f"request body over {self.limits.max_body_bytes} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_body = False
        parser = self._parser
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method) or _other_method(raw_method, self._target)
        body = self._body
        keep_alive = parser.should_keep_alive()
        if keep_alive and self._version == "1.0":  # llhttp lets keep-alive win over close
            keep_alive = not _asks_to_close(self._head)
        request = Request(
            method,
            self._target,
            self._path,
            self._query,
            self._version,
            self._head,
            (body[0] if len(body) == 1 else b"".join(body)) if body else b"",
            keep_alive,
        )
        if self._upgrade_body is not None:  # llhttp skipped the body: it is read next
            self._upgraded = request
            self._in_body = True
            return
        self._events.append(request)
        self._reset_message()  # ready for the next request on the connection


class _Done(Exception):
    """Raised from a callback to stop llhttp after the last request a connection will serve."""


class _UpgradeBody:
    """llhttp's callbacks while it reads the body of a request with Upgrade, which it skipped:
    the body and chunk events go to the core, trailer fields are counted and dropped."""

    def __init__(self, core: RequestParser) -> None:
        self.core = core
        self.primed = False  # past the stand-in head that told llhttp the framing

    def on_body(self, body: bytes) -> None:
        self.core.on_body(body)

    def on_chunk_header(self) -> None:
        self.core.on_chunk_header()

    def on_chunk_complete(self) -> None:
        self.core.on_chunk_complete()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.primed:
            self.core._count_header_bytes(len(name) + len(value) + 4)

    def on_message_complete(self) -> None:
        self.core._upgrade_body_complete()


# Fields defined with one value (RFC 9110 §5.3): sent twice, they have none (the application
# would get them joined by a comma, a value nobody sent), so the request is refused. Host and
# Content-Length have checks of their own.
_SINGLETONS = frozenset(
    {
        b"authorization",
        b"content-location",
        b"content-range",
        b"content-type",
        b"from",
        b"if-modified-since",
        b"if-range",
        b"if-unmodified-since",
        b"max-forwards",
        b"proxy-authorization",
        b"range",
        b"referer",
        b"user-agent",
    }
)
_OWS = (b" ", b"\t")  # a value's last byte, compared whole (a tuple, not a substring test)
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")}

# The bytes of uri-host [":" port] (RFC 3986 §3.2.2): reg-name, IPv4 and bracketed IPv6
# addresses. A Host value with any other byte (space, "/", "@", controls) is refused.
_HOST_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=%:[]"
_VALID_HOSTS: set[bytes] = set()
# The authority of an absolute-form target; userinfo ("user@") is refused by _HOST_BYTES.
_ABSOLUTE = re.compile(rb"(?i:https?)://([^/?#]+)")


def _check_transfer_codings(joined: bytes, version: str) -> None:
    """Only `chunked` frames a body we can read (RFC 9112 §6.1, §6.3); anything else is refused.

    After chunked, nothing: llhttp refuses that already, and so do we (400: the body's length
    cannot be known). Before chunked, a coding we do not decode (501, as §6.1 advises: the
    framing is sound, the content is not something we can hand to the application).
    """
    if version == "1.0":  # §6.1: the framing of an HTTP/1.0 message with it is faulty
        raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
    codings = [coding.strip().lower() for coding in joined.split(b",")]
    codings = [coding for coding in codings if coding]
    if not codings or codings[-1] != b"chunked":
        raise ProtocolError(400, "chunked must be the final transfer coding")
    if len(codings) > 1:
        unknown = b", ".join(codings[:-1]).decode("latin-1")
        raise ProtocolError(501, f"transfer coding {unknown} is not implemented")


def _asks_to_close(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a Connection field lists close (RFC 9112 §9.6: then the connection ends after
    this request, whatever else the list says, keep-alive included)."""
    return any(
        name.lower() == b"connection"
        and b"close" in (option.strip().lower() for option in value.split(b","))
        for name, value in headers
    )


def _other_method(raw_method: bytes, target: bytes) -> str:
    """A method other than the usual seven, which reaches the application, but for CONNECT."""
    if raw_method == b"CONNECT":  # in origin-form: other targets never get this far
        raise _refuse_connect(target)
    return raw_method.decode("ascii")


def _refuse_connect(target: bytes) -> ProtocolError:
    """CONNECT asks for a tunnel, which an origin server does not implement, and never reaches
    the application. llhttp reads no body after it (it takes CONNECT for a protocol switch), so
    the connection closes: 501 for a well-formed one (authority-form, RFC 9112 §3.2.3), as RFC
    9110 §9.1 advises for a method the server does not implement, else 400."""
    host, colon, port = target.rpartition(b":")
    if colon and port.isdigit() and host and not host.translate(None, _HOST_BYTES):
        return ProtocolError(501, "CONNECT is not implemented: this is no proxy")
    return ProtocolError(400, "a CONNECT target is host:port (authority-form)")


def _callback_error(exc: Exception) -> ProtocolError:
    """A limit raised inside a callback reaches us wrapped by httptools."""
    cause = exc.__context__
    if isinstance(cause, ProtocolError):
        return cause
    return ProtocolError(400, f"malformed request: {cause or exc}")


def _parser_error(exc: Exception) -> ProtocolError:
    """What llhttp refused: a malformed request (400), or the HTTP/2 connection preface, which
    is HTTP/2.0's request line (505, as any other major version we do not speak: RFC 9110
    §15.6.6)."""
    message = _parser_message(exc)
    if message.startswith("Pause on PRI"):
        return ProtocolError(505, "HTTP/2.0 is not supported")
    if isinstance(exc, httptools.HttpParserInvalidMethodError) or message.startswith(
        "Invalid method for"
    ):  # the request line is well formed (servers/wire.py): its method is a token we lack
        return ProtocolError(501, "method not implemented")
    return ProtocolError(400, f"malformed request: {message}")


def _parser_message(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__
