"""What the load generator's client costs: our raw user against locust's FastHttpUser.

    python -m bench overhead [--rounds 3] [--duration 3s] [--users 16] [--out DIR]

Both clients load the same server (asyncio on uvloop, the plain hello), pinned apart from the
generator, keep-alive and then with a new connection per request, in alternated rounds. The
figure is requests per CPU-second of the generator process during the window: a client that
spends less CPU per request can offer more load before it, not the server, sets the figure,
and the server's own speed cannot set the ratio (a CPU-second is a CPU-second whether the
generator waited for answers or not). Medians over the rounds, and their ratio.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from bench import options
from bench.catalog import Catalog
from bench.contract import CLIENTS
from bench.launch import launched, servers_command
from bench.load import CellLoad
from bench.run import Session
from bench.run.estimate import CELL_FIXED_S, GENERATOR_START_S
from bench.store import StoreError, results_dir

MODES = {"keepalive": False, "close": True}
WARMUP_S = 0.5
LOAD_FIXED_S = 0.3  # the generator's own start and end of one load, over its warm-up and window


def planned(rounds: int, duration_s: float) -> list[float]:
    """Each load's planned seconds, in order: the warm-up, the window and the generator's own
    cost; the first one the generator's start and the server's too."""
    each = WARMUP_S + duration_s + LOAD_FIXED_S
    loads = rounds * len(MODES) * len(CLIENTS)
    return [each + (0.0 if index else GENERATOR_START_S + CELL_FIXED_S) for index in range(loads)]


def per_cpu_second(requests: int, cpu_s: float) -> float:
    return requests / cpu_s if cpu_s else 0.0


def measure(rounds: int, duration_s: float, users: int, folder: Path) -> dict:
    """{mode: {client: [requests per generator CPU-second, one per round]}} and the raw rates."""
    session = Session(folder, Catalog.standard(), generator_processes=1)
    command = servers_command("asyncio", "helloworld.plain:app", "--loop", "uvloop")
    efficiency: dict[str, dict[str, list[float]]] = {m: {c: [] for c in CLIENTS} for m in MODES}
    rates: dict[str, dict[str, list[float]]] = {m: {c: [] for c in CLIENTS} for m in MODES}
    generator = session.generator
    loads = planned(rounds, duration_s)
    plan = iter(loads)
    count = session.reporter.counting("overhead", [("loads", sum(loads))], len(loads), "loads")
    with (
        session.running(),
        count as counter,
        launched(command, cpus=session.server_cpus, registry=session.registry) as server,
    ):
        for round_number in range(1, rounds + 1):
            for mode, close in MODES.items():
                for client in CLIENTS:
                    counter.now(f"round {round_number}: {mode} {client}", next(plan))
                    load = generator.run(
                        CellLoad(
                            server.url,
                            "/hello/",
                            users,
                            WARMUP_S,
                            duration_s,
                            close=close,
                            body=b"Hello, world!",
                            client=client,
                        )
                    )
                    if load.error:
                        raise RuntimeError(f"{client} {mode}: {load.error}")
                    figure = per_cpu_second(load.requests, load.generator_cpu_s)
                    efficiency[mode][client].append(figure)
                    rates[mode][client].append(load.throughput)
                    counter.done(
                        f"round {round_number}: {mode:9s} {client:8s} {load.throughput:8,.0f} "
                        f"req/s, {figure:8,.0f} req per generator CPU-second "
                        f"(locust at {load.generator_cpu_share:.0%})"
                    )
    return {"requests_per_cpu_s": efficiency, "throughput": rates}


COMMAND = options.Command("overhead", prog="python -m bench overhead", description=__doc__)


def main(argv: list[str] | None = None) -> int:
    parser = COMMAND.parser()
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 20 and 0.5 <= args.duration <= 120 and 1 <= args.users <= 1000):
        parser.error(
            "wants 1 <= --rounds <= 20, 0.5 s <= --duration <= 120 s, 1 <= --users <= 1000"
        )
    try:
        out = results_dir("overhead", args.out)
    except StoreError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    measured = measure(args.rounds, args.duration, args.users, out)
    summary: dict = {"server": "asyncio --loop uvloop, plain hello", "users": args.users}
    summary |= {"duration_s": args.duration, "rounds": args.rounds, **measured, "medians": {}}
    lines = []
    for mode in MODES:
        medians = {c: statistics.median(measured["requests_per_cpu_s"][mode][c]) for c in CLIENTS}
        ratio = medians["raw"] / medians["fasthttp"] if medians["fasthttp"] else 0.0
        summary["medians"][mode] = {**medians, "ratio": ratio}
        lines.append(
            f"{mode:9s}: raw {medians['raw']:8,.0f}, fasthttp {medians['fasthttp']:8,.0f} "
            f"requests per generator CPU-second: raw is {ratio:.2f}x"
        )
    (out / "overhead.json").write_text(json.dumps(summary, indent=2))
    print(
        "\n".join(lines) + f"\nmedians of {args.rounds} rounds; stored in {out / 'overhead.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
