"""Load: the harness's side of the load generator (bench/generator.py, locust in its own process).

A run starts its generator processes once (`Generator`), and sends them cell after cell: each
cell's users split over the processes, all started at one moment on time.monotonic(). The
generator reports the moments of its window as it passes them (so the telemetry sampler can
take a sample at each), then the cell's figures, which are merged here: counts added,
histograms merged, percentiles taken. In the open loop every request due in the window is in
the percentiles: an answer (right or wrong) at its latency from its due time, and one never
answered by the end of the drain as later than any answer: a percentile that falls among those
is None ("more than the drain limit"), never the answers' maximum.

`generator_verdict` says, from the generator's own CPU during the window, whether a cell
measured the generator rather than the server; the harness and the capacity sweep both use it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import selectors
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hdrh.histogram import HdrHistogram

from bench.contract import (
    BEHIND,
    CPU_CONTENDED,
    DEFAULT_CLIENT,
    HIGHEST_US,
    LOCUST_BUSY,
    LOWEST_US,
    PERCENTILES,
    SIGNIFICANT_DIGITS,
    WORKER_WAIT_S,
    joined,
    shares,
    split_address,
)
from bench.launch import REPO_ROOT, Registry, kill_group, spawn_group

DRAIN_S = 2.0  # open loop: at most this long after the window for the answers still due
START_LEAD_S = 0.05  # the users start this long after the cell is sent: every process is ready
ANYWHERE = {"0.0.0.0": "127.0.0.1", "*": "127.0.0.1", "::": "::1"}  # a bind to every address
READY_TIMEOUT_S = 60.0  # a generator process that has not said "ready" by then failed
GENERATOR_MODULE = "bench.generator"  # what `python -m` runs (the fault tests wrap it)

__all__ = ["BEHIND", "Distribution", "Generator", "LoadResult", "generator_verdict", "run_locust"]


@dataclass
class LoadResult:
    requests: int = 0  # right answers counted in the window
    failures: dict[str, int] = field(default_factory=dict)
    sent: int = 0  # every request sent, warm-up included (each a connection to a teaching server)
    window_s: float = 0.0
    throughput: float = 0.0  # right answers per second over the window
    latency_us: dict[str, float | None] = field(default_factory=dict)  # p50 ... p99.99, mean, max
    histogram: str = ""  # the merged HdrHistogram, encoded (base64, compressed)
    client: str = DEFAULT_CLIENT
    # the window on time.monotonic(): when the users started, the window's start and end
    started: float = 0.0
    window: list[float] = field(default_factory=list)
    # open loop only: the offered rate, the requests due in the window, and the latency from
    # the actual send (the service time, what a closed loop sees) beside `latency_us`, which
    # counts from the due time over every request due, answered rightly or wrongly at its
    # latency (`censored`: due and never answered by the drain's end, later than any answer)
    offered_rate: float = 0.0
    due: int = 0
    censored: int = 0
    censored_above_us: float = 0.0  # a censored request waited at least this long
    service_latency_us: dict[str, float | None] = field(default_factory=dict)
    service_histogram: str = ""
    send_lag_us: dict[str, float | None] = field(default_factory=dict)  # due time to send
    late: int = 0  # requests that went out more than 2 ms behind their due time, for any reason
    answered_in_window: int = 0  # open loop: right answers that arrived in the window
    max_lag_s: float = 0.0
    # the generator during the window: its own CPU (the busiest process's share of a core, or
    # the share its processes on one machine and CPU set took of those CPUs, whichever is
    # higher) and its CPUs' busy share, anybody's work counted
    generator_cpu_s: float = 0.0
    generator_cpu_share: float = 0.0
    generator_cpus_busy: float = 0.0
    processes: int = 1
    error: str = ""

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


@dataclass(frozen=True)
class CellLoad:
    """What one cell asks of the generator."""

    url: str
    path: str
    users: int
    warmup_s: float
    duration_s: float
    close: bool = False
    rate: float = 0.0  # open loop: requests per second over all users (0: closed loop)
    max_requests: int | None = None
    timeout_s: float = 5.0
    body: bytes | None = None
    client: str = DEFAULT_CLIENT
    status: int = 200  # the status a right answer carries

    @property
    def drain_s(self) -> float:
        return min(self.timeout_s, DRAIN_S) if self.rate else 0.0


def generator_verdict(share: float, busy: float) -> tuple[Literal["", "locust", "contended"], str]:
    """Whether a window measured the generator rather than the server, and why: ("locust",
    why) when locust used LOCUST_BUSY or more of its core; ("contended", why) when its CPUs were
    CPU_CONTENDED busy while locust was not (other work took them, and locust may have waited
    for a CPU); ("", "") when neither."""
    if share >= LOCUST_BUSY:
        return "locust", f"locust used {share:.0%} of its CPU during the window"
    if busy >= CPU_CONTENDED:
        return "contended", (
            f"the generator's CPUs were {busy:.0%} busy, locust {share:.0%}: other work took them"
        )
    return "", ""


class GeneratorError(RuntimeError):
    """A generator process failed, hung or said something unreadable."""


class CellFailed(GeneratorError):
    """The generator could not run a cell and said why; it is still there for the next."""


class _Process:
    """One generator process, its pipes, and what it printed."""

    def __init__(
        self, cpus: set[int] | None, log_dir: Path, args: tuple[str, ...] = (), piped: bool = True
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"generator-{time.monotonic_ns()}.log"
        self.log = self.log_path.open("wb")
        self.piped = piped  # a worker of a master has no pipe: the master drives it
        self.popen = spawn_group(
            [sys.executable, "-m", GENERATOR_MODULE, *args],
            stdin=subprocess.PIPE if piped else subprocess.DEVNULL,
            stdout=subprocess.PIPE if piped else self.log,
            stderr=self.log,
            cwd=REPO_ROOT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        self.buffer = b""
        self.pending: list[dict] = []  # events read after the one a caller waited for

    def send(self, command: dict) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write((json.dumps(command) + "\n").encode())
        self.popen.stdin.flush()

    def lines(self, data: bytes) -> list[dict]:
        self.buffer += data
        *complete, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in complete if line.strip()]

    def said(self) -> str:
        self.log.flush()
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
        return " | ".join(tail)

    def fileno(self) -> int:
        """Its events' pipe, to wait on."""
        assert self.popen.stdout is not None  # started with a pipe
        return self.popen.stdout.fileno()

    def stop(self) -> None:
        if self.piped:
            with contextlib.suppress(OSError, ValueError):
                self.send({"op": "quit"})
                if self.popen.stdin is not None:
                    self.popen.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(2)
        kill_group(self.popen)
        self.log.close()


