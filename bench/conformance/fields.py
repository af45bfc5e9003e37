"""Header-field cases (RFC 9110 §5, RFC 9112 §5): names as tokens, values without the whitespace
around them, obs-fold, bare CR and LF, control bytes, empty and repeated names, Host, limits."""

from __future__ import annotations

from bench.conformance.cases import FIELDS, HOST, HOST_PAIR, Case, Refused, Served, get, request

NAME = "RFC 9110 §5.1 field-name = token"
VALUE = "RFC 9110 §5.5 field-value = *field-content: visible octets, SP, HTAB and obs-text"
EDGES = "RFC 9110 §5.5 whitespace before and after a field value is not part of it"
COLON = "RFC 9112 §5.1 no whitespace between field name and colon: a server MUST reject (400)"
FOLD = "RFC 9112 §5.2 obs-fold: a server MUST reject (400) or replace it with SP"
FOLD_NOTE = "the safer of the two: a value unfolded here and kept folded by a proxy differ"
CRLF = "RFC 9112 §2.2 a bare CR MUST be rejected or replaced; lines end with CRLF"
BARE_LF = "RFC 9112 §2.2 a recipient MAY accept a bare LF as a line terminator"
BARE_LF_NOTE = "the safer reading refuses it: a proxy that splits only on CRLF would see one line"
SINGLETON = (
    "RFC 9110 §5.3 only a list-based field may be sent as several lines; a singleton sent twice "
    "has no one value"
)
SINGLETON_NOTE = (
    "the RFC leaves a recipient free to reject it; the safer reading does (400): joined with a "
    "comma it reaches the application as a value nobody sent"
)
HOST_RULE = (
    "RFC 9112 §3.2 a server MUST respond 400 to a request without Host, with two, or an invalid one"
)
LIMIT = "RFC 6585 §5 (RFC 9110 §15.5) header fields over the server's limit: 431"


def _field(name: str, line: bytes, expected: Refused | Served, rule: str, note: str = "") -> Case:
    return Case(name, rule, FIELDS, get(line), (expected,), note)


def _served(*headers: tuple[bytes, bytes]) -> Served:
    return Served("GET", b"/", (HOST_PAIR, *headers))


def _control(byte: int) -> Case:
    return _field(
        f"control byte 0x{byte:02x} in a value",
        b"X: a" + bytes([byte]) + b"b",
        Refused(400),
        f"{VALUE}: no control byte but HTAB",
    )


EDGE_CASES = [
    _field("space after a value", b"X: a ", _served((b"X", b"a")), EDGES),
    _field("tab after a value", b"X: a\t", _served((b"X", b"a")), EDGES),
    _field("spaces and tabs around a value", b"X: \t a \t ", _served((b"X", b"a")), EDGES),
    _field("no space after the colon", b"X:a", _served((b"X", b"a")), EDGES),
    _field("tab after the colon", b"X:\ta", _served((b"X", b"a")), EDGES),
    _field("empty value", b"X:", _served((b"X", b"")), f"{VALUE}; it may be empty"),
    _field("value of whitespace only", b"X: \t ", _served((b"X", b"")), EDGES),
    _field("spaces inside a value are kept", b"X: a  b", _served((b"X", b"a  b")), EDGES),
    _field("tab inside a value is kept", b"X: a\tb", _served((b"X", b"a\tb")), VALUE),
    _field(
        "NBSP around a value is kept",
        b"X: \xa0a\xa0",
        _served((b"X", b"\xa0a\xa0")),
        f"{EDGES}; only SP and HTAB are whitespace, 0xA0 is obs-text",
    ),
    _field(
        "obs-text in a value", b"X: caf\xc3\xa9 \xff", _served((b"X", b"caf\xc3\xa9 \xff")), VALUE
    ),
    _field("colon inside a value", b"X: a:b: c", _served((b"X", b"a:b: c")), VALUE),
    _field(
        "trailing space on Content-Type",
        b"Content-Type: text/plain ",
        _served((b"Content-Type", b"text/plain")),
        EDGES,
    ),
    Case(
        "trailing space on Host",
        EDGES,
        FIELDS,
        request(b"GET / HTTP/1.1", b"Host: h:80 \t"),
        (Served("GET", b"/", ((b"Host", b"h:80"),)),),
    ),
]

