"""The command lines: `python -m servers` (listing, clear errors, the start line, clean exits on
signals) and `python -m bench`'s one table of options (its parsers, docs/options.md, the rules
between run's options)."""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import sys
from dataclasses import fields

import pytest

from bench.launch import REPO_ROOT, ServerProcess
from bench.options import OPTIONS, OptionError, check_option_combinations, given
from bench.plan import Settings
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


# python -m bench: one table of options (bench/options.py) -----------------------------------


def test_docs_options_md_is_what_the_table_of_options_makes() -> None:
    from bench.__main__ import options_markdown

    written = (REPO_ROOT / "docs" / "options.md").read_text()
    assert written == options_markdown(), "remake it: python -m bench options > docs/options.md"


def test_every_option_fills_a_real_setting_in_subcommands_that_exist() -> None:
    from bench.__main__ import OWN, SCENARIOS

    settings = {field.name for field in fields(Settings)}
    commands = {*OWN, *SCENARIOS, "report", "holder"}
    for option in OPTIONS:
        assert option.setting is None or option.setting in settings, option.flags
        assert set(option.commands) <= commands, option.flags


def test_run_fills_settings_with_the_options_given_only() -> None:
    from bench.__main__ import build_parser

    args = build_parser().parse_args(["run", "--start-timeout", "1m", "--no-ceiling"])
    assert given(args) == {"start_timeout_s": 60.0, "ceiling": False}
    args = build_parser().parse_args(["run", "--request-timeout", "2s", "--no-crosscheck"])
    assert given(args) == {"request_timeout_s": 2.0, "crosscheck": False}


@pytest.mark.parametrize(
    ("args", "added", "message"),
    [
        ([], ["a", "a"], "a server is added twice: a, a"),
        (["--remote-workers", "1"], [], "name the server with --target"),
        (["--generator-processes", "2", "--generator-workers", "1"], [], "not both"),
        (["--interface", "wsgi"], [], "--interface says how to call --app"),
        (["--target", "http://h:1", "--servers", "asyncio"], [], "no --servers, no added ones"),
        (["--expect-status", "201"], [], "--path and --expect-* describe --app"),
    ],
)
def test_options_that_do_not_go_together_are_refused_with_why(
    args: list[str], added: list[str], message: str
) -> None:
    from bench.__main__ import build_parser

    with pytest.raises(OptionError, match=re.escape(message)):
        check_option_combinations(build_parser().parse_args(["run", *args]), added)
    check_option_combinations(
        build_parser().parse_args(["run", "--app", "x:y", "--path", "/a"]), []
    )