@dataclass(frozen=True)
class Distribution:
    """A locust master and its workers: `local` started here (on the generator's CPUs), `remote`
    ones started by the user (`python -m bench worker --master HOST:PORT`) on other machines.
    The master binds `bind` (loopback, a port of its choice, unless the user names one)."""

    local: int = 0
    remote: int = 0
    bind: str = "127.0.0.1:0"

    @property
    def workers(self) -> int:
        return self.local + self.remote


class Transport(ABC):
    """How a generator's processes reach locust: started, sent a cell, read and stopped.

    `processes` are on a pipe (commands as JSON lines on stdin, events on stdout): a cell's
    users are split over them, one command each. `workers` have no pipe: a master drives them.
    Every process started and stopped is told to the registry."""

    count = 1  # the processes on a pipe, over which a cell's users are split
    keeps_refused = False  # a cell it refused (and said why) leaves it ready for the next
    remote = 0  # its workers on other machines: they do not join processes started again

    def __init__(self, cpus: set[int] | None, log_dir: Path, registry: Registry | None) -> None:
        self.cpus = cpus
        self.log_dir = log_dir
        self.registry = registry
        self.processes: list[_Process] = []
        self.workers: list[_Process] = []

    @property
    @abstractmethod
    def load_processes(self) -> int:
        """The processes that send load."""

    @abstractmethod
    def start(self) -> None:
        """Start the processes and wait until they are ready for a cell."""

    @property
    def started(self) -> bool:
        return bool(self.processes)

    @property
    def pids(self) -> list[int]:
        return [process.popen.pid for process in self.processes + self.workers]

    def spawn(self, args: tuple[str, ...] = (), piped: bool = True) -> _Process:
        process = _Process(self.cpus, self.log_dir, args, piped)
        (self.processes if piped else self.workers).append(process)
        if self.registry is not None:
            self.registry.add(process.popen.pid, "load generator")
        return process

    def close(self) -> None:
        for process in self.processes + self.workers:
            process.stop()
            if self.registry is not None:
                self.registry.remove(process.popen.pid)
        self.processes, self.workers = [], []

    def send(self, index: int, command: dict) -> None:
        """A command to the `index`th process on a pipe."""
        self.processes[index].send(command)

    def collect(
        self,
        wanted: set[str],
        deadline: float,
        among: list[int] | None = None,
        on_event: Callable[[str, float], None] | None = None,
    ) -> list[dict]:
        """Read events until every process on a pipe (or those `among`) has sent one of `wanted`
        (returned, in order); what a process said after it waits for the next call. `on_event`
        is told of a moment once every one of them has passed it."""
        chosen = [self.processes[index] for index in among or ()]
        waiting = {p.fileno(): p for p in chosen or self.processes}
        got: dict[int, dict] = {}
        seen: dict[str, int] = {}

        def take(fd: int, process: _Process, events: list[dict]) -> bool:
            """Go through `events` up to a wanted one (True); keep the rest for later."""
            while events:
                event = events.pop(0)
                name = str(event.get("event"))
                if name == "error":
                    process.pending = events
                    raise CellFailed(f"the load generator failed: {event['error']}")
                if name in wanted:
                    got[fd] = event
                    process.pending = events
                    return True
                if on_event is not None and "t" in event:
                    seen[name] = seen.get(name, 0) + 1
                    if seen[name] == len(waiting):  # every process has passed it
                        on_event(name, event["t"])
            process.pending = []
            return False

        with selectors.DefaultSelector() as selector:
            for fd, process in waiting.items():
                if not take(fd, process, process.pending):
                    selector.register(fd, selectors.EVENT_READ)
            while len(got) < len(waiting):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GeneratorError("the load generator did not finish in time: killed")
                for key, _ in selector.select(timeout=left):
                    process = waiting[key.fd]
                    data = os.read(key.fd, 65536)
                    if not data:
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            process.popen.wait(5)
                        raise GeneratorError(
                            f"the load generator exited with {process.popen.returncode}: "
                            f"{process.said()}"
                        )
                    if take(key.fd, process, process.lines(data)):
                        selector.unregister(key.fd)
        return [got[fd] for fd in waiting]


