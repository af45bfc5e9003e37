"""The catalog: what each server and each workload is, in one place every module reads.

A workload is a path with the exact body a right answer carries. A server row knows how to
start itself for a workload (ours through `python -m servers`, the peers by their own command),
and the facts about its model that the plan, the checks and the lessons need: whether it leaks
by design, serves one connection at a time, sleeps after each answer.
"""

from __future__ import annotations

import importlib.util
import os
import re
import resource
import shlex
import shutil
import sys
import tomllib
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.launch import free_port, servers_command

LOOPBACK = "127.0.0.1"
PLAIN, PLAIN_ASGI = "helloworld.plain:app", "helloworld.plain_asgi:app"
DJANGO, DJANGO_ASGI = "helloworld.wsgi:application", "helloworld.asgi:application"


@dataclass(frozen=True)
class Workload:
    name: str
    path: str
    wsgi_app: str  # "" when there is no WSGI form (a user's ASGI application)
    asgi_app: str  # "" when there is no ASGI form
    body: bytes | None  # the exact body a correct answer carries (None: not checked)
    description: str
    status: int = 200  # the status a correct answer carries
    cwd: str = ""  # a user's application: the folder it is imported from (servers run there)


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


PLACEHOLDERS = ("{host}", "{port}", "{app}", "{workers}", "{python}")


def fill(parts: tuple[str, ...], **values: object) -> list[str]:
    """A command template with its placeholders ({host}, {port}, {app}, {workers}, {python})
    replaced by the values given; the others are left as they are."""
    filled = []
    for part in parts:
        for name, value in values.items():
            part = part.replace("{" + name + "}", str(value))
        filled.append(part)
    return filled


@dataclass(frozen=True)
class ServerSpec:
    """A server row: how to start it for a workload, and what it cannot do."""

    name: str
    description: str
    kind: str  # "ours", "peer" (a reference row), "added" (a user's), "remote" (--target)
    model: str = ""  # ours: the model; peers: ""
    options: tuple[str, ...] = ()
    asgi: bool = False
    only_workloads: tuple[str, ...] = ()  # basic answers one fixed response
    leaking: bool = False  # leaves zombies or descriptors behind by design: lesson cells only
    one_at_a_time: bool = False  # never serves two requests at once (basic, iterative, sleep)
    nofile: int | None = None  # a low RLIMIT_NOFILE, so that EMFILE is reached in the run
    peer_command: tuple[str, ...] = ()  # peers and added: a template (PLACEHOLDERS)
    app: str = ""  # an application for every workload instead of the workload's own
    workers: int = 1  # processes that serve requests ({workers}): the CPUs it may be given
    cwd: str = ""  # added servers run where the user ran the harness; the others here

    def app_for(self, workload: Workload) -> str:
        if self.app:
            return self.app
        return workload.asgi_app if self.asgi else workload.wsgi_app

    def template(self, workload: Workload, host: str = LOOPBACK) -> list[str]:
        """A peer's or added server's command for `workload`, all but its {port} filled in."""
        return fill(
            self.peer_command,
            app=self.app_for(workload),
            host=host,
            workers=self.workers,
            python=sys.executable,
        )

    def command(
        self, workload: Workload, port: int | None, request_cap: int | None, host: str = LOOPBACK
    ) -> list[str]:
        app = self.app_for(workload)
        if self.kind != "ours":
            return fill(tuple(self.template(workload, host)), port=port)
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
        peer's, chosen here: ours pick their own), the descriptor limit, where it runs."""
        port = free_port() if self.kind != "ours" else None
        rlimits = {resource.RLIMIT_NOFILE: (self.nofile, self.nofile)} if self.nofile else {}
        options: dict = {
            "command": self.command(workload, port, request_cap),
            "port": port,
            "rlimits": rlimits,
        }
        if workload.cwd or self.cwd:
            options["cwd"] = Path(workload.cwd or self.cwd)
        return options

    def supports(self, workload: str) -> bool:
        return not self.only_workloads or workload in self.only_workloads

    def missing(self) -> str:
        """Why this row cannot run on this machine, and how to get it ("" if it can): a peer
        not installed, or the program an added server's command starts not found."""
        if self.kind not in ("peer", "added") or not self.peer_command:
            return ""
        program, *rest = fill(self.peer_command[:3], python=sys.executable)
        if program == sys.executable and rest[:1] == ["-m"] and "{" not in rest[-1]:
            module = rest[-1]
            if importlib.util.find_spec(module.partition(".")[0]) is None:
                how = INSTALL_PEERS if self.kind == "peer" else f"install it into {program}"
                return f"{module} is not installed here ({how})"
        if "{" not in program and not _runnable(program, self.cwd):
            return f"{program} is not found here (install it, or give its full path)"
        return ""

    def cannot_serve(self, workload: Workload) -> str:
        """Why this row cannot serve `workload` ("" if it can)."""
        if missing := self.missing():
            return missing
        if not self.supports(workload.name):
            return f"{self.name} serves only {', '.join(self.only_workloads)}"
        if not self.app and not self.app_for(workload) and self.model != "basic":
            has, lacks = ("ASGI", "WSGI") if self.asgi else ("WSGI", "ASGI")
            return f"{self.name} serves {has} applications; {workload.name} is {lacks} only"
        return ""


