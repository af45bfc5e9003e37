"""A connection flood that exposes descriptor exhaustion on a leaking server (client2, fixed).

The seed's client2 forked ``--max-clients`` processes, each meant to open ``--max-conns``
connections and hold them, so that a server which leaks a descriptor per connection (the
teaching server ``fork_leak``, run under a low ``ulimit -n``) runs out of them. The original did
not start, exited after one connection per process, and its request lacked the blank line that
ends the headers. Here every worker really opens its N connections, sends a complete request on
each, holds them all open, then reads a status line on each, and the parent adds up what
happened, failure by failure, with the errno that caused it.

    python -m servers.clients.flood [--host 127.0.0.1] [--port 8888] [--path /hello/]
        --max-clients M --max-conns N [--hold 1] [--timeout 5] [--json]

Each worker's life is bounded: at most ``timeout`` seconds connecting (all N connects run at
once, non-blocking), ``hold`` seconds holding, ``timeout`` seconds reading (all N at once). The
parent reaps every worker on every exit path, Ctrl-C included.

Exit status: 0 when every worker reported, 1 when some worker failed or had to be stopped,
2 for bad options or a non-loopback host, 130 on Ctrl-C (after stopping and reaping workers).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import re
import resource
import selectors
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

from servers.clients.raw import build_request
from servers.loopback import format_address, resolve_loopback

__all__ = ["LIMITS", "flood", "format_report", "main"]

USER_AGENT = "servers.clients.flood/1.0"

# Hard bounds: the flood is a measuring tool, and must not be able to exhaust the machine.
LIMITS = {"max_clients": 64, "max_conns": 4096, "hold": 600.0, "timeout": 60.0}

_STATUS_LINE = re.compile(rb"^HTTP/(\d)\.(\d) (\d{3})(?: [^\r\n]*)?\r?\n")
_MAX_STATUS_LINE = 8192  # bytes without a line end before a response is called malformed
_POLL = 0.2  # seconds between checks that the parent is still alive
_GRACE = 30.0  # seconds a worker may spend beyond its own bounds (start-up, socket creation)
_EXIT_WAIT = 5.0  # seconds a worker that has reported may take to exit before it is stopped
_REAP_WAIT = 2.0  # seconds given to a terminated worker before it is killed


def _errno_name(code: int | None) -> str:
    if code is None:
        return "unknown"
    return errno.errorcode.get(code, f"errno{code}")


def _check(name: str, value: float, low: float, high: float, *, low_inclusive: bool) -> None:
    ok = math.isfinite(value) and (value >= low if low_inclusive else value > low) and value <= high
    if not ok:
        bound = ">=" if low_inclusive else ">"
        raise ValueError(f"--{name.replace('_', '-')} must be {bound} {low:g} and <= {high:g}")


def _validate(max_clients: int, max_conns: int, hold: float, timeout: float) -> None:
    for name, value in (("max_clients", max_clients), ("max_conns", max_conns)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"--{name.replace('_', '-')} must be an integer")
    _check("max_clients", max_clients, 1, LIMITS["max_clients"], low_inclusive=True)
    _check("max_conns", max_conns, 1, LIMITS["max_conns"], low_inclusive=True)
    _check("hold", hold, 0, LIMITS["hold"], low_inclusive=True)
    _check("timeout", timeout, 0, LIMITS["timeout"], low_inclusive=False)


# --------------------------------------------------------------------------- worker side


def _raise_nofile(max_conns: int) -> dict[str, Any]:
    """Lift this worker's soft RLIMIT_NOFILE towards what N connections need, if the hard allows.

    Whatever cannot be lifted shows up later as EMFILE from socket(), counted as client-side.
    """
    try:
        already_open = len(os.listdir("/proc/self/fd"))
    except OSError:
        already_open = 64
    needed = max_conns + already_open + 8  # + the selector, the result pipe, some slack
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    info: dict[str, Any] = {
        "needed": needed,
        "soft_before": None if soft == resource.RLIM_INFINITY else soft,
        "hard": None if hard == resource.RLIM_INFINITY else hard,
        "soft_after": None if soft == resource.RLIM_INFINITY else soft,
    }
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        if target > soft:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                info["soft_after"] = target
    return info


class _Conn:
    """One connection's progress through connect, send and read."""

    __slots__ = ("buf", "deadline", "out", "sock")

    def __init__(self, sock: socket.socket, out: bytes, deadline: float) -> None:
        self.sock = sock
        self.out = out
        self.deadline = deadline
        self.buf = bytearray()


