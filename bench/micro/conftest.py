"""Servers for the micro-benchmarks: started once per module, pinned apart, always stopped."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Iterator

import pytest

from bench.launch import cpu_plan, launched, servers_command

HELLO = b"Hello, world!"
REQUEST = b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
REQUEST_CLOSE = b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
# Models that leave a zombie or a descriptor per connection: a fixed, small number of rounds.
LEAKING_ROUNDS = {"fork": 200, "fork_leak": 150, "fork_wait": 200}


def read_response(sock: socket.socket) -> bytes:
    """One Content-Length framed response (fork_leak never sends EOF)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"closed after {data!r}")
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError("closed in the body")
        body += piece
    return body


@pytest.fixture(scope="session", autouse=True)
def pinned(request) -> Iterator[None]:
    """When measuring, the benchmarking process runs on the CPUs the servers do not use."""
    _, other_cpus = cpu_plan(True)
    measuring = not request.config.getoption("benchmark_disable", default=True)
    before = os.sched_getaffinity(0)
    if measuring and other_cpus:
        os.sched_setaffinity(0, other_cpus)
    yield
    os.sched_setaffinity(0, before)


def started(model: str, app: str = "helloworld.plain:app", *options: str):
    """A server of `model` (bench.launch.launched: stopped and reaped when the block ends),
    pinned to the server's CPU, its descriptors capped for fork_leak."""
    server_cpus, _ = cpu_plan(True)
    rlimits = {resource.RLIMIT_NOFILE: (256, 256)} if model == "fork_leak" else {}
    command = servers_command(
        model,
        None if model == "basic" else app,
        "--max-children",
        "2000",
        "--backlog",
        "1024",
        *options,
    )
    return launched(command, cpus=server_cpus, rlimits=rlimits)
