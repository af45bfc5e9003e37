"""The plan of a run: every combination of servers, workloads, concurrency levels, connection
modes and repetitions, closed loop, plus open-loop cells at a fixed offered rate.

Every cell runs on a server started afresh for it. The cells measured once come first (the
leaking teaching servers' lesson cells, the levels not repeated, the open-loop cells); then the
repeated cells (the ranked ones) run in rounds, every round the same procedure: each repeated
cell once, in an order shuffled anew each round (seeded, so a plan can be run again exactly).
A slow drift of the machine then spreads over every server instead of landing on whichever ran
last, and no round differs from the others (the report tests whether throughput drifts with
the round anyway).

Built from a named profile (quick, default, full) and command-line overrides. The plan also
bounds the leaking teaching servers: their cells get a request cap (and fork_leak a low
descriptor limit), and a plan that could exhaust process ids or descriptors is capped here,
before anything runs.
"""

from __future__ import annotations

import itertools
import json
import random
import resource
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench.catalog import MODES, OUR_SERVERS, PEERS, WORKLOADS, Catalog, CatalogError, Resolved

DEFAULT_PEERS = ("uvicorn", "gunicorn-sync")  # the reference rows of the default profile


@dataclass(frozen=True)
class Settings:
    servers: tuple[str, ...]
    workloads: tuple[str, ...]
    users: tuple[int, ...]
    modes: tuple[str, ...] = ("keepalive",)
    duration_s: float = 2.0
    warmup_s: float = 0.5
    settle_s: float = 0.5
    repeat: int = 1
    request_cap: int = 2000  # per cell, for the leaking servers
    cpu_split: bool = True  # server and load generator on different CPUs
    ceiling: bool = True  # measure the generator's ceiling first
    profile: str = "custom"  # the profile these settings started from
    request_timeout_s: float = 5.0  # a request unanswered this long counts as a failure
    open_rate: float = 0.0  # > 0: also an open-loop cell at this many requests per second
    open_workloads: tuple[str, ...] = ()  # where the open-loop cells go (empty: every workload)
    seed: int = 1  # the shuffle of the rounds of repetitions
    repeat_only: tuple[str, ...] = ()  # "workload@users": only these repeat (empty: every cell)
    lesson_workloads: tuple[str, ...] = ("hello",)  # the leaking servers' (once each; empty: all)
    crosscheck: bool = False  # wrk on every closed-loop cell of a non-leaking server, too
    wrk_bound_cells: bool = True  # wrk on the generator-bound ones (where wrk is installed)
    client: str = "raw"  # the generator's client: ours (raw) or locust's FastHttpUser (fasthttp)
    scenarios: bool = False  # after the cells: the capacity sweep, C10K and slow clients
    start_timeout_s: float = 30.0  # a server not listening by then fails its cells
    generator_grace_s: float = 10.0  # locust still running this long after its run time: killed
    # the user's own servers (bench.catalog.definition of each) and application (--app: its
    # module:callable, interface, path, expected status and body, and the folder it is in)
    added_servers: tuple[dict, ...] = ()
    app: dict | None = None
    # CPUs (empty: chosen by bench/launch.py cpu_plan) and the load generator's processes (0:
    # one per generator CPU), or a locust master with workers here and elsewhere
    server_cpus: tuple[int, ...] = ()
    generator_cpus: tuple[int, ...] = ()
    generator_processes: int = 0
    generator_workers: int = 0
    remote_workers: int = 0
    master_bind: str = "127.0.0.1:0"
    target: str = ""  # a server running elsewhere (http://host:port): measured, not watched

    def as_dict(self) -> dict:
        """As run.json holds them: lists where the settings hold tuples."""
        return json.loads(json.dumps(asdict(self)))


