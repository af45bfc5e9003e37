"""Connection cases (RFC 9112 §9, RFC 9110 §7.6, §7.8, §10.1.1): pipelining after valid and
invalid requests, Expect: 100-continue, Connection options, Upgrade, HTTP/1.0 keep-alive."""

from __future__ import annotations

from bench.conformance.cases import (
    CONNECTION,
    HOST,
    HOST_PAIR,
    Case,
    Continue,
    Incomplete,
    Refused,
    Served,
    get,
    post,
    request,
    served_get,
)

PIPELINE = "RFC 9112 §9.3.2 a server MAY process pipelined requests in parallel, answering in order"
AFTER_ERROR = "RFC 9112 §9.3.2 requests before a bad one are answered; nothing after it is read"
CLOSE = "RFC 9112 §9.6 after a request with close the server MUST NOT process further requests"
KEEP = "RFC 9112 §9.3 HTTP/1.1 is persistent unless close is sent"
KEEP10 = "RFC 9112 §9.3 an HTTP/1.0 connection persists only with keep-alive (Appendix C.2.2)"
EXPECT = "RFC 9110 §10.1.1 a server that receives 100-continue sends 100 before reading the body"
EXPECT10 = "RFC 9110 §10.1.1 a server MUST ignore 100-continue in an HTTP/1.0 request"
UPGRADE = "RFC 9110 §7.8 a server MAY ignore Upgrade; the request is read whole, body included"
UPGRADE_NOTE = "we speak no other protocol; the safer reading also closes after the answer"
SECOND = b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
SERVED_SECOND = served_get(target=b"/2")
POSTED = Served("POST", b"/", (HOST_PAIR, (b"Content-Length", b"3")), b"abc")


def _then_bad(name: str, bad: bytes, status: int) -> Case:
    return Case(
        f"valid request then {name}",
        AFTER_ERROR,
        CONNECTION,
        get() + bad,
        (served_get(), Refused(status)),
    )


def _keep(name: str, fields: tuple[bytes, ...], version: bytes, close: bool, rule: str) -> Case:
    data = request(b"GET / HTTP/" + version, HOST, *fields)
    headers = (HOST_PAIR, *((f.partition(b": ")[0], f.partition(b": ")[2]) for f in fields))
    expected = Served("GET", b"/", headers, close=close, version=version.decode())
    return Case(name, rule, CONNECTION, data, (expected,))


