"""The protocol core in-process: parse a request, build the environ, run the app, serialise the
answer. Against a stdlib baseline doing the same work (http.server parsing, wsgiref's handler),
and through Django to show the framework's share."""

from __future__ import annotations

import io
from wsgiref.simple_server import WSGIRequestHandler

import pytest

from helloworld.plain import app as plain_app
from helloworld.wsgi import application as django_app
from servers.options import ServerInfo
from servers.parser import Request, RequestParser
from servers.wsgi import WSGIExchange

REQUEST = (
    b"GET /hello/?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
)
INFO = ServerInfo("127.0.0.1", 8888, "servers/bench")
PEER = ("127.0.0.1", 50000)


def ours(app) -> bytes:
    parser = RequestParser()
    [request] = parser.feed(REQUEST)
    assert isinstance(request, Request)
    return b"".join(WSGIExchange(app, request, INFO, PEER).chunks())


class _Server:
    """What wsgiref's handler needs of its server, without a socket."""

    base_environ: dict = {}

    def __init__(self, app) -> None:
        self.app = app
        # what WSGIServer.setup_environ() sets from its socket
        self.base_environ = {
            "SERVER_NAME": "127.0.0.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PORT": "8888",
            "REMOTE_HOST": "",
            "CONTENT_LENGTH": "",
            "SCRIPT_NAME": "",
        }

    def get_app(self):
        return self.app


class _Handler(WSGIRequestHandler):
    """wsgiref's request handler over in-memory streams: http.server parses, wsgiref serves."""

    def __init__(self, raw: bytes, server: _Server) -> None:  # no socket, no setup()
        self.rfile = io.BytesIO(raw)
        self.wfile: io.BytesIO = io.BytesIO()
        self.client_address = PEER
        self.server = server  # type: ignore[assignment]  # wsgiref declares a socketserver
        self.request = None

    def log_request(self, *args) -> None:
        pass


def stdlib(app) -> bytes:
    handler = _Handler(REQUEST, _Server(app))
    handler.handle()
    return handler.wfile.getvalue()


@pytest.mark.parametrize(
    ("name", "serve"), [("ours", ours), ("stdlib http.server + wsgiref", stdlib)]
)
def test_core_plain_hello(benchmark, name, serve) -> None:
    benchmark.group = "protocol core, plain hello"
    benchmark.extra_info["implementation"] = name
    answer = benchmark(serve, plain_app)
    assert answer.startswith(b"HTTP/1.") and answer.endswith(b"Hello, world!")


def test_core_django_hello(benchmark) -> None:
    benchmark.group = "protocol core, Django hello"
    benchmark.extra_info["implementation"] = "ours + Django"
    answer = benchmark(ours, django_app)
    assert answer.endswith(b"Hello, world!")
