"""The sans-IO request parser: any split of the stream, bodies, limits, errors."""

from __future__ import annotations

import pytest

from bench.scenarios.hostile_cases import CASES
from servers.parser import EXPECT_CONTINUE, Limits, ProtocolError, Request, RequestParser

TWO_REQUESTS = (
    b"GET /a%20b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-Twice: 1\r\nX-Twice: 2\r\n\r\n"
    b"POST /form HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
)


def feed_all(parser: RequestParser, data: bytes, step: int | None = None) -> list:
    step = step or len(data)
    events = []
    for start in range(0, len(data), step):
        events += parser.feed(data[start : start + step])
    return events


@pytest.mark.parametrize("step", [1, 2, 7, 64, None])
def test_pipelined_requests_in_any_split(step: int | None) -> None:
    events = feed_all(RequestParser(), TWO_REQUESTS, step)
    assert [type(e) for e in events] == [Request, Request]
    first, second = events
    assert (first.method, first.path, first.query) == ("GET", b"/a%20b", b"x=1&y=2")
    assert first.headers == [(b"Host", b"h"), (b"X-Twice", b"1"), (b"X-Twice", b"2")]
    assert first.http_version == "1.1" and first.keep_alive and first.body == b""
    assert (second.method, second.body) == ("POST", b"abcdefg")


def test_content_length_body() -> None:
    data = b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    [request] = feed_all(RequestParser(), data, 3)
    assert request.body == b"hello"


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\n", True),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n", False),
        (b"GET / HTTP/1.0\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n", True),
    ],
)
def test_keep_alive_follows_version_and_connection(head: bytes, keep_alive: bool) -> None:
    [request] = RequestParser().feed(head + b"Host: h\r\n\r\n")
    assert request.keep_alive is keep_alive


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02garbage\r\n\r\n",
        b"GET / HTTP/1.10\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_requests_are_400(data: bytes) -> None:
    events = RequestParser().feed(data)
    assert len(events) == 1 and isinstance(events[0], ProtocolError)
    assert events[0].status == 400


@pytest.mark.parametrize("version", [b"9.9", b"3.0", b"2.0", b"0.9"])
def test_a_major_version_we_do_not_speak_is_505(version: bytes) -> None:
    # RFC 9110 §15.6.6; a well-formed 9.9 was llhttp's 400 before the core judged versions
    [error] = RequestParser().feed(b"GET / HTTP/" + version + b"\r\nHost: h\r\n\r\n")
    assert error.status == 505


