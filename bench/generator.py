"""The load generator: one long-lived locust process that runs cell after cell.

    python -m bench.generator        (started by bench/load.py; commands on stdin, events on stdout)

Starting locust costs about half a second (imports, gevent); a run of a hundred cells paid it a
hundred times. This process pays it once: for each cell it is sent, it builds a locust
Environment with the cell's user class (bench/locustfile.py), starts every user at the cell's
`start_at` (a time.monotonic() moment the harness chose, so that several generator processes
start together), lets the warm-up pass, records the window, and stops the users. The events it
prints (bench/contract.py) carry their moments on time.monotonic(), the clock the harness's
telemetry sampler reads too, so the window is known to both to the millisecond.

It also measures what it spent: its own CPU seconds during the window (a process that used
nearly all of its core measured itself, not the server), and how busy its CPUs were with
anybody's work (/proc/stat), so that a generator starved by other work is told apart.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import gevent
import gevent.socket
import locust  # noqa: F401  first: gevent patches the world before anything opens a socket
from hdrh.histogram import HdrHistogram
from locust.env import Environment
from locust.rpc.protocol import Message
from locust.runners import STATE_MISSING

from bench import locustfile
from bench.contract import (
    BEHIND,
    HIGHEST_US,
    LOWEST_US,
    PROTOCOL,
    SIGNIFICANT_DIGITS,
    WORKER_WAIT_S,
    cpu_ticks,
    shares,
    split_address,
)


def emit(event: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def histogram_of(values: Iterable[float]) -> str:
    """The values (µs) as an encoded HdrHistogram ("" when there are none)."""
    histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    for value in values:
        histogram.record_value(max(LOWEST_US, min(value, HIGHEST_US)))
    return histogram.encode().decode("ascii") if histogram.get_total_count() else ""


class Spent:
    """This process's CPU seconds and its CPUs' busy and total ticks, at one moment."""

    def __init__(self) -> None:
        times = os.times()
        self.own_s = times.user + times.system
        self.busy, self.total = cpu_ticks(os.sched_getaffinity(0))

    def since(self, earlier: Spent, seconds: float) -> dict:
        ticks = self.total - earlier.total
        return {
            "own_cpu_s": self.own_s - earlier.own_s,
            "own_share": (self.own_s - earlier.own_s) / seconds if seconds > 0 else 0.0,
            "cpus_busy_share": (self.busy - earlier.busy) / ticks if ticks else 0.0,
            "cpus": len(os.sched_getaffinity(0)),
            # where: processes of one machine pinned to one CPU set share those CPUs
            "host": socket.gethostname(),
            "cpu_set": sorted(os.sched_getaffinity(0)),
        }


def sleep_until(moment: float) -> None:
    wait = moment - time.monotonic()
    if wait > 0:
        gevent.sleep(wait)


def numeric_host(host: str, port: int) -> str:
    """The address to connect to, resolved once per cell (not once per connection)."""
    *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return str(address[0])


def run_cell(command: dict, emit: Callable[..., None] = emit) -> None:
    figures = locustfile.FIGURES
    users = int(command["users"])
    warmup_s, duration_s = float(command["warmup_s"]), float(command["duration_s"])
    cell = locustfile.CellConfig(
        host=numeric_host(command["host"], int(command["port"])),
        port=int(command["port"]),
        path=command["path"],
        close=bool(command["close"]),
        body=command["body"].encode("latin-1") if command.get("body") is not None else None,
        status=int(command.get("status", 200)),
        timeout_s=float(command["timeout_s"]),
        user_rate=float(command.get("rate", 0.0)) / users,
        drain_s=float(command.get("drain_s", 2.0)),
        max_requests=command.get("max_requests"),
        process_index=int(command.get("process_index", 0)),
        processes=int(command.get("processes", 1)),
    )
    locustfile.configure(cell)
    user_class = locustfile.USERS[command.get("client", "raw")]
    user_class.host = f"http://{command['host']}:{cell.port}"  # FastHttpUser's base URL
    environment = Environment(user_classes=[user_class], host=user_class.host)
    runner = environment.create_local_runner()
    sleep_until(float(command.get("start_at", 0.0)))
    started = time.monotonic()
    window_start = started + warmup_s
    window_end = window_start + duration_s
    figures.begin(started, window_start, window_end)
    ended = started
    watchdog = gevent.spawn(locustfile.watch)
    try:
        runner.spawn_users({user_class.__name__: users})  # all at once: no ramp
        emit("started", t=started)
        sleep_until(window_start)
        before = Spent()
        emit("window_start", t=window_start)
        # a closed loop's users may all stop early (the request cap); the open loop's window is
        # its schedule's, whenever its users stop
        while time.monotonic() < window_end and (cell.user_rate or runner.user_greenlets):
            gevent.sleep(min(0.05, max(window_end - time.monotonic(), 0)))
        ended = min(time.monotonic(), window_end)
        spent = Spent().since(before, ended - window_start)
        emit("window_end", t=ended)
        if cell.user_rate:  # the answers still due may come in, up to drain_s
            deadline = window_end + cell.drain_s
            while (figures.in_flight or figures.scheduled) and time.monotonic() < deadline:
                gevent.sleep(0.01)
    finally:
        runner.quit()
        watchdog.kill()
    end = min(window_end, figures.capped_at or window_end, ended)
    result = {
        "pid": os.getpid(),
        "requests": figures.requests,
        "failures": figures.failures,
        "sent": figures.sent,
        "started": started,
        "window": [window_start, end],
        "window_s": max(end - window_start, 0.0),
        "histogram": histogram_of(figures.latencies_us),
        "generator": spent,
    }
    if cell.user_rate:
        due = figures.due_in_window()
        missed = due - figures.requests - sum(figures.failures.values())
        if missed > 0:
            result["failures"] = {**figures.failures, BEHIND: missed}
        result.update(
            due=due,
            service_histogram=histogram_of(figures.service_us),
            failed_histogram=histogram_of(figures.failed_us),
            send_lag_histogram=histogram_of(figures.send_lag_us),
            late=figures.late,
            answered_in_window=figures.answered_in_window,
            max_lag_s=figures.max_lag_s,
        )
    emit("result", **result)


def serve_pipe() -> int:
    """One process on its own: commands from stdin, events to stdout."""
    emit("ready", pid=os.getpid())
    for line in sys.stdin:  # between cells nothing runs: a blocking read is fine
        if not line.strip():
            continue
        command = json.loads(line)
        if command.get("op") == "quit":
            break
        try:
            run_cell(command)
        except Exception as exc:  # said to the harness, which fails the cell with it
            emit("error", error=f"{type(exc).__name__}: {exc}"[:500])
    return 0


# Many processes, many machines: a locust master and its workers ---------------------------------
#
# The master reads the same pipe as a process on its own, and sends each worker its share of a
# cell ("bench_cell", a locust message) with the moment the users start as a delay, so that a
# worker on another machine, whose time.monotonic() is its own, starts at the master's moment.
# The worker's window moments come back on the master's clock ("bench_event"); its figures
# (histograms, failures, its CPU) ride on locust's report to the master (events.report_to_master,
# received as events.worker_report), sent as soon as the cell ends.


class Master:
    """A locust MasterRunner that runs the harness's cells on its workers."""

    def __init__(self, host: str, port: int, expect: int, wait_s: float = WORKER_WAIT_S) -> None:
        environment = Environment(user_classes=[locustfile.RawUser])
        self.runner = environment.create_master_runner(host, port)
        self.expect = expect
        self.wait_s = wait_s
        self.cell_id = 0
        self.busy: list[str] = []  # the workers with users in the current cell
        self.reports: dict[str, dict] = {}
        self.passed: dict[str, list[float]] = {}
        environment.events.worker_report.add_listener(self.on_report)
        self.runner.register_message("bench_event", self.on_event)

    @property
    def workers(self) -> list[str]:
        """The workers connected and heard from (locust marks a silent one missing)."""
        return sorted(c.id for c in self.runner.clients.all if c.state != STATE_MISSING)

    def on_report(self, client_id: str, data: dict) -> None:
        for report in data.get("bench_results", ()):
            if report.get("cell_id") == self.cell_id:
                self.reports[client_id] = report

    def on_event(self, environment: object, msg: Message) -> None:
        event = msg.data
        if event.get("cell_id") != self.cell_id:
            return
        moments = self.passed.setdefault(event["event"], [])
        moments.append(event["t"])
        if len(moments) == len(self.busy):  # every worker of the cell has passed it
            emit(event["event"], t=max(moments))

    def wait_for_workers(self) -> None:
        deadline = time.monotonic() + self.wait_s
        while len(self.workers) < self.expect:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(self.workers)} of {self.expect} workers connected in {self.wait_s:g} s"
                )
            gevent.sleep(0.05)

    def run(self, command: dict) -> None:
        workers = self.workers
        if not workers:
            raise RuntimeError("no worker is connected to the master")
        self.cell_id += 1
        self.reports, self.passed = {}, {}
        count, users = len(workers), int(command["users"])
        busy = [(w, n) for w, n in zip(workers, shares(users, count), strict=True) if n]
        self.busy = [worker for worker, _ in busy]
        for index, (worker, share) in enumerate(busy):
            self.runner.send_message(
                "bench_cell",
                {
                    **command,
                    "cell_id": self.cell_id,
                    "users": share,
                    "rate": command["rate"] * share / users,
                    "max_requests": -(-command["max_requests"] // len(busy))
                    if command.get("max_requests")
                    else None,
                    "process_index": index,
                    "processes": len(busy),
                    "lead_s": command["start_at"] - time.monotonic(),
                    "protocol": PROTOCOL,
                },
                client_id=worker,
            )
        ends = float(command["warmup_s"]) + float(command["duration_s"])
        deadline = float(command["start_at"]) + ends + float(command.get("drain_s", 0)) + 30
        while len(self.reports) < len(busy):
            gevent.sleep(0.01)
            for worker in self.busy:
                node = self.runner.clients.get(worker)
                if worker not in self.reports and (node is None or node.state == STATE_MISSING):
                    raise RuntimeError(f"worker {worker} went missing during the cell")
            if time.monotonic() > deadline:
                raise RuntimeError("a worker did not report its cell in time")
        reports = [self.reports[worker] for worker, _ in busy]
        errors = [report["error"] for report in reports if report.get("error")]
        if errors:
            emit("error", error=f"a worker failed: {errors[0]}"[:500])
        else:
            emit("result", reports=reports, workers=count)

    def serve(self) -> int:
        emit("listening", port=self.runner.server.port)
        self.wait_for_workers()
        emit("ready", pid=os.getpid(), workers=len(self.workers))
        for command in pipe_commands():
            if command.get("op") == "quit":
                break
            try:
                self.run(command)
            except Exception as exc:
                emit("error", error=f"{type(exc).__name__}: {exc}"[:500])
        self.runner.quit()
        return 0


def pipe_commands() -> Iterator[dict]:
    """The harness's commands, read without blocking the master's other greenlets."""
    fd, buffer = sys.stdin.fileno(), b""
    while True:
        gevent.socket.wait_read(fd)
        data = os.read(fd, 65536)
        if not data:
            return
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        yield from (json.loads(line) for line in lines if line.strip())


def serve_worker(host: str, port: int) -> int:
    """A locust worker: runs each cell the master sends, reports its figures to the master."""
    environment = Environment(user_classes=[locustfile.RawUser])
    runner = environment.create_worker_runner(host, port)
    pending: list[dict] = []

    def attach(client_id: str, data: dict) -> None:  # locust's report to the master carries them
        if pending:
            data["bench_results"] = pending[:]
            pending.clear()

    def work(command: dict) -> None:
        if command.get("protocol") != PROTOCOL:
            pending.append(
                {
                    "cell_id": command.get("cell_id"),
                    "error": "this worker runs another version of the harness: install the "
                    "master's commit here",
                }
            )
            runner._send_stats()
            return
        local_start = time.monotonic() + float(command.pop("lead_s"))
        shift = float(command["start_at"]) - local_start  # the master's clock minus ours
        cell_id = command["cell_id"]

        def relay(event: str, **fields: Any) -> None:  # the locustfile's events, as emit() has them
            if event in ("started", "window_start", "window_end"):
                t = float(fields["t"]) + shift
                runner.send_message("bench_event", {"cell_id": cell_id, "event": event, "t": t})
                return
            if event == "result":
                fields["started"] = float(fields["started"]) + shift
                fields["window"] = [t + shift for t in fields["window"]]
            pending.append({"cell_id": cell_id, **fields})
            runner._send_stats()  # at once, not at locust's next report (every 3 s)

        try:
            run_cell({**command, "start_at": local_start}, relay)
        except Exception as exc:
            relay("error", error=f"{type(exc).__name__}: {exc}"[:500])

    environment.events.report_to_master.add_listener(attach)
    runner.register_message("bench_cell", lambda environment, msg: gevent.spawn(work, msg.data))
    runner.greenlet.join()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generator")
    parser.add_argument(
        "--master", type=split_address, help="be a locust master bound to HOST:PORT"
    )
    parser.add_argument("--expect-workers", type=int, default=1)
    parser.add_argument("--wait", type=float, default=WORKER_WAIT_S, help="for the workers (s)")
    parser.add_argument(
        "--worker", type=split_address, help="be a worker of the master at HOST:PORT"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    if args.master:
        host, port = args.master
        return Master(host, port, args.expect_workers, args.wait).serve()
    if args.worker:
        return serve_worker(*args.worker)
    return serve_pipe()


if __name__ == "__main__":
    sys.exit(main())
