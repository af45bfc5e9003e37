"""The workload's locust users, run only inside the generator's process (gevent patches it).

Two clients, one workload: `RawUser` (ours, the default) and `FastUser` (locust's FastHttpUser).
RawUser keeps one socket per user, sends a request built once as bytes, and reads the answer
with httptools (bench/http1.py): Content-Length, chunked, or a body that ends with the
connection. It connects again when the server closes, or for every request in the `close` mode.
Both check the answer: a status other than the expected one (200) fails as "HTTP 503", a body
other than the workload's as "wrong body", no answer by the error's class ("TimeoutError", ...).
Both fire locust's `request` event, so locust's own statistics see every request.

The generator (bench/generator.py) sets CELL before it starts the users. Latency is kept in
microseconds, in plain arrays while the window runs (an HdrHistogram is built from them after
it, so that the histogram's cost falls outside the measured window).

Closed loop (locust's way): a user sends its next request when the last one is answered; a
request counts when its answer arrives inside the window. Open loop (CELL.user_rate > 0): each
user keeps a fixed schedule, one request every 1/user_rate s; a request that cannot go out on
time goes out as soon as it can, and its latency counts from the time it was due, as wrk2 does,
less the generator's own lateness: the time from the later of its due time and its user being
free (a user still waiting for the server's last answer is the server's doing) to its send,
which is reported apart (send lag). A request counts by its due time; the generator then waits
(up to CELL.drain_s) for those still due. The percentiles are over every request due: an
answer, right or wrong, at its latency; one never answered by the drain's end as later than
anything measured.
"""

from __future__ import annotations

import itertools
import socket
import time
from array import array
from dataclasses import dataclass, field

from locust import FastHttpUser, User, constant, task
from locust.contrib.fasthttp import ResponseContextManager
from locust.exception import CatchResponseError, StopUser

from bench.contract import CLOSED_EARLY, MALFORMED, WRONG_BODY
from bench.http1 import IncompleteResponse, MalformedResponse, ResponseReader, request_bytes

LATE_S = 0.002  # later than this after its due time (libev wakes timers ~1 ms late): late
GOLDEN = 0.6180339887  # users' phases in an interval: spread evenly, whatever their number


@dataclass
class CellConfig:
    """One cell's load, as this generator process runs it (bench/load.py sends it)."""

    host: str = "127.0.0.1"
    port: int = 0
    path: str = "/hello/"
    close: bool = False
    body: bytes | None = None  # the body a right answer carries (None: not checked)
    status: int = 200  # the status a right answer carries
    timeout_s: float = 5.0  # no byte for this long: the request fails
    user_rate: float = 0.0  # open loop: requests per second per user (0: closed loop)
    drain_s: float = 2.0  # open loop: how long after the window answers still count
    max_requests: int | None = None  # over all users of this process: they stop there
    process_index: int = 0  # open loop: this process's place among the generator processes,
    processes: int = 1  # so that no two processes' users share a phase
    request: bytes = field(default=b"", repr=False)
    family: int = socket.AF_INET


CELL = CellConfig()


