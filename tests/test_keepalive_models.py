"""threaded, asyncio and prefork: keep-alive, pipelining, timeouts, blocking vs awaiting views,
graceful stops, and the prefork supervisor's care of its workers."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest

from bench.http1 import (
    parse_response,
    parse_responses,
    read_response,
    read_responses,
    request_bytes,
)
from tests.conftest import DJANGO, KEEP_ALIVE_MODELS, PLAIN, Launch
from tests.http_helpers import read_to_eof, request
from tests.polling import settle

pytestmark = pytest.mark.slow  # every test starts servers
ASGI_DJANGO = "helloworld.asgi:application"
LOOP_VARIANTS = [
    ("asyncio", "--loop", "asyncio"),
    ("asyncio", "--loop", "uvloop"),
    ("threaded",),
    ("prefork", "--loop", "uvloop"),
]


def variant_id(variant: tuple[str, ...]) -> str:
    return "-".join(part for part in variant if not part.startswith("--"))


@pytest.fixture(params=LOOP_VARIANTS, ids=variant_id)
def variant(request) -> tuple[str, ...]:
    return request.param


def start(launch: Launch, variant: tuple[str, ...], app: str = PLAIN, *options: str):
    model, *model_options = variant
    return launch(model, app, *model_options, *options)


def test_keep_alive_serves_many_requests_on_one_connection(launch, variant) -> None:
    server = start(launch, variant)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for index in range(5):
            sock.sendall(f"GET /echo/?n={index} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
            assert f'"QUERY_STRING": "n={index}"'.encode() in read_response(sock).body
        sock.sendall(b"GET /hello/ HTTP/1.0\r\n\r\n")  # 1.0 without keep-alive: closed after
        assert parse_response(read_to_eof(sock)).body == b"Hello, world!"


def test_three_pipelined_requests_get_three_answers_in_order(launch, variant) -> None:
    server = start(launch, variant)
    pipelined = b"".join(
        f"GET /echo/?n={n} HTTP/1.1\r\nHost: h\r\n{'Connection: close' if n == 3 else 'X: y'}"
        f"\r\n\r\n".encode()
        for n in (1, 2, 3)
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(pipelined)  # one write
        data = read_to_eof(sock)
    order = [r.body.split(b'"QUERY_STRING": "')[1][:3] for r in parse_responses(data)]
    assert order == [b"n=1", b"n=2", b"n=3"]


def test_slow_headers_are_cut_off(launch, variant) -> None:
    server = start(launch, variant, PLAIN, "--header-timeout", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /hello/ HTTP/1.1\r\n")
        started = time.monotonic()
        answer = b""
        try:
            for byte in b"X-Slow: one byte at a time\r\n":  # 0.2 s a byte: ~6 s if let be
                sock.sendall(bytes([byte]))
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_to_eof(sock)
        assert time.monotonic() - started < 5.5  # cut off before the headers could finish
    assert parse_response(answer).status == 408


def test_idle_keep_alive_connection_is_closed(launch, variant) -> None:
    server = start(launch, variant, PLAIN, "--keepalive-timeout", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /hello/ HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_response(sock).body == b"Hello, world!"
        started = time.monotonic()
        assert sock.recv(1) == b""  # EOF: the server closed the idle connection
        assert time.monotonic() - started >= 0.9


def read_by_server(port: int, client: socket.socket) -> bool:
    """Whether the server on 127.0.0.1:`port` has read all that `client` sent it: its end of
    the connection has nothing left to read (its receive queue in /proc/net/tcp)."""
    ends = (f"0100007F:{port:04X}", f"0100007F:{client.getsockname()[1]:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == ends:
            return int(fields[4].split(":")[1], 16) == 0
    return False


def finish_order(port: int, slow: str, fast: str) -> list[str]:
    """Send `slow`, then `fast` once the server has read `slow`; return the paths in the order
    they finished. One request first, so that the app's first-request work (Django's imports)
    is done before. (Not a pause: on a busy machine the server may not have read `slow` by the
    end of one, and `fast` reached it first.)"""
    finished: list[str] = []
    assert request(port, "GET", fast, timeout=20)[0] == 200

    def get(path: str) -> None:
        assert request(port, "GET", path, timeout=20)[0] == 200
        finished.append(path)

    def answer(sock: socket.socket, path: str) -> None:
        assert read_response(sock).status == 200
        finished.append(path)

    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request_bytes("127.0.0.1", slow))
        threads = [threading.Thread(target=answer, args=(sock, slow))]
        threads[0].start()
        assert settle(lambda: read_by_server(port, sock), want=True, timeout=10.0)
        threads.append(threading.Thread(target=get, args=(fast,)))
        threads[1].start()
        for thread in threads:
            thread.join(timeout=30)
    return finished


# alone: the two answers leave the server a millisecond apart (Django's /hello/ right after the
# view), and two client threads starved of CPU for that long can read them in either order
@pytest.mark.alone
def test_inline_wsgi_blocking_view_stalls_every_client(launch) -> None:
    server = launch("asyncio", DJANGO)
    assert finish_order(server.port, "/sleep/?ms=1000", "/hello/") == [
        "/sleep/?ms=1000",
        "/hello/",
    ]


def test_wsgi_in_a_thread_pool_does_not_stall(launch) -> None:
    server = launch("asyncio", DJANGO, "--threads", "4")
    assert finish_order(server.port, "/sleep/?ms=1000", "/hello/") == [
        "/hello/",
        "/sleep/?ms=1000",
    ]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_asgi_awaiting_view_does_not_stall(launch, loop) -> None:
    server = launch("asyncio", ASGI_DJANGO, "--loop", loop)
    assert "ASGI" in server.output()
    assert finish_order(server.port, "/async/sleep/?ms=1000", "/async/hello/") == [
        "/async/hello/",
        "/async/sleep/?ms=1000",
    ]


def test_asgi_lifespan_state_reaches_requests(launch) -> None:
    server = launch("asyncio", "tests.apps:lifespan_app")
    assert request(server.port, "GET", "/")[2] == b"started by lifespan"


def test_asgi_streamed_body_is_chunked(launch) -> None:
    server = launch("asyncio", "tests.apps:streaming_app", "--loop", "uvloop")
    status, headers, body = request(server.port, "GET", "/")
    assert (status, body, headers["Transfer-Encoding"]) == (200, b"one,two,three", "chunked")


def test_asgi_app_refused_by_a_wsgi_only_model(launch) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "servers", "threaded", ASGI_DJANGO, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "serves WSGI only" in result.stderr


@pytest.mark.parametrize("model", ["asyncio", "prefork"])
def test_sigterm_lets_the_request_in_flight_finish(launch, model) -> None:
    server = launch(model, ASGI_DJANGO, "--grace", "5")
    answer: list[bytes] = []
    client = threading.Thread(
        target=lambda: answer.append(request(server.port, "GET", "/async/sleep/?ms=800")[2])
    )
    client.start()
    time.sleep(0.3)
    os.kill(server.pid, signal.SIGTERM)
    client.join(timeout=10)
    assert answer == [b"slept 800 ms"]
    assert server.popen.wait(timeout=10) == 0
    assert not server.tree()


def test_large_responses_survive_a_slow_reader(launch, variant) -> None:
    server = start(launch, variant)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /payload/?kb=4096 HTTP/1.1\r\nHost: h\r\n\r\n" * 2)
        time.sleep(0.5)  # the server's write buffer fills; it must pause, not fail or drop
        first, second = read_responses(sock, 2)
    assert first.body == second.body == b"x" * 4096 * 1024


def workers_of(server) -> list[psutil.Process]:
    return [p for p in psutil.Process(server.pid).children() if p.status() != "zombie"]


def test_prefork_replaces_a_killed_worker_and_leaves_no_zombie(launch) -> None:
    server = launch("prefork", PLAIN, "--workers", "2")
    deadline = time.monotonic() + 10
    while len(workers_of(server)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    before = {p.pid for p in workers_of(server)}
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    while time.monotonic() < deadline:
        now = {p.pid for p in psutil.Process(server.pid).children()}
        if victim not in now and len(now) == 2:
            break
        time.sleep(0.05)
    children = psutil.Process(server.pid).children()
    assert victim not in {p.pid for p in children}  # reaped, not a zombie
    assert len(children) == 2 and all(p.status() != "zombie" for p in children)
    assert f"worker {victim} died (killed by SIGKILL)" in server.output()
    for _ in range(4):
        assert request(server.port, "GET", "/hello/")[2] == b"Hello, world!"


def connections_by_worker(server, state: str) -> dict[int, int]:
    """How many TCP sockets on the server's port each worker holds in `state`."""
    return {
        worker.pid: sum(
            c.status == state and c.laddr.port == server.port
            for c in worker.net_connections(kind="tcp")
        )
        for worker in workers_of(server)
    }