INSTALL_PEERS = "pip install -e '.[peers]', or nox -s bench, which installs the peers"


def _runnable(program: str, cwd: str = "") -> bool:
    """Whether `program` can be started: on PATH, or a path (from `cwd`) to an executable."""
    if os.sep in program:
        path = Path(cwd or os.getcwd()) / program
        return path.is_file() and os.access(path, os.X_OK)
    return shutil.which(program) is not None


PY = sys.executable


def _words(line: str) -> tuple[str, ...]:
    """A peer's command line, run by this Python: `python -m ...` with its placeholders."""
    return (PY, "-m", *line.split())


def _gunicorn(worker: str) -> tuple[str, ...]:
    return _words(f"gunicorn {worker} -b {{host}}:{{port}} --log-level warning {{app}}")


def _uvicorn(loop: str, http: str) -> tuple[str, ...]:
    return _words(
        f"uvicorn {{app}} --host {{host}} --port {{port}} --workers {{workers}} --loop {loop} "
        f"--http {http} --no-access-log --log-level warning --lifespan off"
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
            workers=2,
        ),
        ServerSpec(
            "gunicorn-sync",
            "gunicorn -k sync -w 2",
            "peer",
            peer_command=_gunicorn("-k sync -w {workers}"),
            workers=2,
        ),
        ServerSpec(
            "gunicorn-gthread",
            "gunicorn -k gthread -w 1 --threads 8",
            "peer",
            peer_command=_gunicorn("-k gthread -w {workers} --threads 8"),
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
            "granian",
            "granian (Rust, hyper) --interface asgi --loop uvloop, 1 worker",
            "peer",
            asgi=True,
            peer_command=_words(
                "granian --interface asgi --host {host} --port {port} --workers {workers} "
                "--loop uvloop --http 1 --no-ws --log-level warning {app}"
            ),
        ),
        ServerSpec(
            "hypercorn",
            "hypercorn -k uvloop, 1 worker",
            "peer",
            asgi=True,
            peer_command=_words(
                "hypercorn -b {host}:{port} -w {workers} -k uvloop --log-level warning {app}"
            ),
        ),
        ServerSpec(
            "waitress",
            "waitress, 8 threads",
            "peer",
            peer_command=_words("waitress --listen={host}:{port} --threads=8 {app}"),
        ),
    )
}
BUILT_IN = frozenset(SERVERS)
OUR_SERVERS = tuple(name for name, spec in SERVERS.items() if spec.kind == "ours")
PEERS = tuple(name for name, spec in SERVERS.items() if spec.kind == "peer")


# A user's own servers and application ---------------------------------------------------------

ADDED_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,39}$")
APP_WORKLOAD = "app"  # the workload of a user's own application (--app)
TARGET = "target"  # the row of a server running elsewhere (run --target URL)


class CatalogError(ValueError):
    """A server or application the user described cannot be used; the message says why."""


