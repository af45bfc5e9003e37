"""Soak: our keep-alive models under a mixed load for a while, each server's whole process tree
watched for growth. `python -m bench soak --duration 10m [--servers asyncio,threaded,prefork]`.

Each server is started as the harness starts every server (launched(): its own process group
and cgroup, verified, stopped and reaped), with --header-timeout 1 as `hostile` runs our models,
and gets for --duration (each server its own):
- normal load: --users threads, each a keep-alive connection sending GET /hello/ at a steady
  RATE_PER_USER a second. Every answer must be 200 with the exact body within --timeout: any
  other outcome fails the soak, kept with what failed and when;
- hostile requests: the cases of bench/scenarios/hostile_cases.py, cycled, each on a connection
  of its own, each answer (status, and whether it closed) compared with the case's;
- slow clients: --slow connections trickling a header a byte at a time (--interval), cut by the
  server's header timeout with a 408, and opened again.

Every second (a run under a minute: every sixtieth of it, at least 0.25 s) the tree is sampled:
open descriptors, threads, the clients' connections it holds (its TCP sockets on its port but
the listener and those the client has closed), and memory counted once: the anonymous pages'
PSS summed over the tree (Pss_Anon: a page forked workers still share is split between them).
File pages are left out: a shared library's PSS moves whenever any other process of the machine
maps or unmaps the same file (whole PSS moved by 1 to 2 MiB steps here while other tests ran).
The whole PSS and the cgroup's charge (v1's includes page cache) are stored beside it.

The verdict is a slope, not a snapshot. After the warm-up (default a fifth of the run, at least
30 s, at most half of it: the threaded model's anonymous memory grows by about 1 MiB over its
first 25 s of this load, then levels off, in each of three runs measured here) a line is
fitted to each series by Theil-Sen: the median of the slopes between every two samples, which
a GC pause or a connection caught mid-close does not move, with Sen's 95 % interval. The growth
it gives over the measured span is judged against a bound:
- descriptors beyond the clients' own connections (each one is one descriptor): < 1;
- threads beyond the clients' connections times the threads one costs (measured: the median
  step of threads per step of connections, rounded: 1 for a thread per connection, 0 for a
  loop): < 1;
- memory: < 1 MiB. The allocator's own steps (a heap trimmed, an arena added) are a few hundred
  KiB here, while 1 KiB leaked per request of the normal load (100 a second) is 1 MiB in 10 s:
  even the suite's 20 s soak catches that. Over the 8 measured minutes of a 10-minute soak,
  1 MiB is 7.5 MiB an hour.
'flat' when the interval's upper end is under the bound, 'grows' when its lower end is above,
'unsure' between (too short or too noisy to tell): only 'flat' passes.

Bounded: each user sends at most its pace's requests, each probe and request has a timeout,
the clients stop at the end (or at the first SIGINT or SIGTERM) and the server is stopped and
reaped on every way out.
"""

from __future__ import annotations

import contextlib
import math
import select
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import psutil
from rich.console import Console
from rich.table import Table

from bench import options
from bench.catalog import Catalog, Workload
from bench.http1 import ResponseReader, read_response, request_bytes
from bench.launch import LaunchError, ServerProcess, launched
from bench.run import Session
from bench.scenarios.hostile import command
from bench.scenarios.hostile_cases import CASES, HEADER_TIMEOUT, Answer, Case, probe
from bench.scenarios.rawclient import error_kind
from bench.store import StoreError, results_dir, write_json
from bench.verify import answers