PROFILES = {
    "quick": Settings(
        servers=("asyncio", "threaded", "fork_reap"),
        workloads=("hello",),
        users=(8,),
        duration_s=1.5,
        warmup_s=0.5,
        settle_s=0.3,
        ceiling=False,
    ),
    # The answer in about eight minutes on 2 cores: the ranked cells (hello and io at 16 users,
    # every model that does not leak, and two reference rows) six times in rounds (with 6 runs
    # against 6 the exact test reaches p = 0.0022, below Holm's first level for a table of up to
    # 22 servers; with 5, 0.0079 passes none above 6), in 1.5 s windows to pay for the sixth
    # round; once each,
    # django at 16 users, an open-loop cell per model on hello, and the leaking models' lesson
    # cells on hello. The reference rows are those our models copy: uvicorn (one uvloop event
    # loop, httptools: what asyncio-asgi is) and gunicorn's sync workers (pre-forked processes
    # serving one request at a time: what prefork does with a blocking view).
    "default": Settings(
        servers=(*OUR_SERVERS, *DEFAULT_PEERS),
        workloads=("hello", "django", "io"),
        users=(16,),
        duration_s=1.5,
        warmup_s=0.25,
        settle_s=0.25,
        repeat=6,
        repeat_only=("hello@16", "io@16"),
        open_rate=200.0,
        open_workloads=("hello",),
    ),
    # Everything once, in about 75 minutes on 2 cores (bench/run/estimate.py): every peer,
    # workload, level and mode, measured once each in the default's windows; six runs of the
    # cells the answer ranks (hello and io at 16 users, kept-alive: six of every cell would be
    # 2,994 cells, ten hours); wrk where the generator is the limit, as in the default run;
    # then the capacity sweep, C10K and slow clients.
    "full": Settings(
        servers=OUR_SERVERS + PEERS,
        workloads=tuple(WORKLOADS),
        users=(1, 16, 64),
        modes=MODES,
        duration_s=1.5,
        warmup_s=0.5,
        settle_s=0.5,
        repeat=6,
        repeat_only=("hello@16", "io@16"),
        lesson_workloads=(),
        open_rate=200.0,
        open_workloads=("hello", "io"),
        scenarios=True,
    ),
}
PROFILES = {name: replace(settings, profile=name) for name, settings in PROFILES.items()}


@dataclass(frozen=True)
class Cell:
    """One measurement: a server, a workload, a concurrency level, a mode, a repetition."""

    server: str
    workload: str
    users: int
    mode: str
    repetition: int
    rate: float = 0.0  # open loop at this many requests per second; 0: closed loop

    @property
    def key(self) -> str:
        load = f"{self.users}u" + (f"@{self.rate:g}rps" if self.rate else "")
        return f"{self.server}/{self.workload}/{load}/{self.mode}/r{self.repetition}"


@dataclass
class Plan:
    settings: Settings
    cells: list[Cell]
    skipped: list[dict] = field(default_factory=list)  # cells a server cannot serve
    notes: list[str] = field(default_factory=list)  # caps applied, and why
    catalog: Catalog = field(default_factory=Catalog.standard)  # its servers and workloads
    # the servers asked for that cannot run here, or not on every workload: said at the start
    resolved: Resolved = field(default_factory=lambda: Resolved(()))

    def as_dict(self) -> dict:
        return {
            "settings": self.settings.as_dict(),
            "cells": [asdict(c) for c in self.cells],
            "skipped": self.skipped,
            "notes": self.notes,
        }


class PlanError(ValueError):
    """The plan cannot be run; the message says why in one line."""


MAX_LEAKED_PER_CELL = 4000  # zombies or descriptors one leaking cell may leave, at most


def build_plan(settings: Settings) -> Plan:
    """The cells, in run order: a server's cells together (it starts once for them); with
    repetitions, in shuffled rounds (see the module's docstring)."""
    try:
        catalog = Catalog.of(settings.added_servers, settings.app, settings.target)
    except CatalogError as exc:
        raise PlanError(str(exc)) from None
    check_settings(settings, catalog)
    resolved = catalog.resolve(settings.servers, settings.workloads)
    if not resolved.servers:
        raise PlanError(resolved.error())
    settings, notes = capped(settings, catalog)
    units, skipped = servable(settings, catalog)
    rounds = settings.repeat > 1

    def repeated(server: str, workload: str, users: int) -> bool:
        """Run in rounds: never a leaking server (its cells are lessons, not rankings)."""
        if not rounds or catalog.servers[server].leaking:
            return False
        return not settings.repeat_only or f"{workload}@{users}" in settings.repeat_only

    once: list[Cell] = []
    in_rounds: list[Cell] = []
    open_workloads = settings.open_workloads or settings.workloads
    for server, workload, mode in units:
        for users in settings.users:
            target = in_rounds if repeated(server, workload, users) else once
            target.append(Cell(server, workload, users, mode, 1))
        opened = settings.open_rate and workload in open_workloads
        if opened and not catalog.servers[server].leaking:
            rate, users = settings.open_rate, max(settings.users)
            target = in_rounds if rounds and not settings.repeat_only else once
            target.append(Cell(server, workload, users, mode, 1, rate))
    shuffle = random.Random(settings.seed)
    cells = list(once)
    for repetition in range(1, settings.repeat + 1 if rounds else 1):
        order = [replace(cell, repetition=repetition) for cell in in_rounds]
        shuffle.shuffle(order)
        cells += order
    return Plan(settings, cells, skipped, notes, catalog, resolved)