class _ParentGone(Exception):
    """The parent died: stop flooding rather than run on as an orphan."""


def _check_parent(ppid: int) -> None:
    if os.getppid() != ppid:
        raise _ParentGone


def _connect_and_send(
    family: int,
    sockaddr: tuple,
    request: bytes,
    max_conns: int,
    timeout: float,
    ppid: int,
    tally: dict[str, Any],
    sockets: list[socket.socket],
) -> list[_Conn]:
    """Open ``max_conns`` non-blocking connections at once and send the request on each.

    Returns the connections whose request went out completely. Every socket created is put in
    ``sockets`` so that the caller closes it whatever happens.
    """
    sel = selectors.DefaultSelector()
    sent: list[_Conn] = []
    live: dict[Any, _Conn] = {}  # by socket: the selector gives back what it was given
    connecting: set[socket.socket] = set()

    def start_sending(conn: _Conn) -> None:
        tally["opened"] += 1
        send_some(conn)

    def send_some(conn: _Conn) -> None:
        try:
            count = conn.sock.send(conn.out)
        except BlockingIOError:
            count = 0
        except OSError as exc:
            fail(conn, "send_errors", _errno_name(exc.errno))
            return
        conn.out = conn.out[count:]
        if conn.out:  # partial send: finish it when the socket is writable again
            if conn.sock not in live:
                sel.register(conn.sock, selectors.EVENT_WRITE)
                live[conn.sock] = conn
            return
        if conn.sock in live:
            sel.unregister(conn.sock)
            del live[conn.sock]
        tally["sent"] += 1
        sent.append(conn)

    def fail(conn: _Conn, bucket: str, reason: str) -> None:
        tally[bucket][reason] += 1
        if conn.sock in live:
            sel.unregister(conn.sock)
            del live[conn.sock]
        connecting.discard(conn.sock)
        conn.sock.close()

    try:
        for _ in range(max_conns):
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)
            except OSError as exc:  # EMFILE / ENFILE / ENOBUFS: this client's own limits
                tally["client_errors"][_errno_name(exc.errno)] += 1
                continue
            sockets.append(sock)
            sock.setblocking(False)
            conn = _Conn(sock, request, time.monotonic() + timeout)
            code = sock.connect_ex(sockaddr)
            if code == 0:
                start_sending(conn)
            elif code in (errno.EINPROGRESS, errno.EINTR):
                sel.register(sock, selectors.EVENT_WRITE)
                live[sock] = conn
                connecting.add(sock)
            elif code in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                tally["client_errors"][_errno_name(code)] += 1
                sock.close()
            else:
                fail(conn, "connect_errors", _errno_name(code))

        while live:
            _check_parent(ppid)
            now = time.monotonic()
            for conn in [c for c in live.values() if c.deadline <= now]:
                bucket = "connect_errors" if conn.sock in connecting else "send_errors"
                fail(conn, bucket, "timeout")
            if not live:
                break
            wait = min(c.deadline for c in live.values()) - now
            for key, _mask in sel.select(max(0.0, min(wait, _POLL))):
                conn = live[key.fileobj]
                if conn.sock in connecting:
                    code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code in (errno.EINPROGRESS, errno.EALREADY):
                        continue
                    if code != 0:
                        fail(conn, "connect_errors", _errno_name(code))
                        continue
                    connecting.discard(conn.sock)
                    tally["opened"] += 1
                send_some(conn)
    finally:
        sel.close()
    return sent


def _hold(hold: float, ppid: int) -> None:
    end = time.monotonic() + hold
    while (left := end - time.monotonic()) > 0:
        _check_parent(ppid)
        time.sleep(min(left, _POLL))


