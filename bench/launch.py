"""Launch a server in its own process group, wait until it listens, stop and reap its whole tree.

The teaching servers leak processes on purpose, so stopping one means more than killing its
pid: the whole process group is signalled, and the orphans it leaves (zombies included) are
re-parented to us, because we make ourselves a child subreaper, and reaped here. Where the
server has a cgroup of its own (bench/telemetry/accounting.py), every process in it is killed
too, and the group must be empty before the server counts as stopped: a server that
daemonized or left its process group is stopped as well.

Where no `finally` runs (the harness killed with SIGKILL), every process we start still dies
with us (bench/telemetry/lifetime.py): each has a death signal (SIGTERM for a server, so that
it can stop its own workers; SIGKILL for the rest), and each server a warden that kills its
process group and cgroup once the harness is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Protocol

import psutil

from bench.telemetry.accounting import Group, Method, Reading, count_tree, proc_method
from bench.telemetry.lifetime import Warden, child_setup

REPO_ROOT = Path(__file__).resolve().parent.parent
UNPINNED = frozenset(os.sched_getaffinity(0))  # every CPU this harness was given at its start
READY_LINE = re.compile(rb"serving .* on http://\[?([0-9a-fA-F.:]+)\]?:(\d+) ")
_PR_SET_CHILD_SUBREAPER = 36


class LaunchError(Exception):
    """The server did not start; the message carries its own output, `reason` says why."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class VerifyError(LaunchError):
    """The server started but did not answer as it must (checked before anything is timed)."""


class Registry(Protocol):
    """Where a run notes the process groups it started, so that a later run can stop them if
    this one crashed (bench/run.py Registry)."""

    def add(self, pid: int, what: str) -> None: ...
    def remove(self, pid: int) -> None: ...


@contextlib.contextmanager
def launched(
    command: Sequence[str],
    *,
    port: int | None = None,
    cpus: set[int] | None = None,
    rlimits: dict[int, tuple[int, int]] | None = None,
    log_dir: Path | None = None,
    registry: Registry | None = None,
    what: str = "server",
    timeout: float = 30.0,
    check: Callable[[ServerProcess], str | None] | None = None,
    cwd: Path = REPO_ROOT,
) -> Iterator[ServerProcess]:
    """The one way every part of the harness starts a server: in its own process group, pinned,
    limited, registered; `check`ed before use (its reason, if any, raises VerifyError); and
    stopped and reaped, its whole tree, on every exit path. What it printed stays readable
    (`server.said`) after its log is gone."""
    server = ServerProcess(command, port=port, cpus=cpus, rlimits=rlimits, log_dir=log_dir, cwd=cwd)
    try:
        server.start(timeout=timeout)
        if registry is not None:
            registry.add(server.pid, what)
        reason = check(server) if check is not None else None
        if reason is not None:
            raise VerifyError(f"{reason}\n{server.output()}", reason)
        yield server
    finally:
        with signals_deferred():  # a Ctrl-C now waits until the group is stopped and reaped
            server.stop()
            if registry is not None and server.popen is not None:
                registry.remove(server.pid)
            server.said = server.output()
            server.remove_log()


class Remote:
    """A server the harness did not start (run --target): it has an address, and no process
    here to watch, pin or stop."""

    pid = 0
    popen = None
    said = ""
    command: list[str] = []

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname or "", parsed.port or 80
        self.url = f"{parsed.scheme}://{parsed.netloc}"

    def tree(self) -> list:
        return []

    def stop(self) -> None:
        """Not ours to stop."""


@contextlib.contextmanager
def reached(url: str, check: Callable[[Remote], str | None] | None = None) -> Iterator[Remote]:
    """launched()'s twin for a server elsewhere: `check`ed before use, never started or stopped."""
    server = Remote(url)
    reason = check(server) if check is not None else None
    if reason is not None:
        raise VerifyError(f"{reason} (at {server.url})", reason)
    yield server


def servers_command(model: str, app: str | None = None, *options: str) -> list[str]:
    """The command line that runs one of our models on a free loopback port."""
    command = [sys.executable, "-m", "servers", model]
    if app:
        command.append(app)
    return [*command, "--host", "127.0.0.1", "--port", "0", *options]


