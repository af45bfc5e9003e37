"""Exact-message cases: what the application receives, byte for byte, as an echo application
would report it: the method, the target as sent, every field line in order with its name as
sent and its value without the whitespace around it, and the whole body."""

from __future__ import annotations

from bench.conformance.cases import EXACT, HOST, HOST_PAIR, Case, Served, request

ORDER = "RFC 9110 §5.3 the order of field lines with the same name is significant; none is lost"
NAME_CASE = "RFC 9110 §5.1 names are case-insensitive: the application gets them as sent"
TARGET = "RFC 9112 §3.2 the request-target reaches the server as sent, percent-encoding and all"
BODY = "RFC 9112 §6 the body is the octets framed, whatever they are"
CHUNKED = "RFC 9112 §7.1.3 decoding chunked: the data of every chunk, in order, nothing else"


def _echo(name: str, rule: str, data: bytes, expected: Served) -> Case:
    return Case(name, rule, EXACT, data, (expected,))


def _target(name: str, target: bytes) -> Case:
    return _echo(
        name,
        TARGET,
        request(b"GET " + target + b" HTTP/1.1", HOST),
        Served("GET", target, (HOST_PAIR,)),
    )


def _body(name: str, body: bytes) -> Case:
    length = b"%d" % len(body)
    return _echo(
        name,
        BODY,
        request(b"PUT /f HTTP/1.1", HOST, b"Content-Length: " + length, body=body),
        Served("PUT", b"/f", (HOST_PAIR, (b"Content-Length", length)), body),
    )


def _chunked(name: str, wire: bytes, body: bytes) -> Case:
    te = b"Transfer-Encoding: chunked"
    return _echo(
        name,
        CHUNKED,
        request(b"POST /c HTTP/1.1", HOST, te, body=wire),
        Served("POST", b"/c", (HOST_PAIR, (b"Transfer-Encoding", b"chunked")), body),
    )


FIELDS = [
    _echo(
        "field lines in the order sent",
        ORDER,
        request(b"GET / HTTP/1.1", b"B: 2", HOST, b"A: 1", b"C: 3"),
        Served("GET", b"/", ((b"B", b"2"), HOST_PAIR, (b"A", b"1"), (b"C", b"3"))),
    ),
    _echo(
        "names keep their case",
        NAME_CASE,
        request(b"GET / HTTP/1.1", b"hOsT: h", b"x-LOWER-upper: v"),
        Served("GET", b"/", ((b"hOsT", b"h"), (b"x-LOWER-upper", b"v"))),
    ),
    _echo(
        "same name in three cases keeps three lines",
        ORDER,
        request(b"GET / HTTP/1.1", HOST, b"X-A: 1", b"x-a: 2", b"X-a: 3"),
        Served("GET", b"/", (HOST_PAIR, (b"X-A", b"1"), (b"x-a", b"2"), (b"X-a", b"3"))),
    ),
    _echo(
        "a list value is not split",
        "RFC 9110 §5.6.1 the list is the field's value",
        request(b"GET / HTTP/1.1", HOST, b"Accept: a/b, c/d;q=0.5 ,e/f"),
        Served("GET", b"/", (HOST_PAIR, (b"Accept", b"a/b, c/d;q=0.5 ,e/f"))),
    ),
    _echo(
        "quoted string with escapes is kept",
        "RFC 9110 §5.6.4 quoting is the field's business",
        request(b"GET / HTTP/1.1", HOST, b'X: "a \\" b"'),
        Served("GET", b"/", (HOST_PAIR, (b"X", b'"a \\" b"'))),
    ),
    _echo(
        "UTF-8 in a value is kept as octets",
        "RFC 9110 §5.5 obs-text is passed on as octets",
        request(b"GET / HTTP/1.1", HOST, b"X: \xe2\x82\xac"),
        Served("GET", b"/", (HOST_PAIR, (b"X", b"\xe2\x82\xac"))),
    ),
    _echo(
        "whitespace trimmed, inner whitespace kept",
        "RFC 9110 §5.5",
        request(b"GET / HTTP/1.1", HOST, b"X: \t a \t b \t "),
        Served("GET", b"/", (HOST_PAIR, (b"X", b"a \t b"))),
    ),
    _echo(
        "forty fields, each as sent",
        ORDER,
        request(b"GET / HTTP/1.1", HOST, *(b"F%d: %d" % (n, n * n) for n in range(40))),
        Served("GET", b"/", (HOST_PAIR, *((b"F%d" % n, b"%d" % (n * n)) for n in range(40)))),
    ),
    _echo(
        "HEAD with fields",
        "RFC 9110 §9.3.2 HEAD is GET without content in the answer",
        request(b"HEAD /h HTTP/1.1", HOST, b"Accept: */*"),
        Served("HEAD", b"/h", (HOST_PAIR, (b"Accept", b"*/*"))),
    ),
    _echo(
        "DELETE with a body",
        "RFC 9110 §9.3.5 content in DELETE has no defined meaning, but framing still reads it",
        request(b"DELETE /d HTTP/1.1", HOST, b"Content-Length: 2", body=b"no"),
        Served("DELETE", b"/d", (HOST_PAIR, (b"Content-Length", b"2")), b"no"),
    ),
    _echo(
        "absolute-form: Host replaced, the rest in order",
        "RFC 9112 §3.2.2",
        request(b"GET http://a.example:81/p?q HTTP/1.1", b"X: 1", b"Host: ignored", b"Y: 2"),
        Served(
            "GET",
            b"http://a.example:81/p?q",
            ((b"X", b"1"), (b"Y", b"2"), (b"Host", b"a.example:81")),
        ),
    ),
]

TARGETS = [
    _target("percent-encoding kept", b"/a%20b/%2F?x=%26"),
    _target("percent-encoded NUL kept encoded", b"/a%00b"),
    _target("dot segments kept as sent", b"/a/../b/./c"),
    _target("empty query", b"/a?"),
    _target("query only after root", b"/?a=1&a=2"),
    _target("sub-delims in the path", b"/!$&'()*+,;=:@"),
    _target("double slash", b"//a//b"),
    _target("long target within the limit", b"/" + b"x" * 8000),
]

BODIES = [
    _body("empty body", b""),
    _body("body with CRLF", b"a\r\nb\r\n\r\n"),
    _body("body with NUL and high bytes", bytes(range(256))),
    _body("body that looks like a request", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
    _body("body of 64 KiB", bytes(range(256)) * 256),
    _chunked("chunks joined", b"1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n", b"abcdef"),
    _chunked(
        "chunk extensions are not data", b"3;x=1\r\nabc\r\n3;y\r\ndef\r\n0;z=2\r\n\r\n", b"abcdef"
    ),
    _chunked(
        "chunk data with what looks like a chunk",
        b"8\r\n0\r\n\r\nXYZ\r\n0\r\n\r\n",
        b"0\r\n\r\nXYZ",
    ),
    _chunked(
        "binary chunk data", b"100\r\n" + bytes(range(256)) + b"\r\n0\r\n\r\n", bytes(range(256))
    ),
    _chunked("many one-byte chunks", b"1\r\nx\r\n" * 200 + b"0\r\n\r\n", b"x" * 200),
    _chunked("trailers are not body", b"2\r\nok\r\n0\r\nX: 1\r\nY: 2\r\n\r\n", b"ok"),
]

CASES = [*FIELDS, *TARGETS, *BODIES]
