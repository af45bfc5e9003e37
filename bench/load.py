"""Load: locust in its own process (gevent must not patch the harness), headless, FastHttpUser,
latency captured in microseconds by bench/locustfile.py and merged here."""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hdrh.histogram import HdrHistogram

from bench.launch import kill_group, spawn_group

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PERCENTILES = (50, 90, 99, 99.9, 99.99)
DRAIN_S = 2.0  # open loop: at most this long after the window for the answers still due
BEHIND = "behind schedule: no answer"  # open loop's failure kind (bench/locustfile.py)


@dataclass
class LoadResult:
    requests: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    window_s: float = 0.0
    throughput: float = 0.0  # requests per second over the measurement window
    latency_us: dict[str, float] = field(default_factory=dict)  # p50 ... p99.99, mean, max
    histogram: str = ""  # the merged HdrHistogram, encoded (base64, compressed)
    # open loop only: the offered rate, and the latency from the actual send (the service
    # time, what a closed loop sees) beside `latency_us`, which counts from the intended send
    offered_rate: float = 0.0
    service_latency_us: dict[str, float] = field(default_factory=dict)
    service_histogram: str = ""
    late: int = 0  # requests that went out behind their schedule (their user was still busy)
    answered_in_window: int = 0  # open loop: answers that arrived in the window (throughput)
    max_lag_s: float = 0.0
    generator_cpu_s: float = 0.0
    generator_cpu_share: float = 0.0  # CPU seconds per second of wall time, per process
    processes: int = 1
    error: str = ""

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


def locust_command(locustfile: Path, url: str, users: int, seconds: int, *extra: str) -> list[str]:
    """A headless locust run: all users started at once, for `seconds`."""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--host",
        url,
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "1",
        *extra,
    ]


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
) -> LoadResult:
    """Run one load and return what it measured (never raises for load problems): closed loop,
    or open loop at `rate` requests per second over all users when `rate` is given. A locust
    still running `grace_s` after its run time is killed; answers whose body is not `body` count
    as failures of kind "wrong body"."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("gen-*.json"):
        stale.unlink()
    run_time = math.ceil(warmup_s + duration_s) + 2  # a backstop: the locustfile quits on time
    command = locust_command(LOCUSTFILE, url, users, run_time, "--exit-code-on-error", "0")
    if processes > 1:
        command += ["--processes", str(processes)]
    env = {
        **os.environ,
        "BENCH_PATH": path,
        "BENCH_CLOSE": "1" if close else "0",
        "BENCH_WARMUP_S": str(warmup_s),
        "BENCH_DURATION_S": str(duration_s),
        "BENCH_MAX_REQUESTS": str(math.ceil(max_requests / processes) if max_requests else 0),
        "BENCH_OUT": str(out_dir),
        "BENCH_TIMEOUT_S": str(timeout_s),
        "BENCH_USER_RATE": str(rate / users if rate else 0),
        "BENCH_DRAIN_S": str(min(timeout_s, DRAIN_S)),
        **({"BENCH_BODY": body.decode("latin-1")} if body is not None else {}),
    }
    log_path = out_dir / "locust.log"
    result = LoadResult(processes=processes, offered_rate=rate)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with log_path.open("wb") as log:
        locust = spawn_group(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        try:
            locust.wait(timeout=run_time + grace_s)
        except subprocess.TimeoutExpired:
            result.error = f"locust did not stop within {run_time + grace_s:g} s: killed"
        finally:
            kill_group(locust)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.generator_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.generator_cpu_share = result.generator_cpu_s / wall / processes if wall else 0.0
    if locust.returncode not in (0, None) and not result.error:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        result.error = f"locust exited with {locust.returncode}: {' | '.join(tail)}"
    reports = sorted(out_dir.glob("gen-*.json"))
    merge_figures(result, reports)
    if not reports and not result.error:  # not one generator process wrote its figures
        result.error = "the load generator recorded nothing: " + " | ".join(
            log_path.read_text(errors="replace").strip().splitlines()[-3:]
        )
    return result


def merge_figures(result: LoadResult, files: list[Path]) -> None:
    """Add up the generator processes' counts and histograms."""
    merged, service = HdrHistogram(1, 120_000_000, 3), HdrHistogram(1, 120_000_000, 3)
    for path in files:
        figures = json.loads(path.read_text())
        result.requests += figures["requests"]
        for kind, count in figures["failures"].items():
            result.failures[kind] = result.failures.get(kind, 0) + count
        result.window_s = max(result.window_s, figures["window_s"])
        merged.add(HdrHistogram.decode(figures["histogram"].encode("ascii")))
        if "service_histogram" in figures:
            service.add(HdrHistogram.decode(figures["service_histogram"].encode("ascii")))
            result.late += figures["late"]
            result.answered_in_window += figures["answered_in_window"]
            result.max_lag_s = max(result.max_lag_s, figures["max_lag_s"])
    if result.window_s:  # open loop: what arrived in the window, not what was due in it
        answered = result.answered_in_window if result.offered_rate else result.requests
        result.throughput = answered / result.window_s
    result.latency_us, result.histogram = summarise(merged)
    result.service_latency_us, result.service_histogram = summarise(service)


def summarise(histogram: HdrHistogram) -> tuple[dict[str, float], str]:
    """The percentiles, mean and max of a histogram, and the histogram encoded ({}, "" if empty)."""
    if not histogram.get_total_count():
        return {}, ""
    latency = {f"p{p:g}": float(histogram.get_value_at_percentile(p)) for p in PERCENTILES}
    latency["mean"] = round(histogram.get_mean_value(), 1)
    latency["max"] = float(histogram.get_max_value())
    return latency, histogram.encode().decode("ascii")