OURS = ("asyncio", "threaded", "prefork")
HOST = "127.0.0.1"
RATE_PER_USER = 25.0  # normal requests a second, per user
SAMPLE_S = 1.0
# the threaded model's anonymous memory grows by about 1 MiB over its first 25 s of this load,
# then levels off (three runs here); the loops' grow by less
WARMUP_AT_LEAST_S = 30.0
PROBE_BOUND_S = 4.0  # a hostile case's answer within this (as `hostile` waits)
SLOW_PADDING = 400  # a slow client's header: longer than the header timeout lets it trickle
MIN_SAMPLES = 10  # a fit on fewer says nothing
CONFIDENCE = 0.95
MIB = 2**20
# a socket on the server's port that is no client connection in progress: the listener, and
# one the client closed and the server has not (for a moment; or for ever: a leak, not theirs)
NOT_A_CLIENT = (psutil.CONN_LISTEN, psutil.CONN_CLOSE_WAIT)
EXAMPLES = 10  # failures kept with their time, the first ones
# the growth over the measured span that still counts as flat, by series
BOUNDS = {"descriptors": 1.0, "threads": 1.0, "memory_mib": 1.0}
UNITS = {"descriptors": "descriptors", "threads": "threads", "memory_mib": "MiB"}


@dataclass(frozen=True)
class SoakSettings:
    servers: tuple[str, ...] = OURS
    duration_s: float = 60.0  # per server
    warmup_s: float | None = None  # None: a fifth of the run, at least 30 s, at most half
    users: int = 4
    slow: int = 4
    interval_s: tuple[float, float] = (0.05, 0.1)
    timeout_s: float = 2.0

    @property
    def warmup(self) -> float:
        if self.warmup_s is not None:
            return self.warmup_s
        return min(max(self.duration_s / 5, WARMUP_AT_LEAST_S), self.duration_s / 2)

    @property
    def sample_s(self) -> float:
        return min(SAMPLE_S, max(0.25, self.duration_s / 60))

    def interval(self, index: int) -> float:
        """Slow client `index`'s pause between two bytes, spread evenly over the range."""
        low, high = self.interval_s
        return low + (high - low) * index / max(1, self.slow - 1)

    @property
    def requests_per_user(self) -> int:
        return math.ceil(RATE_PER_USER * self.duration_s) + 10


@dataclass
class Tally:
    """What the clients sent and got back; shared by their threads."""

    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    right: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)  # the first failures, with their time
    probes: int = 0
    probes_as_expected: int = 0
    probes_differing: dict[str, str] = field(default_factory=dict)  # case: what came back
    slow_connections: int = 0
    slow_fates: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, wrong: str) -> None:
        """A normal request: '' when it was answered right, else what was wrong."""
        with self.lock:
            self.sent += 1
            if not wrong:
                self.right += 1
                return
            self.failures[wrong] = self.failures.get(wrong, 0) + 1
            if len(self.examples) < EXAMPLES:
                self.examples.append(f"{time.monotonic() - self.started:.1f} s: {wrong}")

    def probe(self, case: Case, answer: Answer) -> None:
        with self.lock:
            self.probes += 1
            if (answer.status, answer.closed) == (case.status, case.closes):
                self.probes_as_expected += 1
            else:
                expected = f"{case.status}, {'closed' if case.closes else 'kept open'}"
                self.probes_differing[case.name] = f"{answer} (expected {expected})"

    def slow(self, fate: str) -> None:
        with self.lock:
            self.slow_connections += 1
            self.slow_fates[fate] = self.slow_fates.get(fate, 0) + 1

    def figures(self) -> dict[str, Any]:
        with self.lock:
            return {
                name: value for name, value in vars(self).items() if name not in ("started", "lock")
            }


# the clients -----------------------------------------------------------------------------------


def ask(sock: socket.socket, request: bytes, reader: ResponseReader, workload: Workload) -> str:
    """One request on a kept connection: '' when answered right, else what was wrong."""
    sock.sendall(request)
    response = read_response(sock, reader)
    if response.status != workload.status:
        return f"HTTP {response.status}"
    if workload.body is not None and response.body != workload.body:
        return f"wrong body ({len(response.body)} bytes)"
    return "" if response.keep_alive else "closed a keep-alive connection"


