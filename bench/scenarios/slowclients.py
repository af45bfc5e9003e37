"""Slow clients: a few clients send their request headers one byte at a time (a "slowloris")
while normal users run a closed-loop load; how much of the normal users' throughput each model
keeps.

For every model, two phases on a fresh server each: the normal users alone, then the same users
with K slow clients that connected first (so a one-at-a-time server is busy with one of them when
the users arrive). A slow client sends one byte every 50 to 100 ms of a header block too long to
finish within the phase. The users (asyncio tasks on raw sockets, pinned apart from the server,
keep-alive where the server allows it) count only the requests answered within the measured
window, after a warm-up; a request unanswered within --timeout fails and the user reconnects.
The degradation ratio is throughput with slow clients / throughput without.

Expected: iterative, sleep and basic stall (they block reading the slow client's header until
--header-timeout, 10 s), fork models fork a child per slow client and go on, threaded, asyncio
and prefork do not notice. Bounded: every phase lasts warm-up + duration, each request at most
--timeout; the leaking fork models get at most --request-cap requests per phase; every server is
stopped and its process group reaped after each phase.

    python -m bench slowclients [--models ...] [--slow 8] [--users 8] [--duration 3]
        [--out DIR]
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench import options
from bench.catalog import Catalog
from bench.http1 import request_bytes
from bench.launch import LaunchError, ServerProcess, launched
from bench.report.scenario_tables import slow_table
from bench.run import Session
from bench.run.estimate import CELL_FIXED_S
from bench.scenarios.cli import run_command
from bench.scenarios.rawclient import (
    Client,
    Latencies,
    connect,
    connection_state,
    error_kind,
)
from bench.scenarios.scale import KINDS
from bench.store import write_json
from bench.verify import answers
from servers.models import MODELS

HEAD_START_S = 0.2  # slow clients connect and send a first byte before the users start
STALLED, SLOWED = 0.1, 0.5  # verdict lines: one window on a shared machine moves ±40 %


@dataclass(frozen=True)
class SlowSettings:
    models: tuple[str, ...] = MODELS
    slow: int = 8  # slow clients
    users: int = 8  # normal users, closed loop
    duration_s: float = 3.0  # measured window per phase
    warmup_s: float = 0.5
    interval_s: tuple[float, float] = (0.05, 0.1)  # a slow client's pause between two bytes
    timeout_s: float = 2.0  # a normal request unanswered this long fails
    request_cap: int = 300  # requests per phase for the leaking fork models

    def interval(self, index: int) -> float:
        """Slow client `index`'s pause, spread evenly over the range."""
        low, high = self.interval_s
        return low + (high - low) * index / max(1, self.slow - 1)

    def slow_request(self) -> bytes:
        """A header block that takes longer to trickle than the whole phase lasts."""
        phase_s = HEAD_START_S + self.warmup_s + self.duration_s
        return request_bytes(padding=math.ceil(phase_s / self.interval_s[0]) + 20)


@dataclass
class Window:
    """The measured window of a phase: requests finishing inside it count."""

    start: float
    end: float
    cap: int | None = None  # requests sent at most, warm-up included
    sent: int = 0
    capped_at: float | None = None
    latencies: Latencies = field(default_factory=Latencies)
    failures: dict[str, int] = field(default_factory=dict)

    def may_send(self) -> bool:
        if self.cap is not None and self.sent >= self.cap:
            self.capped_at = self.capped_at or time.monotonic()
            return False
        self.sent += 1
        return True

    def record(self, outcome: float | str) -> None:
        now = time.monotonic()
        if not self.start <= now <= self.end:
            return
        if isinstance(outcome, str):
            self.failures[outcome] = self.failures.get(outcome, 0) + 1
        else:
            self.latencies.record(outcome)

    def figures(self) -> dict:
        """Throughput over the whole window (a stalled server's silence counts), cut short only
        where the request cap stopped the users."""
        stop = min(time.monotonic(), self.end, self.capped_at or math.inf)
        window_s = max(stop - self.start, 0.0)
        answered = self.latencies.count
        return {
            "requests": answered,
            "failures": self.failures,
            "window_s": window_s,
            "throughput": answered / window_s if window_s else 0.0,
            "latency_ms": self.latencies.figures(),
            "capped": self.capped_at is not None,
        }


# the clients ------------------------------------------------------------------------------------