def added_server(
    name: str,
    command: str | list[str],
    *,
    interface: str = "wsgi",
    workers: int = 1,
    description: str = "",
    workloads: tuple[str, ...] = (),
    cwd: str = "",
) -> ServerSpec:
    """A user's server as a catalog row: COMMAND is a shell-like string (or its words) in which
    {port} is the port the harness chose, {host} its address, {app} the workload's application
    (WSGI, or ASGI with interface="asgi"), {workers} the workers and {python} this Python."""
    if not ADDED_NAME.match(name):
        raise CatalogError(
            f"server name {name!r}: use letters, digits and _.+- (at most 40), no comma"
        )
    if name in BUILT_IN or name in (APP_WORKLOAD, TARGET):
        raise CatalogError(f"server name {name!r} is taken by the catalog; choose another")
    if not isinstance(command, str) and not (
        isinstance(command, list | tuple) and all(isinstance(word, str) for word in command)
    ):
        raise CatalogError(f"server {name}: its command is a string (or a list of strings)")
    if isinstance(workloads, str) or not all(isinstance(w, str) for w in workloads):
        raise CatalogError(f'server {name}: workloads is a list of names, e.g. ["hello"]')
    try:
        words = shlex.split(command) if isinstance(command, str) else list(command)
    except ValueError as exc:
        raise CatalogError(f"server {name}: cannot split its command: {exc}") from None
    if not words:
        raise CatalogError(f"server {name}: empty command")
    if not any("{port}" in word for word in words):
        raise CatalogError(
            f"server {name}: its command must contain {{port}}, the port the harness chose for it"
        )
    if interface not in ("wsgi", "asgi"):
        raise CatalogError(f"server {name}: interface must be wsgi or asgi, not {interface!r}")
    if not isinstance(workers, int) or not 1 <= workers <= 256:
        raise CatalogError(f"server {name}: workers must be a whole number from 1 to 256")
    for workload in workloads:
        if workload not in WORKLOADS and workload != APP_WORKLOAD:
            raise CatalogError(f"server {name}: unknown workload {workload!r}")
    return ServerSpec(
        name,
        description or " ".join(words),
        "added",
        asgi=interface == "asgi",
        only_workloads=tuple(workloads),
        peer_command=tuple(words),
        workers=workers,
        cwd=cwd or os.getcwd(),
    )


def parse_add_server(text: str) -> ServerSpec:
    """--add-server NAME=COMMAND."""
    name, equals, command = text.partition("=")
    if not equals or not name.strip():
        raise CatalogError(f"--add-server takes NAME=COMMAND, got {text!r}")
    return added_server(name.strip(), command)


SERVER_FIELDS = {"command", "interface", "workers", "description", "workloads"}