def normal_user(
    port: int, workload: Workload, settings: SoakSettings, tally: Tally, stop: threading.Event
) -> None:
    """A keep-alive user at RATE_PER_USER requests a second (no burst when late), until `stop`
    or its share of requests; a failed connection is opened again for the next request."""
    request = request_bytes(HOST, workload.path)
    sock: socket.socket | None = None
    reader = ResponseReader()
    due = time.monotonic()
    try:
        for _ in range(settings.requests_per_user):
            if stop.wait(max(0.0, due - time.monotonic())):
                return
            due = max(due + 1 / RATE_PER_USER, time.monotonic())
            try:
                if sock is None:
                    sock = socket.create_connection((HOST, port), timeout=settings.timeout_s)
                    reader = ResponseReader()
                wrong = ask(sock, request, reader, workload)
            except TimeoutError:
                wrong = f"no answer within {settings.timeout_s:g} s"
            except (OSError, ValueError) as exc:  # reset, refused, closed early, malformed
                wrong = error_kind(exc)
            tally.request(wrong)
            if wrong and sock is not None:
                sock.close()
                sock = None
    finally:
        if sock is not None:
            sock.close()


def hostile_loop(port: int, settings: SoakSettings, tally: Tally, stop: threading.Event) -> None:
    """The hostile cases, in turn, each on a connection of its own, until `stop`."""
    most = math.ceil(settings.duration_s * 100) + len(CASES)  # far more than fit in the run
    for index in range(most):
        if stop.is_set():
            return
        case = CASES[index % len(CASES)]
        try:
            answer = probe(port, case, PROBE_BOUND_S)
        except OSError as exc:
            answer = Answer(None, closed=False, note=f"connect: {error_kind(exc)}")
        if not stop.is_set():  # one cut short by the end says nothing
            tally.probe(case, answer)


def trickle(port: int, request: bytes, pause: float, stop: threading.Event, timeout: float) -> str:
    """One slow connection: a byte every `pause` until the server speaks or closes; what it did
    ('' when the soak ended first)."""
    try:
        sock = socket.create_connection((HOST, port), timeout=timeout)
    except OSError as exc:
        return f"connect: {error_kind(exc)}"
    with sock:
        for index in range(len(request)):
            if select.select([sock], [], [], 0)[0]:  # it spoke (a 408) or closed: read it
                break
            try:
                sock.sendall(request[index : index + 1])
            except OSError as exc:
                return error_kind(exc)
            if stop.wait(pause):
                return ""
        try:
            return f"HTTP {read_response(sock).status}"
        except TimeoutError:
            return "no answer"
        except (OSError, ValueError) as exc:
            return error_kind(exc)


def slow_client(
    port: int, index: int, settings: SoakSettings, tally: Tally, stop: threading.Event
) -> None:
    """Slow connections, one after another, until `stop`."""
    request = request_bytes(HOST, "/hello/", padding=SLOW_PADDING)
    pause = settings.interval(index)
    most = math.ceil(settings.duration_s / HEADER_TIMEOUT) * 2 + 10  # each lasts about 1 s
    for _ in range(most):
        if stop.is_set():
            return
        fate = trickle(port, request, pause, stop, settings.timeout_s + HEADER_TIMEOUT)
        if fate:
            tally.slow(fate)


# watching the server ---------------------------------------------------------------------------


def sample(server: ServerProcess, started: float) -> dict[str, Any] | None:
    """The tree now: descriptors, threads, the clients' connections it holds, processes, and
    memory counted once (anonymous PSS summed; the whole PSS and the cgroup's charge beside
    it). None if it is gone."""
    tree = server.tree()
    if not tree:
        return None
    moment = time.monotonic() - started
    descriptors = threads = connections = 0
    live = []
    for process in tree:
        with contextlib.suppress(psutil.Error), process.oneshot():
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            descriptors += process.num_fds()
            threads += process.num_threads()
            connections += sum(
                1
                for c in process.net_connections("tcp")
                if c.laddr and c.laddr.port == server.port and c.status not in NOT_A_CLIENT
            )
            live.append(process.pid)
    cgroup = None
    if server.group is not None:
        with contextlib.suppress(OSError):
            cgroup = server.group.read().memory_bytes
    return {
        "t": round(moment, 3),
        "descriptors": descriptors,
        "threads": threads,
        "connections": connections,
        "processes": len(live),
        **rollup(live),
        "cgroup_bytes": cgroup,
    }


