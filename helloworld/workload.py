"""Request workloads (sleep, CPU burn, payload) shared by every application that offers them.

Keeping the work and the response bodies here means the plain WSGI app and Django do exactly the
same amount of work per request; only the framework overhead differs.
"""

from __future__ import annotations

import time


def slept_message(ms: int) -> bytes:
    """Body of the sleep routes, sync and async alike."""
    return b"slept %d ms" % ms


def sleep_body(ms: int) -> bytes:
    """Block the calling thread for ``ms`` milliseconds, like a slow database or upstream call."""
    time.sleep(ms / 1000)
    return slept_message(ms)


def burn_cpu(ms: int) -> None:
    """Run Python bytecode until this thread has used ``ms`` milliseconds of CPU time.

    time.thread_time is used rather than a wall clock (perf_counter) or process_time: with a wall
    clock, threads waiting for the GIL would finish having done less work, and process_time counts
    the other threads too. Per-thread CPU time keeps the cost of one request fixed whatever the
    server's concurrency model, which is what the comparison needs.
    """
    deadline = time.thread_time() + ms / 1000
    total = 0
    while time.thread_time() < deadline:
        for i in range(200):  # a few microseconds of real work between clock reads
            total += i * i


def cpu_body(ms: int) -> bytes:
    """Burn ``ms`` milliseconds of CPU and describe it."""
    burn_cpu(ms)
    return b"burned %d ms" % ms


def payload_body(kb: int) -> bytes:
    """Return exactly ``kb`` KiB of ``x`` bytes, to measure how servers move large bodies."""
    return b"x" * (kb * 1024)
