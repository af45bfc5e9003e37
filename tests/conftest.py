"""Fixtures that start servers and guarantee that every process a test started is gone."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import psutil
import pytest

from bench.launch import ServerProcess, become_subreaper, servers_command

PLAIN = "helloworld.plain:app"
DJANGO = "helloworld.wsgi:application"
APP_MODELS = ("iterative", "sleep", "fork", "fork_leak", "fork_wait", "fork_reap")

Launch = Callable[..., ServerProcess]


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """After the whole session: no descendant of the test process may still exist."""
    become_subreaper()  # orphans of the servers come to us, so we can reap and count them
    yield
    me = psutil.Process()
    for child in me.children():
        with contextlib.suppress(ChildProcessError, psutil.Error):
            if child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, 0)
    left = [
        (p.pid, p.status(), " ".join(p.cmdline()[:4]))
        for p in me.children(recursive=True)
        if p.is_running()
    ]
    assert not left, f"processes left behind by the tests: {left}"


def _launcher(log_dir) -> tuple[Launch, list[ServerProcess]]:
    started: list[ServerProcess] = []

    def launch(
        model: str,
        app: str | None = PLAIN,
        *options: str,
        rlimits: dict[int, tuple[int, int]] | None = None,
    ) -> ServerProcess:
        server = ServerProcess(
            servers_command(model, app, *options), rlimits=rlimits, log_dir=log_dir
        )
        started.append(server)
        return server.start()

    return launch, started


@pytest.fixture
def launch(tmp_path) -> Iterator[Launch]:
    """Start servers for one test; all are stopped and reaped after it, whatever happened."""
    start, started = _launcher(tmp_path)
    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def launch_for_module(tmp_path_factory) -> Iterator[Launch]:
    """The same, for servers shared by the tests of one module."""
    start, started = _launcher(tmp_path_factory.mktemp("servers"))
    try:
        yield start
    finally:
        for server in started:
            server.stop()
