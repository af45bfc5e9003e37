"""Request-line cases (RFC 9112 §3, RFC 9110 §9.1): methods as tokens, the target's four forms,
the protocol name and version, and the single spaces between them."""

from __future__ import annotations

from bench.conformance.cases import (
    HOST,
    HOST_PAIR,
    REQUEST_LINE,
    Case,
    Refused,
    Served,
    get,
    request,
    served_get,
)

TOKEN = "RFC 9110 §9.1 the method is a case-sensitive token"
UNKNOWN = "RFC 9110 §9.1 an unrecognized method gets 501 (Not Implemented)"
LINE = "RFC 9112 §3 request-line = method SP request-target SP HTTP-version"
SAFER_SPACES = (
    "§3 lets a recipient split on any whitespace; the safer reading is the grammar's single SP, "
    "since two parsers that split differently read two different targets"
)


def _method(method: bytes, *fields: bytes) -> bytes:
    return request(method + b" / HTTP/1.1", HOST, *fields)


def _served(method: str) -> Case:
    return Case(
        f"method {method} reaches the application",
        f"{TOKEN}; the application decides what it implements",
        REQUEST_LINE,
        _method(method.encode()),
        (Served(method, b"/", (HOST_PAIR,)),),
    )


def _unknown(method: bytes, why: str) -> Case:
    return Case(
        f"unknown method token {method!r} ({why})",
        UNKNOWN,
        REQUEST_LINE,
        _method(method),
        (Refused(501),),
        "a token the core cannot parse past: 501, then close (its framing is unknown)",
    )


def _not_a_token(method: bytes, why: str) -> Case:
    return Case(
        f"method {method!r} is not a token ({why})",
        f"{TOKEN}: anything else is a malformed request-line, 400",
        REQUEST_LINE,
        _method(method),
        (Refused(400),),
    )


def _line(
    name: str, line: bytes, expected: Refused | Served, rule: str = LINE, note: str = ""
) -> Case:
    return Case(name, rule, REQUEST_LINE, request(line, HOST), (expected,), note)


METHODS = [
    _served(m)
    for m in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "PROPFIND", "QUERY")
]

UNKNOWN_METHODS = [
    _unknown(b"FOO", "no llhttp method starts so"),
    _unknown(b"get", "methods are case-sensitive"),
    _unknown(b"Get", "methods are case-sensitive"),
    _unknown(b"GETX", "a known method's prefix"),
    _unknown(b"PROP", "a prefix of PROPFIND"),
    _unknown(b"POSTS", "a known method and more"),
    _unknown(b"BREW", "letters only"),
    _unknown(b"X-METHOD", "a hyphen"),
    _unknown(b"M_SEARCH", "an underscore"),
    _unknown(b"GET2", "a digit"),
    _unknown(b"A", "one letter"),
    _unknown(b"!#$%&'*+-.^_`|~", "every tchar symbol"),
    _unknown(b"DESCRIBE", "an RTSP method, not HTTP's"),
]

NOT_TOKENS = [
    _not_a_token(b"G@T", "@ is a delimiter"),
    _not_a_token(b"GE(T", "( is a delimiter"),
    _not_a_token(b'GE"T', "DQUOTE"),
    _not_a_token(b"GE,T", "comma"),
    _not_a_token(b"GE/T", "slash"),
    _not_a_token(b"GE:T", "colon"),
    _not_a_token(b"GE\x00T", "NUL"),
    _not_a_token(b"GE\x7fT", "DEL"),
    _not_a_token(b"G\xc3\x89T", "non-ASCII"),
    _not_a_token(b"[GET]", "brackets"),
]

SPACES = [
    _line("empty method", b" / HTTP/1.1", Refused(400)),
    _line("leading space before the method", b" GET / HTTP/1.1", Refused(400)),
    _line("tab after the method", b"GET\t/ HTTP/1.1", Refused(400)),
    _line("two spaces after the method", b"GET  / HTTP/1.1", Refused(400), note=SAFER_SPACES),
    _line("two spaces before the version", b"GET /  HTTP/1.1", Refused(400), note=SAFER_SPACES),
    _line("space after the version", b"GET / HTTP/1.1 ", Refused(400)),
    _line("tab before the version", b"GET /\tHTTP/1.1", Refused(400)),
    _line("space inside the target", b"GET /a b HTTP/1.1", Refused(400)),
    _line("no target at all", b"GET HTTP/1.1", Refused(400)),
    _line("vertical tab as separator", b"GET\x0b/ HTTP/1.1", Refused(400)),
]