def read_servers_file(path: Path) -> list[ServerSpec]:
    """A TOML file of servers, one table each:

    [servers.mine]
    command = "gunicorn -w {workers} -b {host}:{port} {app}"
    interface = "wsgi"      # or "asgi": which form of each workload's application {app} is
    workers = 2             # optional (1)
    workloads = ["hello"]   # optional: only these (default: every workload it can serve)
    """
    try:
        document = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise CatalogError(f"cannot read servers file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"servers file {path}: {exc}") from None
    tables = document.get("servers")
    if not isinstance(tables, dict) or not tables:
        raise CatalogError(f"servers file {path}: no [servers.NAME] table")
    specs = []
    for name, table in tables.items():
        if not isinstance(table, dict) or "command" not in table:
            raise CatalogError(f"servers file {path}: [servers.{name}] needs a command")
        unknown = set(table) - SERVER_FIELDS
        if unknown:
            raise CatalogError(
                f"servers file {path}: [servers.{name}] has unknown field(s) "
                f"{', '.join(sorted(unknown))}; known: {', '.join(sorted(SERVER_FIELDS))}"
            )
        specs.append(
            added_server(
                name,
                table["command"],
                interface=table.get("interface", "wsgi"),
                workers=table.get("workers", 1),
                description=table.get("description", ""),
                workloads=table.get("workloads", ()),
            )
        )
    return specs


def app_workload(
    app: str,
    interface: str,
    path: str = "/",
    status: int = 200,
    body: bytes | None = None,
    cwd: str = "",
) -> Workload:
    """The workload of a user's own application: GET `path`, answered with `status` (and
    `body`, when given)."""
    if app and not re.match(r"^[\w.]+:[\w.]+$", app):
        raise CatalogError(f"--app takes module:callable, got {app!r}")
    if interface not in ("wsgi", "asgi"):
        raise CatalogError(f"--interface must be wsgi or asgi here, not {interface!r}")
    if not path.startswith("/"):
        raise CatalogError(f"--path must start with /, got {path!r}")
    if not 100 <= status <= 599:
        raise CatalogError(f"--expect-status must be an HTTP status, not {status}")
    return Workload(
        APP_WORKLOAD,
        path,
        app if interface == "wsgi" else "",
        app if interface == "asgi" else "",
        body,
        f"your application {app or 'at the target'} ({interface.upper()}): GET {path}",
        status,
        cwd or os.getcwd(),
    )


def target_url(url: str) -> str:
    """http://HOST:PORT, checked: the one address beyond loopback the harness loads, because
    the user named it."""
    parsed = urllib.parse.urlsplit(url)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme != "http" or not parsed.hostname or port is None:
        raise CatalogError(f"--target takes http://HOST:PORT, got {url!r}")
    if parsed.path not in ("", "/") or parsed.query:
        raise CatalogError("--target is the server's address only; --path says what to load")
    return f"http://{parsed.netloc}"


@dataclass(frozen=True)
class Unavailable:
    """A server a command was asked for that cannot run here (`workloads` empty), or cannot
    serve some of its workloads: why, and how to get it where there is a way."""

    server: str
    reason: str
    workloads: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolved:
    """Server names as a command was given them, against this machine and the command's
    workloads: the ones that run, and the ones that do not (or not on every workload)."""

    servers: tuple[str, ...]
    unavailable: tuple[Unavailable, ...] = ()

    def said(self) -> list[tuple[str, str]]:
        """What the terminal says before anything runs, with its kind: a line per reason,
        naming every server it stops ("not run": at all; "partly": on some workloads; those with
        the same reason together), then what the command goes on with ("going on")."""
        grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for row in self.unavailable:
            grouped.setdefault((row.reason, row.workloads), []).append(row.server)
        said = []
        for (reason, workloads), servers in grouped.items():
            names, verb = ", ".join(servers), "is" if len(servers) == 1 else "are"
            running = [s for s in servers if s in self.servers]
            where = f" on {', '.join(workloads)}" if workloads else ""
            said.append(
                (f"{names} {verb} not run{where}: {reason}", "partly" if running else "not run")
            )
        dropped = {row.server for row in self.unavailable} - set(self.servers)
        if dropped and self.servers:
            said.append((f"going on with {', '.join(self.servers)}", "going on"))
        return said

    def lines(self) -> list[str]:
        """The same lines as plain text (a scenario's --servers, said as it is parsed)."""
        return [line for line, _ in self.said()]

    def error(self) -> str:
        """One line when nothing is left to run: every server asked for, and why."""
        reasons = dict.fromkeys(
            row.reason if row.reason.startswith(f"{row.server} ") else f"{row.server}: {row.reason}"
            for row in self.unavailable
        )
        return "nothing to run here: " + "; ".join(reasons)


@dataclass(frozen=True)
class Catalog:
    """The servers and workloads of one run: the standard rows (SERVERS, WORKLOADS, never
    changed by a run) and the user's own, made from the run's settings. The plan makes it; the
    run and the scenarios read it."""

    servers: Mapping[str, ServerSpec]
    workloads: Mapping[str, Workload]

    @classmethod
    def standard(cls) -> Catalog:
        return cls(dict(SERVERS), dict(WORKLOADS))

    def resolve(self, names: Iterable[str], workloads: Iterable[str] = ()) -> Resolved:
        """The one place a command's server names meet this machine: which of them run, and
        which cannot (not installed, a program not found) or cannot serve some of `workloads`
        (only hello, an application of the other interface), with why. A name this catalog
        does not hold is left to its command to refuse."""
        running, unavailable = [], []
        served = [self.workloads[w] for w in workloads if w in self.workloads]
        for name in names:
            spec = self.servers.get(name)
            if spec is not None and (missing := spec.missing()):
                unavailable.append(Unavailable(name, missing))
                continue
            cannot = {w.name: spec.cannot_serve(w) for w in served} if spec else {}
            cannot = {workload: why for workload, why in cannot.items() if why}
            for why in dict.fromkeys(cannot.values()):
                chosen = tuple(w for w, reason in cannot.items() if reason == why)
                unavailable.append(Unavailable(name, why, chosen))
            if not served or len(cannot) < len(served):
                running.append(name)
        return Resolved(tuple(running), tuple(unavailable))

    @classmethod
    def of(
        cls, servers: tuple[dict, ...] = (), app: dict | None = None, target: str = ""
    ) -> Catalog:
        """The standard rows with the user's servers, application and target (as a run's
        settings record them): the plan, the run and the scenarios treat them like the others.
        CatalogError when one cannot be made."""
        rows, workloads = dict(SERVERS), dict(WORKLOADS)
        if target:
            rows[TARGET] = ServerSpec(
                TARGET, f"a server at {target_url(target)}, not started here", "remote", app="-"
            )
        for fields in servers:
            spec = added_server(**fields)
            rows[spec.name] = spec
        if app:
            body = app.get("body")
            workload = app_workload(
                app["app"],
                app["interface"],
                app.get("path", "/"),
                app.get("status", 200),
                body.encode() if isinstance(body, str) else body,
                app.get("cwd", ""),
            )
            workloads[workload.name] = workload
        return cls(rows, workloads)


def definition(spec: ServerSpec) -> dict:
    """An added server as the settings (and run.json) keep it: Catalog.of() makes it again."""
    return {
        "name": spec.name,
        "command": list(spec.peer_command),
        "interface": "asgi" if spec.asgi else "wsgi",
        "workers": spec.workers,
        "description": spec.description,
        "workloads": list(spec.only_workloads),
        "cwd": spec.cwd,
    }
