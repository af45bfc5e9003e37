"""The machine's own speed, measured beside a run: a fixed CPU-bound workload timed on the
server's CPU before the cells, between the rounds and after them.

This machine's speed moves up to 4x within hours, and a run's figures move with it: two runs
compared (`python -m bench compare`) must know whether the machine, not the code, changed. The
workload is pure Python (the interpreter's own speed is what our servers' speed rides on), a
fixed number of steps, timed five times in a row and kept as the least of the five (the others
are the same work slowed by something else).
"""

from __future__ import annotations

import os
import time

STEPS = 200_000  # about 10 ms of one core of this machine at its fastest


def workload(steps: int = STEPS) -> int:
    """The fixed work: integer arithmetic and a dict, what an interpreter does all day."""
    table: dict[int, int] = {}
    total = 0
    for step in range(steps):
        total += (step * step) % 7
        table[step & 1023] = total
    return total + len(table)


def probe(cpus: set[int] | None, tries: int = 5) -> float:
    """Seconds the fixed workload takes on `cpus` (all this thread may use when None): the
    least of `tries` timings, this thread pinned there meanwhile and put back after."""
    before = os.sched_getaffinity(0)
    try:
        if cpus:
            os.sched_setaffinity(0, cpus)
        timings = []
        for _ in range(tries):
            began = time.perf_counter()
            workload()
            timings.append(time.perf_counter() - began)
        return min(timings)
    finally:
        os.sched_setaffinity(0, before)
