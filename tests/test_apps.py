"""The plain app and the Django project answer every workload route identically."""

from __future__ import annotations

import pytest

from bench.http1 import parse_response
from helloworld.plain import app as plain_app
from helloworld.wsgi import application as django_app
from servers.options import ServerInfo
from servers.parser import RequestParser
from servers.wsgi import WSGIExchange

SERVER = ServerInfo(name="127.0.0.1", port=8888, software="servers/test")


def get(app, target: str):
    [request] = RequestParser().feed(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    exchange = WSGIExchange(app, request, SERVER, ("127.0.0.1", 1))
    return parse_response(b"".join(exchange.chunks()))


@pytest.mark.parametrize(
    ("target", "status", "body"),
    [
        ("/hello/", 200, b"Hello, world!"),
        ("/sleep/?ms=5", 200, b"slept 5 ms"),
        ("/cpu/?ms=2", 200, b"burned 2 ms"),
        ("/payload/?kb=3", 200, b"x" * 3072),
        ("/payload/", 200, b"x" * 65536),
        ("/sleep/?ms=-1", 400, b"ms must not be negative"),
        ("/cpu/?ms=abc", 400, b"ms must be an integer"),
        ("/payload/?kb=999999", 400, b"kb must be at most 10240"),
        ("/no/such/route/", 404, b"Not Found"),
    ],
)
@pytest.mark.parametrize("app", [plain_app, django_app], ids=["plain", "django"])
def test_routes(app, target: str, status: int, body: bytes) -> None:
    response = get(app, target)
    assert (response.status, response.body) == (status, body)
    assert int(response.header("Content-Length")) == len(body)
