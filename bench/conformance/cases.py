"""What a conformance case is: the bytes a client sends, the rule they test, and the outcome the
RFC asks of a server, written as what the application must receive or how it is refused.

Outcomes are compared with what the protocol core hands over, so a `Served` message holds the
method, target, header fields (names as sent, values without the whitespace around them) and
the whole body, and whether the connection closes after the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from servers.parser import Limits

REQUEST_LINE = "request line"
FIELDS = "header fields"
FRAMING = "framing"
CONNECTION = "connection"
EXACT = "exact messages"
CLASSES = (REQUEST_LINE, FIELDS, FRAMING, CONNECTION, EXACT)

Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True)
class Served:
    """The application receives this request; `close` if the connection ends after its answer."""

    method: str
    target: bytes
    headers: Headers
    body: bytes = b""
    close: bool = False
    version: str = "1.1"


@dataclass(frozen=True)
class Refused:
    """The core answers `status` itself and closes: nothing of it reaches the application."""

    status: int
    close: bool = True


@dataclass(frozen=True)
class Continue:
    """The core tells the client to send its body (`100 Continue`) before reading it."""


@dataclass(frozen=True)
class Incomplete:
    """The input ended inside a request: the server waits for the rest (then 408, or 400 on a
    close), and nothing of it has reached the application."""


Outcome = Served | Refused | Continue | Incomplete


@dataclass(frozen=True)
class Case:
    """One request (or a pipelined stream of them) and what RFC 9110/9112 ask of a server.

    `rule` cites the section ("RFC 9112 §6.3 ...") and says the rule in a phrase; `note` says why,
    where the RFC leaves a choice open and the case picks the safer reading.
    """

    name: str
    rule: str
    cls: str
    data: bytes
    expected: tuple[Outcome, ...]
    note: str = ""
    limits: Limits | None = field(default=None, compare=False)


def request(line: bytes, *fields: bytes, body: bytes = b"") -> bytes:
    """A request on the wire: its line, its field lines, the blank line, then `body` as is."""
    return line + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + body


HOST = b"Host: h"
HOST_PAIR = (b"Host", b"h")


def get(*fields: bytes, target: bytes = b"/", version: bytes = b"1.1") -> bytes:
    """A GET with Host first and `fields` after it."""
    return request(b"GET " + target + b" HTTP/" + version, HOST, *fields)


def served_get(*headers: tuple[bytes, bytes], target: bytes = b"/", close: bool = False) -> Served:
    """What the application receives for `get(...)`: Host first, then `headers`."""
    return Served("GET", target, (HOST_PAIR, *headers), close=close)


def post(*fields: bytes, body: bytes = b"") -> bytes:
    """A POST to / with Host first, then `fields`, then `body` framed as the fields say."""
    return request(b"POST / HTTP/1.1", HOST, *fields, body=body)