async def user(client: Client, window: Window, timeout_s: float) -> None:
    """Closed loop: the next request as soon as the last one is answered (or failed), until the
    window ends (a request still in flight then is dropped, not counted) or the cap is reached."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(window.end - time.monotonic()):
            while window.may_send():
                outcome = await client.get(timeout_s)
                window.record(outcome)
                if isinstance(outcome, str):
                    await asyncio.sleep(0.01)  # a refusing server is not hammered
    client.close()


async def slow_client(port: int, request: bytes, interval_s: float, end: float) -> dict:
    """Trickle `request` one byte per `interval_s` until `end`; say how far it got and what the
    server did about it."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(2.0):
            sock = await connect(port)
    except (OSError, TimeoutError) as exc:
        return {"sent": 0, "fate": f"connect {error_kind(exc)}"}
    sent = 0
    try:
        while time.monotonic() < end and sent < len(request):
            await loop.sock_sendall(sock, request[sent : sent + 1])
            sent += 1
            await asyncio.sleep(interval_s)
        fate = connection_state(sock)
    except OSError as exc:
        fate = error_kind(exc)
    finally:
        sock.close()
    names = {"open": "still trickling", "spoke": "answered", "closed": "closed by the server"}
    return {"sent": sent, "fate": names.get(fate, fate)}


async def phase(
    server: ServerProcess, settings: SlowSettings, slow: bool, cap: int | None
) -> dict[str, Any]:
    """One phase: the users alone, or the users with the slow clients."""
    began = time.monotonic()
    phase_end = began + (HEAD_START_S if slow else 0) + settings.warmup_s + settings.duration_s
    trickles = []
    if slow:
        request = settings.slow_request()
        trickles = [
            asyncio.create_task(
                slow_client(server.port, request, settings.interval(index), phase_end)
            )
            for index in range(settings.slow)
        ]
        await asyncio.sleep(HEAD_START_S)
    start = time.monotonic() + settings.warmup_s
    window = Window(start, start + settings.duration_s, cap)
    users = [user(Client(server.port), window, settings.timeout_s) for _ in range(settings.users)]
    during = asyncio.create_task(_server_during(server, start + settings.duration_s / 2))
    await asyncio.gather(*users)
    result = window.figures() | {"server_during": await during}
    if slow:
        fates = await asyncio.gather(*trickles)
        result["slow_clients"] = {
            "asked": settings.slow,
            "bytes_sent": sum(f["sent"] for f in fates),
            "fates": _count(f["fate"] for f in fates),
        }
    return result


async def _server_during(server: ServerProcess, when: float) -> dict:
    """The server tree's processes and threads in the middle of the window."""
    await asyncio.sleep(max(0.0, when - time.monotonic()))
    return await asyncio.to_thread(_tree_counts, server)


def _tree_counts(server: ServerProcess) -> dict:
    tree = server.tree()
    threads = 0
    for process in tree:
        with contextlib.suppress(Exception):
            threads += process.num_threads()
    return {"processes": len(tree), "threads": threads}


def _count(items) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def run_pinned(make: Callable[[], Coroutine[Any, Any, dict]], cpus: set[int] | None) -> dict:
    """asyncio.run(make()) in a thread pinned to `cpus` (on Linux the affinity of pid 0 is the
    calling thread's alone), so the clients stay off the server's CPU and the caller's own
    affinity is untouched."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            if cpus:
                os.sched_setaffinity(0, cpus)
            outcome["value"] = asyncio.run(make())
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="slowclients-load")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def planned(settings: SlowSettings) -> list[float]:
    """Each model's planned seconds: two phases, each on a server started and stopped for it,
    the second after the slow clients' head start."""
    phase = CELL_FIXED_S + settings.warmup_s + settings.duration_s
    return [2 * phase + HEAD_START_S for _ in settings.models]


# a model ----------------------------------------------------------------------------------------


def server_for(
    model: str, settings: SlowSettings, catalog: Catalog
) -> tuple[list[str], dict, int | None]:
    """(command, rlimits, request cap): the model as the harness runs it; the leaking fork
    models capped (the server itself exits past the cap, slow clients included)."""
    spec = catalog.servers[model]
    cap = settings.request_cap if spec.leaking else None
    bound = None if cap is None else cap + settings.slow + 1
    rlimits = {resource.RLIMIT_NOFILE: (spec.nofile, spec.nofile)} if spec.nofile else {}
    return spec.command(catalog.workloads["hello"], None, bound), rlimits, cap


def measure_model(model: str, settings: SlowSettings, session: Session) -> dict:
    """Both phases of one model, each on a fresh server (on the session's server CPUs,
    registered), stopped and reaped after; the clients run on the generator's CPUs."""
    command, rlimits, cap = server_for(model, settings, session.catalog)
    hello = session.catalog.workloads["hello"]
    result: dict[str, Any] = {"model": model, "kind": KINDS[model], "failure": ""}
    for slow in (False, True):
        name = "with" if slow else "without"
        try:
            with launched(
                command,
                rlimits=rlimits,
                cpus=session.server_cpus,
                registry=session.registry,
                what=f"slowclients server {model}",
                check=answers(hello),
            ) as server:
                load = partial(phase, server, settings, slow, cap)
                result[name] = run_pinned(load, session.generator_cpus)
        except LaunchError as exc:
            result["failure"] = f"{name} slow clients: {str(exc).splitlines()[0][:200]}"
            return result
    result["degradation"] = degradation(result["without"], result["with"])
    return result