def listening_sockets(server) -> dict[int, str]:
    """Each worker's listening socket on the server's port, as the kernel names it
    ('socket:[inode]'): one name for a shared socket, one each otherwise. A worker that held
    two would be named twice and fail the callers' counts."""
    found: dict[int, str] = {}
    for worker in workers_of(server):
        for c in worker.net_connections(kind="tcp"):
            if c.status == "LISTEN" and c.laddr.port == server.port:
                assert worker.pid not in found, f"worker {worker.pid} listens on two sockets"
                found[worker.pid] = os.readlink(f"/proc/{worker.pid}/fd/{c.fd}")
    return found


def test_prefork_workers_listen_on_a_socket_each_and_the_kernel_spreads_connections(
    launch,
) -> None:
    """16 keep-alive connections opened as soon as the server answers, as a benchmark cell opens
    them, land on both workers, even on the one not yet started then: SO_REUSEPORT hashes each
    to one worker's socket, where it waits for that worker (all 16 on one worker is a chance of
    2 in 65,536; with one shared socket, 9 of 10 starts here). Each worker listens on one socket
    of its own and holds no other's."""
    server = launch("prefork", PLAIN, "--workers", "2", "--loop", "uvloop")
    clients = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(16)]
    try:
        for sock in clients:
            sock.sendall(b"GET /hello/ HTTP/1.1\r\nHost: h\r\n\r\n")
        for sock in clients:
            assert read_response(sock).body == b"Hello, world!"
        assert settle(lambda: len(workers_of(server)), want=2) == 2
        inodes = listening_sockets(server)
        assert len(inodes) == 2 and len(set(inodes.values())) == 2, inodes
        held = connections_by_worker(server, "ESTABLISHED")
        assert sum(held.values()) == 16 and min(held.values()) >= 1, held
    finally:
        for sock in clients:
            sock.close()


