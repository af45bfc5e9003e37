"""prefork: N workers forked once at start, each listening on the port; a supervisor keeps them.

What production servers do instead of a fork per connection: no fork() on the request path.
Each worker runs the event-loop driver (keep-alive, many connections per worker) on a listening
socket of its own, all bound to one port with SO_REUSEPORT, so the kernel spreads the
connections among them, and a worker that starts late finds its share waiting in its own
queue. Sharing one socket (--shared-socket, as gunicorn's and uvicorn's workers do) lets the
workers already running accept every connection that comes before the others start, and an event
loop takes all it can: 16 keep-alive connections opened once the server answered, as a benchmark
cell opens them, all went to the first worker in 9 of 10 starts here (with a socket each, in none),
and that worker then serves one blocking view at a time. The
supervisor sleeps until a signal arrives (through a wakeup fd, so none is lost between checks),
reaps with the waitpid(-1, WNOHANG) loop, replaces a worker that died, and on SIGTERM or SIGINT
stops the workers gracefully.
"""

import contextlib
import gc
import os
import select
import signal
import socket
import time

from servers import aio
from servers.blocking import Server, listen, log

NEEDS_APP = True
MULTIPROCESS = True
MULTITHREAD = False  # True with --threads
KEEP_ALIVE = True
SPEAKS_ASGI = True
REUSE_PORT = True  # the first listening socket is made with SO_REUSEPORT (not --shared-socket)

WATCHED = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT)


def serve(server: Server) -> None:
    wakeup_read, wakeup_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wakeup_write)
    for signum in WATCHED:
        signal.signal(signum, lambda *_: None)  # the wakeup fd carries the signal number
    workers: dict[int, int] = {}  # pid -> worker number
    # a listening socket per worker number, kept here so that a replacement takes over its queue
    listeners = _listeners(server)

    def spawn(number: int) -> None:
        # Signals wait while we fork: a new worker must not get one before it resets them.
        signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
        # What the workers inherit is never collected: a worker's garbage collection would
        # otherwise touch, and so copy, the pages it shares with the supervisor (a 10-minute
        # soak saw each worker copy 2.3 MiB at once, minutes in).
        gc.freeze()
        try:
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                os.close(wakeup_read)
                os.close(wakeup_write)
                server.listener = listeners[number]
                for other in listeners:
                    if other is not server.listener:
                        other.close()
                _run_worker(server)  # never returns
            workers[pid] = number
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, WATCHED)

    for number in range(server.options.workers):
        spawn(number)
    log(f"prefork supervisor started {len(workers)} workers: {sorted(workers)}")
    stopping_since = 0.0
    try:
        while workers:
            signals = _wait_for_signals(wakeup_read, timeout=0.5 if stopping_since else None)
            if not stopping_since and (signal.SIGTERM in signals or signal.SIGINT in signals):
                stopping_since = time.monotonic()  # before reaping: do not replace the dying
                log(f"stopping: SIGTERM to workers {sorted(workers)}")
                _signal_all(workers, signal.SIGTERM)
            for pid, status in _reap():
                lost = workers.pop(pid) if pid in workers else None
                if lost is not None and not stopping_since:
                    log(f"worker {pid} died ({_describe(status)}); starting a new one")
                    time.sleep(0.1)  # a worker that dies at once must not make us spin
                    spawn(lost)
            if stopping_since and time.monotonic() - stopping_since > server.options.grace + 2:
                log(f"workers {sorted(workers)} outlived the grace period: SIGKILL")
                _signal_all(workers, signal.SIGKILL)
    finally:
        _signal_all(workers, signal.SIGKILL)  # an error in the supervisor leaves no worker
        for pid in list(workers):
            os.waitpid(pid, 0)
        signal.set_wakeup_fd(-1)
        os.close(wakeup_read)
        os.close(wakeup_write)
        for listener in listeners:
            if listener is not server.listener:  # that one is the command line's to close
                listener.close()


def _listeners(server: Server) -> list[socket.socket]:
    """One socket for all workers (--shared-socket), or one each on the same address."""
    count = server.options.workers
    if server.options.shared_socket:
        return [server.listener] * count
    host, port = server.listener.getsockname()[:2]
    more = [listen(host, port, server.options.backlog, reuse_port=True) for _ in range(count - 1)]
    return [server.listener, *more]


def _run_worker(server: Server) -> None:
    code = 0
    try:
        for signum in WATCHED:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, WATCHED)
        server.pid = os.getpid()
        aio.run(server)
    except BaseException as exc:
        log(f"worker failed: {exc!r}")
        code = 1
    finally:
        os._exit(code)


def _wait_for_signals(fd: int, timeout: float | None) -> set[int]:
    ready, _, _ = select.select([fd], [], [], timeout)
    received: set[int] = set()
    if ready:
        with contextlib.suppress(BlockingIOError):
            received.update(os.read(fd, 512))
    return received


def _reap() -> list[tuple[int, int]]:
    """Every child that has ended, as (pid, status): the loop that leaves no zombie."""
    ended: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, status))


def _signal_all(workers: dict[int, int], signum: int) -> None:
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
