"""Message-body framing cases (RFC 9112 §6, §7): Content-Length syntax and lists, Transfer-Encoding
lists and order, both at once, chunk sizes, extensions, the last chunk, trailers."""

from __future__ import annotations

from bench.conformance.cases import (
    FRAMING,
    HOST_PAIR,
    Case,
    Incomplete,
    Refused,
    Served,
    post,
    request,
)
from servers.parser import Limits

LENGTH = "RFC 9110 §8.6 Content-Length = 1*DIGIT"
LENGTH_BAD = "RFC 9112 §6.3 an invalid Content-Length in a request: 400 and close"
LIST = "RFC 9112 §6.3 a Content-Length list of identical values MAY be accepted"
LIST_NOTE = "the safer reading refuses it (400): the classic smuggling shape, as llhttp does"
CODING = "RFC 9112 §6.1 Transfer-Encoding lists the codings applied, chunked last"
NOT_LAST = "RFC 9112 §6.3 a request whose final coding is not chunked: 400 and close"
UNKNOWN = "RFC 9112 §6.1 a transfer coding the server does not understand: 501"
BOTH = "RFC 9112 §6.3 Transfer-Encoding and Content-Length: MAY reject, and MUST close"
BOTH_NOTE = "the safer reading rejects (400): two framings are how requests are smuggled"
CHUNK = "RFC 9112 §7.1 chunk-size = 1*HEXDIG"
EXT = 'RFC 9112 §7.1.1 chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )'
EXT_LIMIT = "RFC 9112 §7.1.1 a server ought to limit the total length of chunk extensions (4xx)"
LAST = 'RFC 9112 §7.1 last-chunk = 1*"0" [ chunk-ext ] CRLF, then trailers and CRLF'
TRAILER = "RFC 9110 §6.5.1 trailer fields are not merged into the header section"
CRLF = "RFC 9112 §7.1 chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF"
TE_HEAD = (b"Transfer-Encoding", b"chunked")


def _length(value: bytes, body: bytes = b"abcde") -> bytes:
    return post(b"Content-Length: " + value, body=body)


def _chunked(body: bytes, *fields: bytes) -> bytes:
    return post(*fields, b"Transfer-Encoding: chunked", body=body)


def _posted(body: bytes, *headers: tuple[bytes, bytes]) -> Served:
    return Served("POST", b"/", (HOST_PAIR, *headers), body)


def _refused(name: str, rule: str, data: bytes, status: int = 400, note: str = "") -> Case:
    return Case(name, rule, FRAMING, data, (Refused(status),), note)


def _bad_length(value: bytes, why: str) -> Case:
    return _refused(f"Content-Length {value!r} ({why})", f"{LENGTH}; {LENGTH_BAD}", _length(value))


def _bad_size(size: bytes, why: str) -> Case:
    return _refused(
        f"chunk size {size!r} ({why})", CHUNK, _chunked(size + b"\r\nabcde\r\n0\r\n\r\n")
    )


def _chunks(name: str, rule: str, wire: bytes, body: bytes = b"abcde") -> Case:
    return Case(name, rule, FRAMING, _chunked(wire), (_posted(body, TE_HEAD),))