def test_prefork_workers_may_share_one_socket(launch) -> None:
    """--shared-socket: one listening socket, inherited by both workers, serves as before."""
    server = launch("prefork", PLAIN, "--workers", "2", "--shared-socket")
    assert settle(lambda: len(workers_of(server)), want=2) == 2
    inodes = listening_sockets(server)
    assert len(inodes) == 2 and len(set(inodes.values())) == 1, inodes
    assert "2 workers, one shared socket" in server.output()
    assert request(server.port, "GET", "/hello/")[2] == b"Hello, world!"


def test_prefork_sigterm_leaves_no_process(launch) -> None:
    server = launch("prefork", PLAIN, "--workers", "3")
    assert request(server.port, "GET", "/hello/")[0] == 200
    # one worker may answer before the supervisor, on a busy machine, has forked the others
    assert settle(lambda: len(server.tree()), want=4) == 4
    pids = [p.pid for p in server.tree()]
    os.kill(server.pid, signal.SIGTERM)
    assert server.popen.wait(timeout=15) == 0
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids
    )


@pytest.mark.parametrize("model", KEEP_ALIVE_MODELS)
def test_environ_says_how_the_app_is_run(launch, model) -> None:
    import json

    server = launch(model, "tests.apps:flags")
    flags = json.loads(request(server.port, "GET", "/")[2])
    expected = {"threaded": [True, False], "asyncio": [False, False], "prefork": [False, True]}
    assert flags == expected[model]
