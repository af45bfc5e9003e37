"""A raw-socket HTTP/1.1 client for the scenarios (C10K, slow clients).

They measure what a library client hides: a connection held open and idle, a request waiting in
a listen backlog, a reset, a header sent one byte at a time. So requests are built byte for
byte (bench/http1.py), sent on non-blocking sockets through asyncio's `sock_*` calls (no
transport reads ahead), each response is read by the connection's own http1.ResponseReader, and
latencies go into an HdrHistogram in microseconds, as the harness records them.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time

from hdrh.histogram import HdrHistogram

from bench.http1 import Response, ResponseReader, request_bytes

HOST = "127.0.0.1"  # the scenarios load loopback only
LOWEST_US, HIGHEST_US = 1, 120_000_000  # as bench/locustfile.py: 1 µs to 2 minutes
GET = request_bytes(HOST, "/hello/")


def error_kind(exc: BaseException) -> str:
    """A short name for what went wrong: 'timeout', 'closed', an errno name, 'malformed'."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ValueError):
        return "malformed"
    if isinstance(exc, OSError) and exc.errno:
        return errno.errorcode.get(exc.errno, f"errno {exc.errno}")
    if isinstance(exc, ConnectionError):
        return "closed"
    return type(exc).__name__


async def connect(port: int) -> socket.socket:
    """A non-blocking connected socket to the loopback server (callers bound the wait)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def exchange(sock: socket.socket, request: bytes, reader: ResponseReader) -> Response:
    """Send `request` and read its response with the connection's `reader` (callers bound the
    wait); IncompleteResponse when the server closes before it."""
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, request)
    responses: list[Response] = []
    while not responses:
        responses = reader.receive(await loop.sock_recv(sock, 65536))
    return responses[0]  # one request, one response


class Client:
    """One user's connection: kept while the server keeps it alive, opened again when not."""

    def __init__(self, port: int, sock: socket.socket | None = None) -> None:
        self.port = port
        self.sock = sock
        self.reader = ResponseReader()  # the connection's: kept with it, new with a new one

    async def get(self, timeout_s: float) -> float | str:
        """One GET /hello/ within `timeout_s`, connecting included: its latency in seconds, or
        what went wrong (the connection is then closed)."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                if self.sock is None:
                    self.sock, self.reader = await connect(self.port), ResponseReader()
                response = await exchange(self.sock, GET, self.reader)
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            return error_kind(exc)
        if not response.keep_alive:
            self.close()
        if response.status != 200:
            return f"HTTP {response.status}"
        return time.perf_counter() - started

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


async def fresh_get(port: int, timeout_s: float) -> float | str:
    """One GET on a new connection, closed after."""
    client = Client(port)
    try:
        return await client.get(timeout_s)
    finally:
        client.close()


def connection_state(sock: socket.socket) -> str:
    """'open' (idle, as we left it), 'closed' (EOF), 'spoke' (the server sent something
    unasked, a 408 or a 503 before closing) or 'reset'; without reading anything."""
    try:
        data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return "open"
    except OSError:
        return "reset"
    return "spoke" if data else "closed"


class Latencies:
    """Latencies in microseconds (HdrHistogram, 3 significant digits), reported in ms."""

    def __init__(self) -> None:
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, 3)

    def record(self, seconds: float) -> None:
        self.histogram.record_value(max(LOWEST_US, min(int(seconds * 1e6), HIGHEST_US)))

    @property
    def count(self) -> int:
        return self.histogram.get_total_count()

    def figures(self) -> dict[str, float]:
        """p50, p99 and max in milliseconds; empty when nothing was recorded."""
        if not self.count:
            return {}
        value = self.histogram.get_value_at_percentile
        return {
            "p50": value(50) / 1000,
            "p99": value(99) / 1000,
            "max": self.histogram.get_max_value() / 1000,
        }


def tally(outcomes: list[float | str]) -> dict:
    """Requests asked and answered, failures by kind, latency of the answered ones."""
    latencies = Latencies()
    failures: dict[str, int] = {}
    for outcome in outcomes:
        if isinstance(outcome, str):
            failures[outcome] = failures.get(outcome, 0) + 1
        else:
            latencies.record(outcome)
    return {
        "asked": len(outcomes),
        "answered": latencies.count,
        "failures": failures,
        "latency_ms": latencies.figures(),
    }
