"""Synthetic runs (run.json, format 4) with figures chosen by the test: known answers for the
report, the charts, the answer and the lessons."""

from __future__ import annotations

import json
from dataclasses import asdict

from hdrh.histogram import HdrHistogram

from bench.plan import Settings
from bench.record import CellRecord, RunRecord, from_json

SETTINGS = {
    "servers": ["asyncio", "fork", "fork_reap"],
    "workloads": ["hello"],
    "users": [1, 16],
    "modes": ["keepalive"],
    "duration_s": 2.0,
    "warmup_s": 0.5,
    "settle_s": 0.5,
    "repeat": 1,
    "request_cap": 2000,
    "cpu_split": True,
    "ceiling": True,
    "profile": "custom",
    "request_timeout_s": 5.0,
}


def histogram(values_us: list[int]) -> str:
    h = HdrHistogram(1, 120_000_000, 3)
    for value in values_us:
        h.record_value(value)
    return h.encode().decode("ascii")


def cell(
    server: str,
    workload: str,
    users: int,
    throughput: float,
    *,
    repetition: int = 1,
    status: str = "ok",
    bound: bool = False,
    zombies: list[int] | None = None,
    fds: list[int] | None = None,
    failures: dict | None = None,
    p50_us: float = 200.0,
    demand_us: float = 200.0,
    command: list[str] | None = None,
    sent: int | None = None,
    reports: dict | None = None,
    rate: float = 0.0,
    resolution_us: float = 1.0,
    faults: float = 0.0,
    core_us: float | None = None,
    leak: str | None = None,
) -> dict:
    """A cell of a 2 s window whose answers, latencies and telemetry are the ones given."""
    zombies = zombies or [0, 0, 0, 0, 0]
    fds = fds or [5, 5, 5, 5, 5]
    ok = status == "ok"
    requests = int(throughput * 2)
    load = (
        {
            "requests": requests,
            "failures": failures or {},
            "sent": requests if sent is None else sent,
            "window_s": 2.0,
            "throughput": throughput,
            "latency_us": {
                "p50": p50_us,
                "p90": p50_us * 1.5,
                "p99": p50_us * 4.5,
                "p99.9": p50_us * 7.5,
                "p99.99": p50_us * 10,
                "mean": p50_us * 1.25,
                "max": p50_us * 10.5,
            },
            "histogram": histogram(
                [int(p50_us)] * 50 + [int(p50_us * 4.5)] * 49 + [int(p50_us * 10)]
            ),
            "client": "raw",
            "started": 100.0,
            "window": [100.15, 102.15],
            "offered_rate": rate,
            "generator_cpu_s": 1.0,
            "generator_cpu_share": 0.95 if bound else 0.5,
            "generator_cpus_busy": 0.96 if bound else 0.5,
            "processes": 1,
            "error": "",
        }
        if ok
        else None
    )
    return {
        "server": server,
        "workload": workload,
        "users": users,
        "mode": "keepalive",
        "repetition": repetition,
        "rate": rate,
        "key": f"{server}/{workload}/{users}u{f'@{rate:g}rps' if rate else ''}/keepalive/"
        f"r{repetition}",
        "status": status,
        "reason": "" if ok else "verification failed: wrong body",
        "command": command or ["python", "-m", "servers", server],
        "request_cap": None,
        "started": 0.0,
        "load": load,
        "generator_bound": bound,
        "generator_bound_cause": "locust" if bound else "",
        "generator_bound_reason": "locust used 95% of its CPU during the window" if bound else "",
        "window": {"origin": 100.0, "load_start": 0.1, "start": 0.15, "end": 0.35, "load_end": 0.36}
        if ok
        else None,
        "service_demand": {
            "cpu_s": demand_us * requests / 1e6,
            "requests": max(requests, 1),
            "us_per_request": demand_us,
            "error_us_per_request": 2 * resolution_us / max(requests, 1),
            "user_us_per_request": demand_us / 2,
            "system_us_per_request": demand_us / 2,
            "split_error_us_per_request": 2 * resolution_us / max(requests, 1),
            "faults_per_request": faults,
            "core_us_per_request": core_us,
            "core_error_us_per_request": 20_000 / max(requests, 1) if core_us else None,
        }
        if ok
        else None,
        "accounting": {
            "cpu": "cgroup v2 cpu.stat" if resolution_us < 10_000 else "/proc: ticks",
            "cpu_resolution_us": resolution_us,
            "split_resolution_us": resolution_us,
            "memory": "cgroup v1 memory.usage_in_bytes (each page once)",
            "faults": "cgroup memory.stat pgfault",
            "group": "/sys/fs/cgroup/test" if resolution_us < 10_000 else "",
            "why_not_cgroup": "" if resolution_us < 10_000 else "asked for /proc",
        }
        if ok
        else None,
        "memory": {
            "method": "cgroup v1 memory.usage_in_bytes (each page once)",
            "peak_bytes": 30 * 2**20,
            "peak_is": "the kernel's own peak",
            "peak_per_user_bytes": 30 * 2**20 // users,
            "summed_rss_peak_bytes": 40 * 2**20,
        }
        if ok
        else None,
        "saturation": {
            "server_cpus_busy": 0.5,
            "server_cpu_share": 0.45,
            "ran_out": "generator" if bound else "neither",
        }
        if ok
        else None,
        "harness": {"cpus": [1], "cpu_s": 0.01} if ok else None,
        "wrk": None,
        "telemetry": {
            "interval_s": 0.1,
            "series": {
                "t": [0.0, 0.1, 0.2, 0.3, 0.4],
                "parent_fds": fds,
                "tree_fds": fds,
                "children": [0, 1, 2, 1, 0],
                "zombies": zombies,
                "threads": [1] * 5,
                "rss_bytes": [10 * 2**20] * 5,
                "cpu_s": [0.0, 0.1, 0.2, 0.3, 0.4],
                "user_s": [0.0, 0.05, 0.1, 0.15, 0.2],
                "system_s": [0.0, 0.05, 0.1, 0.15, 0.2],
                "memory_bytes": [30 * 2**20] * 5,
                "faults": [0, 10, 20, 30, 40],
            },
        }
        if ok
        else None,
        "leak": {
            "verdict": leak or ("leaks" if zombies[-1] > zombies[0] else "clean"),
            "zombies_after": zombies[-1],
            "fds_left": fds[-1] - fds[0],
            "zombies_left": zombies[-1] - zombies[0],
            "peak_parent_fds": max(fds),
        }
        if ok
        else None,
        "listen_overflows": {"ListenOverflows": 0, "ListenDrops": 0} if ok else None,
        "server_output_tail": "",
        "server_reports": reports or {},
    }


