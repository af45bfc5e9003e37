"""Every hostile case (bench/scenarios/hostile_cases.py) against our keep-alive models and the
peers:
`python -m bench hostile` prints a markdown table of what each server answered.

Servers run as the benchmark runs them (bench/plan.py: asyncio and prefork on uvloop, gunicorn
sync with 2 workers, uvicorn on httptools and on h11, all on the plain app), one at a time, on
127.0.0.1; our models get --header-timeout 1 so that the slow cases end quickly. Every case
gets a fresh connection and at most --bound seconds. servers/HOSTILE.md holds the table and
what its differences mean.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from bench import options
from bench.catalog import Catalog
from bench.launch import LaunchError, free_port, launched
from bench.run import Session
from bench.run.estimate import PEER_START_S, SERVER_START_S
from bench.scenarios.hostile_cases import CASES, HEADER_TIMEOUT, Answer, probe
from bench.store import StoreError, results_dir, results_root

OURS = ("asyncio", "threaded", "prefork")
PEERS = ("gunicorn-sync", "uvicorn", "uvicorn-h11")
# a case on average: most are answered at once, some wait out a timeout (ours: --header-timeout
# 1) or the linger after an answer (40 cases: asyncio 3.4 s, uvicorn 10.5 s, gunicorn 4.8 s)
CASE_S, PEER_CASE_S = 0.07, 0.15


def planned(servers: Sequence[str]) -> list[float]:
    """Each server's planned seconds: its start and stop, and every case."""
    return [
        SERVER_START_S + len(CASES) * CASE_S
        if name in OURS
        else SERVER_START_S + PEER_START_S + len(CASES) * PEER_CASE_S
        for name in servers
    ]


def command(name: str, catalog: Catalog | None = None) -> tuple[list[str], int | None]:
    """The command line that runs `name` on the plain app, and the port a peer is told to use
    (its row from `catalog`, the standard one if none is given)."""
    catalog = catalog or Catalog.standard()
    spec, hello = catalog.servers[name], catalog.workloads["hello"]
    if spec.kind == "ours":
        options = ["--header-timeout", str(HEADER_TIMEOUT)]
        return spec.command(hello, None, None) + options, None
    port = free_port()
    return spec.command(hello, port, None), port


def answers_of(name: str, bound: float, session: Session) -> list[Answer]:
    """Start `name` (registered; unpinned, as always: no figure here is a speed), send it every
    case, stop it (and its whole process tree)."""
    argv, port = command(name, session.catalog)
    with launched(
        argv, port=port, registry=session.registry, what=f"hostile server {name}"
    ) as server:
        answers = [probe(server.port, case, bound) for case in CASES]
        if server.popen is not None and server.popen.poll() is not None:
            raise LaunchError(
                f"{name} died during the cases:\n{server.output()}", "it died during the cases"
            )
    return answers


def ours_column(results: dict[str, list[Answer]], index: int) -> str:
    """Our models' common answer, or each one's when they differ (they should not)."""
    answers = {name: str(results[name][index]) for name in OURS if name in results}
    if len(set(answers.values())) == 1:
        return next(iter(answers.values()))
    return "; ".join(f"{name}: {answer}" for name, answer in answers.items())


def markdown(results: dict[str, list[Answer]], catalog: Catalog | None = None) -> str:
    """The table: one row per case, our answer beside each peer's (named as `catalog`, the
    standard one if none is given, describes it)."""
    servers = (catalog or Catalog.standard()).servers
    peers = [name for name in PEERS if name in results]
    titles = ["case", "ours (" + ", ".join(n for n in OURS if n in results) + ")"]
    titles += [servers[name].description for name in peers]
    lines = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    for index, case in enumerate(CASES):
        cells = [case.name, ours_column(results, index)]
        cells += [str(results[name][index]) for name in peers]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


COMMAND = options.Command(
    "hostile",
    prog="python -m bench hostile",
    description=__doc__,
    choices={"servers": OURS + PEERS},
    defaults={"servers": OURS + PEERS},
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return COMMAND.parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """The table on standard output. No file is kept: the session's folder (results/hostile-TIME,
    where a later run finds the servers a crashed one left) holds only the process registry
    while the cases run, and is removed once it is empty (results/ too, if this made it)."""
    args = parse_args(argv)
    made_root = not results_root().exists()
    try:
        folder = results_dir("hostile", min_free_bytes=0)
    except StoreError as exc:
        print(f"{COMMAND.prog}: error: {exc}", file=sys.stderr)
        return 2
    session = Session(folder, Catalog.standard())
    results = {}
    plan = planned(args.servers)
    count = session.reporter.counting("hostile", [("servers", sum(plan))], len(plan), "servers")
    try:
        with session.running(), count as counter:
            for name, planned_s in zip(args.servers, plan, strict=True):
                counter.now(f"{name}: {len(CASES)} cases", planned_s)
                results[name] = answers_of(name, args.timeout, session)
                counter.done(f"{name}: {len(CASES)} cases answered")
    finally:
        with contextlib.suppress(OSError):  # empty once the registry is gone
            folder.rmdir()
            if made_root:
                folder.parent.rmdir()
    print(markdown(results, session.catalog))
    return 0


if __name__ == "__main__":
    sys.exit(main())