PROTOCOL = 'RFC 9112 §2.3 HTTP-name is %s"HTTP", case-sensitive'
PROTOCOLS = [
    _line("RTSP protocol name with GET", b"GET / RTSP/1.0", Refused(400), PROTOCOL),
    _line("RTSP protocol name with OPTIONS *", b"OPTIONS * RTSP/1.0", Refused(400), PROTOCOL),
    _line("RTSP protocol name with POST", b"POST / RTSP/1.0", Refused(400), PROTOCOL),
    _line("ICE protocol name with SOURCE", b"SOURCE / ICE/1.0", Refused(400), PROTOCOL),
    _line("lower-case http", b"GET / http/1.1", Refused(400), PROTOCOL),
    _line("HTTPS as the protocol name", b"GET / HTTPS/1.1", Refused(400), PROTOCOL),
    _line("space inside the version", b"GET / HTTP /1.1", Refused(400), PROTOCOL),
    _line("backslash for slash", b"GET / HTTP\\1.1", Refused(400), PROTOCOL),
]

VERSION = 'RFC 9112 §2.3 HTTP-version = HTTP-name "/" DIGIT "." DIGIT'
MAJOR = "RFC 9110 §15.6.6 505 for a major version the server does not support"
MINOR = (
    "RFC 9110 §2.5 a higher minor version of a major version we implement is processed as the "
    "highest minor version we implement"
)
VERSIONS = [
    Case(
        "HTTP/1.0 request is served and closed",
        "RFC 9112 §9.3 an HTTP/1.0 connection is not persistent unless asked",
        REQUEST_LINE,
        get(version=b"1.0"),
        (Served("GET", b"/", (HOST_PAIR,), close=True, version="1.0"),),
    ),
    Case(
        "HTTP/1.2 is processed as HTTP/1.1",
        MINOR,
        REQUEST_LINE,
        get(version=b"1.2"),
        (served_get(),),
    ),
    Case(
        "HTTP/1.9 is processed as HTTP/1.1",
        MINOR,
        REQUEST_LINE,
        get(version=b"1.9"),
        (served_get(),),
    ),
    _line("HTTP/2.0 request line", b"GET / HTTP/2.0", Refused(505), MAJOR),
    _line("HTTP/3.0 request line", b"GET / HTTP/3.0", Refused(505), MAJOR),
    _line("HTTP/9.9 request line", b"GET / HTTP/9.9", Refused(505), MAJOR),
    _line(
        "HTTP/0.9 request line",
        b"GET /",
        Refused(505),
        MAJOR,
        "no version: an HTTP/0.9 simple request, which we do not speak",
    ),
    _line("version with two digits of minor", b"GET / HTTP/1.10", Refused(400), VERSION),
    _line("version with a leading zero", b"GET / HTTP/01.1", Refused(400), VERSION),
    _line("version without a minor", b"GET / HTTP/1", Refused(400), VERSION),
    _line("version with three parts", b"GET / HTTP/1.1.1", Refused(400), VERSION),
    _line("version letters", b"GET / HTTP/a.b", Refused(400), VERSION),
    _line("no version after HTTP/", b"GET / HTTP/", Refused(400), VERSION),
]