def run(cells: list[dict], status: str = "complete", **settings: object) -> dict:
    merged = json.loads(json.dumps(asdict(Settings(**{**SETTINGS, **settings}))))  # whole
    return {
        "metadata": {
            "schema_version": 4,
            "started": "2026-12-02T00:00:00",
            "commit": "abc123def",
            "dirty": False,
            "python": "3.11.7",
            "packages": {},
            "cpu_model": "test CPU",
            "cpu_count": 2,
            "kernel": "6",
            "machine": "x86_64",
            "affinity": {"server_cpus": [0], "generator_cpus": [1], "generator_processes": 1},
            "load_average": [0.1, 0.2, 0.3],
            "cpu_governor": None,
            "memory_bytes": 2**34,
            "command_line": ["bench", "run"],
            "settings": merged,
            "environment": {},
        },
        "plan": {"settings": merged, "cells": [], "skipped": [], "notes": []},
        "status": status,
        "leftovers_found": [],
        "generator_ceiling": {
            "keepalive": {
                "server": "asyncio",
                "workload": "hello",
                "users": 16,
                "client": "raw",
                "throughput": 9000.0,
                "generator_cpu_share": 1.0,
                "processes": 1,
                "error": "",
            }
        },
        "cells": cells,
    }


SLEEP = ["python", "-m", "servers", "sleep", "--sleep", "0.02"]
ONE_AT_A_TIME = {"most_in_progress": 1}  # the server's own count
PREFORK = ["python", "-m", "servers", "prefork", "--workers", "2"]


def lessons_run(shown: bool) -> dict:
    """A run in which every lesson shows (shown=True), or every one fails (shown=False)."""
    if shown:
        cells = [
            cell("basic", "hello", 16, 4000),
            cell("iterative", "django", 16, 500),
            cell("asyncio", "django", 16, 900),
            cell("iterative", "io", 16, 94, p50_us=160_000, reports=ONE_AT_A_TIME),
            cell("sleep", "hello", 16, 48, p50_us=320_000, command=SLEEP, reports=ONE_AT_A_TIME),
            cell("fork", "hello", 16, 250, sent=600, zombies=[1, 200, 400, 601, 601]),
            cell(
                "fork_leak",
                "hello",
                16,
                100,
                reports={"accept_failures": 8, "accept_failures_by_errno": {"EMFILE": 8}},
            ),
            cell("fork_wait", "hello", 16, 250, sent=600, zombies=[0, 100, 300, 437, 437]),
            cell("fork_reap", "hello", 16, 250),
            cell("asyncio", "io", 16, 94),
            cell("asyncio-asgi", "io", 16, 1400),
            cell("threaded", "io", 16, 1400),
            cell("prefork", "io", 16, 188, command=PREFORK),
        ]
    else:
        cells = [
            cell("basic", "hello", 16, 4000, failures={"HTTP 500": 3}),
            cell("iterative", "django", 16, 500, failures={"wrong body": 2}),
            cell("asyncio", "django", 16, 900),
            cell("iterative", "io", 16, 150, p50_us=160_000),  # two at once
            cell("sleep", "hello", 16, 60, p50_us=20_000, command=SLEEP),  # no one held
            cell("fork", "hello", 16, 250, sent=600),  # no zombie
            cell("fork_leak", "hello", 16, 100),  # no accept failure
            cell("fork_wait", "hello", 16, 250, sent=600),  # every child reaped
            cell("fork_reap", "hello", 16, 250, zombies=[0, 1, 2, 3, 3]),  # zombies left
            cell("asyncio", "io", 16, 400),  # more than one view at once
            cell("asyncio-asgi", "io", 16, 450),  # not five times that
            cell("threaded", "io", 16, 50),  # no overlap
            cell("prefork", "io", 16, 90, command=PREFORK),  # one at a time
        ]
    return run(cells, workloads=["hello", "django", "io"])


def record(document: dict) -> RunRecord:
    """A run built here as the typed record the report reads (bench/record.py)."""
    return from_json(RunRecord, document)


def cell_record(document: dict) -> CellRecord:
    return from_json(CellRecord, document)