PIPELINING = [
    Case(
        "two GETs in one read", PIPELINE, CONNECTION, get() + SECOND, (served_get(), SERVED_SECOND)
    ),
    Case(
        "three GETs in one read",
        PIPELINE,
        CONNECTION,
        get() + SECOND + SECOND,
        (served_get(), SERVED_SECOND, SERVED_SECOND),
    ),
    Case(
        "POST with a body then GET",
        PIPELINE,
        CONNECTION,
        post(b"Content-Length: 3", body=b"abc") + SECOND,
        (POSTED, SERVED_SECOND),
    ),
    Case(
        "chunked POST then GET",
        PIPELINE,
        CONNECTION,
        post(b"Transfer-Encoding: chunked", body=b"3\r\nabc\r\n0\r\n\r\n") + SECOND,
        (
            Served("POST", b"/", (HOST_PAIR, (b"Transfer-Encoding", b"chunked")), b"abc"),
            SERVED_SECOND,
        ),
    ),
    Case(
        "chunked POST with trailers then GET",
        PIPELINE,
        CONNECTION,
        post(b"Transfer-Encoding: chunked", body=b"3\r\nabc\r\n0\r\nX: y\r\n\r\n") + SECOND,
        (
            Served("POST", b"/", (HOST_PAIR, (b"Transfer-Encoding", b"chunked")), b"abc"),
            SERVED_SECOND,
        ),
    ),
    Case(
        "a request inside a body is body",
        "RFC 9112 §6.3 the body is exactly the declared length",
        CONNECTION,
        post(b"Content-Length: 28", body=SECOND),
        (Served("POST", b"/", (HOST_PAIR, (b"Content-Length", b"28")), SECOND),),
    ),
    Case(
        "empty lines between requests",
        f"{PIPELINE}; RFC 9112 §2.2 empty lines are ignored",
        CONNECTION,
        get() + b"\r\n" + SECOND,
        (served_get(), SERVED_SECOND),
    ),
    _then_bad("garbage", b"NONSENSE\x00\r\n\r\n", 400),
    _then_bad(
        "Content-Length and Transfer-Encoding",
        post(b"Content-Length: 3", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
        400,
    ),
    _then_bad("an HTTP/2.0 request line", b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    _then_bad("an unknown method", b"FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
    _then_bad("a bad chunk size", post(b"Transfer-Encoding: chunked", body=b"0x1\r\na\r\n"), 400),
    _then_bad("a request without Host", b"GET / HTTP/1.1\r\n\r\n", 400),
    _then_bad("a target over the limit", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    _then_bad("101 fields", b"GET / HTTP/1.1\r\n" + b"X: v\r\n" * 101 + b"\r\n", 431),
    _then_bad("obs-fold", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
    Case(
        "bad request then a valid one",
        AFTER_ERROR,
        CONNECTION,
        b"GET / HTTP/1.1\r\nX : y\r\n\r\n" + get(),
        (Refused(400),),
    ),
    Case(
        "valid request then half of one",
        "RFC 9112 §9.3.2 and §8: the rest is awaited",
        CONNECTION,
        get() + b"GET /2 HTTP/1.1\r\nHo",
        (served_get(), Incomplete()),
    ),
]

CONNECTIONS = [
    _keep("HTTP/1.1 persists", (), b"1.1", False, KEEP),
    _keep("Connection: close", (b"Connection: close",), b"1.1", True, CLOSE),
    _keep(
        "Connection: CLOSE in capitals",
        (b"Connection: CLOSE",),
        b"1.1",
        True,
        f"{CLOSE}; RFC 9110 §7.6.1 connection options are case-insensitive",
    ),
    _keep(
        "close after another option",
        (b"Connection: foo, close",),
        b"1.1",
        True,
        f"{CLOSE}; RFC 9110 §7.6.1 Connection is a list",
    ),
    _keep("keep-alive and close", (b"Connection: keep-alive, close",), b"1.1", True, CLOSE),
    _keep(
        "close on a second Connection line",
        (b"Connection: keep-alive", b"Connection: close"),
        b"1.1",
        True,
        f"{CLOSE}; RFC 9110 §5.3 the lines form one list",
    ),
    _keep("Connection: keep-alive in HTTP/1.1", (b"Connection: keep-alive",), b"1.1", False, KEEP),
    _keep("HTTP/1.0 closes", (), b"1.0", True, KEEP10),
    _keep("HTTP/1.0 with keep-alive persists", (b"Connection: keep-alive",), b"1.0", False, KEEP10),
    _keep(
        "HTTP/1.0 with Keep-Alive in capitals",
        (b"Connection: Keep-Alive",),
        b"1.0",
        False,
        f"{KEEP10}; options are case-insensitive",
    ),
    _keep(
        "HTTP/1.0 with keep-alive and close",
        (b"Connection: keep-alive, close",),
        b"1.0",
        True,
        CLOSE,
    ),
    Case(
        "request after Connection: close is not read",
        CLOSE,
        CONNECTION,
        get(b"Connection: close") + SECOND,
        (served_get((b"Connection", b"close"), close=True),),
    ),
    Case(
        "HTTP/1.0 keep-alive then another request",
        KEEP10,
        CONNECTION,
        request(b"GET / HTTP/1.0", b"Connection: keep-alive") + request(b"GET /2 HTTP/1.0"),
        (
            Served("GET", b"/", ((b"Connection", b"keep-alive"),), version="1.0"),
            Served("GET", b"/2", (), close=True, version="1.0"),
        ),
    ),
    Case(
        "HTTP/1.0 without keep-alive then another request",
        KEEP10,
        CONNECTION,
        request(b"GET / HTTP/1.0") + request(b"GET /2 HTTP/1.0"),
        (Served("GET", b"/", (), close=True, version="1.0"),),
    ),
    Case(
        "HTTP/1.0 keep-alive POST with a body",
        KEEP10,
        CONNECTION,
        request(b"POST / HTTP/1.0", b"Connection: keep-alive", b"Content-Length: 2", body=b"ok")
        + request(b"GET /2 HTTP/1.0"),
        (
            Served(
                "POST",
                b"/",
                ((b"Connection", b"keep-alive"), (b"Content-Length", b"2")),
                b"ok",
                version="1.0",
            ),
            Served("GET", b"/2", (), close=True, version="1.0"),
        ),
    ),
]

_EXPECT = (b"Expect", b"100-continue")
EXPECTS = [
    Case(
        "Expect: 100-continue with a body",
        EXPECT,
        CONNECTION,
        post(b"Content-Length: 3", b"Expect: 100-continue", body=b"abc"),
        (Continue(), Served("POST", b"/", (HOST_PAIR, (b"Content-Length", b"3"), _EXPECT), b"abc")),
    ),
    Case(
        "Expect: 100-continue in capitals",
        f"{EXPECT}; expectations are case-insensitive",
        CONNECTION,
        post(b"Content-Length: 3", b"Expect: 100-Continue", body=b"abc"),
        (
            Continue(),
            Served(
                "POST",
                b"/",
                (HOST_PAIR, (b"Content-Length", b"3"), (b"Expect", b"100-Continue")),
                b"abc",
            ),
        ),
    ),
    Case(
        "Expect: 100-continue with a chunked body",
        EXPECT,
        CONNECTION,
        post(b"Transfer-Encoding: chunked", b"Expect: 100-continue", body=b"3\r\nabc\r\n0\r\n\r\n"),
        (
            Continue(),
            Served("POST", b"/", (HOST_PAIR, (b"Transfer-Encoding", b"chunked"), _EXPECT), b"abc"),
        ),
    ),
    Case(
        "Expect: 100-continue with an empty body",
        "RFC 9110 §10.1.1 no content, nothing to wait for",
        CONNECTION,
        post(b"Content-Length: 0", b"Expect: 100-continue"),
        (Served("POST", b"/", (HOST_PAIR, (b"Content-Length", b"0"), _EXPECT)),),
    ),
    Case(
        "Expect: 100-continue in HTTP/1.0",
        EXPECT10,
        CONNECTION,
        request(b"POST / HTTP/1.0", b"Content-Length: 3", b"Expect: 100-continue", body=b"abc"),
        (
            Served(
                "POST",
                b"/",
                ((b"Content-Length", b"3"), _EXPECT),
                b"abc",
                close=True,
                version="1.0",
            ),
        ),
    ),
    Case(
        "Expect: 100-continue, body not sent yet",
        EXPECT,
        CONNECTION,
        post(b"Content-Length: 3", b"Expect: 100-continue"),
        (Continue(), Incomplete()),
    ),
    Case(
        "unknown expectation",
        "RFC 9110 §10.1.1 a server MAY answer 417 to another expectation",
        CONNECTION,
        post(b"Content-Length: 3", b"Expect: teapot", body=b"abc"),
        (
            Served(
                "POST", b"/", (HOST_PAIR, (b"Content-Length", b"3"), (b"Expect", b"teapot")), b"abc"
            ),
        ),
        "serving it is the reading that needs no guess about what the client meant",
    ),
]

_WS = (b"Upgrade: websocket", b"Connection: upgrade")
_WS_PAIRS = ((b"Upgrade", b"websocket"), (b"Connection", b"upgrade"))
UPGRADES = [
    Case(
        "Upgrade without a body",
        UPGRADE,
        CONNECTION,
        get(*_WS) + SECOND,
        (served_get(*_WS_PAIRS, close=True),),
        UPGRADE_NOTE,
    ),
    Case(
        "Upgrade with a Content-Length body",
        UPGRADE,
        CONNECTION,
        post(*_WS, b"Content-Length: 3", body=b"abc"),
        (
            Served(
                "POST", b"/", (HOST_PAIR, *_WS_PAIRS, (b"Content-Length", b"3")), b"abc", close=True
            ),
        ),
        UPGRADE_NOTE,
    ),
    Case(
        "Upgrade with a chunked body",
        UPGRADE,
        CONNECTION,
        post(*_WS, b"Transfer-Encoding: chunked", body=b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
        (
            Served(
                "POST",
                b"/",
                (HOST_PAIR, *_WS_PAIRS, (b"Transfer-Encoding", b"chunked")),
                b"abcde",
                close=True,
            ),
        ),
        UPGRADE_NOTE,
    ),
    Case(
        "Upgrade with a body split from its head",
        UPGRADE,
        CONNECTION,
        post(*_WS, b"Content-Length: 10", body=b"0123456789") + SECOND,
        (
            Served(
                "POST",
                b"/",
                (HOST_PAIR, *_WS_PAIRS, (b"Content-Length", b"10")),
                b"0123456789",
                close=True,
            ),
        ),
        UPGRADE_NOTE,
    ),
    Case(
        "Upgrade with a body over the limit",
        "RFC 9110 §15.5.14 413 before the body is read",
        CONNECTION,
        post(*_WS, b"Content-Length: 10485761"),
        (Refused(413),),
    ),
    Case(
        "Upgrade without Connection: upgrade",
        "RFC 9110 §7.8 Upgrade is sent in Connection too; alone it is an ordinary field",
        CONNECTION,
        get(b"Upgrade: websocket") + SECOND,
        (served_get((b"Upgrade", b"websocket")), SERVED_SECOND),
    ),
    Case(
        "h2c Upgrade",
        UPGRADE,
        CONNECTION,
        get(
            b"Connection: Upgrade, HTTP2-Settings",
            b"Upgrade: h2c",
            b"HTTP2-Settings: AAMAAABkAAQAAP__",
        ),
        (
            served_get(
                (b"Connection", b"Upgrade, HTTP2-Settings"),
                (b"Upgrade", b"h2c"),
                (b"HTTP2-Settings", b"AAMAAABkAAQAAP__"),
                close=True,
            ),
        ),
        UPGRADE_NOTE,
    ),
    Case(
        "HTTP/2 connection preface",
        "RFC 9113 §3.4 the preface is not an HTTP/1.1 request; RFC 9110 §15.6.6 505",
        CONNECTION,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        (Refused(505),),
    ),
]

CASES = [*PIPELINING, *CONNECTIONS, *EXPECTS, *UPGRADES]