def degradation(without: dict, with_slow: dict) -> dict:
    """Throughput with slow clients / without, p50 and p99 likewise, and a verdict: 'stalled'
    under 10 % kept, 'slowed' under 50 %, else 'held up' (a pure function of stored figures)."""
    base = without.get("throughput") or 0.0
    ratio = with_slow.get("throughput", 0.0) / base if base > 0 else None

    def latency_ratio(key: str) -> float | None:
        before = (without.get("latency_ms") or {}).get(key)
        after = (with_slow.get("latency_ms") or {}).get(key)
        return after / before if before and after is not None else None

    if ratio is None:
        verdict = "no baseline"
    else:
        verdict = "stalled" if ratio < STALLED else "slowed" if ratio < SLOWED else "held up"
    return {
        "throughput_ratio": ratio,
        "p50_ratio": latency_ratio("p50"),
        "p99_ratio": latency_ratio("p99"),
        "verdict": verdict,
    }


def rows_per_model(results: list[dict]) -> list[dict]:
    """One row per model (a pure function of the stored results)."""
    rows = []
    for result in results:
        without, with_slow = result.get("without") or {}, result.get("with") or {}
        row = {
            "model": result["model"],
            "kind": result.get("kind", ""),
            "throughput_without": without.get("throughput"),
            "throughput_with": with_slow.get("throughput"),
            "p50_ms_without": (without.get("latency_ms") or {}).get("p50"),
            "p50_ms_with": (with_slow.get("latency_ms") or {}).get("p50"),
            "p99_ms_without": (without.get("latency_ms") or {}).get("p99"),
            "p99_ms_with": (with_slow.get("latency_ms") or {}).get("p99"),
            "failure": result.get("failure", ""),
        }
        if without and with_slow:
            row |= degradation(without, with_slow)
        rows.append(row)
    return rows


def run_slowclients(out: Path, settings: SlowSettings, session: Session | None = None) -> dict:
    """Measure every model into out/slowclients.json (written after each model); return it. On
    `session` (one of its own on `out` if none is given): its catalog, CPUs, registry and
    terminal; the first SIGINT or SIGTERM stops the phase under way, its server reaped."""
    out.mkdir(parents=True, exist_ok=True)
    session = session or Session(out, Catalog.standard())
    document: dict[str, Any] = {
        "scenario": "slowclients",
        "settings": asdict(settings) | {"cpus": os.cpu_count(), "head_start_s": HEAD_START_S},
        "results": [],
        "summary": [],
    }
    plan = planned(settings)
    parts = [("both phases of every model", sum(plan))]
    count = session.reporter.counting("slow clients", parts, len(plan), "models")
    with session.running(), count as counter:
        for model, planned_s in zip(settings.models, plan, strict=True):
            counter.now(f"{model}: without, then with {settings.slow} slow clients", planned_s)
            result = measure_model(model, settings, session)
            document["results"].append(result)
            document["summary"] = rows_per_model(document["results"])
            write_json(out / "slowclients.json", document)
            counter.done(f"{model}: {_said(document['summary'][-1])}")
    return document


def _said(row: dict) -> str:
    if row["failure"]:
        return f"[red]failed: {row['failure']}[/]"
    ratio = row.get("throughput_ratio")
    kept = "n/a" if ratio is None else f"{ratio:.0%} kept"
    return (
        f"{row['throughput_without']:,.0f} -> {row['throughput_with']:,.0f} requests/s "
        f"({kept}: {row['verdict']})"
    )


# the table and the command line -----------------------------------------------------------------


COMMAND = options.Command(
    "slowclients",
    prog="python -m bench slowclients",
    description="Slow clients: normal users' throughput and latency without and with K "
    "clients that send their headers one byte at a time, per model.",
    choices={"servers": MODELS},
    defaults={"servers": MODELS},
)


def parse_args(argv: list[str] | None) -> tuple[SlowSettings, Path | None]:
    parser = COMMAND.parser()
    args = parser.parse_args(argv)
    models = args.servers
    if not 1 <= args.slow <= 256 or not 1 <= args.users <= 256:
        parser.error("--slow and --users must be 1 to 256")
    if not 0.5 <= args.duration <= 60 or not 0 <= args.warmup <= 10:
        parser.error("--duration must be 0.5 to 60 s and --warmup 0 to 10 s")
    if not 0.1 <= args.timeout <= 30 or not 10 <= args.request_cap <= 2000:
        parser.error("--timeout must be 0.1 to 30 s and --request-cap 10 to 2000")
    settings = SlowSettings(
        models,
        args.slow,
        args.users,
        args.duration,
        args.warmup,
        args.interval,
        args.timeout,
        args.request_cap,
    )
    return settings, args.out


def main(argv: list[str] | None = None) -> int:
    settings, out = parse_args(argv)
    return run_command(
        "slowclients",
        out,
        lambda session: run_slowclients(session.folder, settings, session),
        lambda d: slow_table(d["summary"]),
    )


if __name__ == "__main__":
    sys.exit(main())