def rollup(pids: list[int]) -> dict[str, int]:
    """PSS and its anonymous part (Pss_Anon, Linux 5.9; before it, PSS) summed over `pids`,
    from /proc/PID/smaps_rollup, in bytes."""
    whole = anonymous = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = {}
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
                name, _, value = line.partition(":")
                fields[name] = int(value.split()[0]) * 1024
            whole += fields["Pss"]
            anonymous += fields.get("Pss_Anon", fields["Pss"])
    return {"pss_bytes": whole, "anon_pss_bytes": anonymous}


def watch(server: ServerProcess, settings: SoakSettings, started: float) -> tuple[list, str]:
    """Samples until the run's end; and why it ended early ('' if it did not)."""
    samples: list[dict] = []
    deadline = started + settings.duration_s
    next_at = started
    while (now := time.monotonic()) < deadline:
        assert server.popen is not None
        if server.popen.poll() is not None:
            return samples, f"the server exited with {server.popen.returncode}"
        if now >= next_at:
            taken = sample(server, started)
            if taken is not None:
                samples.append(taken)
            next_at += settings.sample_s
        time.sleep(max(0.0, min(next_at, deadline) - time.monotonic()))
    return samples, ""


def soak_one(server: ServerProcess, workload: Workload, settings: SoakSettings) -> dict:
    """The mixed load on a started server for the run, its tree sampled meanwhile; the clients
    stopped (and their sockets closed) on every way out."""
    tally, stop = Tally(), threading.Event()
    port = server.port
    clients = [
        threading.Thread(target=normal_user, args=(port, workload, settings, tally, stop))
        for _ in range(settings.users)
    ]
    clients.append(threading.Thread(target=hostile_loop, args=(port, settings, tally, stop)))
    clients += [
        threading.Thread(target=slow_client, args=(port, index, settings, tally, stop))
        for index in range(settings.slow)
    ]
    started = tally.started = time.monotonic()
    try:
        for client in clients:
            client.daemon = True  # joined below; never one to keep the harness alive
            client.start()
        samples, ended = watch(server, settings, started)
    finally:
        stop.set()
        for client in clients:
            client.join(settings.timeout_s + HEADER_TIMEOUT + PROBE_BOUND_S + 1)
    return {"ended_early": ended, "clients": tally.figures(), "samples": samples}


# the verdict -----------------------------------------------------------------------------------


def theil_sen(t: Sequence[float], y: Sequence[float]) -> tuple[float, float, float]:
    """(slope, low, high): the median of the slopes between every two samples, and Sen's (1968)
    CONFIDENCE interval, the order statistics of those slopes around it that the normal
    approximation of Kendall's S gives (its variance corrected for tied values, as scipy's
    theilslopes does)."""
    times, values = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    first, second = np.triu_indices(len(times), 1)
    apart = times[second] - times[first]
    kept = apart > 0
    slopes = np.sort((values[second] - values[first])[kept] / apart[kept])
    if not len(slopes):
        return math.nan, math.nan, math.nan
    n = len(values)
    _, tied = np.unique(values, return_counts=True)
    variance = (n * (n - 1) * (2 * n + 5) - float(np.sum(tied * (tied - 1) * (2 * tied + 5)))) / 18
    z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
    spread = z * math.sqrt(max(variance, 0.0))
    low = max(round((len(slopes) - spread) / 2) - 1, 0)
    high = min(round((len(slopes) + spread) / 2), len(slopes) - 1)
    return float(np.median(slopes)), float(slopes[low]), float(slopes[high])


def judge(t: Sequence[float], y: Sequence[float], bound: float) -> dict[str, Any]:
    """A series' fit and verdict: the growth over the span its slope gives (and its interval),
    against `bound`."""
    if len(t) < MIN_SAMPLES:
        return {"samples": len(t), "verdict": "too few samples", "bound": bound}
    slope, low, high = theil_sen(t, y)
    span = t[-1] - t[0]
    if high * span < bound:
        verdict = "flat"
    elif low * span >= bound:
        verdict = "grows"
    else:
        verdict = "unsure"
    return {
        "samples": len(t),
        "span_s": span,
        "slope_per_s": slope,
        "interval_per_s": [low, high],
        "growth": slope * span,
        "growth_interval": [low * span, high * span],
        "per_hour": slope * 3600,
        "bound": bound,
        "verdict": verdict,
    }


