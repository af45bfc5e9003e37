"""The sans-IO WSGI exchange: environ, start_response, framing, errors, close()."""

from __future__ import annotations

import io
import re
import sys
from wsgiref.validate import validator

import pytest

from bench.http1 import parse_response
from helloworld.plain import app as plain_app
from servers.options import ServerInfo
from servers.parser import Request, RequestParser
from servers.wsgi import WSGIExchange, build_environ

SERVER = ServerInfo(name="127.0.0.1", port=8888, software="servers/test")
PEER = ("127.0.0.1", 50000)
DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$")


def parse_request(data: bytes) -> Request:
    [request] = RequestParser().feed(data)
    return request


def get(path: str = "/hello/", version: str = "1.1", method: str = "GET") -> Request:
    return parse_request(f"{method} {path} HTTP/{version}\r\nHost: h\r\n\r\n".encode())


def run(app, request: Request, server: ServerInfo = SERVER) -> tuple[bytes, WSGIExchange]:
    exchange = WSGIExchange(app, request, server, PEER)
    return b"".join(exchange.chunks()), exchange


def test_hello_is_byte_correct_with_length_date_and_server() -> None:
    data, exchange = run(plain_app, get())
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    response = parse_response(data)
    assert response.body == b"Hello, world!"  # one response, and not a byte after it
    assert response.header("Content-Length") == "13"
    assert DATE.match(response.header("Date"))
    assert response.header("Server") == "servers/test"
    assert exchange.keep_alive and response.header("Connection") is None


def test_teaching_server_says_connection_close() -> None:
    server = ServerInfo(name="127.0.0.1", port=1, software="s", keep_alive=False)
    data, exchange = run(plain_app, get(), server)
    assert parse_response(data).header("Connection") == "close"
    assert exchange.keep_alive is False


def test_head_has_headers_but_no_body() -> None:
    data, _ = run(plain_app, get(method="HEAD"))
    response = parse_response(data, head=True)
    assert response.header("Content-Length") == "13" and response.body == b""
    assert data.endswith(b"\r\n\r\n")


def streaming_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one,"
    yield b""
    yield b"two"


def test_unknown_length_is_chunked_on_http11() -> None:
    data, exchange = run(streaming_app, get())
    response = parse_response(data)
    assert response.header("Transfer-Encoding") == "chunked"
    assert response.body == b"one,two" and exchange.keep_alive


def test_unknown_length_closes_the_connection_on_http10() -> None:
    data, exchange = run(streaming_app, get(version="1.0"))
    assert b"Transfer-Encoding" not in data and b"Content-Length" not in data
    assert data.endswith(b"one,two") and exchange.keep_alive is False


def test_write_callable_data_comes_first() -> None:
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"returned"]

    response = parse_response(run(app, get())[0])
    assert response.body == b"written returned"


class ClosingBody:
    def __init__(self, parts):
        self.parts, self.closed = parts, False

    def __iter__(self):
        return iter(self.parts)

    def close(self):
        self.closed = True


def test_close_is_called_after_a_full_response_and_after_an_abort() -> None:
    body = ClosingBody([b"a", b"b"])
    run(lambda e, s: (s("200 OK", []), body)[1], get())
    assert body.closed

    body = ClosingBody([b"a", b"b"])
    exchange = WSGIExchange(lambda e, s: (s("200 OK", []), body)[1], get(), SERVER, PEER)
    chunks = exchange.chunks()
    next(chunks)  # the head went out, then the client vanished
    chunks.close()
    assert body.closed


def test_application_error_is_500_with_traceback_to_wsgi_errors(capsys) -> None:
    def app(environ, start_response):
        raise ValueError("secret detail")

    data, exchange = run(app, get())
    response = parse_response(data)
    assert response.status == 500 and b"secret" not in response.body
    assert "ValueError: secret detail" in capsys.readouterr().err
    assert exchange.keep_alive is False


