"""Ceiling benchmark: our fastest models against the servers people use instead, loaded by wrk.

locust tops out near 10,000 requests/s per core, below what the fast servers do, so this
comparison uses wrk (C, one thread, 50 keep-alive connections). Each server runs pinned to its
own CPU and wrk to another; the contenders of every pairing run alternately (A B A B ...) for
several rounds, and the table gives medians and each pairing's ratio (ours / peer).

    python -m bench ceiling [--duration 5] [--rounds 3] [--only NAME ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import options
from bench.catalog import Catalog
from bench.launch import LaunchError, free_port, launched, servers_command
from bench.run import Session
from bench.run.estimate import PEER_START_S, SERVER_START_S, WRK_FIXED_S
from bench.store import StoreError, results_dir, write_json
from bench.verify import answers
from bench.wrk import run_wrk, wrk_path

PLAIN_WSGI = "helloworld.plain:app"
PLAIN_ASGI = "helloworld.plain_asgi:app"
PY = sys.executable


@dataclass(frozen=True)
class Contender:
    """One server as the benchmark starts it. `{port}` in a peer's command is filled in."""

    label: str
    command: tuple[str, ...]
    ours: bool
    new_connection: bool = False  # a new connection per request (wrk sends Connection: close)
    server: str = ""  # the name --servers chooses it by: our model, or the peer's catalog row


@dataclass(frozen=True)
class Pairing:
    name: str
    ours: Contender
    peers: tuple[Contender, ...]
    target: float  # the ratio ours / peer we aim for
    note: str = ""


def _ours(label: str, model: str, app: str, *options: str, new_connection: bool = False):
    command = tuple(servers_command(model, app, *options))
    return Contender(label, command, True, new_connection, model)


def _peer(name: str, catalog: Catalog) -> Contender:
    """A peer as the harness defines it (bench/plan.py), on the plain app of its interface."""
    spec = catalog.servers[name]
    command = tuple(spec.template(catalog.workloads["hello"]))  # the plain app of its interface
    return Contender(spec.description, command, False, server=name)


def pairings(catalog: Catalog | None = None) -> list[Pairing]:
    """The comparisons, each on the same app with the same process and thread counts; the peers
    as `catalog` (the standard one if none is given) defines them."""
    catalog = catalog or Catalog.standard()
    uvicorn_fast = _peer("uvicorn", catalog)
    return [
        Pairing(
            "asyncio uvloop, ASGI",
            _ours("asyncio --loop uvloop (ASGI)", "asyncio", PLAIN_ASGI, "--loop", "uvloop"),
            (uvicorn_fast,),
            1.5,
        ),
        Pairing(
            "asyncio uvloop, WSGI inline",
            _ours("asyncio --loop uvloop (WSGI)", "asyncio", PLAIN_WSGI, "--loop", "uvloop"),
            (uvicorn_fast,),
            1.5,
            "uvicorn serves the ASGI twin of the app",
        ),
        Pairing(
            "asyncio stock loop, ASGI",
            _ours("asyncio --loop asyncio (ASGI)", "asyncio", PLAIN_ASGI),
            (_peer("uvicorn-h11", catalog),),
            2.0,
        ),
        Pairing(
            "prefork 2 workers, WSGI",
            _ours(
                "prefork --workers 2", "prefork", PLAIN_WSGI, "--workers", "2", "--loop", "uvloop"
            ),
            (_peer("gunicorn-sync", catalog),),
            1.3,
            "gunicorn's sync worker closes the connection after every response",
        ),
        Pairing(
            "threaded, WSGI",
            _ours("threaded (a thread per connection)", "threaded", PLAIN_WSGI),
            (_peer("gunicorn-gthread", catalog), _peer("waitress", catalog)),
            1.0,
            "ours runs 50 threads for wrk's 50 connections; the peers 8",
        ),
        Pairing(
            "fork_reap, new connection per request",
            _ours("fork_reap", "fork_reap", PLAIN_WSGI, "--backlog", "1024", new_connection=True),
            (
                Contender(
                    "20-line fork server, fixed response",
                    (PY, "-m", "bench.scenarios.peers.fork_fixed", "{port}"),
                    False,
                    True,
                    "fork-fixed",
                ),
            ),
            0.9,
        ),
    ]


@dataclass
class Run:
    label: str
    round: int
    requests_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    failure: str = ""


# one run ----------------------------------------------------------------------------------------


