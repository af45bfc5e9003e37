"""Hostile requests, one definition for the tests (tests/test_hostile_requests.py) and for the
comparison with gunicorn and uvicorn (`python -m bench hostile`, servers/HOSTILE.md).

Each case is the bytes a hostile or broken client sends, the answer our servers must give (they
share one protocol core, so every model gives the same one), and the rule behind it. `probe()`
sends a case over a fresh loopback connection and says what came back: a status, whether the
connection was closed after it, or that nothing came within a bound.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass

from bench.http1 import MalformedResponse, Response, ResponseReader

# Our servers run with this --header-timeout when probed, so the slow cases end quickly.
HEADER_TIMEOUT = 1.0


@dataclass(frozen=True)
class Case:
    """One hostile request and what our servers answer to it."""

    name: str
    pieces: tuple[bytes, ...]  # sent in order, `pause` seconds apart
    status: int  # our answer
    rule: str  # why that is the right answer
    pause: float = 0.0
    served: bool = False  # the request reaches the application, whose answer `status` is

    @property
    def refused(self) -> bool:
        """Refused by the protocol core (which then closes the connection)."""
        return not self.served

    @property
    def slow(self) -> bool:
        """A case that takes at least --header-timeout to answer."""
        return self.pause > 0

    @property
    def closes(self) -> bool:
        """Whether our servers close the connection after answering."""
        return self.refused or b"Connection: close" in b"".join(self.pieces)


def _request(*lines: bytes, body: bytes = b"", start: bytes = b"POST /hello/ HTTP/1.1") -> bytes:
    return b"\r\n".join([start, *lines]) + b"\r\n\r\n" + body


def _case(name: str, data: bytes, status: int, rule: str) -> Case:
    """A case the protocol core refuses with `status`."""
    return Case(name, (data,), status, rule)


def _served(name: str, data: bytes, status: int, rule: str) -> Case:
    """A case the core lets through: the application answers `status`."""
    return Case(name, (data,), status, rule, served=True)


HOST = b"Host: 127.0.0.1"
CHUNKED = b"Transfer-Encoding: chunked"
CLOSE = b"Connection: close"
LAST_CHUNK = b"0\r\n\r\n"

CASES: tuple[Case, ...] = (
    # request smuggling: two framings, or one that two parsers could read differently
    _case(
        "Content-Length and Transfer-Encoding",
        _request(HOST, b"Content-Length: 5", CHUNKED, body=LAST_CHUNK),
        400,
        "RFC 9112 §6.3: a request with both may be refused, and is the classic smuggling shape",
    ),
    _case(
        "Transfer-Encoding then Content-Length",
        _request(HOST, CHUNKED, b"Content-Length: 5", body=LAST_CHUNK),
        400,
        "the same, in the other order",
    ),
    _case(
        "two different Content-Length",
        _request(HOST, b"Content-Length: 5", b"Content-Length: 6", body=b"hello!"),
        400,
        "RFC 9112 §6.3: differing lengths make the framing invalid",
    ),
    _case(
        "two equal Content-Length",
        _request(HOST, b"Content-Length: 5", b"Content-Length: 5", body=b"hello"),
        400,
        "RFC 9112 §6.3 allows either refusing or merging; llhttp refuses",
    ),
    _case(
        'Content-Length "5, 5"',
        _request(HOST, b"Content-Length: 5, 5", body=b"hello"),
        400,
        "a list where a number is due (refusing is allowed)",
    ),
    _case(
        'Content-Length "+5"',
        _request(HOST, b"Content-Length: +5", body=b"hello"),
        400,
        "Content-Length is 1*DIGIT (RFC 9110 §8.6)",
    ),
    _case(
        "Transfer-Encoding: gzip",
        _request(HOST, b"Transfer-Encoding: gzip", body=b"hello"),
        400,
        "RFC 9112 §6.3: chunked is not the final coding, so the length cannot be known",
    ),
    _case(
        'Transfer-Encoding "chunked, gzip"',
        _request(HOST, b"Transfer-Encoding: chunked, gzip", body=LAST_CHUNK),
        400,
        "RFC 9112 §6.3: chunked must be last",
    ),
    _case(
        'Transfer-Encoding "gzip, chunked"',
        _request(HOST, b"Transfer-Encoding: gzip, chunked", body=LAST_CHUNK),
        501,
        "framing is sound (chunked is last) but gzip is a coding we do not decode: RFC 9112 §6.1",
    ),
    _case(
        "Transfer-Encoding: chunked twice",
        _request(HOST, CHUNKED, CHUNKED, body=LAST_CHUNK),
        400,
        "chunked applied twice (RFC 9112 §7: a sender must not)",
    ),
    _case(
        "Transfer-Encoding in HTTP/1.0",
        _request(HOST, CHUNKED, body=LAST_CHUNK, start=b"POST /hello/ HTTP/1.0"),
        400,
        "RFC 9112 §6.1: an HTTP/1.0 message with it has faulty framing",
    ),
    _case(
        "chunk size not hex",
        _request(HOST, CHUNKED, body=b"zz\r\nhello\r\n" + LAST_CHUNK),
        400,
        "chunk-size is 1*HEXDIG",
    ),
    _case(
        "chunk size overflows 64 bits",
        _request(HOST, CHUNKED, body=b"1" + b"0" * 16 + b"\r\nhello\r\n"),
        400,
        "a size no parser can hold; one that wraps around reads a different body",
    ),
    _case(
        "chunk longer than its size",
        _request(HOST, CHUNKED, body=b"3\r\nhello\r\n" + LAST_CHUNK),
        400,
        "the chunk's data must end with CRLF right after its size",
    ),
    _case(
        "obsolete line folding",
        _request(HOST, b"X-Folded: one", b" two"),
        400,
        "RFC 9112 §5.2: obs-fold may be refused (or replaced); refused",
    ),
    _case(
        "bare LF line ends",
        b"GET /hello/ HTTP/1.1\nHost: 127.0.0.1\n\n",
        400,
        "RFC 9112 §2.2 allows a lenient reading; a strict one leaves no room for disagreement",
    ),
    _case(
        "bare LF in one header line",
        b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1\nX-A: b\r\n\r\n",
        400,
        "the same, inside an otherwise CRLF request",
    ),
    _case(
        "bare CR",
        b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1\rX-A: b\r\n\r\n",
        400,
        "RFC 9112 §2.2: a bare CR must be refused or replaced by SP",
    ),
    _case(
        "whitespace before the colon",
        _request(HOST, b"Content-Length : 5", body=b"hello"),
        400,
        "RFC 9112 §5.1: must be refused with 400",
    ),
    _case(
        "NUL in a header name",
        _request(HOST, b"X-A\x00b: c", start=b"GET /hello/ HTTP/1.1"),
        400,
        "field names are tokens",
    ),
    _case(
        "NUL in a header value",
        _request(HOST, b"X-A: b\x00c", start=b"GET /hello/ HTTP/1.1"),
        400,
        "RFC 9110 §5.5: NUL must be refused or replaced",
    ),
    _case(
        "control byte in a header value",
        _request(HOST, b"X-A: b\x01c", start=b"GET /hello/ HTTP/1.1"),
        400,
        "field values are VCHAR, SP, HTAB and obs-text",
    ),
    # targets and versions
    _served(
        "absolute-form target",
        _request(HOST, CLOSE, start=b"GET http://127.0.0.1/hello/ HTTP/1.1"),
        200,
        "RFC 9112 §3.2.2: a server must accept it",
    ),
    _served(
        "absolute-form naming another host",
        _request(b"Host: 127.0.0.1", CLOSE, start=b"GET http://other.example/hello/ HTTP/1.1"),
        200,
        "RFC 9112 §3.2.2: the target's authority replaces Host (the app sees other.example)",
    ),
    _case(
        "absolute-form, ftp scheme",
        _request(HOST, start=b"GET ftp://127.0.0.1/hello/ HTTP/1.1"),
        400,
        "not an http(s) URI",
    ),
    _case(
        "absolute-form with userinfo",
        _request(HOST, start=b"GET http://user@127.0.0.1/hello/ HTTP/1.1"),
        400,
        "RFC 9110 §4.2.4: userinfo should be treated as an error",
    ),
    _case(
        "GET *",
        _request(HOST, start=b"GET * HTTP/1.1"),
        400,
        "RFC 9112 §3.2.4: the asterisk-form is for OPTIONS only",
    ),
    _served(
        "OPTIONS *",
        _request(HOST, CLOSE, start=b"OPTIONS * HTTP/1.1"),
        404,
        "allowed; the plain app answers 404 for a path it does not know",
    ),
    _case(
        "CONNECT (authority-form)",
        _request(HOST, start=b"CONNECT 127.0.0.1:80 HTTP/1.1"),
        501,
        "we are not a proxy: a method we do not implement (RFC 9110 §9.1)",
    ),
    _case(
        "no Host in HTTP/1.1",
        b"GET /hello/ HTTP/1.1\r\n\r\n",
        400,
        "RFC 9112 §3.2: must be answered 400",
    ),
    _case(
        "two Host headers",
        _request(HOST, b"Host: other.example", start=b"GET /hello/ HTTP/1.1"),
        400,
        "RFC 9112 §3.2: must be answered 400",
    ),
    _case(
        "Host with a space",
        _request(b"Host: a b", start=b"GET /hello/ HTTP/1.1"),
        400,
        "RFC 9112 §3.2: an invalid Host must be answered 400",
    ),
    _case(
        "HTTP/2.0 request line",
        _request(HOST, start=b"GET /hello/ HTTP/2.0"),
        505,
        "we speak HTTP/1.x only",
    ),
    _case(
        "HTTP/0.9 request line",
        b"GET /hello/\r\n\r\n",
        505,
        "no version: HTTP/0.9, which we do not speak",
    ),
    # sizes: refused before they are read whole
    _case(
        "request target over 8 KiB",
        _request(HOST, start=b"GET /" + b"a" * 9000 + b" HTTP/1.1"),
        414,
        "--max-target (8 KiB)",
    ),
    _case(
        "101 header fields",
        _request(HOST, *[b"X-%d: v" % n for n in range(100)], start=b"GET /hello/ HTTP/1.1"),
        431,
        "at most 100 fields",
    ),
    _case(
        "a 70 KiB header",
        _request(HOST, b"X-Big: " + b"a" * 70_000, start=b"GET /hello/ HTTP/1.1"),
        431,
        "--max-header-bytes (64 KiB)",
    ),
    _case(
        "declared body of 10 GB",
        _request(HOST, b"Content-Length: 10000000000"),
        413,
        "--max-body (10 MiB), answered before any body is read",
    ),
    # time: slow clients get 408 after --header-timeout
    Case(
        "headers a byte a second",
        tuple(bytes([byte]) for byte in _request(HOST, b"X-Slow: yes")),
        408,
        "the whole request must arrive within --header-timeout",
        pause=1.0,
    ),
    Case(
        "a body that never ends",
        (_request(HOST, b"Content-Length: 100", body=b"only part"), b"."),
        408,
        "the body counts too: the request must be whole within --header-timeout",
        pause=10.0,
    ),
)


@dataclass(frozen=True)
class Answer:
    """What came back: a status (or None), whether the server then closed, and any note."""

    status: int | None
    closed: bool
    note: str = ""

    def __str__(self) -> str:
        if self.note:
            return self.note if self.status is None else f"{self.status} {self.note}"
        if self.status is None:
            return "closed, no answer" if self.closed else "no answer"
        return f"{self.status}, closed" if self.closed else f"{self.status}, kept open"


def probe(port: int, case: Case, bound: float = 4.0, linger: float = 0.5) -> Answer:
    """Send `case` to 127.0.0.1:`port` and report the answer, within `bound` seconds.

    After a complete answer that does not end the connection, wait `linger` seconds for the
    server to close it (it should, after an error). A server that refuses a request while it
    is still being sent may reset the connection: the answer is read all the same (Linux keeps
    what arrived before the reset readable), as a careful client would. The status is the first
    response's, or that of one the server closed or reset in the middle of.
    """
    deadline = time.monotonic() + bound
    reader = ResponseReader()
    responses: list[Response] = []

    def status() -> int | None:
        return responses[0].status if responses else reader.partial_status

    with socket.create_connection(("127.0.0.1", port), timeout=bound) as sock:
        try:
            for piece in case.pieces:
                sock.sendall(piece)
                wait = min(case.pause, max(deadline - time.monotonic(), 0))
                readable, _, _ = select.select([sock], [], [], wait)
                if readable or time.monotonic() >= deadline:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-send: what matters is what it answered
        try:
            while True:
                left = deadline - time.monotonic()
                if responses:
                    left = min(left, linger)
                if left <= 0:
                    break
                readable, _, _ = select.select([sock], [], [], left)
                if not readable:
                    break
                data = sock.recv(65536)
                if not data:
                    return Answer(status(), closed=True)
                responses += reader.feed(data)
        except ConnectionResetError:
            return Answer(status(), closed=True, note="" if status() else "reset, no answer")
        except MalformedResponse as exc:
            return Answer(status(), closed=False, note=f"malformed answer ({exc})")
    if status() is None:
        return Answer(None, closed=False, note=f"no answer in {bound:g} s")
    return Answer(status(), closed=False)