def check_settings(settings: Settings, catalog: Catalog) -> None:
    """PlanError, in one line, for settings no plan can be made of."""
    if "app" in settings.workloads and not settings.app:
        raise PlanError("the app workload is your application: name it with --app module:callable")
    if settings.target and set(settings.servers) != {"target"}:
        raise PlanError("--target measures the server at its address only: no --servers with it")
    for name in settings.servers:
        if name not in catalog.servers:
            raise PlanError(f"unknown server {name!r}; choose from {', '.join(catalog.servers)}")
    for name in settings.workloads:
        if name not in catalog.workloads:
            known = ", ".join(catalog.workloads)
            raise PlanError(f"unknown workload {name!r}; choose from {known}")
    for mode in settings.modes:
        if mode not in MODES:
            raise PlanError(f"unknown connection mode {mode!r}; choose from {', '.join(MODES)}")
    if not settings.users or any(not 1 <= u <= 1000 for u in settings.users):
        raise PlanError("users must be between 1 and 1000")
    if not 0.5 <= settings.duration_s <= 600 or not 0 <= settings.warmup_s <= 60:
        raise PlanError("duration must be 0.5 to 600 s and warm-up 0 to 60 s")
    if not 1 <= settings.repeat <= 20:
        raise PlanError("repeat must be 1 to 20")
    if settings.open_rate and not 1 <= settings.open_rate <= 100_000:
        raise PlanError("the open-loop rate must be 1 to 100000 requests per second")
    for name in settings.open_workloads:
        if name not in settings.workloads:
            raise PlanError(f"open-loop workload {name!r} is not one of the run's workloads")
    planned = {f"{w}@{u}" for w in settings.workloads for u in settings.users}
    for name in settings.repeat_only:
        if name not in planned:
            raise PlanError(
                f"--repeat-only {name!r} is not a planned workload@users; choose from "
                f"{', '.join(sorted(planned))}"
            )


def capped(settings: Settings, catalog: Catalog) -> tuple[Settings, list[str]]:
    """The settings with the leaking servers' request cap as this machine bounds it, and the
    notes that say so."""
    if not any(catalog.servers[s].leaking for s in settings.servers):
        return settings, []
    notes = []
    cap = min(settings.request_cap, MAX_LEAKED_PER_CELL, _process_room())
    if cap < settings.request_cap:
        notes.append(
            f"request cap for leaking servers lowered from {settings.request_cap} "
            f"to {cap}: the machine's process ids and descriptors bound it"
        )
    notes.append(
        f"fork, fork_leak, fork_wait: at most {cap} requests per cell, and the "
        f"server exits after {cap + 50} connections"
    )
    return replace(settings, request_cap=cap), notes


def servable(settings: Settings, catalog: Catalog) -> tuple[list[tuple[str, str, str]], list[dict]]:
    """(server, workload, mode) of every cell to plan, and the ones left out with why."""
    units, skipped = [], []
    for server, workload, mode in itertools.product(
        settings.servers, settings.workloads, settings.modes
    ):
        spec = catalog.servers[server]
        if reason := spec.cannot_serve(catalog.workloads[workload]):
            skipped.append({"server": server, "workload": workload, "reason": reason})
        elif (
            spec.leaking and settings.lesson_workloads and workload not in settings.lesson_workloads
        ):
            skipped.append(
                {
                    "server": server,
                    "workload": workload,
                    "reason": f"{server} leaks by design: its lesson cells are on "
                    f"{', '.join(settings.lesson_workloads)}",
                }
            )
        else:
            units.append((server, workload, mode))
    unique = [dict(t) for t in {tuple(s.items()) for s in skipped}]
    return units, sorted(unique, key=lambda s: (s["server"], s["workload"]))


def _process_room() -> int:
    """A quarter of the process ids and descriptors this machine has left, as a cap."""
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except OSError:
        pid_max = 32768
    _, nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(100, min(pid_max, nofile if nofile > 0 else pid_max) // 4)