LENGTHS = [
    Case(
        "Content-Length body",
        LENGTH,
        FRAMING,
        _length(b"5"),
        (_posted(b"abcde", (b"Content-Length", b"5")),),
    ),
    Case(
        "Content-Length 0",
        LENGTH,
        FRAMING,
        _length(b"0", b""),
        (_posted(b"", (b"Content-Length", b"0")),),
    ),
    Case(
        "Content-Length with leading zeros",
        LENGTH,
        FRAMING,
        _length(b"005"),
        (_posted(b"abcde", (b"Content-Length", b"005")),),
    ),
    Case(
        "Content-Length with whitespace around it",
        f"{LENGTH}; RFC 9110 §5.5 OWS is not part",
        FRAMING,
        _length(b" 5 \t"),
        (_posted(b"abcde", (b"Content-Length", b"5")),),
    ),
    Case(
        "Content-Length on a GET",
        "RFC 9112 §6.3 Content-Length frames any request's body",
        FRAMING,
        request(b"GET / HTTP/1.1", b"Host: h", b"Content-Length: 2", body=b"ok"),
        (Served("GET", b"/", (HOST_PAIR, (b"Content-Length", b"2")), b"ok"),),
    ),
    Case(
        "body shorter than its Content-Length",
        "RFC 9112 §6.3 the body is the declared length",
        FRAMING,
        _length(b"10"),
        (Incomplete(),),
    ),
    _bad_length(b"+5", "a sign"),
    _bad_length(b"-5", "a negative sign"),
    _bad_length(b"0x5", "hexadecimal"),
    _bad_length(b"5_0", "an underscore, as int() allows"),
    _bad_length(b"5.0", "a decimal point"),
    _bad_length(b"5e0", "an exponent"),
    _bad_length(b"five", "letters"),
    _bad_length(b"5 5", "two numbers"),
    _bad_length(b"", "empty"),
    _bad_length(b"\xd9\xa5", "an Arabic-Indic digit, as int() allows"),
    _bad_length(b"99999999999999999999999", "past 64 bits"),
    _refused("Content-Length list of equal values", LIST, _length(b"5, 5"), note=LIST_NOTE),
    _refused("Content-Length list of different values", LENGTH_BAD, _length(b"5, 6")),
    _refused(
        "Content-Length twice, equal",
        LIST,
        post(b"Content-Length: 5", b"Content-Length: 5", body=b"abcde"),
        note=LIST_NOTE,
    ),
    _refused(
        "Content-Length twice, different",
        LENGTH_BAD,
        post(b"Content-Length: 5", b"Content-Length: 3", body=b"abcde"),
    ),
    _refused(
        "Content-Length over the 10 MiB limit",
        "RFC 9110 §15.5.14 content larger than the server is willing to process: 413",
        _length(b"10485761"),
        413,
    ),
]

