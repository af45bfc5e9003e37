"""One request's round trip through every model: on an open keep-alive connection, and with a
new connection per request (where fork-per-connection pays for its fork())."""

from __future__ import annotations

import socket

import pytest

from bench.http1 import read_response
from bench.micro.conftest import (
    HELLO,
    LEAKING_ROUNDS,
    REQUEST,
    REQUEST_CLOSE,
    started,
)
from servers.models import MODELS

ALL_MODELS = MODELS
KEEP_ALIVE_MODELS = ("threaded", "asyncio", "prefork")


@pytest.fixture(scope="module", params=ALL_MODELS)
def server(request):
    with started(request.param) as process:
        yield request.param, process


def test_new_connection(benchmark, server) -> None:
    model, process = server
    address = ("127.0.0.1", process.port)

    def round_trip() -> bytes:
        with socket.create_connection(address, timeout=10) as sock:
            sock.sendall(REQUEST_CLOSE)
            return read_response(sock).body

    benchmark.group = "round trip, new connection"
    benchmark.extra_info["model"] = model
    if model in LEAKING_ROUNDS and not benchmark.disabled:
        body = benchmark.pedantic(round_trip, rounds=LEAKING_ROUNDS[model], warmup_rounds=5)
    else:
        body = benchmark(round_trip)
    assert body == HELLO


@pytest.fixture(scope="module", params=KEEP_ALIVE_MODELS)
def keepalive_server(request):
    options = ("--loop", "uvloop") if request.param != "threaded" else ()
    with started(request.param, "helloworld.plain:app", *options) as process:
        yield request.param, process


def test_keep_alive(benchmark, keepalive_server) -> None:
    model, process = keepalive_server
    with socket.create_connection(("127.0.0.1", process.port), timeout=10) as sock:

        def round_trip() -> bytes:
            sock.sendall(REQUEST)
            return read_response(sock).body

        benchmark.group = "round trip, keep-alive"
        benchmark.extra_info["model"] = model
        assert benchmark(round_trip) == HELLO
