"""Servers for the micro-benchmarks: started once per module, pinned apart, always stopped."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator

import pytest

from bench.http1 import request_bytes
from bench.launch import cpu_plan, launched, servers_command

HELLO = b"Hello, world!"
# Read with bench.http1.read_response, which never waits for EOF (fork_leak never sends one).
REQUEST = request_bytes("127.0.0.1", "/hello/")
REQUEST_CLOSE = request_bytes("127.0.0.1", "/hello/", close=True)
# Models that leave a zombie or a descriptor per connection: a fixed, small number of rounds.
LEAKING_ROUNDS = {"fork": 200, "fork_leak": 150, "fork_wait": 200}


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