CODINGS = [
    _chunks("chunked body", CODING, b"5\r\nabcde\r\n0\r\n\r\n"),
    Case(
        "chunked in capitals",
        f"{CODING}; RFC 9112 §7 coding names are case-insensitive",
        FRAMING,
        post(b"Transfer-Encoding: CHUNKED", body=b"2\r\nok\r\n0\r\n\r\n"),
        (_posted(b"ok", (b"Transfer-Encoding", b"CHUNKED")),),
    ),
    Case(
        "leading empty list element",
        'RFC 9110 §5.6.1.2 a recipient MUST ignore empty list elements: ",chunked" is chunked',
        FRAMING,
        post(b"Transfer-Encoding: ,chunked", body=b"2\r\nok\r\n0\r\n\r\n"),
        (_posted(b"ok", (b"Transfer-Encoding", b",chunked")),),
    ),
    _refused(
        "trailing empty list element",
        CODING,
        post(b"Transfer-Encoding: chunked,", body=b"0\r\n\r\n"),
        note="RFC 9110 §5.6.1.2 would read it as chunked; the safer reading refuses, as "
        "llhttp does: anything after chunked is how smuggling probes find a lax parser",
    ),
    _refused(
        "gzip, chunked",
        UNKNOWN,
        post(b"Transfer-Encoding: gzip, chunked", body=b"0\r\n\r\n"),
        501,
        "we decode no gzip, and must not hand it on as plain",
    ),
    _refused(
        "identity, chunked",
        f"{UNKNOWN}; identity is no longer a coding (RFC 9112 §7)",
        post(b"Transfer-Encoding: identity, chunked", body=b"0\r\n\r\n"),
        501,
    ),
    _refused(
        "gzip then chunked on two lines",
        UNKNOWN,
        post(b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
        501,
    ),
    _refused(
        "chunked, gzip", NOT_LAST, post(b"Transfer-Encoding: chunked, gzip", body=b"0\r\n\r\n")
    ),
    _refused("gzip alone", NOT_LAST, post(b"Transfer-Encoding: gzip", body=b"abc")),
    _refused("identity alone", NOT_LAST, post(b"Transfer-Encoding: identity", body=b"abc")),
    _refused("empty Transfer-Encoding", NOT_LAST, post(b"Transfer-Encoding:", body=b"abc")),
    _refused("xchunked", NOT_LAST, post(b"Transfer-Encoding: xchunked", body=b"0\r\n\r\n")),
    _refused(
        "chunked with a parameter",
        f"{NOT_LAST}; chunked takes no parameters",
        post(b"Transfer-Encoding: chunked;q=1", body=b"0\r\n\r\n"),
    ),
    _refused("quoted chunked", NOT_LAST, post(b'Transfer-Encoding: "chunked"', body=b"0\r\n\r\n")),
    _refused(
        "chunked twice in one value",
        "RFC 9112 §6.1 chunked MUST NOT be applied twice",
        post(b"Transfer-Encoding: chunked, chunked", body=b"0\r\n\r\n"),
    ),
    _refused(
        "chunked on two lines",
        "RFC 9112 §6.1 chunked MUST NOT be applied twice",
        post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
    ),
    _refused(
        "chunked then gzip on two lines",
        NOT_LAST,
        post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip", body=b"0\r\n\r\n"),
    ),
    _refused(
        "Transfer-Encoding in HTTP/1.0",
        "RFC 9112 §6.1 Transfer-Encoding in HTTP/1.0: faulty framing, close",
        request(b"POST / HTTP/1.0", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
    ),
    _refused(
        "Content-Length then Transfer-Encoding",
        BOTH,
        post(b"Content-Length: 5", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
        note=BOTH_NOTE,
    ),
    _refused(
        "Transfer-Encoding then Content-Length",
        BOTH,
        post(b"Transfer-Encoding: chunked", b"Content-Length: 5", body=b"0\r\n\r\n"),
        note=BOTH_NOTE,
    ),
    _refused(
        "Content-Length with an unknown coding",
        BOTH,
        post(b"Content-Length: 3", b"Transfer-Encoding: gzip", body=b"abc"),
        note=BOTH_NOTE,
    ),
]

SIZES = [
    _chunks("two chunks", CHUNK, b"2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"),
    _chunks("chunk size in capitals", CHUNK, b"A\r\nabcdeabcde\r\n0\r\n\r\n", b"abcdeabcde"),
    _chunks("chunk size in lower case", CHUNK, b"a\r\nabcdeabcde\r\n0\r\n\r\n", b"abcdeabcde"),
    _chunks("chunk size with leading zeros", CHUNK, b"0005\r\nabcde\r\n0\r\n\r\n"),
    _chunks("chunk data holding CRLF", CHUNK, b"4\r\n\r\n\r\n\r\n0\r\n\r\n", b"\r\n\r\n"),
    _bad_size(b"0x5", "a 0x prefix, as int(x, 0) allows"),
    _bad_size(b"+5", "a sign"),
    _bad_size(b"-5", "a negative sign"),
    _bad_size(b"5_0", "an underscore, as int() allows"),
    _bad_size(b" 5", "a leading space"),
    _bad_size(b"5 ", "a trailing space"),
    _bad_size(b"5\t", "a trailing tab"),
    _bad_size(b"g", "not hexadecimal"),
    _bad_size(b"", "empty"),
    _bad_size(b"10000000000000005", "past 64 bits"),
    _refused("chunk data longer than its size", CHUNK, _chunked(b"3\r\nabcde\r\n0\r\n\r\n")),
    _refused("chunk data without CRLF after it", CHUNK, _chunked(b"5\r\nabcde0\r\n\r\n")),
    _refused("bare LF after chunk data", CRLF, _chunked(b"5\r\nabcde\n0\r\n\r\n")),
    _refused("bare LF after the chunk size", CRLF, _chunked(b"5\nabcde\r\n0\r\n\r\n")),
    _refused("bare CR after the chunk size", CRLF, _chunked(b"5\rabcde\r\n0\r\n\r\n")),
    Case(
        "chunked body over the limit",
        "RFC 9110 §15.5.14 content too large: 413",
        FRAMING,
        _chunked(b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"),
        (Refused(413),),
        limits=Limits(max_body_bytes=10),
    ),
]

EXTENSIONS = [
    _chunks("chunk extension name=value", EXT, b"5;a=b\r\nabcde\r\n0\r\n\r\n"),
    _chunks("chunk extension name only", EXT, b"5;a\r\nabcde\r\n0\r\n\r\n"),
    _chunks("two chunk extensions", EXT, b"5;a=b;c=d\r\nabcde\r\n0\r\n\r\n"),
    _chunks("quoted chunk extension value", EXT, b'5;a="b c"\r\nabcde\r\n0\r\n\r\n'),
    _chunks(
        "chunk extensions of 2 KiB",
        f"{EXT_LIMIT}; 2 KiB is within it",
        b"5;a=" + b"b" * 2048 + b"\r\nabcde\r\n0\r\n\r\n",
    ),
    _refused("semicolon without a name", EXT, _chunked(b"5;\r\nabcde\r\n0\r\n\r\n")),
    _refused("extension without a name", EXT, _chunked(b"5;=b\r\nabcde\r\n0\r\n\r\n")),
    _refused("NUL in a chunk extension", EXT, _chunked(b"5;a\x00b\r\nabcde\r\n0\r\n\r\n")),
    _refused("bare CR in a quoted extension", EXT, _chunked(b'5;a="b\rc"\r\nabcde\r\n0\r\n\r\n')),
    _refused("bare LF ending a chunk extension", EXT, _chunked(b"5;a=b\nabcde\r\n0\r\n\r\n")),
    _refused(
        "space before the semicolon",
        EXT,
        _chunked(b"5 ;a=b\r\nabcde\r\n0\r\n\r\n"),
        note="BWS is allowed there, but llhttp refuses it and the safer reading agrees: a "
        "size followed by whitespace is the chunk-size confusion smuggling probes use",
    ),
    _refused(
        "chunk extension of 70 KiB",
        EXT_LIMIT,
        _chunked(b"5;a=" + b"b" * 70_000 + b"\r\nabcde\r\n0\r\n\r\n"),
    ),
    _refused(
        "chunk extensions of 70 KiB over many chunks",
        f"{EXT_LIMIT}: the total counts",
        _chunked((b"1;a=" + b"b" * 1000 + b"\r\nx\r\n") * 70 + b"0\r\n\r\n"),
    ),
]

LASTS = [
    _chunks("last chunk of several zeros", LAST, b"5\r\nabcde\r\n000\r\n\r\n"),
    _chunks("last chunk with an extension", LAST, b"5\r\nabcde\r\n0;a=b\r\n\r\n"),
    Case("empty chunked body", LAST, FRAMING, _chunked(b"0\r\n\r\n"), (_posted(b"", TE_HEAD),)),
    Case("no last chunk", LAST, FRAMING, _chunked(b"5\r\nabcde\r\n"), (Incomplete(),)),
    Case(
        "last chunk without the final CRLF",
        LAST,
        FRAMING,
        _chunked(b"5\r\nabcde\r\n0\r\n"),
        (Incomplete(),),
    ),
    _chunks("trailer field is dropped", TRAILER, b"5\r\nabcde\r\n0\r\nX-T: 1\r\n\r\n"),
    _chunks(
        "trailer Host is not a second Host",
        TRAILER,
        b"5\r\nabcde\r\n0\r\nHost: evil\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
    ),
    _refused(
        "Content-Length in the trailers",
        f"{TRAILER}; framing fields are not allowed there",
        _chunked(b"5\r\nabcde\r\n0\r\nContent-Length: 5\r\n\r\n"),
    ),
    _refused(
        "space before the colon in a trailer",
        "RFC 9112 §5.1 (and §7.1.2 for trailers)",
        _chunked(b"5\r\nabcde\r\n0\r\nX : y\r\n\r\n"),
    ),
    _refused(
        "obs-fold in a trailer",
        "RFC 9112 §5.2 (and §7.1.2 for trailers)",
        _chunked(b"5\r\nabcde\r\n0\r\nX: y\r\n z\r\n\r\n"),
    ),
    _refused(
        "trailer section of 70 KiB",
        "RFC 9112 §7.1.2 trailers are limited as header fields are: 431",
        _chunked(b"0\r\nX: " + b"a" * 70_000 + b"\r\n\r\n"),
        431,
    ),
]

CASES = [*LENGTHS, *CODINGS, *SIZES, *EXTENSIONS, *LASTS]
