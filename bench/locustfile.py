"""The workload's locust user, run only inside locust's own process (gevent patches the world).

Configured by environment variables that the harness sets (bench/load.py):

    BENCH_PATH          the request path, e.g. /hello/ or /sleep/?ms=10
    BENCH_CLOSE         "1": a new connection per request (Connection: close)
    BENCH_WARMUP_S      seconds after the start during which nothing is recorded
    BENCH_DURATION_S    seconds recorded after the warm-up
    BENCH_MAX_REQUESTS  a cap on requests (over all users of this process): users stop there
    BENCH_OUT           a folder: each process writes its figures to BENCH_OUT/gen-<pid>.json
    BENCH_TIMEOUT_S     a request unanswered this long fails (default 5)
    BENCH_BODY          the body a right answer carries (latin-1); another counts as "wrong body"

Latency is recorded at microsecond resolution in an HdrHistogram per process (locust's own
percentiles round to whole milliseconds, which hides every loopback latency); the harness
merges the processes' histograms.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hdrh.histogram import HdrHistogram
from locust import FastHttpUser, constant, events, task
from locust.exception import CatchResponseError, StopUser

PATH = os.environ.get("BENCH_PATH", "/hello/")
CLOSE = os.environ.get("BENCH_CLOSE") == "1"
WARMUP_S = float(os.environ.get("BENCH_WARMUP_S", "0"))
DURATION_S = float(os.environ.get("BENCH_DURATION_S", "10"))
MAX_REQUESTS = int(os.environ.get("BENCH_MAX_REQUESTS", "0")) or None
OUT = Path(os.environ.get("BENCH_OUT", "."))
TIMEOUT_S = float(os.environ.get("BENCH_TIMEOUT_S", "5"))
HEADERS = {"Connection": "close"} if CLOSE else {}
BODY = os.environ["BENCH_BODY"].encode("latin-1") if "BENCH_BODY" in os.environ else None

LOWEST_US, HIGHEST_US = 1, 120_000_000  # 1 µs to 2 minutes, 3 significant digits


class Figures:
    """This process's measurements (one per locust process: state after fork is per process)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, 3)
        self.started = time.monotonic()
        self.requests = 0  # in the measurement window
        self.failures: dict[str, int] = {}
        self.sent = 0  # all requests, warm-up included, for the cap
        self.capped_at: float | None = None  # when the request cap stopped this process

    def record(self, response_time_ms: float, exception: BaseException | None) -> None:
        elapsed = time.monotonic() - self.started
        if elapsed < WARMUP_S or elapsed > WARMUP_S + DURATION_S:
            return
        if exception is not None:
            # our own failure() for a wrong status says "HTTP 503"; network errors by class
            kind = (
                str(exception)[:60]
                if isinstance(exception, CatchResponseError)
                else (type(exception).__name__)
            )
            self.failures[kind] = self.failures.get(kind, 0) + 1
            return
        self.requests += 1
        self.histogram.record_value(max(LOWEST_US, min(int(response_time_ms * 1000), HIGHEST_US)))

    def window_s(self) -> float:
        """The measured time: the configured window, cut short only where the generator itself
        stopped (the request cap). A server that stalls does not shorten it: its silence counts."""
        start = self.started + WARMUP_S
        end = min(time.monotonic(), start + DURATION_S, self.capped_at or float("inf"))
        return max(end - start, 0.0)

    def save(self) -> None:
        if not self.sent:
            return  # locust's master process sends nothing
        document = {
            "pid": os.getpid(),
            "requests": self.requests,
            "failures": self.failures,
            "sent": self.sent,
            "window_s": self.window_s(),
            "histogram": self.histogram.encode().decode("ascii"),
        }
        target = OUT / f"gen-{os.getpid()}.json"
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(document))
        partial.replace(target)


FIGURES = Figures()


@events.test_start.add_listener
def _on_start(**_: object) -> None:
    FIGURES.reset()


@events.request.add_listener
def _on_request(response_time: float, exception: BaseException | None, **_: object) -> None:
    FIGURES.record(response_time, exception)


@events.quitting.add_listener
def _on_quit(**_: object) -> None:
    FIGURES.save()


class WorkloadUser(FastHttpUser):
    """Closed loop: each user sends its next request as soon as the last one is answered."""

    wait_time = constant(0)
    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S

    @task
    def request(self) -> None:
        if MAX_REQUESTS is not None and FIGURES.sent >= MAX_REQUESTS:
            FIGURES.capped_at = FIGURES.capped_at or time.monotonic()
            raise StopUser  # the cap of a leaking server's cell
        FIGURES.sent += 1
        with self.client.get(PATH, headers=HEADERS, catch_response=True) as response:
            if response.status_code == 0:
                return  # no answer: locust records the network error by its class (a timeout)
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif BODY is not None and response.content != BODY:
                response.failure("wrong body")  # bench/faults.py WRONG_BODY