CONTROLS = [_control(b) for b in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)]

SYNTAX = [
    _field("space before the colon", b"X : a", Refused(400), COLON),
    _field("tab before the colon", b"X\t: a", Refused(400), COLON),
    _field("space inside a name", b"X Y: a", Refused(400), NAME),
    _field("empty name", b": a", Refused(400), NAME),
    _field("name of a space", b" : a", Refused(400), NAME),
    _field("no colon", b"Bad Header", Refused(400), NAME),
    _field("NUL in a name", b"X\x00Y: a", Refused(400), NAME),
    _field("DEL in a name", b"X\x7f: a", Refused(400), NAME),
    _field("non-ASCII in a name", b"X\xe9: a", Refused(400), NAME),
    _field("delimiter ( in a name", b"X(Y: a", Refused(400), NAME),
    _field("delimiter @ in a name", b"X@Y: a", Refused(400), NAME),
    _field("delimiter / in a name", b"X/Y: a", Refused(400), NAME),
    _field("underscore in a name is a token", b"X_Y: a", _served((b"X_Y", b"a")), NAME),
    _field(
        "every tchar in a name",
        b"!#$%&'*+-.^_`|~0aZ: a",
        _served((b"!#$%&'*+-.^_`|~0aZ", b"a")),
        NAME,
    ),
    _field("obs-fold with a space", b"X: a\r\n b", Refused(400), FOLD, FOLD_NOTE),
    _field("obs-fold with a tab", b"X: a\r\n\tb", Refused(400), FOLD, FOLD_NOTE),
    Case(
        "first field line folded",
        FOLD,
        FIELDS,
        request(b"GET / HTTP/1.1", b" X: a", HOST),
        (Refused(400),),
        FOLD_NOTE,
    ),
    _field("bare CR inside a value", b"X: a\rb", Refused(400), CRLF),
    _field("bare CR ending a field line", b"X: a\r", Refused(400), CRLF),
    Case(
        "bare LF ending a field line",
        BARE_LF,
        FIELDS,
        b"GET / HTTP/1.1\r\nHost: h\nX: a\r\n\r\n",
        (Refused(400),),
        BARE_LF_NOTE,
    ),
    Case(
        "bare LF line ends throughout",
        BARE_LF,
        FIELDS,
        b"GET / HTTP/1.1\nHost: h\n\n",
        (Refused(400),),
        BARE_LF_NOTE,
    ),
    Case(
        "bare LF ending the header section",
        BARE_LF,
        FIELDS,
        b"GET / HTTP/1.1\r\nHost: h\r\n\n",
        (Refused(400),),
        BARE_LF_NOTE,
    ),
    Case(
        "CR CR LF ending a line",
        CRLF,
        FIELDS,
        b"GET / HTTP/1.1\r\nHost: h\r\r\n\r\n",
        (Refused(400),),
    ),
    Case(
        "bare CR ending the request line",
        CRLF,
        FIELDS,
        b"GET / HTTP/1.1\rHost: h\r\n\r\n",
        (Refused(400),),
    ),
]

REPEATS = [
    _field(
        "a list field twice keeps both lines",
        b"Accept: a\r\nAccept: b",
        _served((b"Accept", b"a"), (b"Accept", b"b")),
        "RFC 9110 §5.3 list-based field lines may be combined in order: both reach the app",
    ),
    _field(
        "Cookie twice keeps both lines",
        b"Cookie: a=1\r\nCookie: b=2",
        _served((b"Cookie", b"a=1"), (b"Cookie", b"b=2")),
        "RFC 6265 §5.4 (the exception RFC 9110 §5.3 names): lines kept, the app joins them",
    ),
    _field(
        "unknown field twice keeps both lines",
        b"X-Twice: 1\r\nX-Twice: 2",
        _served((b"X-Twice", b"1"), (b"X-Twice", b"2")),
        "RFC 9110 §5.3 a recipient must not reorder field lines of the same name",
    ),
    *(
        _field(
            f"{name.decode()} twice",
            b"%s: a\r\n%s: b" % (name, name),
            Refused(400),
            SINGLETON,
            SINGLETON_NOTE,
        )
        for name in (
            b"Content-Type",
            b"Authorization",
            b"If-Modified-Since",
            b"If-Range",
            b"Range",
            b"Max-Forwards",
            b"Content-Location",
            b"User-Agent",
            b"Referer",
        )
    ),
    _field(
        "Content-Type twice in two cases",
        b"Content-Type: a\r\ncontent-type: b",
        Refused(400),
        f"{SINGLETON}; RFC 9110 §5.1 names are case-insensitive",
        SINGLETON_NOTE,
    ),
    _field(
        "Content-Type twice with the same value",
        b"Content-Type: a\r\nContent-Type: a",
        Refused(400),
        SINGLETON,
        SINGLETON_NOTE,
    ),
]