def _read_status(conns: list[_Conn], timeout: float, ppid: int, tally: dict[str, Any]) -> None:
    """Wait, all at once and for at most ``timeout`` seconds, for a status line on each."""
    sel = selectors.DefaultSelector()
    live: dict[Any, _Conn] = {}  # by socket: the selector gives back what it was given
    try:
        for conn in conns:
            sel.register(conn.sock, selectors.EVENT_READ)
            live[conn.sock] = conn

        def done(conn: _Conn, reason: str | None, status: str | None = None) -> None:
            sel.unregister(conn.sock)
            del live[conn.sock]
            if reason is None:
                tally["responses"] += 1
                tally["status"][status] += 1
            else:
                tally["read_errors"][reason] += 1

        deadline = time.monotonic() + timeout
        while live:
            _check_parent(ppid)
            left = deadline - time.monotonic()
            if left <= 0:
                for conn in list(live.values()):
                    done(conn, "timeout")
                break
            for key, _mask in sel.select(min(left, _POLL)):
                conn = live[key.fileobj]
                try:
                    chunk = conn.sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    done(conn, _errno_name(exc.errno))
                    continue
                if not chunk:
                    done(conn, "closed")  # EOF before a complete status line
                    continue
                conn.buf += chunk
                match = _STATUS_LINE.match(conn.buf)
                if match:
                    done(conn, None, match.group(3).decode())
                elif b"\n" in conn.buf or len(conn.buf) > _MAX_STATUS_LINE:
                    done(conn, "malformed")
                elif not b"HTTP/".startswith(bytes(conn.buf[:5])):
                    done(conn, "malformed")  # cannot become a status line: say so at once
    finally:
        sel.close()


def _new_tally(max_conns: int) -> dict[str, Any]:
    return {
        "attempted": max_conns,
        "opened": 0,
        "sent": 0,
        "responses": 0,
        "status": Counter(),
        "connect_errors": Counter(),
        "client_errors": Counter(),
        "send_errors": Counter(),
        "read_errors": Counter(),
    }


def _worker_main(
    family: int,
    sockaddr: tuple,
    request: bytes,
    max_conns: int,
    hold: float,
    timeout: float,
    ppid: int,
    writer: multiprocessing.connection.Connection,
) -> None:
    """Body of one forked worker: flood, then send the tally to the parent through ``writer``."""
    # Ctrl-C is the parent's to handle: it stops and reaps us. SIGTERM must simply end us (the
    # kernel closes our sockets), not run a handler inherited from the parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    tally = _new_tally(max_conns)
    result: dict[str, Any] = {"tally": tally}
    sockets: list[socket.socket] = []
    try:
        result["nofile"] = _raise_nofile(max_conns)
        started = time.monotonic()
        conns = _connect_and_send(
            family, sockaddr, request, max_conns, timeout, ppid, tally, sockets
        )
        connected = time.monotonic()
        _hold(hold, ppid)
        held = time.monotonic()
        _read_status(conns, timeout, ppid, tally)
        result["phases"] = {
            "connect": connected - started,
            "hold": held - connected,
            "read": time.monotonic() - held,
        }
    except _ParentGone:
        result["error"] = "parent exited"
    except Exception as exc:  # report it; the parent counts this worker as failed
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for sock in sockets:
            sock.close()
    with contextlib.suppress(OSError):
        writer.send(result)
    writer.close()


# --------------------------------------------------------------------------- parent side


def _merge(report: dict[str, Any], tally: dict[str, Any]) -> None:
    for key in ("opened", "sent", "responses"):
        report[key] += tally[key]
    for key, into in (
        ("status", "status_counts"),
        ("connect_errors", "connect_errors"),
        ("client_errors", "client_errors"),
        ("send_errors", "send_errors"),
        ("read_errors", "read_errors"),
    ):
        for name, count in tally[key].items():
            report[into][name] = report[into].get(name, 0) + count


def _stop(procs: list[multiprocessing.process.BaseProcess], grace: float) -> int:
    """Reap every worker: wait up to ``grace`` seconds for them to exit, terminate the rest,
    kill any that ignore that. Returns how many had to be stopped by force."""
    end = time.monotonic() + grace
    for proc in procs:
        proc.join(max(0.0, end - time.monotonic()))
    stopped = 0
    for proc in procs:
        if proc.is_alive():
            stopped += 1
            with contextlib.suppress(OSError):
                proc.terminate()
    for proc in procs:
        proc.join(_REAP_WAIT)
        if proc.is_alive():
            with contextlib.suppress(OSError):
                proc.kill()
            proc.join()
    return stopped


