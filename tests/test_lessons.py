"""The seed's lessons, shown by measurement (psutil, /proc) under bounded load.

Only lower bounds on time are asserted (a slow machine can only make them hold more easily);
process and descriptor counts are exact.
"""

from __future__ import annotations

import contextlib
import itertools
import resource
import socket
import threading
import time

import psutil
import pytest

from bench.http1 import IncompleteResponse, read_response
from bench.launch import ServerProcess
from tests.conftest import PLAIN, Launch
from tests.http_helpers import request
from tests.polling import settle

pytestmark = pytest.mark.slow
HELLO = b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def children(server: ServerProcess) -> list[psutil.Process]:
    return server.tree()[1:]


def zombies(server: ServerProcess) -> int:
    count = 0
    for child in children(server):
        with contextlib.suppress(psutil.NoSuchProcess):
            count += child.status() == psutil.STATUS_ZOMBIE
    return count


def burst(port: int, clients: int) -> list[bytes]:
    """`clients` connections opened first, then all sending at once; every response read."""
    barrier = threading.Barrier(clients)
    answers: list[bytes] = []

    def one() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            barrier.wait(timeout=20)
            sock.sendall(HELLO)
            answers.append(read_response(sock).body)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers


def timed_requests(port: int, paths: list[str], stagger: float = 0.05) -> list[float]:
    """Start one client per path, `stagger` seconds apart; return each one's finish time."""
    finished: dict[int, float] = {}

    def one(index: int, path: str) -> None:
        status, _, _ = request(port, "GET", path, timeout=30)
        assert status == 200
        finished[index] = time.monotonic()

    threads = []
    for index, path in enumerate(paths):
        threads.append(threading.Thread(target=one, args=(index, path)))
        threads[-1].start()
        time.sleep(stagger)
    for thread in threads:
        thread.join(timeout=60)
    return [finished[index] for index in range(len(paths))]


def test_sleep_second_client_waits_the_sleep_behind_the_first(launch: Launch) -> None:
    server = launch("sleep", PLAIN, "--sleep", "1.0")
    first, second = timed_requests(server.port, ["/hello/", "/hello/"])
    assert second - first >= 0.95  # the server slept 1 s after answering the first


def test_iterative_serves_concurrent_clients_one_after_another(launch: Launch) -> None:
    server = launch("iterative", PLAIN)
    finishes = sorted(timed_requests(server.port, ["/sleep/?ms=300"] * 3, stagger=0.02))
    gaps = [later - earlier for earlier, later in itertools.pairwise(finishes)]
    assert all(gap >= 0.28 for gap in gaps), gaps  # each waited for the whole previous one


def test_fork_leaves_one_zombie_per_request(launch: Launch) -> None:
    server = launch("fork", PLAIN)
    for _ in range(12):
        assert request(server.port, "GET", "/hello/")[2] == b"Hello, world!"
    assert settle(lambda: zombies(server), want=12) == 12
    assert len(children(server)) == 12  # none were reaped: every one is a zombie


def test_fork_wait_leaves_zombies_after_a_burst(launch: Launch) -> None:
    server = launch("fork_wait", PLAIN, "--backlog", "1024")
    answers = burst(server.port, 64)
    assert len(answers) == 64 and all(a == b"Hello, world!" for a in answers)
    left = settle(lambda: zombies(server))
    assert left > 0, "coalesced SIGCHLDs should have left zombies behind"
    assert left < 64  # the handler did reap some: one per signal delivered


def test_fork_reap_leaves_no_zombie_after_the_same_burst(launch: Launch) -> None:
    server = launch("fork_reap", PLAIN, "--backlog", "1024")
    answers = burst(server.port, 64)
    assert len(answers) == 64 and all(a == b"Hello, world!" for a in answers)
    assert settle(lambda: len(children(server)), want=0) == 0


def test_fork_leak_keeps_one_descriptor_per_connection(launch: Launch) -> None:
    server = launch("fork_leak", PLAIN)
    parent = psutil.Process(server.pid)
    before = parent.num_fds()
    for count in range(1, 11):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(HELLO)
            assert read_response(sock).body == b"Hello, world!"
        assert settle(parent.num_fds, want=before + count) == before + count


def test_fork_leak_client_never_sees_eof(launch: Launch) -> None:
    server = launch("fork_leak", PLAIN)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(HELLO)
        sock.settimeout(1.0)
        received = b""
        with pytest.raises(TimeoutError):
            while True:  # a client that reads to EOF, as the seed's clients had to
                data = sock.recv(65536)
                assert data, "got EOF: the parent should still hold the connection open"
                received += data
    assert received.endswith(b"Hello, world!")  # the whole answer came, but never its end


def test_fork_leak_runs_out_of_descriptors_with_a_low_limit(launch: Launch) -> None:
    limit = 40
    server = launch("fork_leak", PLAIN, rlimits={resource.RLIMIT_NOFILE: (limit, limit)})
    served = 0
    for _ in range(limit + 10):  # bounded: a few more connections than the limit allows
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
                sock.sendall(HELLO)
                with contextlib.suppress(IncompleteResponse):  # closed unanswered: not served
                    served += read_response(sock).body == b"Hello, world!"
        except (TimeoutError, ConnectionError):
            break  # accept() no longer succeeds: the connection waits in the backlog
    assert served < limit
    assert settle(lambda: "EMFILE" in server.output(), want=True)
    assert psutil.Process(server.pid).num_fds() <= limit
    # the server did not crash: it backs off and stays up, as a production accept loop should
    assert server.popen.poll() is None