def measure(
    contender: Contender, round_number: int, args: argparse.Namespace, session: Session
) -> Run:
    """One run of a contender: the server on the session's server CPUs (registered), wrk on
    its generator's."""
    run = Run(contender.label, round_number)
    wrk_cpus = session.generator_cpus
    port = None if contender.ours else free_port()
    command = [part.replace("{port}", str(port)) for part in contender.command]
    try:
        with launched(
            command,
            port=port,
            cpus=session.server_cpus,
            registry=session.registry,
            what=f"ceiling server {contender.label}",
            check=answers(session.catalog.workloads["hello"]),
        ) as server:
            url = f"{server.url}/hello/"
            if args.warmup:
                run_wrk(url, args.warmup, args.connections, contender.new_connection, wrk_cpus)
            figures = run_wrk(
                url, args.duration, args.connections, contender.new_connection, wrk_cpus
            )
    except (LaunchError, RuntimeError, ValueError, OSError, subprocess.SubprocessError) as exc:
        run.failure = str(exc).splitlines()[0][:300]
        return run
    for key, value in figures.items():
        setattr(run, key, value)
    return run


def run_s(contender: Contender, args: argparse.Namespace) -> float:
    """A run's planned seconds: the server's start and stop, wrk's warm-up and its window (whole
    seconds, as wrk counts them)."""
    seconds = SERVER_START_S + (0.0 if contender.ours else PEER_START_S)
    if args.warmup:
        seconds += math.ceil(args.warmup) + WRK_FIXED_S
    return seconds + math.ceil(args.duration) + WRK_FIXED_S


# the table ----------------------------------------------------------------------------------------


def values(runs: list[Run], label: str, key: str) -> list[float]:
    return [getattr(r, key) for r in runs if r.label == label and not r.failure]


def median(runs: list[Run], label: str, key: str) -> float | None:
    found = values(runs, label, key)
    return statistics.median(found) if found else None


def spread(runs: list[Run], label: str) -> tuple[float, float] | None:
    found = values(runs, label, "requests_per_s")
    return (min(found), max(found)) if found else None


def summary(runs: list[Run], chosen: list[Pairing]) -> list[dict]:
    rows = []
    for pairing in chosen:
        ours = median(runs, pairing.ours.label, "requests_per_s")
        for peer in pairing.peers:
            theirs = median(runs, peer.label, "requests_per_s")
            ratio = ours / theirs if ours and theirs else None
            rows.append(
                {
                    "pairing": pairing.name,
                    "ours": pairing.ours.label,
                    "peer": peer.label,
                    "ours_rps": ours,
                    "peer_rps": theirs,
                    "ours_rps_range": spread(runs, pairing.ours.label),
                    "peer_rps_range": spread(runs, peer.label),
                    "rounds": len(values(runs, pairing.ours.label, "requests_per_s")),
                    "ours_p50_ms": median(runs, pairing.ours.label, "p50_ms"),
                    "ours_p99_ms": median(runs, pairing.ours.label, "p99_ms"),
                    "peer_p50_ms": median(runs, peer.label, "p50_ms"),
                    "peer_p99_ms": median(runs, peer.label, "p99_ms"),
                    "ratio": ratio,
                    "target": pairing.target,
                    "met": ratio is not None and ratio >= pairing.target,
                    "note": pairing.note,
                }
            )
    return rows


def _fmt(value: float | None, digits: int = 0) -> str:
    return "failed" if value is None else f"{value:,.{digits}f}"


def render(rows: list[dict]) -> Table:
    table = Table(title="Ceiling: wrk -t1 -c50, keep-alive, medians over the rounds")
    for column in (
        "pairing",
        "ours",
        "req/s",
        "p50 / p99 ms",
        "peer",
        "req/s",
        "p50 / p99 ms",
        "ratio",
        "target",
    ):
        table.add_column(
            column, justify="right" if column not in ("pairing", "ours", "peer") else "left"
        )
    for row in rows:
        ratio = "failed" if row["ratio"] is None else f"{row['ratio']:.2f}"
        table.add_row(
            row["pairing"],
            row["ours"],
            _fmt(row["ours_rps"]),
            f"{_fmt(row['ours_p50_ms'], 2)} / {_fmt(row['ours_p99_ms'], 2)}",
            row["peer"],
            _fmt(row["peer_rps"]),
            f"{_fmt(row['peer_p50_ms'], 2)} / {_fmt(row['peer_p99_ms'], 2)}",
            f"[{'green' if row['met'] else 'red'}]{ratio}[/]",
            f"≥ {row['target']}",
        )
    return table


def _range(bounds: tuple[float, float] | list[float] | None) -> str:
    return "" if not bounds else f" ({bounds[0] / 1000:,.1f}k to {bounds[1] / 1000:,.1f}k)"


