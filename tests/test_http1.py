"""The project's one HTTP/1 client side (bench/http1.py): every framing, in any split of the
bytes; answers to HEAD; the blocking helpers over a real socket; the request bytes."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bench.http1 import (
    IncompleteResponse,
    MalformedResponse,
    Response,
    ResponseReader,
    parse_response,
    parse_responses,
    read_response,
    read_responses,
    request_bytes,
)

HELLO = b"Hello, world!"
FRAMED = {
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"7\r\nHello, \r\n6\r\nworld!\r\n0\r\n\r\n",
}
FRAMING_HEADER = {
    "content-length": (b"Content-Length", b"13"),
    "chunked": (b"Transfer-Encoding", b"chunked"),
}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize("framing", FRAMED)
@pytest.mark.parametrize("piece", [1, 2, 7, 1000])
def test_a_framed_response_in_any_split(framing: str, piece: int) -> None:
    data = FRAMED[framing] * 2  # two responses on one connection
    reader, got = ResponseReader(), []
    for start in range(0, len(data), piece):
        got += reader.feed(data[start : start + piece])
    expected = Response(200, HELLO, True, (FRAMING_HEADER[framing],), "1.1")
    assert got == [expected] * 2
    assert reader.eof() is None  # nothing half-read when the server closes
    assert not reader.partial


def test_a_body_that_ends_with_the_connection() -> None:
    reader = ResponseReader()
    assert reader.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHello, ") == []
    assert reader.feed(b"world!") == []
    assert reader.eof() == Response(200, HELLO, False, ((b"Connection", b"close"),))


def test_the_status_and_whether_the_connection_stays() -> None:
    [busy] = ResponseReader().feed(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"
    )
    assert (busy.status, busy.body, busy.keep_alive) == (503, b"busy", True)
    [closing] = ResponseReader().feed(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    )
    assert (closing.status, closing.body, closing.keep_alive) == (200, b"ok", False)
    [old] = ResponseReader().feed(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert (old.status, old.body, old.keep_alive, old.version) == (200, b"ok", False, "1.0")


def test_headers_as_sent_and_looked_up_in_any_case() -> None:
    [response] = ResponseReader().feed(
        b"HTTP/1.1 200 OK\r\nX-Twice: a\r\nContent-Length: 0\r\nx-twice: b\r\n\r\n"
    )
    assert response.headers == ((b"X-Twice", b"a"), (b"Content-Length", b"0"), (b"x-twice", b"b"))
    assert response.header("content-length") == "0"
    assert response.header("X-TWICE") == "a, b"
    assert response.header("Date") is None


def test_a_close_before_the_whole_response_gives_nothing() -> None:
    reader = ResponseReader()
    assert reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello") == []
    assert reader.partial and reader.partial_status == 200
    assert reader.eof() is None
    assert ResponseReader().eof() is None  # no byte at all


def test_the_status_of_a_response_under_way() -> None:
    reader = ResponseReader()
    assert reader.partial_status is None and not reader.partial
    reader.feed(b"HTTP/1.1 40")
    assert reader.partial and reader.partial_status is None  # two digits are not a status yet
    reader.feed(b"0")
    assert reader.partial_status == 400
    reader.feed(b" Bad Request\r\nContent-Length: 0\r\n\r\n")
    assert not reader.partial and reader.partial_status is None


def test_bytes_that_are_not_http_are_refused() -> None:
    with pytest.raises(MalformedResponse):
        ResponseReader().feed(b"NOT HTTP AT ALL\r\n\r\n")


@pytest.mark.parametrize("piece", [1, 5, 1000])
def test_answers_to_head_end_with_their_head(piece: int) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n"
    empty = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    data = head + empty + head  # pipelined: each must start right after the last head
    reader, got = ResponseReader(head=True), []
    for start in range(0, len(data), piece):
        got += reader.feed(data[start : start + piece])
    assert [(r.status, r.body, r.header("Content-Length")) for r in got] == [
        (200, b"", "13"),
        (200, b"", "0"),
        (200, b"", "13"),
    ]
    assert not reader.partial and reader.eof() is None


def test_receive_takes_an_empty_read_for_the_close() -> None:
    reader = ResponseReader()
    assert reader.receive(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHel") == []
    assert [r.body for r in reader.receive(b"")] == [b"Hel"]  # the close ends this body
    framed = ResponseReader()
    framed.receive(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHel")
    with pytest.raises(IncompleteResponse):
        framed.receive(b"")
    with pytest.raises(IncompleteResponse):
        ResponseReader().receive(b"")  # closed with no answer at all


def test_every_response_of_a_byte_string() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbye"
    assert [r.body for r in parse_responses(OK + FRAMED["chunked"] + closing)] == [
        b"ok",
        HELLO,
        b"bye",
    ]
    assert parse_responses(b"") == []
    with pytest.raises(IncompleteResponse):
        parse_responses(OK + b"HTTP/1.1 200 OK\r\nContent-Le")
    with pytest.raises(MalformedResponse):
        parse_responses(OK + b"garbage\r\n\r\n")


def test_the_one_response_of_a_byte_string() -> None:
    assert parse_response(OK).body == b"ok"
    assert parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n", head=True).body == b""
    for data in (b"", OK + OK):
        with pytest.raises(MalformedResponse):
            parse_response(data)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    client, server = socket.socketpair()
    client.settimeout(5)
    with client, server:
        yield client, server


def test_read_a_response_without_waiting_for_the_close(pair) -> None:
    client, server = pair
    server.sendall(FRAMED["content-length"])
    assert read_response(client).body == HELLO  # the server still holds the connection open
    server.sendall(OK[:10])
    server.sendall(OK[10:])
    assert read_response(client).body == b"ok"


def test_read_pipelined_responses_with_the_connections_reader(pair) -> None:
    client, server = pair
    server.sendall(OK + FRAMED["chunked"] + OK[:5])
    reader = ResponseReader()
    assert [r.body for r in read_responses(client, 2, reader)] == [b"ok", HELLO]
    server.sendall(OK[5:])
    assert read_response(client, reader).body == b"ok"  # its first bytes came with the others


def test_read_reports_a_close_mid_response_and_an_answer_not_asked_for(pair) -> None:
    client, server = pair
    server.sendall(OK + OK)
    with pytest.raises(MalformedResponse):
        read_response(client)
    server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello")
    server.close()
    with pytest.raises(IncompleteResponse):
        read_response(client)


def test_a_response_ended_by_the_close_is_read_whole(pair) -> None:
    client, server = pair
    server.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHello, world!")
    server.shutdown(socket.SHUT_WR)
    response = read_response(client)
    assert (response.body, response.keep_alive) == (HELLO, False)


def test_the_request_bytes() -> None:
    assert request_bytes("127.0.0.1:8000", "/hello/") == (
        b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: bench\r\n\r\n"
    )
    assert b"\r\nConnection: close\r\n\r\n" in request_bytes("[::1]:80", "/", close=True)
    assert request_bytes() == request_bytes("127.0.0.1", "/hello/")
    padded = request_bytes(padding=100)
    assert b"\r\nX-Padding: " + b"x" * 100 + b"\r\n\r\n" in padded
    assert len(padded) == len(request_bytes()) + len(b"X-Padding: \r\n") + 100
