"""The load generator's raw user against a server whose every answer is known: it counts right
answers, each kind of wrong one, resets and timeouts exactly as they happened, in either
connection mode, and stops at its request cap to the request."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.contract import CLOSED_EARLY, MALFORMED, WRONG_BODY
from bench.load import LoadResult, run_locust

pytestmark = pytest.mark.slow
HELLO = b"Hello, world!"
ANSWERS = {  # path: (what the server sends, whether it then keeps the connection)
    "/ok": (b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!", True),
    "/chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"7\r\nHello, \r\n6\r\nworld!\r\n0\r\n\r\n",
        True,
    ),
    "/eof": (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHello, world!", False),
    "/http10": (b"HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!", False),
    "/wrong": (b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nGoodbye!", True),
    "/503": (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy", True),
    "/garbage": (b"NOT HTTP AT ALL\r\n\r\n", False),
    "/short": (b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello", False),
    "/reset": (b"", False),  # closed with an RST
    "/hang": (b"", True),  # never answered
}


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                piece = self.request.recv(65536)
                if not piece:
                    return
                data += piece
            head, _, data = data.partition(b"\r\n\r\n")
            path = head.split(b" ")[1].decode()
            self.server.requests.append(path)  # type: ignore[attr-defined]
            answer, keep = ANSWERS[path]
            if path == "/reset":
                self.request.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.request.close()  # at once: socketserver would shut it down (a FIN) first
                return
            if path == "/hang":
                self.server.stop.wait()  # type: ignore[attr-defined]
                return
            self.request.sendall(answer)
            if not keep or b"connection: close" in head.lower():
                return


class Scripted(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def server() -> Iterator[Scripted]:
    scripted = Scripted(("127.0.0.1", 0), Handler)
    scripted.requests = []  # type: ignore[attr-defined]
    scripted.stop = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=scripted.serve_forever, daemon=True)
    thread.start()
    yield scripted
    scripted.stop.set()  # type: ignore[attr-defined]
    scripted.shutdown()
    scripted.server_close()


def load(
    server: Scripted, path: str, folder: Path, close: bool = False, **options: object
) -> LoadResult:
    host, port = server.server_address[:2]
    result = run_locust(
        f"http://{host}:{port}",
        path,
        options.pop("users", 2),  # type: ignore[arg-type]
        warmup_s=0.0,
        duration_s=options.pop("duration_s", 1.0),  # type: ignore[arg-type]
        close=close,
        max_requests=options.pop("max_requests", None),  # type: ignore[arg-type]
        out_dir=folder,
        cpus=None,
        timeout_s=options.pop("timeout_s", 5.0),  # type: ignore[arg-type]
        body=HELLO,
        client="raw",
    )
    assert not result.error, result.error
    return result


@pytest.mark.parametrize("close", [False, True], ids=["keepalive", "close"])
@pytest.mark.parametrize("path", ["/ok", "/chunked", "/eof", "/http10"])
def test_right_answers_in_every_framing_are_counted_as_right(
    server: Scripted, tmp_path: Path, path: str, close: bool
) -> None:
    result = load(server, path, tmp_path, close)
    assert result.failures == {}
    assert result.requests > 20 and result.latency_us["p50"] > 0
    assert result.throughput == pytest.approx(result.requests / result.window_s)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/wrong", WRONG_BODY),
        ("/503", "HTTP 503"),
        ("/garbage", MALFORMED),
        ("/short", CLOSED_EARLY),
        ("/reset", "ConnectionResetError"),
    ],
)
def test_each_wrong_answer_is_counted_by_its_kind(
    server: Scripted, tmp_path: Path, path: str, kind: str
) -> None:
    result = load(server, path, tmp_path)
    assert result.requests == 0 and result.histogram == ""
    assert list(result.failures) == [kind] and result.failures[kind] > 10


def test_a_request_never_answered_fails_as_a_timeout_after_the_timeout(
    server: Scripted, tmp_path: Path
) -> None:
    """2 users, 0.3 s timeout, a 1 s window: each user times out about three times (the
    watchdog looks every 50 ms), each a new connection that the server leaves hanging."""
    result = load(server, "/hang", tmp_path, timeout_s=0.3)
    assert result.requests == 0
    assert list(result.failures) == ["TimeoutError"]
    assert 4 <= result.failures["TimeoutError"] <= 7


def test_the_request_cap_stops_the_users_at_that_many_requests(
    server: Scripted, tmp_path: Path
) -> None:
    before = server.requests.count("/ok")  # type: ignore[attr-defined]
    result = load(server, "/ok", tmp_path, users=4, max_requests=50)
    assert result.requests == 50 and result.failures == {}
    assert server.requests.count("/ok") - before == 50  # type: ignore[attr-defined]


def test_an_open_loops_wrong_answers_count_at_their_latency_not_as_never_answered(
    server: Scripted, tmp_path: Path
) -> None:
    """A server that sheds every request at once with a 503, offered 100 requests a second:
    every request due was answered (wrongly, within milliseconds), none waited out the drain,
    so the percentiles are those quick answers', and the window is the schedule's."""
    host, port = server.server_address[:2]
    result = run_locust(
        f"http://{host}:{port}",
        "/503",
        2,
        warmup_s=0.0,
        duration_s=1.0,
        close=False,
        max_requests=None,
        out_dir=tmp_path,
        cpus=None,
        rate=100,
        body=HELLO,
    )
    assert result.requests == 0 and result.due == pytest.approx(100, abs=2)
    assert result.failures == {"HTTP 503": result.due} and result.censored == 0
    assert result.latency_us["p99"] is not None and result.latency_us["p99"] < 500_000
    assert result.window_s == pytest.approx(1.0, abs=0.01)
