"""Fixtures that start servers and guarantee that every process a test started is gone."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

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


# In parallel (pytest-xdist: nox -s tests runs `-n auto --dist loadgroup`) ----------------------
# Most tests wait on servers and a load generator: three workers a CPU keep two busy. A test
# marked `alone` measures the machine's CPUs (is locust saturated? is the server's the only
# load? is the generator on time?): it runs while no other test runs, and last, so that it waits
# for no test in progress but the last ones. The locks are the machine's, not the session's: it
# also waits for another run of the suite (another checkout's, a CI clone's), parallel or not.
# Modules whose module-scoped fixture runs a harness are marked xdist_group: it runs once.
LOCKS = Path(tempfile.gettempdir()) / "webmodels-tests"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: three workers a CPU (this process's CPUs), at most 8 (on 2 CPUs, 6 took 150 s
    where 4 took 165); PYTEST_XDIST_AUTO_NUM_WORKERS overrides it, as in pytest-xdist."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    return min(8, 3 * len(os.sched_getaffinity(0)))


def is_alone(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker("alone") is not None


class Alone:
    """A test marked `alone` waits until no other process is in a test (setup, call or
    teardown), and holds the others off until it is done, or until its process's next `alone`
    test is; other tests share. Two flock(2)s per process: `gate`, taken exclusively by a test
    that wants to be alone so that no test starts meanwhile (the others pass it shared, and let
    go at once), then `room`, exclusive for it, shared by every other test."""

    def __init__(self, folder: Path) -> None:
        self.gate = open(folder / "gate", "a")  # noqa: SIM115 - held for the worker's life
        self.room = open(folder / "room", "a")  # noqa: SIM115
        self.holding = False  # alone, from one `alone` test to the next

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        alone = is_alone(item)
        if not self.holding:
            fcntl.flock(self.gate, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
            try:
                fcntl.flock(self.room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
            finally:
                if not alone:
                    fcntl.flock(self.gate, fcntl.LOCK_UN)
        try:
            return (yield)
        finally:
            self.holding = alone and is_alone(nextitem)
            if not self.holding:
                fcntl.flock(self.room, fcntl.LOCK_UN)
                if alone:
                    fcntl.flock(self.gate, fcntl.LOCK_UN)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):
    """`alone` tests last (in their order; pytest-xdist hands the tests out in this order, the
    groups first). pytest-xdist groups by a suffix it adds to the test's id: a warning where it
    could not (pytest 9.2, pytest-xdist#1386), as the module fixture is then made again."""
    yield
    items.sort(key=is_alone)  # stable
    if getattr(config.option, "loadgroup", False):
        lost = [
            i.nodeid for i in items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid
        ]
        if lost:
            warnings.warn(pytest.PytestWarning(f"xdist_group ignored: {lost[0]} ..."), stacklevel=1)


def pytest_configure(config: pytest.Config) -> None:
    """Every process that runs tests takes the locks: a pytest-xdist worker, or pytest alone
    (not a controller, which runs none)."""
    if hasattr(config, "workerinput") or config.getoption("dist", "no") == "no":
        LOCKS.mkdir(exist_ok=True)
        config.pluginmanager.register(Alone(LOCKS), "webmodels-alone")


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