def test_a_later_http1_minor_version_is_served_as_1_1() -> None:
    # RFC 9110 §2.5: processed as the highest minor version of HTTP/1 we implement
    [request] = RequestParser().feed(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n")
    assert request.http_version == "1.1" and request.keep_alive


def test_error_comes_after_the_good_requests_and_ends_the_stream() -> None:
    parser = RequestParser()
    events = parser.feed(b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\nNONSENSE\x00\r\n\r\n")
    assert isinstance(events[0], Request) and isinstance(events[1], ProtocolError)
    assert parser.feed(b"GET / HTTP/1.1\r\n\r\n") == []  # nothing more is trusted


def test_declared_body_over_limit_is_413_before_the_body_arrives() -> None:
    parser = RequestParser(Limits(max_body_bytes=100))
    [error] = parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n")
    assert error.status == 413


def test_chunked_body_over_limit_is_413() -> None:
    parser = RequestParser(Limits(max_body_bytes=10))
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert parser.feed(head + b"8\r\n12345678\r\n") == []
    [error] = parser.feed(b"8\r\n12345678\r\n")
    assert error.status == 413


@pytest.mark.parametrize("step", [1, 1000, None])
def test_headers_over_limit_are_431(step: int | None) -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n"
    events = feed_all(RequestParser(Limits(max_header_bytes=4096)), data, step)
    assert [e.status for e in events] == [431]


def test_too_many_headers_is_431() -> None:
    data = b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(11)) + b"\r\n"
    [error] = RequestParser(Limits(max_headers=10)).feed(data)
    assert error.status == 431


def test_long_target_is_414() -> None:
    data = b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n\r\n"
    [error] = RequestParser(Limits(max_target_bytes=50)).feed(data)
    assert error.status == 414


def test_a_request_line_that_never_ends_is_refused_not_held() -> None:
    # servers/wire.py holds a request line until its end comes: only up to the target's limit
    parser = RequestParser(Limits(max_target_bytes=50))
    assert parser.feed(b"GET /") == []
    [error] = parser.feed(b"a" * 200)
    assert error.status == 414
    garbage = RequestParser(Limits(max_target_bytes=50))
    [error] = garbage.feed(b"x" * 200)
    assert error.status == 400


def test_chunk_lines_are_checked_whole_in_any_split() -> None:
    body = b"5;a=b\r\nabcde\r\n3;=x\r\nabc\r\n0\r\n\r\n"  # the second has no name
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    for step in (1, 7, len(data)):
        parser = RequestParser()
        events = [e for i in range(0, len(data), step) for e in parser.feed(data[i : i + step])]
        assert [getattr(e, "status", None) for e in events] == [400], step


def test_expect_continue_is_an_event_before_the_body() -> None:
    parser = RequestParser()
    head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    assert parser.feed(head) == [EXPECT_CONTINUE]
    [request] = parser.feed(b"ok")
    assert request.body == b"ok"


def test_eof_mid_request_is_an_error_and_between_requests_is_not() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab")
    assert [e.status for e in parser.feed_eof()] == [400]
    idle = RequestParser()
    idle.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert idle.feed_eof() == []


def test_upgrade_is_served_as_plain_http_then_closed() -> None:
    parser = RequestParser()
    [request] = parser.feed(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00"
    )
    assert request.path == b"/ws" and request.keep_alive is False


CORE_CASES = [case for case in CASES if not case.slow]  # the slow ones are the drivers' timers


@pytest.mark.parametrize("step", [1, None])
@pytest.mark.parametrize("case", CORE_CASES, ids=[case.name for case in CORE_CASES])
def test_hostile_case_gets_the_same_answer_in_any_split(case, step: int | None) -> None:
    events = feed_all(RequestParser(), b"".join(case.pieces), step)
    if case.refused:
        assert isinstance(events[-1], ProtocolError) and events[-1].status == case.status
        assert not any(isinstance(event, Request) for event in events)
    else:
        assert [type(event) for event in events] == [Request]


CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_trailer_fields_are_dropped_not_merged_into_the_headers() -> None:
    # Merged, these would reach the app as a second Host and a forged X-Forwarded-For that a
    # proxy in front, checking only the header section, never saw (RFC 9110 §6.5.1).
    data = CHUNKED_HEAD + b"2\r\nok\r\n0\r\nHost: evil\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"
    [request] = feed_all(RequestParser(), data, 3)
    assert request.headers == [(b"Host", b"h"), (b"Transfer-Encoding", b"chunked")]
    assert request.body == b"ok"


def test_a_trailer_that_never_ends_is_431_not_memory() -> None:
    parser = RequestParser(Limits(max_header_bytes=4096))
    assert parser.feed(CHUNKED_HEAD + b"0\r\nX-Trailer: ") == []
    events: list = []
    for _ in range(100):  # 6.4 KB: past the limit, far below what a client could send
        events += parser.feed(b"a" * 64)
    assert [error.status for error in events] == [431]


def test_chunk_data_does_not_count_as_header_bytes() -> None:
    parser = RequestParser(Limits(max_header_bytes=1024))
    assert parser.feed(CHUNKED_HEAD + b"1000\r\n") == []
    assert all(parser.feed(b"a" * 64) == [] for _ in range(64))  # 4 KiB of one chunk's data
    [request] = parser.feed(b"\r\n0\r\n\r\n")
    assert len(request.body) == 4096


def test_absolute_form_authority_replaces_the_host_header() -> None:
    data = b"GET http://other.example:8080/a?b=1 HTTP/1.1\r\nHost: h\r\nX: y\r\n\r\n"
    [request] = RequestParser().feed(data)
    assert (request.path, request.query) == (b"/a", b"b=1")
    assert request.headers == [(b"X", b"y"), (b"Host", b"other.example:8080")]


def test_options_asterisk_reaches_the_app_as_path_star() -> None:
    [request] = RequestParser().feed(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")
    assert (request.method, request.path, request.query) == ("OPTIONS", b"*", b"")


def test_a_request_begins_with_its_first_byte() -> None:
    # A client that sends its method one byte a second is slow, not idle: it gets a 408.
    parser = RequestParser()
    assert parser.feed(b"\r\n") == [] and not parser.in_request  # a stray CRLF is allowed
    assert parser.feed(b"G") == [] and parser.in_request


def test_whitespace_after_a_value_is_not_part_of_it() -> None:
    # RFC 9110 §5.5: whitespace around a field value is not part of it; llhttp strips only the
    # whitespace before it, the core the whitespace after it (so Host is valid, and bare).
    [request] = RequestParser().feed(b"GET / HTTP/1.1\r\nHost: h:80 \t\r\nX: \xa0a b\xa0\t\r\n\r\n")
    assert request.headers == [(b"Host", b"h:80"), (b"X", b"\xa0a b\xa0")]