def flood(
    host: str = "127.0.0.1",
    port: int = 8888,
    path: str = "/hello/",
    max_clients: int = 1,
    max_conns: int = 1,
    hold: float = 1.0,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """Run the flood and return the report (the object ``--json`` prints).

    Raises ValueError (LoopbackError for the host) for arguments out of bounds, before any
    process is started. On KeyboardInterrupt every worker is stopped and reaped, then the
    interrupt propagates.
    """
    _validate(max_clients, max_conns, hold, timeout)
    if not path.startswith("/"):
        raise ValueError(f"--path must start with '/', got {path!r}")
    family, sockaddr = resolve_loopback(host, port)[0]
    try:
        request = build_request("GET", path, host, port, [("User-Agent", USER_AGENT)])
    except ValueError as exc:
        raise ValueError(f"--path: {exc}") from None

    report: dict[str, Any] = {
        "host": host,
        "address": format_address(sockaddr),
        "port": port,
        "path": path,
        "max_clients": max_clients,
        "max_conns": max_conns,
        "hold": float(hold),
        "timeout": float(timeout),
        "attempted": max_clients * max_conns,
        "opened": 0,
        "connect_failed": 0,
        "connect_errors": {},
        "client_errors": {},
        "sent": 0,
        "send_failed": 0,
        "send_errors": {},
        "responses": 0,
        "status_counts": {},
        "read_failed": 0,
        "read_errors": {},
        "workers": {"started": 0, "reported": 0, "stopped": 0, "errors": []},
        "client_nofile": None,
        "phases": {},
        "elapsed": 0.0,
    }
    ctx = multiprocessing.get_context("fork")
    procs: list[multiprocessing.process.BaseProcess] = []
    readers: dict[Any, int] = {}  # by connection: wait() gives back what it was given
    nofile: list[dict[str, Any]] = []
    finished = False
    start = time.monotonic()
    # Block Ctrl-C and SIGTERM while forking, so no worker is born with Python's handlers live;
    # each worker sets its own dispositions, then unblocks. The parent unblocks once all exist.
    blockable = threading.current_thread() is threading.main_thread()
    if blockable:
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        try:
            for index in range(max_clients):
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_worker_main,
                    args=(family, sockaddr, request, max_conns, hold, timeout, os.getpid(), writer),
                    name=f"flood-worker-{index}",
                    daemon=True,
                )
                try:
                    proc.start()
                finally:
                    writer.close()  # the parent's copy, so a dead worker reads as EOF
                procs.append(proc)
                readers[reader] = index
        finally:
            if blockable:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        report["workers"]["started"] = len(procs)

        deadline = time.monotonic() + 2 * timeout + hold + _GRACE + max_conns / 200
        while readers:
            left = deadline - time.monotonic()
            if left <= 0:
                for index in readers.values():
                    report["workers"]["errors"].append(f"worker {index}: no report in time")
                break
            for ready in multiprocessing.connection.wait(list(readers), timeout=left):
                reader = cast(multiprocessing.connection.Connection, ready)  # as it was given
                index = readers.pop(reader)
                try:
                    result = reader.recv()
                except (EOFError, OSError):
                    result = None
                reader.close()
                if result is None:
                    report["workers"]["errors"].append(f"worker {index}: exited without report")
                    continue
                report["workers"]["reported"] += 1
                _merge(report, result["tally"])
                for phase, seconds in result.get("phases", {}).items():
                    slowest = report["phases"].get(phase, 0.0)
                    report["phases"][phase] = round(max(slowest, seconds), 6)
                if "nofile" in result:
                    nofile.append(result["nofile"])
                if "error" in result:
                    report["workers"]["errors"].append(f"worker {index}: {result['error']}")
        finished = True
    finally:
        for reader in readers:
            reader.close()
        # Workers that reported are on their way out: give them a moment before forcing.
        report["workers"]["stopped"] = _stop(procs, _EXIT_WAIT if finished else 0.0)

    report["connect_failed"] = sum(report["connect_errors"].values()) + sum(
        report["client_errors"].values()
    )
    report["send_failed"] = sum(report["send_errors"].values())
    report["read_failed"] = sum(report["read_errors"].values())
    if nofile:
        report["client_nofile"] = min(nofile, key=lambda info: info["soft_after"] or math.inf)
    for key in ("status_counts", "connect_errors", "client_errors", "send_errors", "read_errors"):
        report[key] = dict(sorted(report[key].items()))
    report["elapsed"] = round(time.monotonic() - start, 6)
    return report