class Pipes(Transport):
    """`count` generator processes of our own, each on a pipe, each sent its share of a cell."""

    def __init__(
        self, count: int, cpus: set[int] | None, log_dir: Path, registry: Registry | None
    ) -> None:
        super().__init__(cpus, log_dir, registry)
        self.count = count

    @property
    def load_processes(self) -> int:
        return self.count

    def start(self) -> None:
        for _ in range(self.count):
            self.spawn()
        self.collect({"ready"}, time.monotonic() + READY_TIMEOUT_S)


class Master(Transport):
    """A locust master on a pipe, sent every cell whole, and its workers: the local ones
    started here, the remote ones awaited (`on_wait` says where). The master relays its
    workers' reports and moments."""

    keeps_refused = True  # the master collected every worker's word before it said why

    def __init__(
        self,
        distribution: Distribution,
        cpus: set[int] | None,
        log_dir: Path,
        registry: Registry | None,
        on_wait: Callable[[str], None] | None,
    ) -> None:
        super().__init__(cpus, log_dir, registry)
        self.distribution = distribution
        self.remote = distribution.remote
        self.on_wait = on_wait

    @property
    def load_processes(self) -> int:
        return self.distribution.workers

    def start(self) -> None:
        distribution = self.distribution
        host, _ = split_address(distribution.bind)
        wait = WORKER_WAIT_S if distribution.remote else READY_TIMEOUT_S
        workers = str(distribution.workers)
        self.spawn(
            ("--master", distribution.bind, "--expect-workers", workers, "--wait", str(wait))
        )
        port = self.collect({"listening"}, time.monotonic() + READY_TIMEOUT_S)[0]["port"]
        here = ANYWHERE.get(host, host)  # a master bound to every address: its local side
        for _ in range(distribution.local):
            self.spawn(("--worker", joined(here, port)), piped=False)
        if distribution.remote and self.on_wait is not None:
            shown = f"ADDRESS-OF-THIS-MACHINE:{port}" if host in ANYWHERE else joined(host, port)
            self.on_wait(
                f"waiting for {distribution.remote} remote worker(s): run "
                f"`python -m bench worker --master {shown}` on each"
            )
        self.collect({"ready"}, time.monotonic() + READY_TIMEOUT_S + wait)


