"""Fixtures that start servers and guarantee that every process a test started is gone."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import psutil
import pytest
from hypothesis import settings

from bench.launch import ServerProcess, become_subreaper, servers_command

PLAIN = "helloworld.plain:app"
DJANGO = "helloworld.wsgi:application"
TEACHING_MODELS = ("iterative", "sleep", "fork", "fork_leak", "fork_wait", "fork_reap")
KEEP_ALIVE_MODELS = ("threaded", "asyncio", "prefork")
APP_MODELS = TEACHING_MODELS + KEEP_ALIVE_MODELS
ASGI_MODELS = ("asyncio", "prefork")

Launch = Callable[..., ServerProcess]

# Property-based tests: HYPOTHESIS_PROFILE=deep (nox -s fuzz) runs far more examples than the
# suite does. No example database: nothing is written into the repository.
settings.register_profile("suite", max_examples=300, deadline=None, database=None)
settings.register_profile("deep", max_examples=20_000, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


def reap_zombie_children() -> None:
    """Reap our children that have exited (orphans re-parented to us become our zombies)."""
    for child in psutil.Process().children():
        with contextlib.suppress(ChildProcessError, psutil.Error):
            if child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, 0)


def live_descendants() -> list[psutil.Process]:
    """Every descendant of the test process still alive (zombies are dead: not counted). The
    process is a child subreaper, so orphans, those of `python -m bench` run as a subprocess
    too, are re-parented to it and counted here."""
    found = []
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """After the whole session: no descendant of the test process may still exist."""
    become_subreaper()  # orphans of the servers come to us, so we can reap and count them
    yield
    reap_zombie_children()
    left = [(p.pid, p.status(), " ".join(p.cmdline()[:4])) for p in live_descendants()]
    assert not left, f"processes left behind by the tests: {left}"


@contextlib.contextmanager
def launcher(log_dir) -> Iterator[Launch]:
    """A function that starts servers; all of them are stopped and reaped on exit, whatever
    happened."""
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

    try:
        yield launch
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def launch(tmp_path) -> Iterator[Launch]:
    """Start servers for one test."""
    with launcher(tmp_path) as start:
        yield start
