"""The workload's locust user, run only inside locust's own process (gevent patches the world).

Configured by environment variables that the harness sets (bench/load.py):

    BENCH_PATH          the request path, e.g. /hello/ or /sleep/?ms=10
    BENCH_CLOSE         "1": a new connection per request (Connection: close)
    BENCH_WARMUP_S      seconds after the start during which nothing is recorded
    BENCH_DURATION_S    seconds recorded after the warm-up
    BENCH_MAX_REQUESTS  a cap on requests (over all users of this process): users stop there
    BENCH_OUT           a folder: each process writes its figures to BENCH_OUT/gen-<pid>.json
    BENCH_TIMEOUT_S     a request unanswered this long fails (default 5)
    BENCH_USER_RATE     open loop: requests per second per user (0 or unset: closed loop)
    BENCH_DRAIN_S       open loop: how long to wait after the window for answers still due
    BENCH_BODY          the body a right answer carries (latin-1); another counts as "wrong body"

Latency is recorded at microsecond resolution in an HdrHistogram per process (locust's own
percentiles round to whole milliseconds, which hides every loopback latency); the harness
merges the processes' histograms. The run quits itself at the end of the window (locust's own
--run-time counts whole seconds only).

Closed loop (locust's way): a user sends its next request when the last one is answered, so a
stalled server is sent fewer requests and the stall hides in few samples (coordinated omission).
Open loop: each user has a fixed schedule, one request every 1/BENCH_USER_RATE seconds; a request
that could not go out on time (the user was still waiting) goes out as soon as it can, and its
latency is counted from the time it should have been sent, as wrk2 does. Both latencies are kept:
from the intended time (`histogram`) and from the actual send (`service_histogram`). A request is
counted by its intended time; after the window the run waits (up to BENCH_DRAIN_S) for the
requests still due, and those never sent or never answered count as failures ("behind schedule:
no answer"), so an overloaded server's backlog is not silently dropped.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path

import gevent
from hdrh.histogram import HdrHistogram
from locust import FastHttpUser, constant, events, task
from locust.exception import CatchResponseError, StopUser
from locust.runners import LocalRunner, WorkerRunner

PATH = os.environ.get("BENCH_PATH", "/hello/")
CLOSE = os.environ.get("BENCH_CLOSE") == "1"
WARMUP_S = float(os.environ.get("BENCH_WARMUP_S", "0"))
DURATION_S = float(os.environ.get("BENCH_DURATION_S", "10"))
MAX_REQUESTS = int(os.environ.get("BENCH_MAX_REQUESTS", "0")) or None
OUT = Path(os.environ.get("BENCH_OUT", "."))
TIMEOUT_S = float(os.environ.get("BENCH_TIMEOUT_S", "5"))
USER_RATE = float(os.environ.get("BENCH_USER_RATE", "0"))  # open loop when > 0
HEADERS = {"Connection": "close"} if CLOSE else {}
LATE_S = 0.002  # later than this after its intended time (libev wakes timers ~1 ms late): late
BEHIND = "behind schedule: no answer"  # open loop: due in the window, not answered by the end
DRAIN_S = float(os.environ.get("BENCH_DRAIN_S", str(TIMEOUT_S)))
BODY = os.environ["BENCH_BODY"].encode("latin-1") if "BENCH_BODY" in os.environ else None

LOWEST_US, HIGHEST_US = 1, 120_000_000  # 1 µs to 2 minutes, 3 significant digits


class Figures:
    """This process's measurements (one per locust process: state after fork is per process)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, 3)
        self.service_histogram = HdrHistogram(LOWEST_US, HIGHEST_US, 3)  # open loop only
        self.late = 0  # open loop: requests that went out late, their user still busy
        self.max_lag_s = 0.0  # open loop: the furthest a request fell behind its schedule
        self.in_flight = 0  # open loop: requests sent and not yet answered
        self.answered_in_window = 0  # open loop: answers that arrived in the window
        self.schedules: list[tuple[float, float]] = []  # open loop: each user's first, interval
        self.started = time.monotonic()
        self.requests = 0  # in the measurement window
        self.failures: dict[str, int] = {}
        self.sent = 0  # all requests, warm-up included, for the cap
        self.capped_at: float | None = None  # when the request cap stopped this process

    def in_window(self, moment: float) -> bool:
        return WARMUP_S <= moment - self.started <= WARMUP_S + DURATION_S

    def record(self, response_time_ms: float, exception: BaseException | None) -> None:
        if not self.in_window(time.monotonic()):
            return
        if exception is not None:
            kind = _failure_kind(exception)
            self.failures[kind] = self.failures.get(kind, 0) + 1
            return
        self.requests += 1
        self.histogram.record_value(_microseconds(response_time_ms / 1000))

    def record_open(self, intended: float, sent: float, done: float, failure: str | None) -> None:
        """An open-loop request, counted in the window its intended send time falls in."""
        self.answered_in_window += failure is None and self.in_window(done)
        if not self.in_window(intended):
            return
        lag = sent - intended
        self.late += lag > LATE_S
        self.max_lag_s = max(self.max_lag_s, lag)
        if failure is not None:
            self.failures[failure] = self.failures.get(failure, 0) + 1
            return
        self.requests += 1
        self.histogram.record_value(_microseconds(done - intended))
        self.service_histogram.record_value(_microseconds(done - sent))

    def due_in_window(self) -> int:
        """Open loop: how many requests the users' schedules put in the window."""
        due = 0
        for intended, interval in self.schedules:  # the users' own arithmetic, step by step
            while intended - self.started <= WARMUP_S + DURATION_S:
                due += self.in_window(intended)
                intended += interval
        return due

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
        if USER_RATE:
            missed = self.due_in_window() - self.requests - sum(self.failures.values())
            if missed > 0:
                document["failures"] = {**self.failures, BEHIND: missed}
            document["service_histogram"] = self.service_histogram.encode().decode("ascii")
            document["late"] = self.late
            document["answered_in_window"] = self.answered_in_window
            document["max_lag_s"] = self.max_lag_s
        target = OUT / f"gen-{os.getpid()}.json"
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(document))
        partial.replace(target)


