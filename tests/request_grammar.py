"""Hypothesis strategies for HTTP/1.1 requests: valid ones built from the RFC 9112 grammar (with
what the parser must make of them), and mutations of them, for tests/test_parser_fuzz.py."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@"
# field-vchar and obs-text, with spaces inside (never at either end)
VALUE_BYTES = bytes([*range(0x21, 0x7F), *range(0x80, 0x100)])
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "PROPFIND")
# Fields the parser or llhttp act on: the generator adds them itself, or not at all.
RESERVED = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "proxy-connection",
    "upgrade",
    "expect",
}
INTERESTING = b"\x00\t\n\r :;,\x7f\xff0aA/?#*-"


@dataclass(frozen=True)
class ValidRequest:
    """A request as sent on the wire, and what a correct parser must return for it."""

    wire: bytes
    method: str
    target: bytes
    version: str
    headers: list[tuple[bytes, bytes]]  # as parsed: the value without the whitespace around it
    body: bytes


names = st.text(TCHAR, min_size=1, max_size=16).filter(lambda name: name.lower() not in RESERVED)
words = st.binary(min_size=1, max_size=8).map(
    lambda raw: bytes(VALUE_BYTES[byte % len(VALUE_BYTES)] for byte in raw)
)
# words apart by SP or HTAB: whitespace inside a value, never around it
values = st.lists(st.tuples(st.sampled_from([b" ", b"\t"]), words), max_size=3).map(
    lambda parts: b"".join(space + word for space, word in parts)[1:]
)
targets = st.builds(
    lambda segments, query: b"/" + b"/".join(segments) + (b"?" + query if query else b""),
    st.lists(st.text(PCHAR, max_size=8).map(str.encode), max_size=4),
    st.one_of(st.just(b""), st.text(PCHAR + "/?", max_size=12).map(str.encode)),
)
leading_ows = st.sampled_from([b"", b" ", b"\t", b"  "])


@st.composite
def chunked(draw: st.DrawFn, body: bytes) -> bytes:
    """`body` chunked at random points, with chunk extensions and trailer fields now and then."""
    cuts = sorted(set(draw(st.lists(st.integers(1, max(len(body) - 1, 1)), max_size=4))))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    wire = b""
    for piece in (piece for piece in pieces if piece):
        extension = draw(st.sampled_from([b"", b";a=b", b';name="quoted"']))
        size = b"%x" % len(piece) if draw(st.booleans()) else b"%X" % len(piece)
        wire += size + extension + b"\r\n" + piece + b"\r\n"
    trailers = draw(st.lists(st.tuples(names, values), max_size=2))
    fields = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in trailers)
    return wire + b"0\r\n" + fields + b"\r\n"


@st.composite
def valid_requests(draw: st.DrawFn, version: str | None = None) -> ValidRequest:
    """One valid request: method, origin-form target, fields in any order, a framed body."""
    method = draw(st.sampled_from(METHODS))
    target = draw(targets)
    version = version or draw(st.sampled_from(["1.1", "1.0"]))
    fields = draw(st.lists(st.tuples(names, values), max_size=8))
    headers = [(name.encode(), value) for name, value in fields]
    body = draw(st.binary(max_size=300))
    framing = draw(st.sampled_from(["length", "chunked"] if version == "1.1" else ["length"]))
    if not body and draw(st.booleans()):
        framing = "none"
    host = (b"Host", draw(st.sampled_from([b"127.0.0.1", b"localhost:8000", b"[::1]:80", b"a.b"])))
    headers.insert(draw(st.integers(0, len(headers))), host)
    if framing == "length":
        headers.insert(draw(st.integers(0, len(headers))), (b"Content-Length", b"%d" % len(body)))
        framed = body
    elif framing == "chunked":
        headers.insert(draw(st.integers(0, len(headers))), (b"Transfer-Encoding", b"chunked"))
        framed = draw(chunked(body))
    else:
        framed = b""
    lines = [b"%s: %s%s" % (name, draw(leading_ows), value) for name, value in headers]
    head = f"{method} ".encode() + target + f" HTTP/{version}".encode()
    wire = b"\r\n".join([head, *lines]) + b"\r\n\r\n" + framed
    return ValidRequest(wire, method, target, version, headers, body if framing != "none" else b"")


@st.composite
def pipelines(draw: st.DrawFn) -> list[ValidRequest]:
    """One to three requests in a row; only the last may be HTTP/1.0 (which ends the stream)."""
    count = draw(st.integers(1, 3))
    return [draw(valid_requests("1.1" if n < count - 1 else None)) for n in range(count)]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid request with a few bytes changed, inserted, deleted or repeated."""
    data = bytearray(draw(valid_requests()).wire)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["replace", "insert", "delete", "repeat", "bare-lf"]))
        byte = draw(st.one_of(st.sampled_from(list(INTERESTING)), st.integers(0, 255)))
        if kind == "replace" and where < len(data):
            data[where] = byte
        elif kind == "insert":
            data[where:where] = bytes([byte])
        elif kind == "delete":
            del data[where : where + draw(st.integers(1, 8))]
        elif kind == "repeat":
            data[where:where] = data[where : where + draw(st.integers(1, 40))]
        elif kind == "bare-lf":
            crlf = data.find(b"\r\n", where)
            if crlf >= 0:
                del data[crlf]
    return bytes(data)


def splits(data_length: int) -> st.SearchStrategy[list[int]]:
    """Where to cut a stream of `data_length` bytes into reads."""
    return st.lists(st.integers(0, data_length), max_size=12).map(sorted)
