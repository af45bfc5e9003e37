"""A raw-socket HTTP/1.1 client for the scenarios (C10K, slow clients).

They measure what a library client hides: a connection held open and idle, a request waiting in
a listen backlog, a reset, a header sent one byte at a time. So requests are built byte for
byte, sent on non-blocking sockets through asyncio's `sock_*` calls (no transport reads ahead),
one response is read by its Content-Length, and latencies go into an HdrHistogram in
microseconds, as the harness records them.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

HOST = "127.0.0.1"  # the scenarios load loopback only
HEAD_END = b"\r\n\r\n"
MAX_HEAD = 64 * 1024
LOWEST_US, HIGHEST_US = 1, 120_000_000  # as bench/locustfile.py: 1 µs to 2 minutes


def request_bytes(path: str = "/hello/", *, close: bool = False, padding: int = 0) -> bytes:
    """A GET; `close` asks for a new connection per request, `padding` lengthens the header
    block by that many bytes (a slow client's request that must outlast the measurement)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}"]
    if close:
        lines.append("Connection: close")
    if padding:
        lines.append("X-Padding: " + "x" * padding)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


GET = request_bytes()


@dataclass(frozen=True)
class Answer:
    status: int
    size: int  # bytes of the whole response, head and body
    keep_alive: bool  # the connection may carry another request


def parse_answer(data: bytes) -> Answer | None:
    """The response at the start of `data`, or None while it is incomplete; ValueError when it
    is not an HTTP/1.x response framed by Content-Length (ours always are, 4xx/5xx included)."""
    end = data.find(HEAD_END)
    if end < 0:
        if len(data) > MAX_HEAD or not b"HTTP/1.".startswith(data[:7]):
            raise ValueError(f"not an HTTP response: {data[:40]!r}")
        return None
    status_line, *header_lines = data[:end].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ValueError(f"not an HTTP status line: {status_line[:60]!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise ValueError("chunked responses are not read here")
    size = end + len(HEAD_END) + int(headers.get("content-length", "0"))
    if len(data) < size:
        return None
    keep_alive = version == "HTTP/1.1" and headers.get("connection") != "close"
    return Answer(int(rest[:3]), size, keep_alive)


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


async def exchange(sock: socket.socket, request: bytes) -> Answer:
    """Send `request` and read one whole response (callers bound the wait)."""
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, request)
    data = b""
    while (answer := parse_answer(data)) is None:
        piece = await loop.sock_recv(sock, 65536)
        if not piece:
            raise ConnectionError("closed before a whole response")
        data += piece
    return answer


class Client:
    """One user's connection: kept while the server keeps it alive, opened again when not."""

    def __init__(self, port: int, sock: socket.socket | None = None) -> None:
        self.port = port
        self.sock = sock

    async def get(self, timeout_s: float) -> float | str:
        """One GET /hello/ within `timeout_s`, connecting included: its latency in seconds, or
        what went wrong (the connection is then closed)."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                if self.sock is None:
                    self.sock = await connect(self.port)
                answer = await exchange(self.sock, GET)
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            return error_kind(exc)
        if not answer.keep_alive:
            self.close()
        if answer.status != 200:
            return f"HTTP {answer.status}"
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