class Figures:
    """This process's measurements of the current cell."""

    def __init__(self) -> None:
        self.begin(time.monotonic(), 0.0, 0.0)

    def begin(self, started: float, window_start: float, window_end: float) -> None:
        self.started = started
        self.window_start, self.window_end = window_start, window_end
        self.latencies_us = array("q")  # closed: from the send; open: from the due time, net
        # of the generator's own send lag
        self.service_us = array("q")  # open loop: from the actual send
        self.failed_us = array("q")  # open loop: wrong answers and errors, from the due time
        self.send_lag_us = array("q")  # open loop: the generator's own lag to the send (from
        # the later of the due time and its user being free), every request due
        self.failures: dict[str, int] = {}
        self.requests = 0  # right answers counted in the window
        self.sent = 0  # every request, warm-up included (the cap counts these)
        self.capped_at: float | None = None
        self.late = 0  # open loop: requests that went out more than LATE_S after their due time
        self.max_lag_s = 0.0
        self.in_flight = 0  # open loop: sent, not yet answered
        self.scheduled = 0  # open loop: users whose schedule still has requests due
        self.answered_in_window = 0  # open loop: right answers that arrived in the window
        self.schedules: list[tuple[float, float]] = []  # open loop: each user's first due, interval
        self.users = itertools.count()

    def in_window(self, moment: float) -> bool:
        return self.window_start <= moment <= self.window_end

    def fail(self, kind: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1

    def record(self, sent: float, done: float, failure: str | None) -> None:
        """A closed-loop request, counted when its answer came inside the window."""
        if not self.window_start <= done <= self.window_end:
            return
        if failure is not None:
            self.fail(failure)
            return
        self.requests += 1
        self.latencies_us.append(int((done - sent) * 1_000_000))

    def record_open(
        self, due: float, ready: float, sent: float, done: float, failure: str | None
    ) -> None:
        """An open-loop request, counted in the window its due time falls in. Its lag behind
        its due time is the server's doing while its user still waited for the last answer
        (`ready`: when the user was free again), and the generator's own after that."""
        self.answered_in_window += failure is None and self.in_window(done)
        if not self.in_window(due):
            return
        lag = sent - due
        self.late += lag > LATE_S
        self.max_lag_s = max(self.max_lag_s, lag)
        own = max(sent - max(due, ready), 0.0)  # the generator's own lateness: not the server's
        self.send_lag_us.append(int(own * 1_000_000))
        # from its due time, less the generator's own lateness (its user's wait for the last
        # answer, the server's doing, stays in)
        latency = done - due - own
        if failure is not None:
            self.fail(failure)
            self.failed_us.append(int(latency * 1_000_000))  # it ended then, wrongly
            return
        self.requests += 1
        self.latencies_us.append(int(latency * 1_000_000))
        self.service_us.append(int((done - sent) * 1_000_000))

    def due_in_window(self) -> int:
        """Open loop: how many requests the users' schedules put in the window."""
        due = 0
        for first, interval in self.schedules:  # the users' own arithmetic, step by step
            moment = first
            while moment <= self.window_end:
                due += moment >= self.window_start
                moment += interval
        return due

    def capped(self) -> bool:
        if CELL.max_requests is not None and self.sent >= CELL.max_requests:
            self.capped_at = self.capped_at or time.monotonic()
            return True
        return False


FIGURES = Figures()


def configure(cell: CellConfig) -> None:
    """Set the cell the users run next (the generator calls it before it starts them)."""
    global CELL
    name = f"[{cell.host}]" if ":" in cell.host else cell.host
    cell.request = request_bytes(f"{name}:{cell.port}", cell.path, close=cell.close)
    cell.family = socket.AF_INET6 if ":" in cell.host else socket.AF_INET
    CELL = cell


def failure_kind(exception: BaseException) -> str:
    if isinstance(exception, MalformedResponse):
        return MALFORMED
    if isinstance(exception, IncompleteResponse):
        return CLOSED_EARLY
    if isinstance(exception, CatchResponseError):
        return str(exception)[:60]
    return type(exception).__name__


class Scheduled:
    """What both clients share: `measured()`, one request of the cell's loop, recorded; and
    the open loop's schedule: `due()` gives a user's next due time, or stops the user once its
    schedule has nothing more due in the window."""

    def exchange(self) -> tuple[float, float, str | None, int]:
        """One request and its answer, by the user's client: (sent, done, failure, size)."""
        raise NotImplementedError

    def start_schedule(self) -> None:
        interval = 1 / CELL.user_rate
        number = next(FIGURES.users) * CELL.processes + CELL.process_index
        self.next_due = FIGURES.started + (number * GOLDEN % 1) * interval
        FIGURES.schedules.append((self.next_due, interval))
        FIGURES.scheduled += 1
        self.scheduling = True

    def stop_schedule(self) -> None:
        if getattr(self, "scheduling", False):
            self.scheduling = False
            FIGURES.scheduled -= 1

    def measured(self) -> tuple[float, float, str | None, int]:
        """One request of the cell's loop, through the client's own `exchange()`, recorded:
        closed, or open on the user's schedule; (sent, done, failure or None, body size)."""
        if FIGURES.capped():
            raise StopUser  # the cap of a leaking server's cell
        if not CELL.user_rate:
            result = self.exchange()
            FIGURES.record(*result[:3])
            return result
        due, ready = self.due()
        FIGURES.in_flight += 1
        try:
            result = self.exchange()
        finally:
            FIGURES.in_flight -= 1
        FIGURES.record_open(due, ready, *result[:3])
        return result

    def due(self) -> tuple[float, float]:
        """The next request's due time, once it has come, and when this user was ready for it
        (free of its last request)."""
        due = self.next_due
        if due > FIGURES.window_end:
            self.stop_schedule()
            raise StopUser  # past the window: nothing more is due
        self.next_due += 1 / CELL.user_rate
        ready = time.monotonic()
        if due > ready:
            time.sleep(due - ready)  # gevent's sleep: the process is patched
        return due, ready


class RawUser(Scheduled, User):
    """Our client: one socket per user, the request prebuilt, the answer parsed by httptools.

    Its one task loops over requests itself: locust's scheduling between tasks (a task chosen,
    a wait of zero, a switch through the hub) cost about a quarter of the generator's CPU per
    request. Its sockets have no timeout of their own (a gevent socket with one arms a timer for
    every send and receive); the process's watchdog (`watch`) closes a socket that has waited
    longer than the cell's timeout, and the request fails as a TimeoutError."""

    wait_time = constant(0)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.sock: socket.socket | None = None
        self.reader = ResponseReader()
        self.fire = self.environment.events.request.fire
        self.waiting_since = 0.0  # 0: not waiting on the server
        self.timed_out = False

    def on_start(self) -> None:
        WATCHED.add(self)
        if CELL.user_rate:
            self.start_schedule()

    def on_stop(self) -> None:
        WATCHED.discard(self)
        self.stop_schedule()
        self.disconnect()

    def disconnect(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @task
    def requests(self) -> None:
        while True:  # until the cap, the schedule's end (StopUser) or the runner stops us
            self.request()

    def request(self) -> None:
        sent, done, failure, size = self.measured()
        self.fire(
            request_type="GET",
            name=CELL.path,
            response_time=(done - sent) * 1000,
            response_length=size,
            exception=None if failure is None else CatchResponseError(failure),
            context={},
        )

    def exchange(self) -> tuple[float, float, str | None, int]:
        """One request and its answer: (sent, done, failure or None, body size)."""
        FIGURES.sent += 1
        sent = self.waiting_since = time.monotonic()
        try:
            if self.sock is None:
                self.sock = socket.socket(CELL.family, socket.SOCK_STREAM)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sock.connect((CELL.host, CELL.port))
                self.reader = ResponseReader()
            sock = self.sock
            request = CELL.request
            while request:
                request = request[sock.send(request) :]
            responses: list = []
            while not responses:  # a close before a whole response: IncompleteResponse
                responses = self.reader.receive(sock.recv(262144))
            response = responses[0]  # one request, one answer
        except (OSError, MalformedResponse) as exc:
            self.disconnect()
            timed_out, self.timed_out, self.waiting_since = self.timed_out, False, 0.0
            return sent, time.monotonic(), "TimeoutError" if timed_out else failure_kind(exc), 0
        done = time.monotonic()
        self.waiting_since = 0.0
        if CELL.close or not response.keep_alive:
            self.disconnect()
        if response.status != CELL.status:
            return sent, done, f"HTTP {response.status}", len(response.body)
        if CELL.body is not None and response.body != CELL.body:
            return sent, done, WRONG_BODY, len(response.body)
        return sent, done, None, len(response.body)


WATCHED: set[RawUser] = set()


def watch(period_s: float = 0.05) -> None:
    """The raw users' timeout, for the whole process: a user that has waited on the server for
    longer than CELL.timeout_s has its socket closed (its request then fails as a timeout).
    Run in a greenlet of its own for the length of a cell."""
    while True:
        time.sleep(period_s)
        limit = time.monotonic() - CELL.timeout_s
        for user in list(WATCHED):
            if user.waiting_since and user.waiting_since < limit and user.sock is not None:
                user.timed_out = True
                user.disconnect()


class FastUser(Scheduled, FastHttpUser):
    """locust's FastHttpUser (geventhttpclient), on the same workload and figures."""

    wait_time = constant(0)

    def __init__(self, *args: object, **kwargs: object) -> None:
        type(self).network_timeout = type(self).connection_timeout = CELL.timeout_s
        super().__init__(*args, **kwargs)
        self.headers = {"Connection": "close"} if CELL.close else {}

    def on_start(self) -> None:
        if CELL.user_rate:
            self.start_schedule()

    def on_stop(self) -> None:
        self.stop_schedule()

    @task
    def request(self) -> None:
        self.measured()  # locust's client fires the request event itself

    def exchange(self) -> tuple[float, float, str | None, int]:
        FIGURES.sent += 1
        sent = time.monotonic()
        with self.client.get(CELL.path, headers=self.headers, catch_response=True) as response:
            failure = _check(response)
        return sent, time.monotonic(), failure, len(response.content or b"")


def _check(response: ResponseContextManager) -> str | None:
    """Mark a wrong answer failed: "HTTP 503" for a status, the error's class for no answer."""
    status = getattr(response, "status_code", 0)
    if status == CELL.status:
        if CELL.body is not None and response.content != CELL.body:
            response.failure(WRONG_BODY)
            return WRONG_BODY
        response.success()  # an expected 404 is a right answer
        return None
    error = getattr(response, "error", None)
    failure = type(error).__name__ if not status and error is not None else f"HTTP {status}"
    response.failure(failure)
    return failure


USERS: dict[str, type[User]] = {"raw": RawUser, "fasthttp": FastUser}
