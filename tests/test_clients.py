"""The seed's clients, working: raw shows the wire, flood exposes descriptor exhaustion."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

from servers.clients.flood import flood
from servers.clients.raw import build_request, fetch
from tests.conftest import Launch


@pytest.mark.slow
def test_raw_client_shows_the_response_and_its_eof(launch: Launch) -> None:
    server = launch("iterative")
    result = fetch(
        "127.0.0.1",
        server.port,
        build_request("GET", "/hello/", "127.0.0.1", server.port),
        timeout=5,
    )
    assert result.eof and result.data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert result.data.endswith(b"\r\n\r\nHello, world!")


@pytest.mark.slow
def test_raw_client_reports_a_missing_eof_instead_of_hanging(launch: Launch) -> None:
    server = launch("fork_leak")
    command = [
        sys.executable,
        "-m",
        "servers.clients.raw",
        f"{server.url}/hello/",
        "--timeout",
        "1",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "Hello, world!" in result.stdout and "TIMEOUT" in result.stdout


def test_raw_client_refuses_other_hosts() -> None:
    command = [sys.executable, "-m", "servers.clients.raw", "http://192.0.2.1:8888/"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "loopback" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_flood_against_a_reaping_server_gets_every_response(launch: Launch) -> None:
    server = launch("fork_reap", "helloworld.plain:app", "--backlog", "256")
    report = flood(
        "127.0.0.1", server.port, "/hello/", max_clients=2, max_conns=20, hold=0.2, timeout=10
    )
    assert report["attempted"] == report["opened"] == 40
    assert report["status_counts"] == {"200": 40}


@pytest.mark.slow
def test_flood_exhausts_a_leaking_server_with_a_low_descriptor_limit(launch: Launch) -> None:
    limit = 48
    server = launch(
        "fork_leak",
        "helloworld.plain:app",
        "--backlog",
        "256",
        rlimits={resource.RLIMIT_NOFILE: (limit, limit)},
    )
    command = [
        sys.executable,
        "-m",
        "servers.clients.flood",
        "--port",
        str(server.port),
        "--max-clients",
        "2",
        "--max-conns",
        "40",
        "--hold",
        "0.5",
        "--timeout",
        "3",
        "--json",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    report = json.loads(result.stdout)
    assert report["attempted"] == 80
    # The kernel completes handshakes into the backlog, but the parent cannot accept them all:
    # fewer than `limit` connections are ever served, the rest time out waiting.
    assert report["responses"] < limit
    assert report["read_errors"].get("timeout", 0) > 0
    assert "EMFILE" in server.output()
