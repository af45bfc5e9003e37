"""wrk, the C load generator: run it on one URL and read its figures.

wrk's own summary is text; the figures here come only from the JSON line its Lua `done()` hook
prints. A load backend of the harness (`wrk_cell`: a cell measured by wrk, beside locust), shared by
the ceiling benchmark and the cross-check scenario. wrk runs with
`--latency` and a small Lua script (wrk_report.lua) whose `done()` prints wrk's own exact
percentiles as JSON, so p99.9 and p99.99 are there beside --latency's four rows.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

from bench.telemetry.lifetime import child_setup, pinned

REPORT_SCRIPT = Path(__file__).with_name("wrk_report.lua")


def wrk_path() -> str | None:
    """The wrk executable, or None where it is not installed."""
    return shutil.which("wrk")


REPORT = re.compile(r"^BENCH_WRK (\{.*\})$", re.MULTILINE)
ERROR_NAMES = {"connect": "connect", "read": "read", "write": "write", "timeout": "timeout"}
ERROR_NAMES["status"] = "non-2xx"  # wrk counts a status of 400 or more as a status error


def parse_wrk(output: str) -> dict:
    """The figures of the report script's JSON line (wrk_report.lua): requests, the measured
    duration, throughput, every percentile in microseconds, errors by kind; ValueError when wrk
    printed no such line (it failed, or was not run with the script)."""
    report = REPORT.search(output)
    if report is None:
        raise ValueError(f"wrk printed no BENCH_WRK line:\n{output[-500:]}")
    exact = json.loads(report.group(1))
    duration_s = exact["duration_us"] / 1e6
    latency = {key: float(value) for key, value in exact["latency_us"].items()}
    return {
        "requests": exact["requests"],
        "duration_s": duration_s,
        "requests_per_s": exact["requests"] / duration_s if duration_s else 0.0,
        "latency_us": latency,
        "p50_ms": latency["p50"] / 1000,
        "p99_ms": latency["p99"] / 1000,
        "errors": {ERROR_NAMES[name]: count for name, count in exact["errors"].items() if count},
    }


def run_wrk(
    url: str,
    seconds: float,
    connections: int,
    new_connection: bool,
    cpus: set[int] | None,
    timeout_s: float = 2.0,
) -> dict:
    """One wrk run (one thread): keep-alive, or a new connection per request (the request says
    `Connection: close`, the server closes, and wrk reconnects). Raises RuntimeError or
    ValueError when wrk fails or says something unreadable."""
    whole_seconds = max(1, math.ceil(seconds))  # wrk's -d takes whole seconds
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{whole_seconds}s",
        "--latency",
        "--timeout",
        f"{max(1, math.ceil(timeout_s))}s",
        "-s",
        str(REPORT_SCRIPT),
    ]
    if new_connection:
        command += ["-H", "Connection: close"]
    result = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        timeout=whole_seconds + 30,
        preexec_fn=child_setup(then=pinned(cpus)),  # dies with the harness, even by SIGKILL
    )
    if result.returncode != 0:
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()[:1]
        raise RuntimeError(f"wrk failed ({result.returncode}): {' '.join(said)}")
    return parse_wrk(result.stdout)


def wrk_version() -> str:
    """wrk's version line ('wrk debian/4.1.0-3 [epoll] ...'), or '' if it says none."""
    try:
        said = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = (said.stdout + said.stderr).strip().splitlines()
    return lines[0].split(" Copyright")[0] if lines else ""


def wrk_cell(
    url: str, path: str, users: int, duration_s: float, close: bool, cpus: set[int] | None
) -> dict | None:
    """wrk on one cell: `users` connections (one wrk thread) for `duration_s` (rounded up to
    whole seconds, as wrk counts them) against url + path, keep-alive or, with `close`, a new
    connection per request. Figures are named as the harness's locust figures are (throughput,
    latency_us with p50 ... p99.99, mean and max, requests, failures by kind); `error` says
    why there are none. None when wrk is not installed."""
    if wrk_path() is None:
        return None
    result = {
        "tool": "wrk",
        "version": wrk_version(),
        "connections": users,
        "threads": 1,
        "close": close,
        "duration_s": 0.0,
        "requests": 0,
        "throughput": 0.0,
        "latency_us": {},
        "failures": {},
        "error": "",
    }
    try:
        figures = run_wrk(url.rstrip("/") + path, duration_s, users, close, cpus)
    except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as exc:
        result["error"] = str(exc).splitlines()[0][:300]
        return result
    result.update(
        duration_s=figures["duration_s"],
        requests=figures["requests"],
        throughput=figures["requests_per_s"],
        latency_us=figures["latency_us"],
        failures=figures["errors"],
    )
    return result