ORIGIN = 'RFC 9112 §3.2.1 origin-form = absolute-path [ "?" query ]'
ABSOLUTE = "RFC 9112 §3.2.2 a server MUST accept absolute-form; its authority replaces Host"
AUTHORITY = "RFC 9112 §3.2.3 authority-form is only used for CONNECT"
ASTERISK = "RFC 9112 §3.2.4 asterisk-form is only used for OPTIONS"
TARGETS = [
    Case("root target", ORIGIN, REQUEST_LINE, get(), (served_get(),)),
    Case(
        "path and query",
        ORIGIN,
        REQUEST_LINE,
        get(target=b"/a/b?c=d&e=f"),
        (served_get(target=b"/a/b?c=d&e=f"),),
    ),
    Case(
        "query holding ? and /",
        "RFC 3986 §3.4 (via RFC 9112 §3.2.1) a query may hold / and ?",
        REQUEST_LINE,
        get(target=b"/a?b?c/d"),
        (served_get(target=b"/a?b?c/d"),),
    ),
    Case(
        "fragment in the target",
        f"{ORIGIN}: no fragment, so a target with # is malformed",
        REQUEST_LINE,
        get(target=b"/a#b"),
        (Refused(400),),
        "a server may also drop the fragment; refusing is safer: a proxy that kept it and one "
        "that cut it would route two different paths",
    ),
    Case(
        "absolute-form http target",
        ABSOLUTE,
        REQUEST_LINE,
        get(target=b"http://other.example/a?b"),
        (Served("GET", b"http://other.example/a?b", ((b"Host", b"other.example"),)),),
    ),
    Case(
        "absolute-form https target with a port",
        ABSOLUTE,
        REQUEST_LINE,
        get(target=b"https://other.example:8443/x"),
        (Served("GET", b"https://other.example:8443/x", ((b"Host", b"other.example:8443"),)),),
    ),
    Case(
        "absolute-form scheme in capitals",
        f"{ABSOLUTE}; RFC 3986 §3.1 schemes are case-insensitive",
        REQUEST_LINE,
        get(target=b"HTTP://other.example/"),
        (Served("GET", b"HTTP://other.example/", ((b"Host", b"other.example"),)),),
    ),
    Case(
        "absolute-form with userinfo",
        "RFC 9110 §4.2.4 a recipient SHOULD treat userinfo in an http URI as an error",
        REQUEST_LINE,
        get(target=b"http://user@other.example/"),
        (Refused(400),),
    ),
    Case(
        "absolute-form with an ftp scheme",
        f"{ABSOLUTE}; an origin server serves http and https only",
        REQUEST_LINE,
        get(target=b"ftp://other.example/"),
        (Refused(400),),
        "a proxy would forward it; we are no proxy, so nothing can serve it",
    ),
    Case(
        "OPTIONS * reaches the application",
        ASTERISK,
        REQUEST_LINE,
        request(b"OPTIONS * HTTP/1.1", HOST),
        (Served("OPTIONS", b"*", (HOST_PAIR,)),),
    ),
    _line("GET *", b"GET * HTTP/1.1", Refused(400), ASTERISK),
    _line("authority-form with GET", b"GET other.example:80 HTTP/1.1", Refused(400), AUTHORITY),
    _line("relative path target", b"GET a/b HTTP/1.1", Refused(400), ORIGIN),
    _line("control byte in the target", b"GET /a\x01b HTTP/1.1", Refused(400), ORIGIN),
    _line("DEL in the target", b"GET /a\x7f HTTP/1.1", Refused(400), ORIGIN),
    Case(
        "target over the 8 KiB limit",
        "RFC 9112 §3 a server that receives a request-target longer than it wishes to parse "
        "MUST respond 414",
        REQUEST_LINE,
        get(target=b"/" + b"a" * 9000),
        (Refused(414),),
    ),
    Case(
        "empty line before the request line",
        "RFC 9112 §2.2 a server SHOULD ignore at least one empty line before the request-line",
        REQUEST_LINE,
        b"\r\n" + get(),
        (served_get(),),
    ),
]

CONNECT = "RFC 9110 §9.3.6 CONNECT asks for a tunnel, which an origin server does not implement"
CONNECTS = [
    _line(
        "CONNECT in authority-form",
        b"CONNECT other.example:443 HTTP/1.1",
        Refused(501),
        f"{CONNECT}: 501 (§9.1)",
        "never the application: it is not a request for a resource",
    ),
    Case(
        "CONNECT with a body",
        f"{CONNECT}: 501 (§9.1), and the bytes after it cannot be framed",
        REQUEST_LINE,
        request(
            b"CONNECT other.example:443 HTTP/1.1",
            b"Host: other.example:443",
            b"Content-Length: 3",
            body=b"abc",
        ),
        (Refused(501),),
    ),
    _line(
        "CONNECT in origin-form",
        b"CONNECT / HTTP/1.1",
        Refused(400),
        "RFC 9112 §3.2.3 a CONNECT request-target is authority-form only",
    ),
    _line(
        "CONNECT in absolute-form",
        b"CONNECT http://other.example/ HTTP/1.1",
        Refused(400),
        "RFC 9112 §3.2.3 a CONNECT request-target is authority-form only",
    ),
    _line(
        "CONNECT with userinfo",
        b"CONNECT user@other.example:443 HTTP/1.1",
        Refused(400),
        'RFC 9112 §3.2.3 authority-form = uri-host ":" port, no userinfo',
    ),
]

CASES = [
    *METHODS,
    *UNKNOWN_METHODS,
    *NOT_TOKENS,
    *SPACES,
    *PROTOCOLS,
    *VERSIONS,
    *TARGETS,
    *CONNECTS,
]