def markdown(rows: list[dict]) -> str:
    lines = [
        "| pairing | ours | req/s, median (min to max) | p50 / p99 ms | peer | "
        "req/s, median (min to max) | p50 / p99 ms | ratio | target |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = "failed" if row["ratio"] is None else f"{row['ratio']:.2f}"
        lines.append(
            f"| {row['pairing']} | {row['ours']} | {_fmt(row['ours_rps'])}"
            f"{_range(row.get('ours_rps_range'))} | "
            f"{_fmt(row['ours_p50_ms'], 2)} / {_fmt(row['ours_p99_ms'], 2)} | {row['peer']} | "
            f"{_fmt(row['peer_rps'])}{_range(row.get('peer_rps_range'))} | "
            f"{_fmt(row['peer_p50_ms'], 2)} / {_fmt(row['peer_p99_ms'], 2)} | {ratio} | "
            f"≥ {row['target']} |"
        )
    return "\n".join(lines) + "\n"


def redraw(folder: Path) -> int:
    """Rebuild ceiling.md (and the summary) from a stored ceiling.json, measuring nothing."""
    path = folder / "ceiling.json"
    try:
        document = json.loads(path.read_text())
        runs = [Run(**run) for run in document["runs"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:  # measures nothing: no session
        Console(stderr=True).print(f"[red]cannot read {path}: {exc}[/]")
        return 2
    names = {pairing["name"] for pairing in document["pairings"]}
    rows = summary(runs, [p for p in pairings() if p.name in names])
    document["summary"] = rows
    write_json(path, document)
    (folder / "ceiling.md").write_text(markdown(rows))
    Console(width=200).print(render(rows))
    return 0


# command line -----------------------------------------------------------------------------------


def contender_names() -> list[str]:
    """What --servers chooses pairings by: our models and the peers in them."""
    return list(dict.fromkeys(c.server for p in pairings() for c in (p.ours, *p.peers)))


COMMAND = options.Command(
    "ceiling",
    prog="python -m bench ceiling",
    description="Compare our fastest models with uvicorn, gunicorn and waitress under wrk.",
    choices={"servers": contender_names()},
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = COMMAND.parser()
    args = parser.parse_args(argv)
    if (
        args.duration <= 0
        or args.warmup < 0
        or args.rounds < 1
        or not 1 <= args.connections <= 1000
    ):
        parser.error("--duration > 0, --warmup >= 0, --rounds >= 1, 1 <= --connections <= 1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.redraw:
        return redraw(args.redraw)
    if wrk_path() is None:  # said before any folder or session is made
        Console(stderr=True).print(
            "[red]wrk is not installed.[/] On Debian: apt-get install wrk "
            "(nox -s ceiling installs it when run as root)."
        )
        return 2
    try:
        out = results_dir("ceiling", args.out)
    except StoreError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        return 2
    session = Session(out, Catalog.standard())
    chosen = [
        p
        for p in pairings(session.catalog)
        if not args.servers or {c.server for c in (p.ours, *p.peers)} & set(args.servers)
    ]
    started = time.monotonic()
    runs = run_rounds(session, chosen, args)
    rows = summary(runs, chosen)
    (out / "ceiling.md").write_text(markdown(rows))
    Console(width=200).print(render(rows))
    session.reporter.console.print(
        f"{len(runs)} runs in {time.monotonic() - started:.0f} s; "
        f"stored in {out / 'ceiling.json'} and ceiling.md"
    )
    return 0


def run_rounds(session: Session, chosen: list[Pairing], args: argparse.Namespace) -> list[Run]:
    """Every contender of the chosen pairings, round after round, into ceiling.json (written
    after each run); the first SIGINT or SIGTERM ends the rounds, keeping the runs done."""
    console = session.reporter.console
    contenders = [c for p in chosen for c in (p.ours, *p.peers)]
    runs: list[Run] = []
    document = {
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "connections": args.connections,
            "wrk_threads": 1,
            "server_cpus": sorted(session.server_cpus or []),
            "wrk_cpus": sorted(session.generator_cpus or []),
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
        },
        "pairings": [asdict(p) for p in chosen],
        "runs": [],
        "summary": [],
    }
    each = [run_s(contender, args) for contender in contenders]
    parts = [("runs", sum(each) * args.rounds)]
    count = session.reporter.counting("ceiling", parts, len(each) * args.rounds, "runs")
    try:
        with session.running(), count as counter:
            for round_number in range(1, args.rounds + 1):
                for contender, planned_s in zip(contenders, each, strict=True):
                    what = f"round {round_number}: {contender.label}"
                    counter.now(what, planned_s)
                    run = measure(contender, round_number, args, session)
                    runs.append(run)
                    counter.done(f"{what}: {_said(run)}")
                    document["runs"] = [asdict(r) for r in runs]
                    document["summary"] = summary(runs, chosen)
                    write_json(session.folder / "ceiling.json", document)
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted: keeping the runs completed so far[/]")
    return runs


def _said(run: Run) -> str:
    if run.failure:
        return f"[red]failed[/]: {run.failure}"
    extra = f", errors {run.errors}" if run.errors else ""
    return (
        f"{run.requests_per_s:,.0f} req/s, p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms{extra}"
    )


if __name__ == "__main__":
    sys.exit(main())