def per_connection(values: Sequence[float], connections: Sequence[float]) -> int:
    """What one client connection adds to a series: the median step of the series per step of
    connections between two consecutive samples, rounded (0 when connections never moved)."""
    steps = [
        (b - a) / (d - c)
        for a, b, c, d in zip(values, values[1:], connections, connections[1:], strict=False)
        if d != c
    ]
    return max(0, round(float(np.median(steps)))) if steps else 0


def fits(samples: list[dict], warmup_s: float) -> dict[str, dict]:
    """Each series after the warm-up, beyond what the clients' own connections hold, judged."""
    kept = [s for s in samples if s["t"] >= warmup_s]
    t = [s["t"] for s in kept]
    connections = [s["connections"] for s in kept]
    threads = [s["threads"] for s in kept]
    per_thread = per_connection(threads, connections)
    series = {
        "descriptors": [s["descriptors"] - s["connections"] for s in kept],
        "threads": [n - per_thread * c for n, c in zip(threads, connections, strict=True)],
        "memory_mib": [s["anon_pss_bytes"] / MIB for s in kept],
    }
    judged = {name: judge(t, values, BOUNDS[name]) for name, values in series.items()}
    judged["threads"]["threads_per_connection"] = per_thread
    return judged


def verdict(result: dict) -> list[str]:
    """Why the server fails the soak (nothing: it passed)."""
    if result.get("failure"):
        return [result["failure"]]
    why = [result["ended_early"]] if result["ended_early"] else []
    clients = result["clients"]
    if clients["failures"]:
        said = ", ".join(f"{count} {kind}" for kind, count in clients["failures"].items())
        why.append(
            f"{clients['sent'] - clients['right']} of {clients['sent']} requests failed: {said}"
        )
    if not clients["right"]:
        why.append("no request was answered")
    for name, differing in clients["probes_differing"].items():
        why.append(f"hostile case {name!r}: {differing}")
    for name, fit in result["fits"].items():
        if fit["verdict"] != "flat":
            why.append(f"{name}: {fit['verdict']}")
    return why


# a server, the servers, the table ----------------------------------------------------------------


def soak_server(name: str, settings: SoakSettings, session: Session) -> dict:
    """One server soaked: started (registered, on its CPUs, verified), loaded and watched,
    stopped and reaped; its figures, fits and verdict."""
    argv, port = command(name, session.catalog)
    hello = session.catalog.workloads["hello"]
    result: dict[str, Any] = {"server": name, "command": argv, "failure": ""}
    try:
        with launched(
            argv,
            port=port,
            cpus=session.cpus_for(session.catalog.servers[name]),
            registry=session.registry,
            what=f"soak server {name}",
            check=answers(hello),
        ) as server:
            result["memory_counted"] = "anonymous PSS (Pss_Anon) summed over the tree"
            result["cgroup"] = server.accounting.memory if server.group is not None else ""
            result |= soak_one(server, hello, settings)
    except LaunchError as exc:
        result["failure"] = f"did not start: {exc.reason}"
        return result | {"fits": {}, "why": [result["failure"]], "passed": False}
    result["fits"] = fits(result["samples"], settings.warmup)
    result["why"] = verdict(result)
    result["passed"] = not result["why"]
    return result


def run_soak(out: Path, settings: SoakSettings, session: Session) -> dict:
    """Every server in turn into out/soak.json (written after each); the first SIGINT or
    SIGTERM stops the one under way, its clients stopped and its server reaped."""
    document: dict[str, Any] = {
        "scenario": "soak",
        "settings": asdict(settings)
        | {
            "warmup_s": settings.warmup,
            "sample_s": settings.sample_s,
            "rate_per_user": RATE_PER_USER,
            "header_timeout_s": HEADER_TIMEOUT,
            "bounds_over_the_run": BOUNDS,
            "confidence": CONFIDENCE,
        },
        "results": [],
        "passed": False,
    }
    with session.running():
        for name in settings.servers:
            session.say(
                f"{name}: {settings.duration_s:g} s of {settings.users} users, "
                f"the hostile cases and {settings.slow} slow clients ..."
            )
            result = soak_server(name, settings, session)
            document["results"].append(result)
            document["passed"] = all(r["passed"] for r in document["results"])
            write_json(out / "soak.json", document)
            session.say(
                f"{name}: [green]passed[/]"
                if result["passed"]
                else f"{name}: [red]failed[/]: {'; '.join(result['why'])}"
            )
    return document


