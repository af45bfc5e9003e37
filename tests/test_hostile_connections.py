"""Connections that abuse asyncio, threaded and prefork instead of their requests: hundreds held
idle, reset in the middle of a request or a response, and enough of them to exhaust the server's
descriptors. Each time the server must go on serving others, leak no descriptor, and (at the
descriptor limit) wait instead of spinning."""

from __future__ import annotations

import contextlib
import resource
import socket
import struct
import time
from collections.abc import Iterator

import psutil
import pytest

from bench.http1 import IncompleteResponse, read_response
from bench.launch import ServerProcess
from tests.conftest import KEEP_ALIVE_MODELS, PLAIN, Launch
from tests.polling import settle

pytestmark = pytest.mark.slow  # every test starts servers

HELLO = b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
PATIENT = ("--header-timeout", "60", "--keepalive-timeout", "60")  # the server must not prune
IDLE_CONNECTIONS = 300
RESETS_EACH = 10
NOFILE = 64  # the server's descriptor limit in the exhaustion tests
BUSY_SPIN = 0.5  # CPU seconds per second: far above waiting, far below spinning (1.0)


def tree(server: ServerProcess) -> list[psutil.Process]:
    return [p for p in server.tree() if p.status() != psutil.STATUS_ZOMBIE]


def descriptors(server: ServerProcess) -> int:
    """Open descriptors of the server's whole tree (prefork: the supervisor and its workers)."""
    return sum(process.num_fds() for process in tree(server))


def cpu_seconds(server: ServerProcess) -> float:
    return sum(sum(process.cpu_times()[:2]) for process in tree(server))


def hello(port: int, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(HELLO)
        return read_response(sock).body


def served(port: int, timeout: float = 10.0) -> bool:
    """A new client is served within `timeout` (retrying: freed descriptors take a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if hello(port, timeout=1.0) == b"Hello, world!":
                return True
        time.sleep(0.1)
    return False


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@contextlib.contextmanager
def connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            opened.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        yield opened
    finally:
        for sock in opened:
            sock.close()


@pytest.fixture(params=KEEP_ALIVE_MODELS)
def server(request, launch: Launch) -> ServerProcess:
    server = launch(request.param, PLAIN, *PATIENT)
    assert hello(server.port) == b"Hello, world!"
    return server


def test_hundreds_of_idle_connections_do_not_stop_others(server: ServerProcess) -> None:
    baseline = settle(lambda: descriptors(server))
    with connections(server.port, IDLE_CONNECTIONS):
        assert hello(server.port) == b"Hello, world!"
        assert descriptors(server) >= baseline + IDLE_CONNECTIONS  # really held, not refused
    assert settle(lambda: descriptors(server), want=baseline) == baseline
    assert hello(server.port) == b"Hello, world!"


def test_resets_mid_request_and_mid_response_leak_nothing(server: ServerProcess) -> None:
    baseline = settle(lambda: descriptors(server))
    partial_requests = (
        b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half",
        b"POST /echo/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nonly part",
    )
    for partial in partial_requests:
        for _ in range(RESETS_EACH):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(partial)
            reset(sock)
    for _ in range(RESETS_EACH):  # a 4 MiB answer: the server is still writing when it comes
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"GET /payload/?kb=4096 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200 OK")
        reset(sock)
    assert hello(server.port) == b"Hello, world!"
    assert settle(lambda: descriptors(server), want=baseline) == baseline
    assert server.popen is not None and server.popen.poll() is None


EXHAUSTIBLE = [
    ("asyncio",),
    ("asyncio", "--loop", "uvloop"),
    ("threaded",),
    ("prefork", "--loop", "uvloop"),
]


@pytest.mark.parametrize("variant", EXHAUSTIBLE, ids=lambda v: "-".join(v[::2]))
def test_at_the_descriptor_limit_it_waits_serves_the_held_and_recovers(
    launch: Launch, variant: tuple[str, ...]
) -> None:
    model, *options = variant
    limits = {resource.RLIMIT_NOFILE: (NOFILE, NOFILE)}
    server = launch(model, PLAIN, *options, *PATIENT, rlimits=limits)
    held: list[socket.socket] = []
    try:
        # Open answered keep-alive connections until one is not answered: the server is out of
        # descriptors (accept fails with EMFILE). Bounded: every process has at most NOFILE.
        for _ in range(NOFILE * 3):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            held.append(sock)
            sock.sendall(HELLO)
            sock.settimeout(1.0)
            try:
                if read_response(sock).body != b"Hello, world!":
                    break  # answered, but not with the page
            except IncompleteResponse:
                break  # closed unanswered: uvloop (libuv) drops what it cannot accept
            except (TimeoutError, ConnectionError):
                break  # waiting in the listen backlog, or dropped with a reset
        else:
            pytest.fail(f"{len(held)} connections answered under a limit of {NOFILE}")
        answered = held[:-1]
        assert len(answered) > NOFILE // 2

        before = cpu_seconds(server)
        time.sleep(1.0)
        assert cpu_seconds(server) - before < BUSY_SPIN, "the accept loop spins at the limit"

        for sock in answered[:5]:  # the connections it holds are still served
            sock.settimeout(5)
            sock.sendall(HELLO)
            assert read_response(sock).body == b"Hello, world!"
    finally:
        for sock in held:
            sock.close()
    assert served(server.port), "no new client served after the descriptors were freed"
    assert server.popen is not None and server.popen.poll() is None
    if model != "prefork" and "uvloop" not in options:  # libuv drops silently; ours say so
        assert "accept failed: EMFILE" in server.output()
