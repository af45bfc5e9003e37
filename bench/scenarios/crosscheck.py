"""Cross-check with wrk: the same cell as locust's (same server, path, connections = users,
keep-alive or a new connection per request), measured by a generator written in C, so that a
reader can see how much of a figure is the server and how much is locust.

The harness measures a cell with wrk itself (bench/wrk.py `wrk_cell`, on its generator-bound
cells, or every cell with --crosscheck); wrk has no request cap: on the leaking fork models only
the server's own --max-requests bounds it, so they are left out.

    python -m bench crosscheck [--servers asyncio,threaded,prefork] [--users 8]
        [--duration 3] [--mode keepalive|close] [--out DIR]

runs locust and then wrk on each server and stores both in crosscheck.json.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import options
from bench.catalog import SERVERS, Catalog
from bench.launch import LaunchError, launched
from bench.load import CellLoad
from bench.run import Session
from bench.run.estimate import CELL_FIXED_S, GENERATOR_START_S, WRK_FIXED_S
from bench.scenarios.cli import run_command
from bench.store import write_json
from bench.verify import answers
from bench.wrk import wrk_cell as crosscheck
from bench.wrk import wrk_path

UNBOUNDED = tuple(name for name, spec in SERVERS.items() if spec.leaking)


def versus(locust: dict, wrk: dict) -> dict:
    """wrk's figures over locust's: throughput, p50 and p99 (None where one is missing)."""

    def ratio(ours: float | None, theirs: float | None) -> float | None:
        return ours / theirs if ours and theirs else None

    locust_latency, wrk_latency = locust.get("latency_us") or {}, wrk.get("latency_us") or {}
    return {
        "throughput_ratio": ratio(wrk.get("throughput"), locust.get("throughput")),
        "p50_ratio": ratio(wrk_latency.get("p50"), locust_latency.get("p50")),
        "p99_ratio": ratio(wrk_latency.get("p99"), locust_latency.get("p99")),
    }


# the command line: locust, then wrk, on each server ---------------------------------------------


def measure(server_name: str, args: argparse.Namespace, session: Session) -> dict:
    """One server on the session's server CPUs (registered): the session's locust, then wrk on
    the generator's CPUs."""
    catalog = session.catalog
    spec, workload = catalog.servers[server_name], catalog.workloads[args.workload]
    cell = {"server": server_name, "workload": workload.name, "users": args.users}
    cell |= {"close": args.mode == "close", "locust": None, "wrk": None, "failure": ""}
    try:
        with launched(
            **spec.launch_options(workload),
            cpus=session.server_cpus,
            registry=session.registry,
            what=f"crosscheck server {server_name}",
            check=answers(workload, args.mode == "close"),
        ) as srv:
            load = session.generator.run(
                CellLoad(
                    srv.url,
                    workload.path,
                    args.users,
                    warmup_s=args.warmup,
                    duration_s=args.duration,
                    close=cell["close"],
                )
            )
            cell["locust"] = {
                "throughput": load.throughput,
                "requests": load.requests,
                "latency_us": load.latency_us,
                "failures": load.failures,
                "window_s": load.window_s,
                "error": load.error,
            }
            cell["wrk"] = crosscheck(
                srv.url,
                workload.path,
                args.users,
                args.duration,
                cell["close"],
                session.generator_cpus,
            )
    except LaunchError as exc:
        cell["failure"] = f"did not start: {str(exc).splitlines()[0][:200]}"
    if cell["locust"] and cell["wrk"]:
        cell["versus"] = versus(cell["locust"], cell["wrk"])
    return cell