def _growth(fit: dict, unit: str) -> str:
    if "slope_per_s" not in fit:
        return fit["verdict"]
    low, high = fit["growth_interval"]
    return f"{fit['growth']:+.2f} [{low:+.2f}, {high:+.2f}] {unit}: {fit['verdict']}"


def render(document: dict) -> Table:
    """The table: per server, the requests, the probes, the slow clients, each series' growth
    over the measured span with its interval, and the verdict."""
    table = Table(title="Soak: growth over the run after the warm-up (Theil-Sen, 95 % interval)")
    for column in ("server", "requests right/sent", "hostile as expected", "slow clients"):
        table.add_column(column, justify="left" if column == "server" else "right")
    for name in BOUNDS:
        table.add_column(f"{name} (bound {BOUNDS[name]:g})", justify="right")
    table.add_column("verdict")
    for result in document["results"]:
        clients = result.get("clients") or {}
        if not clients:
            table.add_row(result["server"], *[""] * 6, f"failed: {result['failure']}")
            continue
        fates = ", ".join(f"{n} {fate}" for fate, n in sorted(clients["slow_fates"].items()))
        table.add_row(
            result["server"],
            f"{clients['right']:,}/{clients['sent']:,}",
            f"{clients['probes_as_expected']:,}/{clients['probes']:,}",
            fates or "-",
            *[_growth(result["fits"][name], UNITS[name]) for name in BOUNDS],
            "[green]passed[/]" if result["passed"] else "[red]failed[/]",
        )
    return table


# the command line ------------------------------------------------------------------------------

COMMAND = options.Command(
    "soak",
    prog="python -m bench soak",
    description="Soak: each server under normal load, hostile requests and slow clients for "
    "--duration; its descriptors, threads and memory must stay flat (a slope test) and every "
    "normal request must succeed. Stores soak.json.",
    choices={"servers": OURS},
    defaults={"servers": OURS},
)


def parse_args(argv: Sequence[str] | None) -> tuple[SoakSettings, Path | None]:
    parser = COMMAND.parser()
    args = parser.parse_args(argv)
    if not 5 <= args.duration <= 24 * 3600:
        parser.error("--duration must be 5s to 1440m")
    if args.warmup is not None and not 0 <= args.warmup <= args.duration / 2:
        parser.error("--warmup must be from 0 to half of --duration")
    if not 1 <= args.users <= 64 or not 0 <= args.slow <= 64:
        parser.error("--users must be 1 to 64 and --slow 0 to 64")
    if not 0.1 <= args.timeout <= 30:
        parser.error("--timeout must be 0.1 to 30 s")
    settings = SoakSettings(
        servers=args.servers,
        duration_s=args.duration,
        warmup_s=args.warmup,
        users=args.users,
        slow=args.slow,
        interval_s=args.interval,
        timeout_s=args.timeout,
    )
    return settings, args.out


def main(argv: Sequence[str] | None = None) -> int:
    """The table, and soak.json in the results folder; 1 when a server failed the soak."""
    settings, out = parse_args(argv)
    try:
        folder = results_dir("soak", out)
    except StoreError as exc:
        print(f"{COMMAND.prog}: error: {exc}", file=sys.stderr)
        return 2
    session = Session(folder, Catalog.standard())
    try:
        document = run_soak(folder, settings, session)
    except KeyboardInterrupt:
        session.say("[yellow]interrupted: soak.json keeps the servers finished[/]")
        return 130
    except OSError as exc:
        session.say(f"[red]cannot write results to {folder}: {exc.strerror or exc}[/]")
        return 2
    Console(width=200).print(render(document))
    session.say(f"stored in {folder / 'soak.json'}")
    return 0 if document["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
