"""What every blocking-socket model shares: the listening socket, the accept loop, serving one
connection through the protocol core, forking a child, and stopping cleanly.

The models in `servers/models/` differ only in who serves each accepted connection and what
happens to the children; everything here is the same for all of them.
"""

from __future__ import annotations

import errno
import gc
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from servers.options import Options, ServerInfo
from servers.parser import ExpectContinue, ProtocolError, Request, RequestParser
from servers.response import error_response
from servers.wsgi import WSGIApp, WSGIExchange, connection_environ

# accept() errors that mean "out of a resource for now": back off and keep serving.
RESOURCE_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
READ_SIZE = 64 * 1024


class Stop(Exception):
    """Raised in the server's main process by SIGINT or SIGTERM."""


def log(message: str) -> None:
    """One line on stderr, tagged with the pid (children log too)."""
    sys.stderr.write(f"servers[{os.getpid()}]: {message}\n")
    sys.stderr.flush()


def listen(host: str, port: int, backlog: int, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket with SO_REUSEADDR, as the seed's servers set; with `reuse_port`,
    SO_REUSEPORT too, so that more sockets can listen on the same port (prefork's workers)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    listener.listen(backlog)
    return listener


class Server:
    """A listening socket, an application, and the bookkeeping the models need."""

    def __init__(
        self,
        listener: socket.socket,
        app: WSGIApp | None,
        info: ServerInfo,
        options: Options,
    ) -> None:
        self.listener = listener
        self.app = app
        self.info = info
        self.options = options
        self.pid = os.getpid()
        self.accepted = 0
        self.unreaped = 0  # children forked and not yet waited for (zombies included)
        self.accept_failures: dict[str, int] = {}  # by errno name: EMFILE, ENFILE, ...
        self._last_resource_log = 0.0
        # requests whose application is running, and the most at once: the server's own count
        # of its concurrency (this process's threads; a forked child counts in the child)
        self.in_progress = 0
        self.most_in_progress = 0
        self._progress = threading.Lock()

    # the accept loop ----------------------------------------------------------------------

    def connections(self) -> Iterator[tuple[socket.socket, tuple[str, int]]]:
        """Accepted connections, until `--max-requests` is reached (if set)."""
        limit = self.options.max_requests
        backoff = 0.01
        while limit is None or self.accepted < limit:
            try:
                conn, peer = self.listener.accept()
            except OSError as exc:
                if exc.errno not in RESOURCE_ERRORS:
                    raise
                self.log_resource_error(exc)
                time.sleep(backoff)  # do not spin: wait for descriptors to free up
                backoff = min(backoff * 2, 0.5)
                continue
            backoff = 0.01
            self.accepted += 1
            yield conn, peer[:2]
        log(f"served --max-requests={limit} connections; exiting")

    def log_resource_error(self, exc: OSError) -> None:
        """One line a second at most, however often accept() fails for want of a resource; each
        line, and the one at the stop, with the count so far (the harness reads the last)."""
        name = errno.errorcode.get(exc.errno or 0, "?")
        self.accept_failures[name] = self.accept_failures.get(name, 0) + 1
        now = time.monotonic()
        if now - self._last_resource_log >= 1.0:
            self._last_resource_log = now
            log(f"accept failed: {name} ({exc.strerror}); backing off; {self.failures_so_far()}")

    def failures_so_far(self) -> str:
        """'accept failures so far: 12 (EMFILE: 12)', as the harness parses it."""
        total = sum(self.accept_failures.values())
        kinds = ", ".join(f"{name}: {count}" for name, count in self.accept_failures.items())
        return f"accept failures so far: {total}" + (f" ({kinds})" if kinds else "")

    # serving one connection ---------------------------------------------------------------

    def requests(self, conn: socket.socket) -> Iterator[Request]:
        """Requests read from `conn` as they complete; protocol errors are answered here.

        A request must arrive whole within --header-timeout of its first byte (or of the
        connection), and an idle keep-alive connection ends after --keepalive-timeout.
        """
        options = self.options
        parser = RequestParser(options.limits)
        deadline = time.monotonic() + options.header_timeout
        while True:
            conn.settimeout(max(deadline - time.monotonic(), 0.001))
            was_idle = not parser.in_request
            try:
                data = conn.recv(READ_SIZE)
            except TimeoutError:
                if parser.in_request:
                    self.reject(conn, ProtocolError(408, "request not received in time"))
                return
            for event in parser.feed(data) if data else parser.feed_eof():
                if isinstance(event, ExpectContinue):
                    conn.sendall(event.data)
                elif isinstance(event, ProtocolError):
                    self.reject(conn, event)
                    return
                else:
                    yield event
            if not data:
                return
            if not parser.in_request:
                deadline = time.monotonic() + options.keepalive_timeout
            elif was_idle:
                deadline = time.monotonic() + options.header_timeout

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        """Serve one connection (keep-alive if the model allows it), then close it."""
        environ = connection_environ(self.info, peer) if self.app is not None else None
        try:
            for request in self.requests(conn):
                if not self.respond(conn, request, peer, environ):
                    break
        except ConnectionError:
            pass  # the client went away: nothing to answer
        except OSError as exc:
            log(f"connection from {peer[0]}:{peer[1]}: {exc}")
        finally:
            conn.close()

    def respond(
        self,
        conn: socket.socket,
        request: Request,
        peer: tuple[str, int],
        environ: dict[str, Any] | None = None,
    ) -> bool:
        """Run the application for one request; True if the connection may serve another."""
        assert self.app is not None
        with self._progress:
            self.in_progress += 1
            self.most_in_progress = max(self.most_in_progress, self.in_progress)
        try:
            exchange = WSGIExchange(self.app, request, self.info, peer, environ)
            body = exchange.chunks()
            try:
                for data in body:
                    conn.sendall(data)
            finally:
                body.close()
        finally:
            with self._progress:
                self.in_progress -= 1
        return exchange.keep_alive

    def progress_so_far(self) -> str:
        """'requests in progress at most: 1', as the harness parses it."""
        return f"requests in progress at most: {self.most_in_progress}"

    def reject(self, conn: socket.socket, error: ProtocolError) -> None:
        """Answer a request we cannot serve, then let the client read it before we close."""
        try:
            conn.sendall(
                error_response(error.status, error.reason, server=self.info.software_bytes)
            )
            conn.shutdown(socket.SHUT_WR)
            # Drain what the client still sends (briefly, boundedly), so that closing does not
            # reset the connection and destroy the answer before the client has read it.
            conn.settimeout(0.2)
            for _ in range(16):
                if not conn.recv(READ_SIZE):
                    break
        except OSError:
            pass

    # fork-per-connection ------------------------------------------------------------------

    def fork_child(self, conn: socket.socket, peer: tuple[str, int]) -> int | None:
        """Fork a child that serves `conn` and exits; the parent gets its pid.

        A safety bound, not part of any lesson: past `--max-children` unreaped children the
        parent answers 503 itself instead of forking, so no model can fill the process table.
        """
        if self.unreaped >= self.options.max_children:
            cap = self.options.max_children
            self.reject(conn, ProtocolError(503, f"over --max-children={cap} unreaped children"))
            return None
        # Copy-on-write: a garbage collection in the child would touch, and so copy, every page
        # of the heap. Frozen objects are never collected, and the short-lived child collects
        # nothing at all (what production pre-fork servers do too).
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            gc.disable()
            self._run_child(conn, peer)  # never returns
        self.unreaped += 1
        return pid

    def _run_child(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        code = 0
        try:
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
                signal.signal(signum, signal.SIG_DFL)
            self.listener.close()  # the child serves one client; the parent keeps listening
            self.handle(conn, peer)
            if self.options.sleep:
                time.sleep(self.options.sleep)
        except BaseException as exc:  # a child must never return into the parent's loop
            log(f"child failed: {exc!r}")
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)

    def reaped(self, count: int = 1) -> None:
        """A reaping model waited for `count` children."""
        self.unreaped -= count

    # stopping -----------------------------------------------------------------------------

    def install_stop_handlers(self) -> None:
        """SIGINT and SIGTERM stop the main process; a child that catches one just exits."""

        def stop(signum: int, frame: object) -> None:
            if os.getpid() != self.pid:
                os._exit(0)
            raise Stop(signal.Signals(signum).name)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
