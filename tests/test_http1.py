"""The raw user's response reader (bench/http1.py): every framing, in any split of the bytes."""

from __future__ import annotations

import pytest

from bench.http1 import MalformedResponse, Response, ResponseReader, request_bytes

FRAMED = {
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"7\r\nHello, \r\n6\r\nworld!\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("framing", FRAMED)
@pytest.mark.parametrize("piece", [1, 2, 7, 1000])
def test_a_framed_response_in_any_split(framing: str, piece: int) -> None:
    data = FRAMED[framing] * 2  # two responses on one connection
    reader, got = ResponseReader(), []
    for start in range(0, len(data), piece):
        got += reader.feed(data[start : start + piece])
    assert got == [Response(200, b"Hello, world!", True)] * 2
    assert reader.eof() is None  # nothing half-read when the server closes


def test_a_body_that_ends_with_the_connection() -> None:
    reader = ResponseReader()
    assert reader.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHello, ") == []
    assert reader.feed(b"world!") == []
    assert reader.eof() == Response(200, b"Hello, world!", False)


def test_the_status_and_whether_the_connection_stays() -> None:
    assert ResponseReader().feed(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"
    ) == [Response(503, b"busy", True)]
    assert ResponseReader().feed(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    ) == [Response(200, b"ok", False)]
    assert ResponseReader().feed(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok") == [
        Response(200, b"ok", False)
    ]


def test_a_close_before_the_whole_response_gives_nothing() -> None:
    reader = ResponseReader()
    assert reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello") == []
    assert reader.eof() is None
    assert ResponseReader().eof() is None  # no byte at all


def test_bytes_that_are_not_http_are_refused() -> None:
    with pytest.raises(MalformedResponse):
        ResponseReader().feed(b"NOT HTTP AT ALL\r\n\r\n")


def test_the_request_bytes() -> None:
    assert request_bytes("127.0.0.1:8000", "/hello/") == (
        b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: bench\r\n\r\n"
    )
    assert b"\r\nConnection: close\r\n\r\n" in request_bytes("[::1]:80", "/", close=True)