def become_subreaper() -> bool:
    """Make orphaned descendants our children, so that we can reap them (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class ServerProcess:
    """One server under test. Use as a context manager, or call start() and stop()."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        rlimits: dict[int, tuple[int, int]] | None = None,
        cwd: Path = REPO_ROOT,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
        port: int | None = None,
        cpus: set[int] | None = None,
    ) -> None:
        self.command = list(command)
        self.rlimits = rlimits or {}
        self.cpus = cpus
        self.known_port = port  # a server that is not ours: ready when this port accepts
        self.cwd = cwd
        self.env = env
        self.log_dir = log_dir
        self.popen: subprocess.Popen[bytes] | None = None
        self.group: Group | None = None  # its cgroup, where one could be made
        self.accounting: Method = proc_method("not started")
        self.left_running: set[int] = set()  # pids still in its group after the stop
        self.host = ""
        self.port = 0
        self.said = ""  # what it printed, kept by launched() once its log is removed
        self.warden: Warden | None = None  # kills its tree if the harness dies without a stop
        self._log: IO[bytes] | None = None

    # starting -----------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> ServerProcess:
        """Start the server and wait for its 'serving ... on http://host:port' line.

        If it does not start, or a Ctrl-C comes while we wait, it is stopped here: a caller whose
        start() raised (a `with` whose __enter__ raised, a fixture) has nothing to stop."""
        become_subreaper()
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept open while it runs)
            prefix="server-", suffix=".log", dir=self.log_dir, delete=False
        )
        made = Group.create()
        self.group = made if isinstance(made, Group) else None
        why_not = made if isinstance(made, str) else ""
        try:
            self.popen = spawn_group(  # its own process group: one signal reaches the whole tree
                self.command,
                death_signal=signal.SIGTERM,  # its own stop takes its workers along
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=self._prepare_child,
            )
        except BaseException:
            if self.group is not None:
                self.group.remove()
            raise
        if self.group is not None and not self.group.kept_for(self.popen.pid):
            why_not = f"the server could not join its cgroup {self.group.name}"
            self.group.remove()  # it joined none that counts CPU: nothing of it is there
            self.group = None
        self.accounting = self.group.method() if self.group is not None else proc_method(why_not)
        try:
            with signals_deferred():  # until now its death signal stands in (it forked nothing)
                dirs = self.group.dirs if self.group is not None else []
                self.warden = Warden.start(self.popen.pid, dirs)
            self._wait_until_listening(self.popen, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_listening(self, popen: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.known_port is not None:
                if _accepts("127.0.0.1", self.known_port):
                    self.host, self.port = "127.0.0.1", self.known_port
                    return
            elif match := READY_LINE.search(self.output_bytes()):
                self.host, self.port = match.group(1).decode(), int(match.group(2))
                return
            if popen.poll() is not None:
                raise LaunchError(
                    f"{' '.join(self.command)} exited with {popen.returncode}:\n{self.output()}",
                    f"it exited with {popen.returncode} before listening",
                )
            time.sleep(0.02)
        where = f" on 127.0.0.1:{self.known_port}" if self.known_port is not None else ""
        hint = " (does it listen where its command's {port} says?)" if where else ""
        raise LaunchError(
            f"{' '.join(self.command)} did not listen{where} within {timeout:g} s:\n"
            f"{self.output()}",
            f"it did not listen{where} within {timeout:g} s{hint}",
        )

    def _prepare_child(self) -> None:
        """In the server's process before it runs anything: join its cgroup, limit, pin (to its
        CPUs, or to all this harness was given where it has none: the harness may run pinned
        to the generator's)."""
        if self.group is not None:
            self.group.join()
        for which, limits in self.rlimits.items():
            resource.setrlimit(which, limits)
        os.sched_setaffinity(0, self.cpus or UNPINNED)

    def read(self) -> Reading:
        """The server's accounting now: its cgroup's counters, or its tree's from /proc."""
        if self.group is not None:
            return self.group.read()
        return count_tree([process.pid for process in self.tree()])

    @property
    def pid(self) -> int:
        assert self.popen is not None, "not started"
        return self.popen.pid

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def output_bytes(self) -> bytes:
        """Everything the server printed so far."""
        if self._log is None:
            return b""
        return Path(self._log.name).read_bytes()

    def output(self) -> str:
        return self.output_bytes().decode("utf-8", "replace")

    def tree(self) -> list[psutil.Process]:
        """The server's process and all its descendants (zombies included)."""
        try:
            main = psutil.Process(self.pid)
            return [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    # stopping -----------------------------------------------------------------------------

    def stop(self, grace: float = 3.0) -> int | None:
        """SIGTERM the process group, SIGKILL what is left after `grace`, reap everything.

        A stopped (SIGSTOP) server is continued after its SIGTERM, so that it can act on it; a
        Ctrl-C that arrives meanwhile waits until the group is gone (signals_deferred)."""
        if self.popen is None:
            return None
        with signals_deferred():
            pgid = self.popen.pid  # start_new_session made it the group leader
            if self.popen.poll() is None:
                _signal_group(pgid, signal.SIGTERM)
                _signal_group(pgid, signal.SIGCONT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(grace)
            _signal_group(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace)
            reap_group(pgid, timeout=grace)
            if self.group is not None:  # what left the group (a daemon) is stopped here
                if not self.group.kill(timeout=grace, spare=self.popen.pid):
                    self.left_running = self.group.pids()
                self.group.remove()
            if self._log is not None:
                self._log.close()
            if self.warden is not None:  # nothing of it is left: the warden goes, idle
                self.warden.release()
                self.warden = None
        return self.popen.returncode

    def remove_log(self) -> None:
        if self._log is not None:
            Path(self._log.name).unlink(missing_ok=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        with signals_deferred():
            self.stop()
            self.remove_log()


class CpuPlanError(ValueError):
    """CPUs the user named cannot be used; the message says why."""


def cpu_plan(
    split: bool = True,
    server: tuple[int, ...] = (),
    generator: tuple[int, ...] = (),
    reserve: int = 1,
) -> tuple[set[int] | None, set[int] | None]:
    """(server CPUs, load generator CPUs). Named ones as named (the other side gets the rest);
    otherwise, apart when there are two or more and `split` is on: the servers get `reserve`
    CPUs (the most workers a server of the run has), at most half of them, the generator the
    rest. On 2 CPUs, one each."""
    available = sorted(os.sched_getaffinity(0))
    if server or generator:
        missing = sorted((set(server) | set(generator)) - set(available))
        if missing:
            raise CpuPlanError(
                f"CPU {', '.join(map(str, missing))} is not available; this process may use "
                f"{', '.join(map(str, available))}"
            )
        if set(server) & set(generator):
            raise CpuPlanError("the server and the load generator were given the same CPU")
        rest = set(available) - set(server) - set(generator)
        if not (server or rest) or not (generator or rest):
            raise CpuPlanError(
                f"no CPU is left for the {'load generator' if server else 'server'}: of "
                f"{', '.join(map(str, available))}, name fewer"
            )
        return set(server) or rest, set(generator) or rest
    if not split or len(available) < 2:
        return None, None
    count = max(1, min(reserve, len(available) // 2))
    return set(available[:count]), set(available[count:])


def cpus_for(server_cpus: set[int] | None, workers: int, named: bool = False) -> set[int] | None:
    """A server's CPUs: all the servers' CPUs when the user named them, else as many as its
    workers (one for a server of one process)."""
    if server_cpus is None or named:
        return server_cpus
    return set(sorted(server_cpus)[: max(1, workers)])


def free_port() -> int:
    """A loopback port free right now, for servers that cannot be told to pick their own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def signals_deferred(signums: Sequence[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them to their own handlers.

    For cleanup that must not stop half-way (stopping and reaping a process group, renaming a
    file into place): a Ctrl-C in the middle would leave a process running or a file half
    written. Python runs signal handlers in the main thread only, so elsewhere this does
    nothing (and is not needed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {signum: signal.signal(signum, lambda s, _: caught.append(s)) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


def spawn_group(
    command: Sequence[str], death_signal: int = signal.SIGKILL, **popen_options: object
) -> subprocess.Popen:
    """subprocess.Popen in a new session (its own process group), safe from Ctrl-C: a signal
    during the start, when Popen has forked but not returned the child, would lose its pid. It
    is held until Popen returns; then what was started is killed, and the signal goes on.

    The child gets `death_signal` when the calling thread ends (bench/telemetry/lifetime.py):
    call it from a thread that outlives the child (every caller's does: it waits for it)."""
    then = popen_options.pop("preexec_fn", None)
    assert then is None or callable(then)
    popen_options["preexec_fn"] = child_setup(death_signal, then)
    popen = None
    try:
        with signals_deferred():
            # typeshed's Popen overloads cannot be matched by a **dict of options
            popen = subprocess.Popen(command, start_new_session=True, **popen_options)  # type: ignore[call-overload]
    except BaseException:
        if popen is not None:
            kill_group(popen)
        raise
    return popen


def kill_group(popen: subprocess.Popen, timeout: float = 2.0) -> None:
    """SIGKILL a process group whose leader is `popen` (if it still runs), and reap it all."""
    with signals_deferred():
        if popen.poll() is None:
            _signal_group(popen.pid, signal.SIGKILL)
            popen.wait()
        reap_group(popen.pid, timeout=timeout)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def reap_group(pgid: int, timeout: float = 3.0) -> None:
    """Wait until no process of group `pgid` is left, reaping those re-parented to us; what is
    still there after `timeout` is killed, and reaped too."""
    deadline = time.monotonic() + timeout
    killed = False
    while True:
        for child in psutil.Process().children():
            with contextlib.suppress(ProcessLookupError, ChildProcessError, psutil.Error):
                if os.getpgid(child.pid) == pgid:
                    os.waitpid(child.pid, os.WNOHANG)
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return  # the group is empty (or no longer ours)
        if time.monotonic() > deadline:
            if killed:
                return  # not re-parented to us: its new parent reaps it
            _signal_group(pgid, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + 1.0
        time.sleep(0.02)
