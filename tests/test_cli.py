"""The command line: listing, clear errors, the start line, clean exits on signals."""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys

import pytest

from bench.launch import ServerProcess
from servers.models import MODELS
from tests.conftest import DJANGO, Launch
from tests.http_helpers import request


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servers", *args], capture_output=True, text=True, timeout=30
    )


def test_list_describes_every_model() -> None:
    result = run_cli("--list")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(MODELS)
    assert all(len(line.split()) > 3 for line in lines)  # each has a description


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fork", "no_such_module:app"], "no module named 'no_such_module'"),
        (["fork", "helloworld.plain:nothing"], "has no attribute 'nothing'"),
        (["fork", "helloworld.plain"], "expected module:callable"),
        (["fork", "helloworld.params:SLEEP_MS"], "not a callable application"),
    ],
)
def test_bad_application_is_a_one_line_error(args: list[str], message: str) -> None:
    result = run_cli(*args, "--port", "0")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["nosuchmodel", "x:y"], ["fork", "x:y", "--port", "70000"]])
def test_bad_options_are_usage_errors(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2 and "error:" in result.stderr and "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error(launch: Launch) -> None:
    server = launch("iterative")
    result = run_cli("iterative", "helloworld.plain:app", "--port", str(server.port))
    assert result.returncode == 1 and "cannot listen" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_start_line_and_clean_exit_on_signal(launch: Launch, signum: int) -> None:
    server = launch("fork_reap", DJANGO)
    first = server.output().splitlines()[0]
    assert f"servers[{server.pid}]: fork_reap serving {DJANGO} on {server.url}" in first
    assert f"(pid {server.pid})" in first
    assert request(server.port, "GET", "/hello/")[2] == b"Hello, world!"
    server.popen.send_signal(signum)
    assert server.popen.wait(timeout=10) == 0
    assert "stopping on" in server.output()


@pytest.mark.parametrize("model", MODELS)
def test_every_model_serves_django_hello_from_the_command_line(launch: Launch, model: str) -> None:
    server = launch(model, DJANGO)
    assert request(server.port, "GET", "/hello/")[::2] == (200, b"Hello, world!")


def test_max_requests_bounds_a_run(launch: Launch) -> None:
    server = launch("fork", "helloworld.plain:app", "--max-requests", "3")
    for _ in range(3):
        assert request(server.port, "GET", "/hello/")[0] == 200
    assert server.popen.wait(timeout=10) == 0
    assert "--max-requests=3" in server.output()


def test_max_children_answers_503_instead_of_forking(launch: Launch) -> None:
    server = launch("fork", "helloworld.plain:app", "--max-children", "2")
    statuses = [request(server.port, "GET", "/hello/")[0] for _ in range(4)]
    assert statuses == [200, 200, 503, 503]


def test_ipv6_loopback() -> None:
    command = [
        sys.executable,
        "-m",
        "servers",
        "iterative",
        "helloworld.plain:app",
        "--host",
        "::1",
        "--port",
        "0",
    ]
    with ServerProcess(command) as server:
        assert server.url.startswith("http://[::1]:")
        conn = http.client.HTTPConnection("::1", server.port, timeout=5)
        conn.request("GET", "/hello/")
        assert conn.getresponse().read() == b"Hello, world!"
        conn.close()


def test_options_anywhere_and_gunicorn_style_bind_and_workers() -> None:
    """`python -m servers asyncio --loop uvloop helloworld.wsgi:application` serves, as
    `uvicorn app --loop uvloop` does; -b HOST:PORT and -w N as gunicorn users type them."""
    from servers.cli import build_parser

    args = build_parser().parse_intermixed_args(
        ["asyncio", "--loop", "uvloop", "helloworld.wsgi:application", "-b", ":8123", "-w", "3"]
    )
    assert (args.model, args.app, args.loop, args.bind, args.workers) == (
        "asyncio",
        "helloworld.wsgi:application",
        "uvloop",
        ("127.0.0.1", 8123),
        3,
    )
    command = [sys.executable, "-m", "servers", "asyncio", "--loop", "uvloop", DJANGO]
    with ServerProcess([*command, "-b", "127.0.0.1:0"]) as server:
        status, _, body = request(server.port, "GET", "/hello/")
    assert status == 200 and body == b"Hello, world!"
    assert "expected HOST:PORT" in run_cli("fork", DJANGO, "-b", "8000").stderr
