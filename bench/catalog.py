"""The catalog: what each server and each workload is, in one place every module reads.

A workload is a path with the exact body a right answer carries. A server row knows how to
start itself for a workload (ours through `python -m servers`, the peers by their own command),
and the facts about its model that the plan, the checks and the lessons need: whether it leaks
by design, serves one connection at a time, sleeps after each answer.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass

from bench.launch import free_port, servers_command

PLAIN, PLAIN_ASGI = "helloworld.plain:app", "helloworld.plain_asgi:app"
DJANGO, DJANGO_ASGI = "helloworld.wsgi:application", "helloworld.asgi:application"


@dataclass(frozen=True)
class Workload:
    name: str
    path: str
    wsgi_app: str
    asgi_app: str
    body: bytes  # the exact body a correct answer carries
    description: str


WORKLOADS = {
    w.name: w
    for w in (
        Workload(
            "hello",
            "/hello/",
            PLAIN,
            PLAIN_ASGI,
            b"Hello, world!",
            "the plain app's hello: the server's own cost",
        ),
        Workload(
            "django",
            "/hello/",
            DJANGO,
            DJANGO_ASGI,
            b"Hello, world!",
            "/hello/ through Django: the framework's share",
        ),
        Workload(
            "io",
            "/sleep/?ms=10",
            PLAIN,
            PLAIN_ASGI,
            b"slept 10 ms",
            "a handler that waits 10 ms: blocking under WSGI, awaiting under ASGI",
        ),
        Workload(
            "cpu", "/cpu/?ms=1", PLAIN, PLAIN_ASGI, b"burned 1 ms", "about 1 ms of CPU per request"
        ),
        Workload("payload", "/payload/?kb=64", PLAIN, PLAIN_ASGI, b"x" * 65536, "a 64 KiB body"),
    )
}

MODES = ("keepalive", "close")  # close: a new connection per request


@dataclass(frozen=True)
class ServerSpec:
    """A server row: how to start it for a workload, and what it cannot do."""

    name: str
    description: str
    kind: str  # "ours" or "peer"
    model: str = ""  # ours: the model; peers: ""
    options: tuple[str, ...] = ()
    asgi: bool = False
    only_workloads: tuple[str, ...] = ()  # basic answers one fixed response
    leaking: bool = False  # leaves zombies or descriptors behind by design: lesson cells only
    one_at_a_time: bool = False  # never serves two requests at once (basic, iterative, sleep)
    nofile: int | None = None  # a low RLIMIT_NOFILE, so that EMFILE is reached in the run
    peer_command: tuple[str, ...] = ()  # peers: "{app}" and "{port}" are filled in
    app: str = ""  # an application for every workload instead of the workload's own

    def app_for(self, workload: Workload) -> str:
        if self.app:
            return self.app
        return workload.asgi_app if self.asgi else workload.wsgi_app

    def command(self, workload: Workload, port: int | None, request_cap: int | None) -> list[str]:
        app = self.app_for(workload)
        if self.kind == "peer":
            return [
                part.replace("{app}", app).replace("{port}", str(port))
                for part in self.peer_command
            ]
        options = list(self.options)
        if request_cap is not None:  # the server itself stops too: a hard bound
            options += [
                "--max-requests",
                str(request_cap + 50),
                "--max-children",
                str(request_cap + 50),
            ]
        return servers_command(self.model, None if self.model == "basic" else app, *options)

    def launch_options(self, workload: Workload, request_cap: int | None = None) -> dict:
        """What launched() needs to start this row for `workload`: the command, the port (a
        peer's, chosen here: ours pick their own), the descriptor limit."""
        port = free_port() if self.kind == "peer" else None
        rlimits = {resource.RLIMIT_NOFILE: (self.nofile, self.nofile)} if self.nofile else {}
        return {
            "command": self.command(workload, port, request_cap),
            "port": port,
            "rlimits": rlimits,
        }

    def supports(self, workload: str) -> bool:
        return not self.only_workloads or workload in self.only_workloads


PY = sys.executable


def _gunicorn(*workers: str) -> tuple[str, ...]:
    return (
        PY,
        "-m",
        "gunicorn",
        *workers,
        "-b",
        "127.0.0.1:{port}",
        "--log-level",
        "warning",
        "{app}",
    )


def _uvicorn(loop: str, http: str) -> tuple[str, ...]:
    return (
        PY,
        "-m",
        "uvicorn",
        "{app}",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--loop",
        loop,
        "--http",
        http,
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "off",
    )


SERVERS = {
    s.name: s
    for s in (
        ServerSpec(
            "basic",
            "accept, read, fixed response, close",
            "ours",
            "basic",
            only_workloads=("hello",),
            one_at_a_time=True,
        ),
        ServerSpec(
            "iterative", "one connection at a time", "ours", "iterative", one_at_a_time=True
        ),
        ServerSpec(
            "sleep",
            "iterative + 20 ms sleep after each response",
            "ours",
            "sleep",
            ("--sleep", "0.02"),
            one_at_a_time=True,
        ),
        ServerSpec("fork", "fork per connection, never reaps", "ours", "fork", leaking=True),
        ServerSpec(
            "fork_leak",
            "fork per connection, parent keeps every socket",
            "ours",
            "fork_leak",
            leaking=True,
            nofile=256,  # EMFILE within a second of load: the lesson inside the cell
        ),
        ServerSpec(
            "fork_wait",
            "fork per connection, one wait() per SIGCHLD",
            "ours",
            "fork_wait",
            ("--backlog", "1024"),
            leaking=True,
        ),
        ServerSpec(
            "fork_reap",
            "fork per connection, waitpid loop",
            "ours",
            "fork_reap",
            ("--backlog", "1024"),
        ),
        ServerSpec("threaded", "a thread per connection", "ours", "threaded"),
        ServerSpec(
            "asyncio", "one uvloop event loop, WSGI inline", "ours", "asyncio", ("--loop", "uvloop")
        ),
        ServerSpec(
            "asyncio-asgi",
            "one uvloop event loop, the ASGI app",
            "ours",
            "asyncio",
            ("--loop", "uvloop"),
            asgi=True,
        ),
        ServerSpec(
            "prefork",
            "2 pre-forked uvloop workers",
            "ours",
            "prefork",
            ("--workers", "2", "--loop", "uvloop"),
        ),
        ServerSpec(
            "gunicorn-sync",
            "gunicorn -k sync -w 2",
            "peer",
            peer_command=_gunicorn("-k", "sync", "-w", "2"),
        ),
        ServerSpec(
            "gunicorn-gthread",
            "gunicorn -k gthread -w 1 --threads 8",
            "peer",
            peer_command=_gunicorn("-k", "gthread", "-w", "1", "--threads", "8"),
        ),
        ServerSpec(
            "uvicorn",
            "uvicorn --loop uvloop --http httptools",
            "peer",
            asgi=True,
            peer_command=_uvicorn("uvloop", "httptools"),
        ),
        ServerSpec(
            "uvicorn-h11",
            "uvicorn --loop asyncio --http h11",
            "peer",
            asgi=True,
            peer_command=_uvicorn("asyncio", "h11"),
        ),
        ServerSpec(
            "waitress",
            "waitress, 8 threads",
            "peer",
            peer_command=(
                PY,
                "-m",
                "waitress",
                "--listen=127.0.0.1:{port}",
                "--threads=8",
                "{app}",
            ),
        ),
    )
}
OUR_SERVERS = tuple(name for name, spec in SERVERS.items() if spec.kind == "ours")
PEERS = tuple(name for name, spec in SERVERS.items() if spec.kind == "peer")
