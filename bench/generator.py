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

import json
import logging
import os
import socket
import sys
import time

import gevent
import locust  # noqa: F401  first: gevent patches the world before anything opens a socket
from hdrh.histogram import HdrHistogram
from locust.env import Environment

from bench import locustfile
from bench.contract import BEHIND, HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS, cpu_ticks


def emit(event: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def histogram_of(values: object) -> str:
    """The values (µs) as an encoded HdrHistogram ("" when there are none)."""
    histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    for value in values:  # type: ignore[attr-defined]
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
        }


def sleep_until(moment: float) -> None:
    wait = moment - time.monotonic()
    if wait > 0:
        gevent.sleep(wait)


def numeric_host(host: str, port: int) -> str:
    """The address to connect to, resolved once per cell (not once per connection)."""
    *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return address[0]


def run_cell(command: dict) -> None:
    figures = locustfile.FIGURES
    users = int(command["users"])
    warmup_s, duration_s = float(command["warmup_s"]), float(command["duration_s"])
    cell = locustfile.Cell(
        host=numeric_host(command["host"], int(command["port"])),
        port=int(command["port"]),
        path=command["path"],
        close=bool(command["close"]),
        body=command["body"].encode("latin-1") if command.get("body") is not None else None,
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


def main() -> int:
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
