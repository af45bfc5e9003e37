"""The lesson's clients: bursts of new connections, each asking one request, from an asyncio loop
in a thread of their own (the main thread draws the live view and takes Ctrl-C).

Every request is bounded by the timeout, every burst by the lesson's plan; `stop()` cancels
what is still waiting and closes its socket. What the view reads while they run: the requests
sent, those still waiting (and since when), and each finished one's outcome, on
time.monotonic(), the clock of the telemetry's samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import threading
import time
from dataclasses import dataclass, field

from bench.http1 import ResponseReader, request_bytes
from bench.scenarios.rawclient import HOST, connect, error_kind


@dataclass(frozen=True)
class Load:
    """What the lesson sends: `bursts` of `clients` connections at once, `every_s` apart, one
    request each on `path` (or, for `repeat_s`, each client asking again on a new connection
    as soon as it is answered: a closed loop); the figures its judge needs for its arithmetic."""

    path: str = "/hello/"
    clients: int = 10
    bursts: int = 1
    every_s: float = 0.0
    repeat_s: float = 0.0  # each client asks again until this long after its burst began
    eof_wait_s: float = 0.0  # after the answer, wait this long for the server to close
    view_s: float = 0.0  # what the view itself takes (a blocking or awaiting sleep)
    pause_s: float = 0.0  # the server's own --sleep after each answer (sleep, fork)
    settle_s: float = 1.0  # the counts watched after the last answer: do they stay?
    longest_wait_s: float = 0.0  # the wait the lesson itself makes (one at a time: the last)
    server_options: tuple[str, ...] = ()  # the options of the model this plan needs

    @property
    def total(self) -> int:
        """The most requests it may send: each takes the view's time at least."""
        again = math.ceil(self.repeat_s / self.view_s) if self.repeat_s and self.view_s else 0
        return self.clients * self.bursts * (1 + again)


@dataclass(frozen=True)
class Outcome:
    """One request: when it was sent and done (time.monotonic()), its latency or what went
    wrong, its body, and whether the server closed the connection after the answer (None:
    not waited for)."""

    started: float
    ended: float
    latency_s: float | None
    failure: str = ""
    body: bytes = b""
    closed: bool | None = None


@dataclass
class Clients:
    """The lesson's load, in a thread: start(), then read the counts, then stop()."""

    port: int
    load: Load
    timeout_s: float
    sent: int = 0
    waiting: dict[int, float] = field(default_factory=dict)  # request -> when it was sent
    outcomes: list[Outcome] = field(default_factory=list)
    exchange: tuple[bytes, bytes] = (b"", b"")  # the first request and all its answer's bytes

    def __post_init__(self) -> None:
        # a wait the lesson makes on purpose is not a failure: the timeout leaves room for it
        self.timeout_s = max(self.timeout_s, 1.5 * self.load.longest_wait_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lesson-clients", daemon=True)

    def start(self) -> Clients:
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Cancel what still waits (its socket closed) and wait for the thread: bounded."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.timeout_s + 2)

    def oldest_wait(self) -> float:
        """How long the longest-waiting client has waited so far (0: none waits)."""
        started = list(self.waiting.values())
        return time.monotonic() - min(started) if started else 0.0

    def _run(self) -> None:
        asyncio.run(self._bursts())

    async def _bursts(self) -> None:
        began = time.monotonic()
        tasks: list[asyncio.Task] = []
        for index in range(self.load.bursts):
            due = began + index * self.load.every_s
            while not self._stop.is_set() and time.monotonic() < due:
                await asyncio.sleep(min(0.05, due - time.monotonic()))
            if self._stop.is_set():
                break
            until = time.monotonic() + self.load.repeat_s
            tasks += [asyncio.create_task(self._client(until)) for _ in range(self.load.clients)]
        while tasks and not all(task.done() for task in tasks):
            if self._stop.is_set():
                for task in tasks:
                    task.cancel()
            await asyncio.wait(tasks, timeout=0.05)

    async def _client(self, until: float) -> None:
        """One request; more, one after another, until `until` (a closed loop)."""
        await self._one()
        while time.monotonic() < until and not self._stop.is_set() and self.sent < self.load.total:
            await self._one()

    async def _one(self) -> None:
        key, started = self.sent, time.monotonic()
        self.sent += 1
        self.waiting[key] = started
        request = request_bytes(HOST, self.load.path, close=True)
        sock: socket.socket | None = None
        outcome: Outcome | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                sock = await connect(self.port)
                body, raw = await self._ask(sock, request)
            latency = time.monotonic() - started
            closed = await self._closed(sock) if self.load.eof_wait_s else None
            outcome = Outcome(started, started + latency, latency, "", body, closed)
            if not self.exchange[0]:
                self.exchange = (request, raw)
        except (OSError, TimeoutError, ValueError) as exc:
            outcome = Outcome(started, time.monotonic(), None, error_kind(exc))
        finally:
            self.waiting.pop(key, None)
            self.outcomes.append(outcome or Outcome(started, time.monotonic(), None, "cancelled"))
            if sock is not None:
                sock.close()

    async def _ask(self, sock: socket.socket, request: bytes) -> tuple[bytes, bytes]:
        """Send the request and read its answer (framed by its Content-Length, or by the
        close): its body and every byte of it as it came."""
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, request)
        reader, raw = ResponseReader(), b""
        while True:
            data = await loop.sock_recv(sock, 65536)
            raw += data
            responses = reader.receive(data)
            if responses:
                return responses[0].body, raw

    async def _closed(self, sock: socket.socket) -> bool:
        """Did the server close the connection within eof_wait_s of its answer? A client that
        reads to the end of the connection (the seed's clients did) waits until it does."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.load.eof_wait_s):
                try:
                    while await loop.sock_recv(sock, 4096):
                        pass
                except OSError:
                    pass  # reset: closed all the same
                return True
        return False