def _microseconds(seconds: float) -> int:
    return max(LOWEST_US, min(int(seconds * 1_000_000), HIGHEST_US))


def _failure_kind(exception: BaseException) -> str:
    """Our own failure() for a wrong status says "HTTP 503"; network errors by class."""
    if isinstance(exception, CatchResponseError):
        return str(exception)[:60]
    return type(exception).__name__


FIGURES = Figures()


@events.test_start.add_listener
def _on_start(environment: object, **_: object) -> None:
    FIGURES.reset()
    runner = getattr(environment, "runner", None)
    if runner is not None and not isinstance(runner, WorkerRunner):
        gevent.spawn(_quit_after_window, runner)


def _quit_after_window(runner: object) -> None:
    """Quit at the end of the window, to the millisecond (workers follow their master); in open
    loop, once the requests due in the window are answered (at most BENCH_DRAIN_S later; a
    master of several processes cannot see its workers' requests and waits that long)."""
    gevent.sleep(WARMUP_S + DURATION_S + 0.05)
    if USER_RATE:
        deadline = time.monotonic() + DRAIN_S
        alone = isinstance(runner, LocalRunner)
        while time.monotonic() < deadline and (FIGURES.in_flight or not alone):
            gevent.sleep(0.02)
    runner.quit()  # type: ignore[attr-defined]


@events.request.add_listener
def _on_request(response_time: float, exception: BaseException | None, **_: object) -> None:
    if not USER_RATE:  # open-loop requests are recorded by their user, from the intended time
        FIGURES.record(response_time, exception)


@events.quitting.add_listener
def _on_quit(**_: object) -> None:
    FIGURES.save()


_USER_NUMBERS = itertools.count()


class WorkloadUser(FastHttpUser):
    """Closed loop, or open loop when BENCH_USER_RATE is set (see the module's docstring)."""

    wait_time = constant(0)
    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S

    def on_start(self) -> None:
        if USER_RATE:  # users' schedules are spread evenly over one interval
            interval = 1 / USER_RATE
            self.next_intended = FIGURES.started + (next(_USER_NUMBERS) * 0.618034 % 1) * interval
            FIGURES.schedules.append((self.next_intended, interval))

    @task
    def request(self) -> None:
        if MAX_REQUESTS is not None and FIGURES.sent >= MAX_REQUESTS:
            FIGURES.capped_at = FIGURES.capped_at or time.monotonic()
            raise StopUser  # the cap of a leaking server's cell
        if USER_RATE:
            self.request_on_schedule()
            return
        FIGURES.sent += 1
        with self.client.get(PATH, headers=HEADERS, catch_response=True) as response:
            _check(response)

    def request_on_schedule(self) -> None:
        intended = self.next_intended
        self.next_intended += 1 / USER_RATE
        if intended - FIGURES.started > WARMUP_S + DURATION_S:
            raise StopUser  # past the window: nothing more is due
        delay = intended - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)
        FIGURES.sent += 1
        FIGURES.in_flight += 1
        sent = time.monotonic()
        try:
            with self.client.get(PATH, headers=HEADERS, catch_response=True) as response:
                failure = _check(response)
        finally:
            FIGURES.in_flight -= 1
        FIGURES.record_open(intended, sent, time.monotonic(), failure)


def _check(response: object) -> str | None:
    """Mark a wrong answer failed: "HTTP 503" for a status, the error's class for no answer."""
    status = getattr(response, "status_code", 0)
    if status == 200:
        if BODY is not None and response.content != BODY:  # type: ignore[attr-defined]
            response.failure("wrong body")  # type: ignore[attr-defined]  bench/faults.py WRONG_BODY
            return "wrong body"
        return None
    error = getattr(response, "error", None)
    failure = type(error).__name__ if not status and error is not None else f"HTTP {status}"
    response.failure(failure)  # type: ignore[attr-defined]
    return failure
