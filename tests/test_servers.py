"""Every model serves the plain app and the Django app correctly, over real sockets."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from bench.http1 import parse_response, read_response
from tests.conftest import APP_MODELS, ASGI_MODELS, DJANGO, KEEP_ALIVE_MODELS, PLAIN, launcher
from tests.http_helpers import Recording, exchange, request

pytestmark = pytest.mark.slow  # every test starts servers

HEADER_LINE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+: [^\r\n]*$")


@pytest.fixture(scope="module", params=APP_MODELS)
def model(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def servers(model, tmp_path_factory) -> Iterator[dict]:
    """One server per app for this model, shared by the tests; stopped when the model is done."""
    with launcher(tmp_path_factory.mktemp(model)) as launch:
        started = {
            "plain": launch(model, PLAIN),
            "django": launch(model, DJANGO),
            "validated": launch(model, "tests.apps:validated"),
            "flask": launch(model, "helloworld.flask_app:app"),
            "pyramid": launch(model, "helloworld.pyramid_app:app"),
        }
        if model in ASGI_MODELS:
            started["django_asgi"] = launch(model, "helloworld.asgi:application")
        yield started


def django_apps(servers) -> list[str]:
    return [app for app in ("django", "django_asgi") if app in servers]


def echo(server, method: str, path: str, **kwargs) -> dict:
    status, headers, body = request(server.port, method, path, **kwargs)
    assert status == 200, body
    keep_alive = server.command[3] in KEEP_ALIVE_MODELS
    # the teaching servers answer one request per connection; the others keep it open
    assert headers.get("Connection") == (None if keep_alive else "close")
    return json.loads(body)


@pytest.mark.parametrize("app", ["plain", "django", "django_asgi"])
def test_get_hello(servers, app) -> None:
    if app not in servers:
        pytest.skip("WSGI-only model")
    status, headers, body = request(servers[app].port, "GET", "/hello/?x=1&y=%20z")
    assert (status, body) == (200, b"Hello, world!")
    assert headers["Content-Length"] == "13"


@pytest.mark.parametrize("app", ["flask", "pyramid"])
def test_any_framework_runs(servers, app) -> None:
    status, _, body = request(servers[app].port, "GET", "/hello/?from=test")
    assert (status, body) == (200, b"Hello, world!")


def test_get_with_query_string(servers) -> None:
    assert echo(servers["plain"], "GET", "/echo/?x=1&y=%20z")["QUERY_STRING"] == "x=1&y=%20z"
    for app in django_apps(servers):
        assert echo(servers[app], "GET", "/echo/?x=1&y=%20z")["query"] == "x=1&y=%20z"


@pytest.mark.parametrize("app", ["plain", "django"])
def test_head(servers, app) -> None:
    status, headers, body = request(servers[app].port, "HEAD", "/hello/")
    assert (status, body, headers["Content-Length"]) == (200, b"", "13")


def test_post_with_content_length(servers) -> None:
    seen = echo(
        servers["plain"],
        "POST",
        "/echo/",
        body=b"a=1&b=2",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (seen["body"], seen["CONTENT_LENGTH"]) == ("a=1&b=2", "7")
    assert seen["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    for app in django_apps(servers):
        seen = echo(servers[app], "POST", "/echo/", body=b"a=1&b=2")
        assert (seen["method"], seen["body"]) == ("POST", "a=1&b=2")


def test_post_with_chunked_body(servers) -> None:
    def chunks():
        yield b"first,"
        yield b"second"

    for app in ["plain", *django_apps(servers)]:
        # An iterable body without a length: http.client sends it chunked, two chunks.
        seen = echo(servers[app], "POST", "/echo/", body=chunks())
        assert seen["body"] == "first,second"
    assert echo(servers["plain"], "POST", "/echo/", body=chunks())["HTTP_TRANSFER_ENCODING"] == (
        "chunked"
    )


def test_non_ascii_percent_encoded_path(servers) -> None:
    # PEP 3333: PATH_INFO is the bytes decoded as latin-1; Django turns it back into UTF-8.
    assert echo(servers["plain"], "GET", "/echo/caf%C3%A9")["PATH_INFO"] == "/echo/cafÃ©"
    for app in django_apps(servers):
        assert echo(servers[app], "GET", "/echo/caf%C3%A9")["path"] == "/echo/café"


@pytest.mark.parametrize("app", ["plain", "django"])
def test_response_is_byte_correct_http11(model, servers, app) -> None:
    with socket.create_connection(("127.0.0.1", servers[app].port), timeout=5) as sock:
        sock.sendall(b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        recording = Recording(sock)
        read_response(recording)  # type: ignore[arg-type]
        raw = recording.received
        if model in KEEP_ALIVE_MODELS:  # the connection stays open for the next request
            sock.sendall(b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert read_response(sock).header("Connection") == "close"
        if model != "fork_leak":  # fork_leak's lesson: its connections never see EOF
            assert sock.recv(1) == b""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK"
    assert all(HEADER_LINE.match(line) for line in header_lines), header_lines
    assert b"\n" not in head.replace(b"\r\n", b"")  # CRLF everywhere, no bare LF
    parsed = parse_response(raw)  # one response, and not a byte after it
    assert int(parsed.header("Content-Length")) == len(body) == len(parsed.body)
    assert parsed.header("Connection") == (None if model in KEEP_ALIVE_MODELS else "close")


def test_validator_finds_no_violation(servers) -> None:
    server = servers["validated"]
    for method, path, body in (
        ("GET", "/hello/?a=1", None),
        ("HEAD", "/hello/", None),
        ("POST", "/echo/", b"xyz"),
        ("GET", "/nope", None),
    ):
        status, _, _ = request(server.port, method, path, body=body)
        assert status in (200, 404), server.output()
    assert "Traceback" not in server.output() and "AssertionError" not in server.output()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_agrees(servers) -> None:
    result = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--http1.1",
            "--max-time",
            "10",
            "--write-out",
            "\n%{http_code} %{size_download}",
            f"{servers['django'].url}/hello/",
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    assert result.stdout == "Hello, world!\n200 13"


@pytest.mark.parametrize(
    ("bad", "status"),
    [
        (b"GARBAGE\x00\x01\x02 / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1 extra words\r\n\r\n", 400),
        (b"GET /hello/ HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"POST /echo/ HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999\r\n\r\n", 413),
    ],
)
def test_bad_input_gets_a_4xx_and_the_server_goes_on(servers, bad, status) -> None:
    server = servers["plain"]
    answer = parse_response(exchange(server.port, bad))
    assert answer.status == status
    assert request(server.port, "GET", "/hello/")[2] == b"Hello, world!"


def test_client_that_disconnects_mid_request_does_not_stop_the_server(servers) -> None:
    server = servers["plain"]
    for partial in (b"GET /hel", b"POST /echo/ HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(partial)
    assert request(server.port, "GET", "/hello/")[2] == b"Hello, world!"


def test_basic_answers_its_fixed_response_and_rejects_garbage(launch) -> None:
    server = launch("basic", None)
    raw = exchange(server.port, b"GET /anything?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
    answer = parse_response(raw)  # one response, and not a byte after it
    assert (answer.status, answer.body) == (200, b"Hello, world!")
    assert answer.header("Connection") == "close" and answer.header("Date") is not None
    assert parse_response(exchange(server.port, b"\x16\x03\x01 not http\r\n\r\n")).status == 400
    big = b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n"
    assert parse_response(exchange(server.port, big)).status == 431
    assert parse_response(exchange(server.port, b"GET / HTTP/1.0\r\n\r\n")).status == 200


def test_expect_100_continue(servers) -> None:
    with socket.create_connection(("127.0.0.1", servers["plain"].port), timeout=5) as sock:
        sock.sendall(
            b"POST /echo/ HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before any body was sent
        sock.sendall(b"body")
        answer = read_response(sock)
    assert answer.status == 200 and json.loads(answer.body)["body"] == "body"
