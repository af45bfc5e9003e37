"""The client side of the C10K scenario, run in its own process so that its memory and
descriptors are never counted as the server's.

It raises its soft descriptor limit to the hard one, opens N idle connections (no request sent;
at most 128 connects in flight, each given --timeout; the first failure ends the opening),
waits --settle seconds and checks which are still open, then reports. On "go" from its parent it
times one GET on a sample of the still-open connections and on a few fresh connections, all at
once and within --timeout, and reports again. It holds everything until its stdin closes, and
never longer than HOLD_LIMIT_S, whatever happens to its parent.

    python -m bench.scenarios.holder --port P --count N [--sample 16] [--fresh 8] [--timeout 2]

Reports are one JSON line each on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import select
import socket
import sys
import time

from bench import options
from bench.scenarios.rawclient import (
    Client,
    connect,
    connection_state,
    error_kind,
    fresh_get,
    tally,
)

HOLD_LIMIT_S = 300.0
IN_FLIGHT = 128  # connects under way at once: a burst past the SYN queue would only add retries


def raise_descriptor_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


async def open_idle(port: int, count: int, timeout_s: float) -> tuple[list, dict, int]:
    """(connected sockets, connect failures by kind, connects never attempted)."""
    opened: list[socket.socket] = []
    errors: dict[str, int] = {}
    attempted = 0
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        nonlocal attempted
        async with gate:
            if errors:
                return  # the first failure ends the opening: it is the figure we want
            attempted += 1
            try:
                async with asyncio.timeout(timeout_s):
                    opened.append(await connect(port))
            except (OSError, TimeoutError) as exc:
                kind = error_kind(exc)
                errors[kind] = errors.get(kind, 0) + 1

    await asyncio.gather(*(one() for _ in range(count)))
    return opened, errors, count - attempted


async def requests(port: int, sample: list[socket.socket], fresh: int, timeout_s: float) -> dict:
    """One GET on each sampled held connection and on `fresh` new ones, all at once."""
    held = [Client(port, sock).get(timeout_s) for sock in sample]
    new = [fresh_get(port, timeout_s) for _ in range(fresh)]
    outcomes = await asyncio.gather(*held, *new)
    return {"sample": tally(outcomes[: len(held)]), "fresh": tally(outcomes[len(held) :])}


def evenly(items: list, count: int) -> list:
    """`count` items spread over the list, the first included."""
    if count <= 0 or not items:
        return []
    step = max(1, len(items) // count)
    return items[::step][:count]


def next_line(deadline: float) -> str | None:
    """The parent's next line on stdin, or None at EOF or the deadline."""
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([sys.stdin], [], [], left)[0]:
        return None
    line = sys.stdin.buffer.readline()
    return line.decode().strip() if line else None


def say(report: dict) -> None:
    print(json.dumps(report), flush=True)


COMMAND = options.Command("holder", prog="python -m bench.scenarios.holder", description=__doc__)


def main(argv: list[str] | None = None) -> int:
    args = COMMAND.parser().parse_args(argv)
    deadline = time.monotonic() + HOLD_LIMIT_S
    nofile = raise_descriptor_limit()
    started = time.monotonic()
    opened, errors, not_attempted = asyncio.run(open_idle(args.port, args.count, args.timeout))
    open_s = time.monotonic() - started
    try:
        time.sleep(args.settle)
        states = [connection_state(sock) for sock in opened]
        still_open = [sock for sock, now in zip(opened, states, strict=True) if now == "open"]
        say(
            {
                "opened": len(opened),
                "errors": errors,
                "not_attempted": not_attempted,
                "open_s": open_s,
                "nofile": nofile,
                "states": {name: states.count(name) for name in sorted(set(states))},
                "open_ports": [sock.getsockname()[1] for sock in still_open],
            }
        )
        if next_line(deadline) == "go":
            sample = evenly(still_open, args.sample)
            say(asyncio.run(requests(args.port, sample, args.fresh, args.timeout)))
            next_line(deadline)  # hold until the parent closes our stdin
    finally:
        for sock in opened:
            sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
