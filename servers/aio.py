"""The event-loop driver: one asyncio.Protocol per connection over the shared protocol core.

Used by the `asyncio` model (one process) and by each worker of the `prefork` model. Requests
are answered in order (pipelining), with keep-alive, flow control (reading pauses while the
transport's write buffer is full), a deadline for requests to arrive and for idle connections,
and a graceful stop on SIGINT/SIGTERM.

WSGI applications run inline on the loop by default: the honest behaviour of the model, where a
blocking view blocks every client. `--threads N` runs them in a pool instead. ASGI applications
run natively; their coroutine is started at once, in the protocol callback, and becomes a Task
only if it really has to wait, so an answer that needs no waiting costs no Task.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import traceback
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from servers.asgi import ASGIResponse, build_scope
from servers.blocking import RESOURCE_ERRORS, Server, log
from servers.options import Options, ServerInfo
from servers.parser import ExpectContinue, ProtocolError, Request, RequestParser
from servers.response import error_response
from servers.wsgi import WSGIExchange, connection_environ

MAX_PIPELINED = 32  # requests queued on one connection before reading pauses
SWEEP_SECONDS = 1.0  # how often deadlines are checked
DISCONNECT = {"type": "http.disconnect"}


class LoopState:
    """What every connection of one event loop shares."""

    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop) -> None:
        self.app: Any = server.app  # a WSGI or an ASGI callable
        self.info: ServerInfo = server.info
        self.options: Options = server.options
        self.loop = loop
        self.asgi = server.options.interface == "asgi"
        self.executor = (
            ThreadPoolExecutor(server.options.threads, thread_name_prefix="wsgi")
            if server.options.threads and not self.asgi
            else None
        )
        self.connections: set[HTTPProtocol] = set()
        self.lifespan_state: dict[str, Any] | None = None
        self.stopping = False
        self.accepted = 0


class HTTPProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection."""

    def __init__(self, state: LoopState) -> None:
        self.state = state
        self.loop = state.loop
        self.parser = RequestParser(state.options.limits)
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.pending: deque[Request | ProtocolError] = deque()
        self.busy = False  # a response is being produced by a task or a thread
        self.cycle: ASGICycle | None = None
        self.write_paused = False
        self.reading = True
        self.drain_waiter: asyncio.Future[None] | None = None
        self.deadline = 0.0  # loop time at which the connection times out; 0: none
        self.eof = False  # the client half-closed: answer what it sent, then close
        self.environ: dict[str, Any] | None = None  # WSGI: the per-connection environ

    # asyncio callbacks --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream's: it can write
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if peer else ("", 0)
        state = self.state
        state.accepted += 1
        limit = state.options.max_requests
        if state.stopping or (limit is not None and state.accepted > limit):
            transport.close()
            return
        state.connections.add(self)
        self.deadline = self.loop.time() + state.options.header_timeout
        if not state.asgi:
            self.environ = connection_environ(state.info, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        self.transport = None
        self.pending.clear()
        if self.cycle is not None:
            self.cycle.disconnected()
        self._wake_drain()

    def data_received(self, data: bytes) -> None:
        was_idle = not self.parser.in_request
        for event in self.parser.feed(data):
            if isinstance(event, ExpectContinue):
                if not self.busy and not self.pending and self.transport is not None:
                    self.transport.write(event.data)
            else:
                self.pending.append(event)
        if was_idle and self.parser.in_request:
            self.deadline = self.loop.time() + self.state.options.header_timeout
        if not self.busy:
            self.process()
        if self.pending or not self.reading:
            self._update_reading()

    def eof_received(self) -> bool | None:
        self.eof = True
        self.pending.extend(e for e in self.parser.feed_eof() if isinstance(e, ProtocolError))
        if not self.busy:
            self.process()
            if not self.busy and not self.pending:
                self.close()  # nothing left to answer
        return True  # keep our side open until the answers in progress are written

    def pause_writing(self) -> None:
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_drain()
        self._update_reading()
        if not self.busy:
            self.process()

    # answering ----------------------------------------------------------------------------

    def process(self, answered: bool = False) -> None:
        """Answer the queued requests in order, until one must wait or the queue is empty.

        `answered`: the caller just finished an answer, so the connection may now be idle.
        """
        state = self.state
        while self.pending and not self.busy and not self.write_paused:
            if self.transport is None:
                return
            event = self.pending.popleft()
            if isinstance(event, ProtocolError):
                self.transport.write(
                    error_response(event.status, event.reason, server=state.info.software_bytes)
                )
                self.close()
                return
            if state.asgi:
                self.run_asgi(event)
            elif state.executor is not None:
                self.run_wsgi_in_thread(event)
            elif not self.run_wsgi_inline(event):
                self.close()
                return
            answered = True
        if self.transport is None or self.busy or self.pending or not answered:
            return
        if (state.stopping or self.eof) and not self.parser.in_request:
            self.close()
            return
        # Idle again: the next request must start within the keep-alive timeout (or, if it has
        # started already, arrive whole within the header timeout).
        options = state.options
        timeout = options.header_timeout if self.parser.in_request else options.keepalive_timeout
        self.deadline = self.loop.time() + timeout
        if not self.reading:
            self._update_reading()

    def run_wsgi_inline(self, request: Request) -> bool:
        state = self.state
        exchange = WSGIExchange(state.app, request, state.info, self.peer, self.environ)
        assert self.transport is not None  # a request came on it
        write = self.transport.write
        for data in exchange.chunks():
            write(data)
        return exchange.keep_alive

    def run_wsgi_in_thread(self, request: Request) -> None:
        self.busy = True
        self.deadline = 0.0
        state = self.state
        exchange = WSGIExchange(state.app, request, state.info, self.peer, self.environ)
        future = self.loop.run_in_executor(self.state.executor, _collect, exchange)
        future.add_done_callback(lambda done: self._wsgi_thread_done(exchange, done))

    def _wsgi_thread_done(self, exchange: WSGIExchange, done: asyncio.Future[bytes]) -> None:
        self.busy = False
        if self.transport is None:
            return
        self.transport.write(done.result())
        if not exchange.keep_alive:
            self.close()
        else:
            self.process(answered=True)

    def run_asgi(self, request: Request) -> None:
        cycle = self.cycle = ASGICycle(self, request)
        coroutine = self.state.app(cycle.scope, cycle.receive, cycle.send)
        try:
            awaited = coroutine.send(None)  # run it now: most answers need no waiting
        except StopIteration:
            self.asgi_done(cycle, None)
            return
        except BaseException as exc:
            self.asgi_done(cycle, exc)
            return
        self.busy = True
        self.deadline = 0.0
        cycle.task = self.loop.create_task(_resume(coroutine, awaited))
        cycle.task.add_done_callback(cycle.task_done)

    def asgi_done(self, cycle: ASGICycle, exc: BaseException | None) -> None:
        """The application returned (or raised): finish the response and go on."""
        self.cycle = None
        was_busy, self.busy = self.busy, False
        response = cycle.response
        if exc is not None and not isinstance(exc, asyncio.CancelledError):
            _log_app_error(cycle.request, exc)
        if self.transport is None:
            return
        if not response.complete:
            if not response.started and not cycle.gone:
                if exc is None:
                    log(f"ASGI app returned no response for {cycle.request.target!r}")
                self.transport.write(error_response(500, server=self.state.info.software_bytes))
            self.close()
            return
        if not response.framer.keep_alive:
            self.close()
        elif was_busy:
            self.process(answered=True)

    async def drain(self) -> None:
        """Wait until the transport's write buffer has room (flow control)."""
        if self.write_paused and self.transport is not None:
            self.drain_waiter = self.loop.create_future()
            await self.drain_waiter

    def _wake_drain(self) -> None:
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _update_reading(self) -> None:
        """Read only while responses drain and the pipeline queue is short."""
        if self.transport is None:
            return
        should_read = not self.write_paused and len(self.pending) < MAX_PIPELINED
        if should_read != self.reading:
            self.reading = should_read
            if should_read:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    # ending -------------------------------------------------------------------------------

    def timed_out(self) -> None:
        """Called by the sweep when the deadline passed: a slow request gets 408, idle ends."""
        if self.transport is None or self.busy:
            return
        if self.parser.in_request:
            self.transport.write(
                error_response(
                    408, "request not received in time", server=self.state.info.software_bytes
                )
            )
        self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()  # flushes what was written, then closes
            self.transport = None
            self.state.connections.discard(self)

    def stop(self) -> None:
        """The server is stopping: close now if idle, else after the answer in progress."""
        if not self.busy and not self.pending:
            self.close()


class ASGICycle:
    """One request's receive() and send(), as the ASGI application sees them."""

    __slots__ = ("body_sent", "gone", "protocol", "request", "response", "scope", "task", "waiter")

    def __init__(self, protocol: HTTPProtocol, request: Request) -> None:
        self.protocol = protocol
        self.request = request
        state = protocol.state
        self.scope = build_scope(request, state.info, protocol.peer, state.lifespan_state)
        self.response = ASGIResponse(request, state.info)
        self.body_sent = False
        self.gone = False
        self.waiter: asyncio.Future[None] | None = None
        self.task: asyncio.Task[Any] | None = None

    async def receive(self) -> dict[str, Any]:
        if not self.body_sent:
            self.body_sent = True
            return {"type": "http.request", "body": self.request.body, "more_body": False}
        if not self.gone and not self.response.complete:
            self.waiter = self.protocol.loop.create_future()
            await self.waiter
        return DISCONNECT

    async def send(self, message: dict[str, Any]) -> None:
        if self.gone:
            return  # the client left; the application may finish in peace
        data = self.response.message(message)
        protocol = self.protocol
        if data and protocol.transport is not None:
            protocol.transport.write(data)
            if protocol.write_paused:
                await protocol.drain()
        if self.response.complete:
            self._wake()

    def disconnected(self) -> None:
        self.gone = True
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def task_done(self, task: asyncio.Task[Any]) -> None:
        exc = None if task.cancelled() else task.exception()
        self.protocol.asgi_done(self, exc)


class _Continuation:
    """Awaitable that goes on driving a coroutine that was started by hand."""

    __slots__ = ("coroutine", "first")

    def __init__(self, coroutine: Any, first: Any) -> None:
        self.coroutine, self.first = coroutine, first

    def __await__(self) -> Any:
        coroutine, value = self.coroutine, self.first
        self.first = None
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # thrown in by the Task (e.g. cancellation)
                try:
                    value = coroutine.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coroutine.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _resume(coroutine: Any, awaited: Any) -> Any:
    return await _Continuation(coroutine, awaited)


def _collect(exchange: WSGIExchange) -> bytes:
    """Run a WSGI exchange in a pool thread; the loop writes its bytes."""
    return b"".join(exchange.chunks())


def _log_app_error(request: Request, exc: BaseException) -> None:
    sys.stderr.write(f"error serving {request.method} {request.target.decode('latin-1')}:\n")
    sys.stderr.write("".join(traceback.format_exception(exc)))
    sys.stderr.flush()


# lifespan -----------------------------------------------------------------------------------


class Lifespan:
    """The ASGI lifespan protocol, when the application supports it."""

    def __init__(self, app: Any, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.started: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None

    async def startup(self) -> bool:
        """True if the app completed startup, False if it does not speak lifespan."""
        self.task = asyncio.get_running_loop().create_task(self._main())
        await self.queue.put({"type": "lifespan.startup"})
        return await self.started

    async def shutdown(self) -> None:
        await self.queue.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(asyncio.shield(self.stopped), 10)

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self.queue.get, self._send)
        except BaseException as exc:
            if not self.started.done():
                log(f"the app does not support the ASGI lifespan ({type(exc).__name__}); going on")
                self.started.set_result(False)
        finally:
            if not self.started.done():
                self.started.set_result(False)
            if not self.stopped.done():
                self.stopped.set_result(None)

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            self.started.set_result(True)
        elif kind == "lifespan.startup.failed":
            self.started.set_exception(RuntimeError(message.get("message", "startup failed")))
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            self.stopped.set_result(None)


# running ------------------------------------------------------------------------------------


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A fresh loop of the kind asked for: the stock asyncio loop or uvloop."""
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(server: Server) -> None:
    """Serve on `server.listener` until SIGINT/SIGTERM, then stop gracefully."""
    loop = new_event_loop(server.options.loop)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(server, loop))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _serve(server: Server, loop: asyncio.AbstractEventLoop) -> None:
    state = LoopState(server, loop)
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        log(f"stopping on {signal.Signals(signum).name}")
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    loop.set_exception_handler(lambda loop, context: _on_loop_error(server, loop, context))
    lifespan = None
    if state.asgi:
        lifespan = Lifespan(state.app, {})
        if await lifespan.startup():
            state.lifespan_state = lifespan.state
        else:
            lifespan = None
    server.listener.setblocking(False)
    listening = await loop.create_server(
        lambda: HTTPProtocol(state), sock=server.listener, backlog=server.options.backlog
    )
    sweeper = loop.create_task(_sweep(state))
    limit = server.options.max_requests
    try:
        if limit is None:
            await stop.wait()
        else:
            await _wait_for_connections(state, stop, limit)
    finally:
        sweeper.cancel()
        await _stop_gracefully(state, listening)
        if lifespan is not None:
            await lifespan.shutdown()
        if state.executor is not None:
            state.executor.shutdown(wait=False, cancel_futures=True)


def _on_loop_error(
    server: Server, loop: asyncio.AbstractEventLoop, context: dict[str, Any]
) -> None:
    """accept() out of descriptors: the stock loop retries a second later by itself, and would
    log a traceback each time; one line, as the blocking models write, says enough."""
    exc = context.get("exception")
    if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRORS:
        server.log_resource_error(exc)
    else:
        loop.default_exception_handler(context)


async def _sweep(state: LoopState) -> None:
    """Close the connections whose deadline passed: slow requests and idle keep-alives."""
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        now = state.loop.time()
        for connection in [c for c in state.connections if 0 < c.deadline < now]:
            connection.timed_out()


async def _wait_for_connections(state: LoopState, stop: asyncio.Event, limit: int) -> None:
    """--max-requests for an event loop: stop once `limit` connections were accepted and closed."""
    while not stop.is_set():
        if state.accepted >= limit and not state.connections:
            log(f"served --max-requests={limit} connections; exiting")
            return
        await asyncio.sleep(0.05)


async def _stop_gracefully(state: LoopState, listening: asyncio.Server) -> None:
    """Stop accepting, let in-flight answers finish within --grace, then close the rest."""
    state.stopping = True
    listening.close()
    for connection in list(state.connections):
        connection.stop()
    deadline = state.loop.time() + state.options.grace
    while state.connections and state.loop.time() < deadline:
        await asyncio.sleep(0.02)
    for connection in list(state.connections):
        if connection.cycle is not None and connection.cycle.task is not None:
            connection.cycle.task.cancel()
        connection.close()
    await asyncio.sleep(0)