def format_report(report: dict[str, Any]) -> str:
    """A human-readable summary of a report, one figure per line, failures broken down."""
    r = report
    lines = [
        f"flood http://{r['address']}{r['path']}: {r['max_clients']} client(s) x "
        f"{r['max_conns']} connection(s), hold {r['hold']:g} s, timeout {r['timeout']:g} s",
        f"  attempted        {r['attempted']:>8}",
        f"  opened           {r['opened']:>8}",
        f"  sent request     {r['sent']:>8}",
        f"  got a response   {r['responses']:>8}",
    ]
    for code, count in r["status_counts"].items():
        lines.append(f"    {'status ' + code:<14} {count:>8}")
    lines.append(f"  connect failed   {r['connect_failed']:>8}")
    for name, count in r["connect_errors"].items():
        note = "  (client-side: no free local port)" if name == "EADDRNOTAVAIL" else ""
        lines.append(f"    {name:<14} {count:>8}{note}")
    for name, count in r["client_errors"].items():
        lines.append(f"    {name:<14} {count:>8}  (client-side: this client's own limit)")
    if r["send_failed"]:
        lines.append(f"  send failed      {r['send_failed']:>8}")
        for name, count in r["send_errors"].items():
            lines.append(f"    {name:<14} {count:>8}")
    lines.append(f"  read failed      {r['read_failed']:>8}")
    notes = {"closed": "(closed without a response)", "malformed": "(not an HTTP status line)"}
    for name, count in r["read_errors"].items():
        lines.append(f"    {name:<14} {count:>8}  {notes.get(name, '')}".rstrip())
    nofile = r["client_nofile"]
    if nofile:
        lines.append(
            f"  client RLIMIT_NOFILE: soft {nofile['soft_before']} -> {nofile['soft_after']} "
            f"(hard {nofile['hard']}, needed {nofile['needed']} per worker)"
        )
    workers = r["workers"]
    lines.append(
        f"  workers: {workers['started']} started, {workers['reported']} reported, "
        f"{workers['stopped']} stopped by force"
    )
    lines.extend(f"    {error}" for error in workers["errors"])
    phases = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in r["phases"].items())
    lines.append(
        f"  elapsed {r['elapsed']:.3f} s" + (f" (slowest worker: {phases})" if phases else "")
    )
    return "\n".join(lines)


def _int_arg(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m servers.clients.flood",
        description=(
            "Fork M workers that each open N connections to a loopback server, send a GET on "
            "each, hold them all open, then read a status line on each; report what happened."
        ),
        epilog=(
            f"Bounds: M <= {LIMITS['max_clients']}, N <= {LIMITS['max_conns']}, "
            f"hold <= {LIMITS['hold']:g} s, timeout <= {LIMITS['timeout']:g} s. "
            "Only loopback hosts (127.0.0.0/8, ::1)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=_int_arg, default=8888)
    parser.add_argument("--path", default="/hello/", help="default: /hello/")
    parser.add_argument(
        "--max-clients",
        type=_int_arg,
        required=True,
        metavar="M",
        help="worker processes",
    )
    parser.add_argument(
        "--max-conns",
        type=_int_arg,
        required=True,
        metavar="N",
        help="connections per worker, all held open at once",
    )
    parser.add_argument(
        "--hold",
        type=_float_arg,
        default=1.0,
        metavar="SECONDS",
        help="how long to hold the connections before reading (default: 1)",
    )
    parser.add_argument(
        "--timeout",
        type=_float_arg,
        default=5.0,
        metavar="SECONDS",
        help="per-connection limit to connect, and then to get a status line (default: 5)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status instead of raising."""
    args = _parser().parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        # A SIGTERM must run the same clean-up as Ctrl-C: stop and reap the workers.
        def on_term(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        report = flood(
            args.host,
            args.port,
            args.path,
            args.max_clients,
            args.max_conns,
            args.hold,
            args.timeout,
        )
    except ValueError as exc:  # includes LoopbackError
        print(f"flood: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("flood: interrupted; all workers stopped and reaped", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if args.json:
        print(json.dumps(report, sort_keys=False))
    else:
        print(format_report(report))
    return 0 if not report["workers"]["errors"] and not report["workers"]["stopped"] else 1


if __name__ == "__main__":
    sys.exit(main())