def test_exc_info_replaces_the_status_before_the_body_is_sent() -> None:
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise RuntimeError("late failure")
        except RuntimeError:
            start_response("503 Service Unavailable", [("Content-Length", "4")], sys.exc_info())
        return [b"busy"]

    response = parse_response(run(app, get())[0])
    assert (response.status, response.body) == (503, b"busy")


def test_exc_info_after_the_head_was_sent_reraises_and_cuts_the_response(capsys) -> None:
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        try:
            raise RuntimeError("mid-body failure")
        except RuntimeError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        yield b"never"

    data, exchange = run(app, get())
    assert b"partial" in data and b"never" not in data and b"0\r\n\r\n" not in data
    assert exchange.keep_alive is False
    assert "mid-body failure" in capsys.readouterr().err


def test_second_start_response_without_exc_info_is_an_error(capsys) -> None:
    def app(environ, start_response):
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b""]

    assert parse_response(run(app, get())[0]).status == 500


def test_no_body_statuses_and_short_or_long_declared_lengths() -> None:
    def no_content(environ, start_response):
        start_response("204 No Content", [])
        return [b""]

    data, exchange = run(no_content, get())
    assert b"Content-Length" not in data and data.endswith(b"\r\n\r\n") and exchange.keep_alive

    def too_long(environ, start_response):
        start_response("200 OK", [("Content-Length", "3")])
        return [b"abcdef"]

    data, exchange = run(too_long, get())
    assert data.endswith(b"\r\n\r\nabc") and exchange.keep_alive is False

    def too_short(environ, start_response):
        start_response("200 OK", [("Content-Length", "10")])
        return [b"abc"]

    assert run(too_short, get())[1].keep_alive is False


def test_environ_is_complete() -> None:
    request = parse_request(
        b"POST /caf%C3%A9/x?q=1&r=%20 HTTP/1.1\r\nHost: example:8888\r\n"
        b"Content-Type: text/plain\r\nX-Many: a\r\nX-Many: b\r\nUnder_Score: dropped\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    environ = build_environ(request, ServerInfo("127.0.0.1", 8888, "s", multiprocess=True), PEER)
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["SCRIPT_NAME"] == ""
    assert environ["PATH_INFO"] == "/café/x".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "q=1&r=%20"
    assert environ["RAW_URI"] == "/caf%C3%A9/x?q=1&r=%20"  # the target as sent, undecoded
    assert environ["CONTENT_TYPE"] == "text/plain" and "HTTP_CONTENT_TYPE" not in environ
    assert environ["CONTENT_LENGTH"] == "5"
    assert environ["HTTP_X_MANY"] == "a,b"
    assert environ["HTTP_HOST"] == "example:8888"
    assert not any(key.startswith("HTTP_UNDER") for key in environ)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8888")
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("127.0.0.1", "50000")
    assert environ["wsgi.version"] == (1, 0) and environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.input"].read() == b"hello"
    assert environ["wsgi.errors"] is sys.stderr
    assert environ["wsgi.multiprocess"] is True and environ["wsgi.multithread"] is False
    assert environ["wsgi.run_once"] is False


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /hello/ HTTP/1.1\r\nHost: h\r\n\r\n",
        b"HEAD /hello/ HTTP/1.1\r\nHost: h\r\n\r\n",
        b"POST /echo/ HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
        b"GET /payload/?kb=2 HTTP/1.0\r\n\r\n",
        b"GET /missing HTTP/1.1\r\nHost: h\r\n\r\n",
    ],
)
def test_validator_finds_nothing_wrong(request_bytes: bytes, capsys) -> None:
    data, _ = run(validator(plain_app), parse_request(request_bytes))
    assert parse_response(data, head=request_bytes.startswith(b"HEAD ")).status in (200, 404)
    assert "Traceback" not in capsys.readouterr().err


def test_input_is_the_body_only() -> None:
    environ = build_environ(
        parse_request(b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok"), SERVER, PEER
    )
    assert isinstance(environ["wsgi.input"], io.BytesIO) and environ["wsgi.input"].read() == b"ok"