HOSTS = [
    Case("no Host in HTTP/1.1", HOST_RULE, FIELDS, request(b"GET / HTTP/1.1"), (Refused(400),)),
    Case(
        "no Host in HTTP/1.0",
        "RFC 9112 §3.2 Host is required in HTTP/1.1 only",
        FIELDS,
        request(b"GET / HTTP/1.0"),
        (Served("GET", b"/", (), close=True, version="1.0"),),
    ),
    Case("two Host lines", HOST_RULE, FIELDS, get(b"Host: h"), (Refused(400),)),
    Case(
        "two Host lines, second in capitals",
        HOST_RULE,
        FIELDS,
        get(b"HOST: other"),
        (Refused(400),),
    ),
    Case(
        "Host with a space",
        HOST_RULE,
        FIELDS,
        request(b"GET / HTTP/1.1", b"Host: a b"),
        (Refused(400),),
    ),
    Case(
        "Host with a path",
        HOST_RULE,
        FIELDS,
        request(b"GET / HTTP/1.1", b"Host: h/p"),
        (Refused(400),),
    ),
    Case(
        "Host with userinfo",
        HOST_RULE,
        FIELDS,
        request(b"GET / HTTP/1.1", b"Host: u@h"),
        (Refused(400),),
    ),
    Case(
        "Host list of two",
        HOST_RULE,
        FIELDS,
        request(b"GET / HTTP/1.1", b"Host: a, b"),
        (Refused(400),),
    ),
    Case(
        "empty Host",
        "RFC 9112 §3.2 a client with no authority sends Host with an empty value",
        FIELDS,
        request(b"GET / HTTP/1.1", b"Host:"),
        (Served("GET", b"/", ((b"Host", b""),)),),
    ),
    Case(
        "Host with an IPv6 literal and port",
        HOST_RULE,
        FIELDS,
        request(b"GET / HTTP/1.1", b"Host: [::1]:8080"),
        (Served("GET", b"/", ((b"Host", b"[::1]:8080"),)),),
    ),
]


def _many(count: int) -> bytes:
    return get(*(b"X-%d: v" % n for n in range(count)))


LIMITS = [
    Case(
        "100 fields with Host",
        f"{LIMIT}; 100 is within it",
        FIELDS,
        _many(99),
        (Served("GET", b"/", (HOST_PAIR, *((b"X-%d" % n, b"v") for n in range(99)))),),
    ),
    Case("101 fields", LIMIT, FIELDS, _many(100), (Refused(431),)),
    Case("1000 fields", LIMIT, FIELDS, _many(1000), (Refused(431),)),
    Case("one value of 70 KiB", LIMIT, FIELDS, get(b"X: " + b"a" * 70_000), (Refused(431),)),
    Case("one name of 70 KiB", LIMIT, FIELDS, get(b"X" * 70_000 + b": a"), (Refused(431),)),
    Case(
        "twenty values of 4 KiB",
        f"{LIMIT}; the whole header section counts",
        FIELDS,
        get(*(b"X-%d: " % n + b"a" * 4096 for n in range(20))),
        (Refused(431),),
    ),
    Case(
        "a value of 8 KiB is within the limit",
        f"{LIMIT}; 8 KiB is within it",
        FIELDS,
        get(b"X: " + b"a" * 8192),
        (Served("GET", b"/", (HOST_PAIR, (b"X", b"a" * 8192))),),
    ),
]

CASES = [*EDGE_CASES, *CONTROLS, *SYNTAX, *REPEATS, *HOSTS, *LIMITS]