def render(cells: list[dict]) -> Table:
    table = Table(title="locust and wrk on the same cells")
    for column in (
        "server",
        "locust req/s",
        "wrk req/s",
        "wrk / locust",
        "p50 µs locust / wrk",
        "p99 µs locust / wrk",
    ):
        table.add_column(column, justify="left" if column == "server" else "right")
    for cell in cells:
        if cell["failure"] or not cell["wrk"]:
            table.add_row(cell["server"], "", "", "", "", cell["failure"] or "no wrk")
            continue
        locust, wrk = cell["locust"], cell["wrk"]
        ratio = (cell.get("versus") or {}).get("throughput_ratio")
        table.add_row(
            cell["server"],
            f"{locust['throughput']:,.0f}",
            f"{wrk['throughput']:,.0f}" if not wrk["error"] else wrk["error"],
            "" if ratio is None else f"{ratio:.2f}",
            f"{locust['latency_us'].get('p50', 0):,.0f} / {wrk['latency_us'].get('p50', 0):,.0f}",
            f"{locust['latency_us'].get('p99', 0):,.0f} / {wrk['latency_us'].get('p99', 0):,.0f}",
        )
    return table


COMMAND = options.Command(
    "crosscheck",
    prog="python -m bench crosscheck",
    description="Run locust and then wrk on the same cells and store both figures.",
    epilog=f"Not for {', '.join(UNBOUNDED)}: wrk cannot cap its requests.",
    choices={"servers": [name for name in SERVERS if name not in UNBOUNDED]},
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = COMMAND.parser()
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 1000 or not 1 <= args.duration <= 60 or not 0 <= args.warmup <= 10:
        parser.error("--users must be 1 to 1000, --duration 1 to 60 s, --warmup 0 to 10 s")
    return args


def planned(args: argparse.Namespace) -> list[float]:
    """Each server's planned seconds: its start and stop, locust's warm-up and window, wrk's
    whole seconds; the first server the load generator's start too."""
    each = CELL_FIXED_S + args.warmup + args.duration + math.ceil(args.duration) + WRK_FIXED_S
    return [each + (0.0 if index else GENERATOR_START_S) for index in range(len(args.servers))]


def said(cell: dict) -> str:
    """A server's line: both generators' throughput, or why there is none."""
    if cell["failure"] or not cell["locust"]:
        return f"{cell['server']}: [red]{cell['failure'] or 'no figures'}[/]"
    wrk = cell["wrk"]
    figure = "not run" if not wrk else wrk["error"] or f"{wrk['throughput']:,.0f} req/s"
    return f"{cell['server']}: locust {cell['locust']['throughput']:,.0f} req/s, wrk {figure}"


def run_crosscheck(out: Path, args: argparse.Namespace, session: Session | None = None) -> dict:
    """locust then wrk on each server, into out/crosscheck.json (written after each), on
    `session` (one of its own on `out`, one locust process, if none is given); the first
    SIGINT or SIGTERM stops the server under way, and the generator."""
    out.mkdir(parents=True, exist_ok=True)
    session = session or Session(out, Catalog.standard(), generator_processes=1)
    document: dict[str, Any] = {
        "scenario": "crosscheck",
        "settings": vars(args) | {"out": str(out)},
        "cells": [],
    }
    plan = planned(args)
    count = session.reporter.counting("crosscheck", [("servers", sum(plan))], len(plan), "servers")
    with session.running(), count as counter:
        for server, planned_s in zip(args.servers, plan, strict=True):
            counter.now(f"{server}: locust, then wrk, {args.users} users, {args.mode}", planned_s)
            document["cells"].append(measure(server, args, session))
            write_json(out / "crosscheck.json", document)
            counter.done(said(document["cells"][-1]))
    return document


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if wrk_path() is None:  # said before any folder or session is made
        Console(stderr=True).print("[red]wrk is not installed.[/] On Debian: apt-get install wrk")
        return 2
    return run_command(
        "crosscheck",
        args.out,
        lambda session: run_crosscheck(session.folder, args, session),
        lambda d: render(d["cells"]),
        generator_processes=1,  # one locust process, as crosscheck has always run it
    )


if __name__ == "__main__":
    sys.exit(main())