class Generator:
    """The run's generator processes (one per generator CPU, on pipes), or a locust master and
    its workers (a Transport either way): started once, cell after cell.

    Use as a context manager, or call close(). A process that fails or hangs fails the cell it
    was running; the processes are then started afresh for the next cell."""

    def __init__(
        self,
        processes: int = 1,
        cpus: set[int] | None = None,
        log_dir: Path | None = None,
        registry: Registry | None = None,
        distribution: Distribution | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        folder = log_dir or REPO_ROOT / "results" / ".generator"
        self.transport: Transport
        if distribution and distribution.workers:
            self.transport = Master(distribution, cpus, folder, registry, on_wait)
        else:
            self.transport = Pipes(max(1, processes), cpus, folder, registry)
        self.lost = ""  # why the remote workers are gone for good (a master started again)

    @property
    def pids(self) -> list[int]:
        return self.transport.pids

    @property
    def load_processes(self) -> int:
        """The processes that send load: the workers, or the processes on a pipe."""
        return self.transport.load_processes

    def start(self) -> Generator:
        if self.lost:
            raise GeneratorError(self.lost)
        if not self.transport.started:
            try:
                self.transport.start()
            except BaseException:
                self.close()
                raise
        return self

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Generator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(
        self,
        load: CellLoad,
        on_event: Callable[[str, float], None] | None = None,
        grace_s: float = 10.0,
    ) -> LoadResult:
        """One cell's load; never raises for load problems (they are the result's `error`).
        `on_event(name, t)` is called as the window's moments pass (started, window_start,
        window_end), on time.monotonic()."""
        result = LoadResult(
            offered_rate=load.rate, client=load.client, processes=self.load_processes
        )
        try:
            self.start()
            start_at = time.monotonic() + START_LEAD_S
            split = shares(load.users, self.transport.count)
            busy = [index for index, users in enumerate(split) if users]
            for index in busy:
                self.transport.send(index, self._command(load, split[index], index, start_at))
            deadline = start_at + load.warmup_s + load.duration_s + load.drain_s + grace_s
            events = self.transport.collect({"result"}, deadline, busy, on_event)
            results = [report for event in events for report in event.get("reports", [event])]
            merge(result, results, load)
        except (GeneratorError, OSError, ValueError, KeyError, TypeError) as exc:
            # a dead pipe, a line not JSON, a worker's report of another shape
            result = LoadResult(
                offered_rate=load.rate, client=load.client, processes=self.load_processes
            )
            result.error = (
                str(exc)
                if isinstance(exc, GeneratorError)
                else (f"the load generator failed: {type(exc).__name__}: {exc}")
            )
            if isinstance(exc, CellFailed) and self.transport.keeps_refused:
                return result  # it said why, and is ready for the next cell
            if self.transport.remote and not self.lost:  # said once, as it first happened
                self.lost = (
                    f"{exc}; the master had to be started again, and workers on other machines "
                    f"do not join a new master: start them again and run again"
                )
            self.close()  # started afresh for the next cell
        return result

    def _command(self, load: CellLoad, users: int, index: int, start_at: float) -> dict:
        host, _, port = load.url.removeprefix("http://").rstrip("/").rpartition(":")
        count = self.transport.count
        share = math.ceil(load.max_requests / count) if load.max_requests else None
        return {
            "op": "cell",
            "host": host.strip("[]"),
            "port": int(port),
            "path": load.path,
            "users": users,
            "warmup_s": load.warmup_s,
            "duration_s": load.duration_s,
            "close": load.close,
            "rate": load.rate * users / load.users if load.rate else 0.0,
            "max_requests": share,
            "timeout_s": load.timeout_s,
            "drain_s": load.drain_s,
            "body": load.body.decode("latin-1") if load.body is not None else None,
            "client": load.client,
            "status": load.status,
            "process_index": index,
            "processes": count,
            "start_at": start_at,
        }


def merge(result: LoadResult, reports: list[dict], load: CellLoad) -> None:
    """Add up the generator processes' counts and histograms into `result`."""
    merged = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    service = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    lag = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    sharing: dict[tuple, float] = {}  # (host, CPU set): its processes' shares, summed
    for report in reports:
        result.requests += report["requests"]
        result.sent += report["sent"]
        for kind, count in report["failures"].items():
            result.failures[kind] = result.failures.get(kind, 0) + count
        result.window_s = max(result.window_s, report["window_s"])
        result.started = max(result.started, report["started"])
        result.window = [
            max(result.window[0], report["window"][0]) if result.window else report["window"][0],
            max(result.window[1], report["window"][1]) if result.window else report["window"][1],
        ]
        for histogram, key in (
            (merged, "histogram"),
            (merged, "failed_histogram"),  # open loop: wrong answers count at their latency
            (service, "service_histogram"),
            (lag, "send_lag_histogram"),
        ):
            if report.get(key):
                histogram.add(HdrHistogram.decode(report[key].encode("ascii")))
        spent = report["generator"]
        result.generator_cpu_s += spent["own_cpu_s"]
        result.generator_cpu_share = max(result.generator_cpu_share, spent["own_share"])
        where = (spent.get("host", ""), tuple(spent.get("cpu_set", ())))
        sharing[where] = sharing.get(where, 0.0) + spent["own_share"]
        result.generator_cpus_busy = max(result.generator_cpus_busy, spent["cpus_busy_share"])
        result.due += report.get("due", 0)
        result.late += report.get("late", 0)
        result.answered_in_window += report.get("answered_in_window", 0)
        result.max_lag_s = max(result.max_lag_s, report.get("max_lag_s", 0.0))
    for (_, cpu_set), summed in sharing.items():  # processes sharing CPUs: their sum counts
        if cpu_set:
            result.generator_cpu_share = max(result.generator_cpu_share, summed / len(cpu_set))
    if load.rate:  # never answered at all by the drain's end: waited longer than it
        result.censored = max(result.due - merged.get_total_count(), 0)
        result.censored_above_us = load.drain_s * 1e6
    if result.window_s:  # open loop: what arrived in the window, not what was due in it
        answered = result.answered_in_window if load.rate else result.requests
        result.throughput = answered / result.window_s
    result.latency_us, result.histogram = percentiles(merged, result.due if load.rate else None)
    result.service_latency_us, result.service_histogram = percentiles(service)
    result.send_lag_us, _ = percentiles(lag)


def percentiles(histogram: HdrHistogram, due: int | None = None) -> tuple[dict, str]:
    """The percentiles, mean and max of a histogram, and the histogram encoded ({}, "" if empty).

    With `due` (the open loop), the percentiles are over `due` requests, of which only those in
    the histogram were answered: the rest count as later than any answer, so a percentile that
    falls among them is None, and so are the mean and the max."""
    count = histogram.get_total_count()
    total = max(due or 0, count)
    if not total:
        return {}, ""
    latency: dict[str, float | None] = {}
    for p in PERCENTILES:
        rank = math.ceil(p * total / 100 - 1e-9)  # the nearest-rank percentile, over `total`
        if rank > count:
            latency[f"p{p:g}"] = None
        else:
            at = min(100.0, 100 * rank / count)
            latency[f"p{p:g}"] = float(histogram.get_value_at_percentile(at))
    censored = total > count
    latency["mean"] = None if censored or not count else round(histogram.get_mean_value(), 1)
    latency["max"] = None if censored or not count else float(histogram.get_max_value())
    return latency, histogram.encode().decode("ascii") if count else ""


def run_locust(
    url: str,
    path: str,
    users: int,
    *,
    warmup_s: float,
    duration_s: float,
    close: bool,
    max_requests: int | None,
    out_dir: Path,
    cpus: set[int] | None,
    processes: int = 1,
    timeout_s: float = 5.0,
    rate: float = 0.0,
    grace_s: float = 10.0,
    body: bytes | None = None,
    client: str = DEFAULT_CLIENT,
) -> LoadResult:
    """One load on a generator of its own (started and stopped here): for a single measurement.
    A run sends all its cells to one Generator instead."""
    load = CellLoad(
        url, path, users, warmup_s, duration_s, close, rate, max_requests, timeout_s, body, client
    )
    with Generator(processes, cpus, out_dir) as generator:
        return generator.run(load, grace_s=grace_s)
