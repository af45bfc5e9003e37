"""What the harness and the load generator agree on, in one place both import.

The generator (bench/generator.py, with the users of bench/locustfile.py) runs in a process of
its own, patched by gevent; the harness (bench/load.py) drives it over a pipe: one JSON line per
command in, one JSON line per event out. This module holds the names on both sides of that pipe
and imports only the standard library, so that either side can load it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

# Latency is recorded in microseconds into HdrHistograms with these bounds.
LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS = 1, 120_000_000, 3  # 1 µs to 2 minutes
PERCENTILES = (50, 90, 99, 99.9, 99.99)

# Failure kinds counted by name; the others are an HTTP status ("HTTP 503") or an error's class.
WRONG_BODY = "wrong body"  # answered 200, with another body than the workload's
BEHIND = "behind schedule: no answer"  # open loop: due in the window, not answered in time
MALFORMED = "malformed response"  # not an HTTP/1.x response our parser accepts
CLOSED_EARLY = "closed before a whole response"

# The load generator's clients: ours (raw sockets, httptools) and locust's FastHttpUser.
CLIENTS = ("raw", "fasthttp")
DEFAULT_CLIENT = "raw"

# A generator process is generator-bound when its own CPU during the window reaches this share
# of the core it runs on; or, when its CPU was this busy with other work (someone else's).
LOCUST_BUSY = 0.85
CPU_CONTENDED = 0.9

# The pipe. Commands (harness -> generator), one JSON object per line:
#   {"op": "cell", ...the cell's settings (see bench/load.py CellLoad)}
#   {"op": "quit"}
# Events (generator -> harness), one JSON object per line, times on time.monotonic(), which is
# one clock for every process of one Linux machine (CLOCK_MONOTONIC):
#   {"event": "listening", "port": ...}  a master: where its workers connect (before "ready")
#   {"event": "ready", "pid": ...}        (a master: once its workers have connected)
#   {"event": "started", "t": ...}        the users were started (warm-up begins)
#   {"event": "window_start", "t": ...}   warm-up over: from here on, requests are recorded
#   {"event": "window_end", "t": ...}     the recorded window ends
#   {"event": "result", ...figures}       the cell is over; its figures (a master's: "reports",
#                                         one per worker, each with the figures)
#   {"event": "error", "error": "..."}    the cell could not be run
EVENTS = ("listening", "ready", "started", "window_start", "window_end", "result", "error")


# A locust master (python -m bench.generator --master) waits this long for its workers, and
# sends each cell with PROTOCOL: a worker of another version of these messages refuses it.
WORKER_WAIT_S = 120.0
PROTOCOL = 1


def shares(total: int, parts: int) -> list[int]:
    """A cell's users split over the generator's processes (or a master's workers): as even as
    whole numbers go, the first ones one more."""
    return [total // parts + (index < total % parts) for index in range(parts)]


def split_address(text: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 address in brackets) as (host, port); ValueError if it is not one."""
    host, colon, port = text.rpartition(":")
    if not colon or not host.strip("[]") or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, e.g. 10.0.0.1:5557, got {text!r}")
    return host.strip("[]"), int(port)


def joined(host: str, port: int) -> str:
    """split_address's inverse: HOST:PORT, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _cpu_fields(cpus: set[int]) -> list[list[int]]:
    """/proc/stat's first eight counters (user nice system idle iowait irq softirq steal) of
    each of these CPUs, in clock ticks since boot ([] where /proc/stat is missing)."""
    found = []
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name[:3] == "cpu" and name[3:].isdigit() and int(name[3:]) in cpus:
                found.append([int(value) for value in fields[:8]])  # guest is in user
    return found


def cpu_ticks(cpus: set[int]) -> tuple[int, int]:
    """(busy, total) clock ticks of these CPUs since boot, everyone's work counted ((0, 0) where
    /proc/stat is missing): the generator's CPUs' busy share over a window is their difference."""
    fields = _cpu_fields(cpus)
    total = sum(sum(ticks) for ticks in fields)
    return total - sum(ticks[3] + ticks[4] for ticks in fields), total  # not idle, not iowait


def cpu_interrupt_ticks(cpus: set[int]) -> int:
    """Clock ticks these CPUs spent in interrupts since boot (irq and softirq: on loopback,
    much of TCP's work for a connection runs there, charged to no process or cgroup)."""
    return sum(ticks[5] + ticks[6] for ticks in _cpu_fields(cpus))
