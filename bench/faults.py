"""Faults: what the harness does when a server, the load generator or the user stops a cell.

Three decisions live here, so that bench/run.py only calls them:

- whether a cell is "failed", and the reason said (cell_verdict);
- whether a server still answers after its cell, or hung (SIGSTOP, a deadlock), in which case
  it is stopped at once (check_still_answers);
- what SIGINT and SIGTERM do during a run: the first stops it, keeping the cells done; a second
  cannot cut short the stopping of servers and the saving of run.json (interrupt_on_first_signal).
"""

from __future__ import annotations

import contextlib
import http.client
import signal
import sys
from collections.abc import Callable
from typing import Literal

import psutil

from bench.catalog import Workload
from bench.launch import Remote, ServerProcess
from bench.load import LoadResult
from bench.verify import fetch

# A cell fails when more than this share of its requests got a wrong answer (an HTTP error
# status or a wrong body): its throughput would time a server that is not doing the work. Below
# it, the cell stays "ok" and the wrong answers are counted by kind, as every failure is.
WRONG_ANSWER_SHARE = 0.01
WRONG_BODY = "wrong body"  # the failure kind bench/locustfile.py counts


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a run: an exception, so that every `with` and `finally` runs; a
    KeyboardInterrupt, so that no `except Exception` on the way swallows it."""


def interrupt_on_first_signal() -> dict[int, Callable | int | None]:
    """Make the first SIGINT or SIGTERM raise Interrupted, and the next ones only say that the
    run is stopping. Returns the previous handlers, for restore_handlers()."""
    raised: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if raised:
            print(
                "python -m bench: already stopping: the servers are being stopped and run.json "
                "saved (a few seconds)",
                file=sys.stderr,
            )
            return
        raised.append(signum)
        raise Interrupted(signal.Signals(signum).name)

    return {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}


def restore_handlers(previous: dict[int, Callable | int | None]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def wrong_answers(failures: dict[str, int]) -> int:
    """Requests the server answered, but wrongly: an HTTP error status or a wrong body (not
    timeouts or refused connections, which overload and the leaking servers' lessons make)."""
    return sum(
        count for kind, count in failures.items() if kind.startswith("HTTP ") or kind == WRONG_BODY
    )


def describe_failures(failures: dict[str, int]) -> str:
    return ", ".join(f"{kind}: {count:,}" for kind, count in failures.items()) or "none"


def check_still_answers(
    server: ServerProcess | Remote, workload: Workload, close: bool, timeout_s: float
) -> str:
    """Empty while the server answers a request (rightly or not) within `timeout_s`; otherwise
    why not, and the server is stopped and reaped at once: it holds nothing while the run goes
    on."""
    stopped = []
    for process in server.tree():
        with contextlib.suppress(psutil.Error):
            if process.status() == psutil.STATUS_STOPPED:
                stopped.append(process.pid)
    if stopped:
        why = f"its process {stopped[0]} is stopped (SIGSTOP or a debugger)"
    else:
        try:
            fetch(server.host, server.port, workload.path, close, timeout_s)
            return ""
        except (OSError, http.client.HTTPException) as exc:
            why = f"GET {workload.path} got no answer within {timeout_s:g} s ({type(exc).__name__})"
    server.stop()
    return why


def cell_verdict(
    load: LoadResult, exited: int | None, cap: int | None, hung: str = ""
) -> tuple[Literal["ok", "failed"], str]:
    """("ok", "") or ("failed", the reason in one line), by the first rule that applies: the load
    generator failed; the server exited (but for a leaking server's cap); it stopped answering;
    it answered more than WRONG_ANSWER_SHARE of the requests wrongly; it answered nothing."""
    answered = f"{load.requests:,} requests answered, failures: {describe_failures(load.failures)}"
    if load.error:
        return "failed", load.error
    if exited is not None and not (cap and exited == 0):
        return "failed", f"the server exited with {exited} during the cell"
    if hung:
        return "failed", f"the server stopped answering during the cell: {hung}; {answered}"
    wrong = wrong_answers(load.failures)
    if wrong > WRONG_ANSWER_SHARE * (load.requests + load.failed):
        return "failed", (
            f"{wrong:,} of {load.requests + load.failed:,} requests answered wrongly, more than "
            f"{WRONG_ANSWER_SHARE:.0%} ({describe_failures(load.failures)})"
        )
    if load.requests == 0:
        return "failed", (
            f"no request was answered in the measured window: the server stalled or failed "
            f"(failures: {load.failures or 'none, the requests were still waiting'})"
        )
    return "ok", ""
